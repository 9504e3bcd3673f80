//! `POST /api/tokenize` and `POST /api/detokenize`: the model's tokenizer on raw text (no
//! template) and back, for token budgeting (ollama#3582). The model loads as for a
//! generation, with the request's `keep_alive`.

use axum::extract::State;
use axum::response::Response;

use crate::api::{DetokenizeRequest, DetokenizeResponse, TokenizeRequest, TokenizeResponse};
use crate::engine;
use crate::server::error::ApiError;
use crate::server::json::{ok_json, OllamaJson};
use crate::server::wire::{self, nanos};
use crate::server::AppState;

/// `options` is accepted and unused: tokenizing depends on no option.
pub async fn tokenize(
    State(state): State<AppState>,
    OllamaJson(req): OllamaJson<TokenizeRequest>,
) -> Result<Response, ApiError> {
    require_model(&req.model)?;
    let done = state
        .engine
        .tokenize(engine::TokenizeRequest {
            model: req.model.clone(),
            content: req.content,
            add_special: req.add_special.unwrap_or(false),
            keep_alive: wire::keep_alive(req.keep_alive.as_ref())?,
        })
        .await?;
    Ok(ok_json(&TokenizeResponse {
        model: req.model,
        tokens: done.tokens,
        total_duration: nanos(done.total_duration),
        load_duration: nanos(done.load_duration),
    }))
}

pub async fn detokenize(
    State(state): State<AppState>,
    OllamaJson(req): OllamaJson<DetokenizeRequest>,
) -> Result<Response, ApiError> {
    require_model(&req.model)?;
    let done = state
        .engine
        .detokenize(engine::DetokenizeRequest {
            model: req.model.clone(),
            tokens: req.tokens,
            keep_alive: wire::keep_alive(req.keep_alive.as_ref())?,
        })
        .await?;
    Ok(ok_json(&DetokenizeResponse {
        model: req.model,
        content: done.content,
        total_duration: nanos(done.total_duration),
        load_duration: nanos(done.load_duration),
    }))
}

/// Ollama's 400 for a request that names no model (`/api/embed`, `/api/show`).
fn require_model(model: &str) -> Result<(), ApiError> {
    match model.is_empty() {
        true => Err(ApiError::BadRequest("model is required".into())),
        false => Ok(()),
    }
}
