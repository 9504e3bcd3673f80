//! OpenAI's `/v1`, as Ollama serves it, declared as in [`super::native`]: every error has
//! OpenAI's `{"error": {"message", "type", "param", "code"}}` body.

#![allow(dead_code)]

use super::lines::{ChatCompletionEvent, CompletionEvent};
use super::responses::{OpenAiErrors, OpenAiGateway};
use crate::api::openai::{
    ChatCompletion, ChatCompletionRequest, Completion, CompletionRequest, EmbeddingRequest,
    EmbeddingResponse, ErrorResponse, ModelList, ModelObject,
};

#[utoipa::path(
    post, path = "/v1/chat/completions", tag = "openai", operation_id = "openai_chat_completions",
    summary = "Chat completion",
    description = "With `stream: true`, Server-Sent Events: each `data:` is one \
        `ChatCompletionEvent` JSON, then `data: [DONE]` (no `[DONE]` after an error event).",
    request_body = ChatCompletionRequest,
    responses(
        (status = 200, description = "The completion, or its chunks as SSE.",
            content(
                (ChatCompletion = "application/json"),
                (ChatCompletionEvent = "text/event-stream"),
            )),
        OpenAiErrors,
        OpenAiGateway,
    )
)]
fn chat_completions() {}

#[utoipa::path(
    post, path = "/v1/completions", tag = "openai", operation_id = "openai_completions",
    summary = "Text completion (legacy; the prompt goes in raw)",
    description = "With `stream: true`, Server-Sent Events as for chat completions.",
    request_body = CompletionRequest,
    responses(
        (status = 200, description = "The completion, or its chunks as SSE.",
            content(
                (Completion = "application/json"),
                (CompletionEvent = "text/event-stream"),
            )),
        OpenAiErrors,
        OpenAiGateway,
    )
)]
fn completions() {}

#[utoipa::path(
    post, path = "/v1/embeddings", tag = "openai", operation_id = "openai_embeddings",
    summary = "Embed texts",
    request_body = EmbeddingRequest,
    responses(
        (status = 200, description = "One embedding per input.", body = EmbeddingResponse),
        OpenAiErrors,
        OpenAiGateway,
    )
)]
fn embeddings() {}

#[utoipa::path(
    get, path = "/v1/models", tag = "openai", operation_id = "openai_models",
    summary = "List the models of the store",
    responses(
        (status = 200, description = "`data` is `[]` when the store is empty.",
            body = ModelList),
        (status = 500, description = "The store cannot be read.", body = ErrorResponse),
        OpenAiGateway,
    )
)]
fn models() {}

#[utoipa::path(
    get, path = "/v1/models/{model}", tag = "openai", operation_id = "openai_model",
    summary = "One model of the store",
    params(("model" = String, Path,
        description = "The model's name; namespaced names (`library/x:tag`) keep their `/`.")),
    responses(
        (status = 200, description = "The model.", body = ModelObject),
        (status = 400, description = "An invalid name.", body = ErrorResponse),
        (status = 404, description = "No such model.", body = ErrorResponse),
        (status = 500, description = "The store cannot be read.", body = ErrorResponse),
        OpenAiGateway,
    )
)]
fn model() {}

#[utoipa::path(
    method(get, put, post, delete, options, head, patch, trace),
    path = "/v1/{rest}", tag = "openai", operation_id = "openai_not_implemented",
    summary = "Every other `/v1` endpoint: not implemented",
    description = "Responses, images, audio, files, ...: a clear 501, never a fake success. \
        `rest` is the rest of the path, `/` included.",
    params(("rest" = String, Path, description = "The rest of the path.")),
    responses(
        (status = 501, description = "Not supported by rollama.", body = ErrorResponse),
        OpenAiGateway,
    )
)]
fn not_implemented() {}
