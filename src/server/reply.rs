//! A generation's pieces as one reply (`stream: false`) or as NDJSON lines, for the
//! native routes; `/v1` frames the same pieces as SSE (`routes/openai`).

use axum::response::Response;
use futures::StreamExt;
use serde::Serialize;

use super::error::ApiError;
use super::json::ok_json;
use super::ndjson::ndjson_response;
use super::{wire, AppState};
use crate::api::KeepAlive;
use crate::engine::{self, Finished, Piece, Pieces, TokenLogprob, ToolCall};

/// How a native route writes a generation.
pub trait Frame: Send + 'static {
    type Chunk: Serialize;
    /// The reply to a request with nothing to generate (`done_reason` `load` / `unload`).
    fn idle(&self, done_reason: &str) -> Self::Chunk;
    /// One NDJSON line.
    fn line(&self, piece: Piece) -> Self::Chunk;
    /// The whole reply.
    fn whole(&self, all: Collected) -> Self::Chunk;
}

/// Runs `request` and answers it as `frame` writes it: streamed, whole, or (`idle`: the
/// request has nothing to generate) loading or unloading the model.
pub async fn native<F: Frame>(
    state: &AppState,
    request: engine::GenerateRequest,
    frame: F,
    streamed: bool,
    idle: bool,
) -> Result<Response, ApiError> {
    if idle {
        let reason = load_or_unload(state, &request.model, request.keep_alive).await?;
        return Ok(ok_json(&frame.idle(reason)));
    }
    let pieces = state.engine.generate(request).await?;
    match streamed {
        true => Ok(ndjson_pieces(pieces, move |piece| frame.line(piece))),
        false => Ok(ok_json(&frame.whole(collect(pieces).await?))),
    }
}

/// Nothing to generate: load the model, or with `keep_alive: 0` unload it. Returns the
/// reply's `done_reason`.
async fn load_or_unload(
    state: &AppState,
    model: &str,
    keep_alive: Option<KeepAlive>,
) -> Result<&'static str, ApiError> {
    if wire::unloads(keep_alive) {
        state.engine.unload(model.to_string()).await?;
        return Ok("unload");
    }
    state.engine.load(model.to_string(), keep_alive).await?;
    Ok("load")
}

/// A whole generation.
pub struct Collected {
    pub text: String,
    pub thinking: String,
    pub calls: Vec<ToolCall>,
    pub finished: Finished,
    /// Every token's logprobs, in order (when asked).
    pub logprobs: Vec<TokenLogprob>,
}

/// The whole generation for `stream: false`; a failure midway is the reply's 500.
pub async fn collect(mut pieces: Pieces) -> Result<Collected, ApiError> {
    let (mut text, mut thinking, mut calls, mut all) =
        (String::new(), String::new(), vec![], vec![]);
    while let Some(piece) = pieces.next().await {
        match piece {
            Piece::Text { text: t, logprobs } => {
                text.push_str(&t);
                all.extend(logprobs);
            }
            Piece::Thinking { text: t, logprobs } => {
                thinking.push_str(&t);
                all.extend(logprobs);
            }
            Piece::Calls { calls: c, logprobs } => {
                calls.extend(c);
                all.extend(logprobs);
            }
            Piece::Done(mut finished) => {
                all.append(&mut finished.logprobs);
                return Ok(Collected {
                    text,
                    thinking,
                    calls,
                    finished,
                    logprobs: all,
                });
            }
            Piece::Error(e) if e.by_request => return Err(ApiError::BadRequest(e.message)),
            Piece::Error(e) if e.timed_out => return Err(ApiError::Timeout(e.message)),
            Piece::Error(e) => return Err(ApiError::Internal(e.message)),
        }
    }
    Err(ApiError::Internal(
        "generation ended without a result".into(),
    ))
}

/// Streams pieces as NDJSON lines written by `line`; a failure ends the stream with an
/// `{"error": ...}` line, as Ollama's.
pub fn ndjson_pieces<T, F>(pieces: Pieces, line: F) -> axum::response::Response
where
    T: Serialize,
    F: Fn(Piece) -> T + Send + 'static,
{
    ndjson_response(pieces.map(move |piece| {
        match piece {
            Piece::Error(e) => serde_json::json!({ "error": e.message }),
            piece => serde_json::to_value(line(piece))
                .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() })),
        }
    }))
}
