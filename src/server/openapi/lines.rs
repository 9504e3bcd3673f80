//! What one line (NDJSON) or event (SSE) of a stream can be: a chunk, or the error that
//! ended the stream after its 200 was sent. Only the document uses these types; the
//! handlers write the chunks and the error objects themselves, so no value of these types
//! is ever made.

// No value is made, so neither dead code nor the variants' sizes matter.
#![allow(dead_code, clippy::large_enum_variant)]

use serde::Serialize;
use utoipa::ToSchema;

use crate::api::openai::{ChatCompletionChunk, Completion, ErrorResponse};
use crate::api::{ChatChunk, ErrorBody, GenerateChunk, ProgressResponse};

/// One line of a streamed `/api/generate`: a chunk (the last has `done: true` and the
/// counters), or `{"error": ...}` when the generation failed midway (no `done` line follows).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum GenerateLine {
    Chunk(GenerateChunk),
    Error(ErrorBody),
}

/// One line of a streamed `/api/chat`: a chunk (the last has `done: true` and the
/// counters), or `{"error": ...}` when the generation failed midway.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ChatLine {
    Chunk(ChatChunk),
    Error(ErrorBody),
}

/// One line of a streamed pull, push or create: a step, or the error that stopped it.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ProgressLine {
    Progress(ProgressResponse),
    Error(ErrorBody),
}

/// The JSON of one `data:` event of a streamed `/v1/chat/completions`; the stream ends with
/// `data: [DONE]`, or with an error event and no `[DONE]`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ChatCompletionEvent {
    Chunk(ChatCompletionChunk),
    Error(ErrorResponse),
}

/// The JSON of one `data:` event of a streamed `/v1/completions`; the stream ends with
/// `data: [DONE]`, or with an error event and no `[DONE]`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum CompletionEvent {
    Chunk(Completion),
    Error(ErrorResponse),
}
