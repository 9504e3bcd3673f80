//! `POST /api/embed` and the legacy `POST /api/embeddings`.

use axum::extract::State;
use axum::response::Response;

use crate::api::{EmbedRequest, EmbedResponse, EmbeddingsRequest, EmbeddingsResponse};
use crate::engine;
use crate::server::error::ApiError;
use crate::server::json::{ok_json, OllamaJson};
use crate::server::wire;
use crate::server::AppState;

pub async fn embed(
    State(state): State<AppState>,
    OllamaJson(req): OllamaJson<EmbedRequest>,
) -> Result<Response, ApiError> {
    if req.model.is_empty() {
        return Err(ApiError::NotFound("model '' not found".into()));
    }
    let request = engine::EmbedRequest {
        model: req.model.clone(),
        dimensions: wire::dimensions(req.dimensions)?,
        inputs: wire::inputs(&req.input)?,
        truncate: req.truncate.unwrap_or(true),
        options: req.options.unwrap_or_default(),
        keep_alive: wire::keep_alive(req.keep_alive.as_ref())?,
        normalize: true,
    };
    let done = state.engine.embed(request).await?;
    Ok(ok_json(&EmbedResponse {
        model: req.model,
        embeddings: done.vectors,
        total_duration: wire::nanos(done.total_duration),
        load_duration: wire::nanos(done.load_duration),
        prompt_eval_count: done.prompt_tokens as u64,
    }))
}

/// Legacy: one prompt, the vector not normalized.
pub async fn embeddings(
    State(state): State<AppState>,
    OllamaJson(req): OllamaJson<EmbeddingsRequest>,
) -> Result<Response, ApiError> {
    if req.model.is_empty() {
        return Err(ApiError::BadRequest("model is required".into()));
    }
    let request = engine::EmbedRequest {
        keep_alive: wire::keep_alive(req.keep_alive.as_ref())?,
        model: req.model,
        inputs: [req.prompt].into_iter().filter(|p| !p.is_empty()).collect(),
        truncate: true,
        options: req.options.unwrap_or_default(),
        dimensions: None,
        normalize: false,
    };
    let done = state.engine.embed(request).await?;
    Ok(ok_json(&EmbeddingsResponse {
        embedding: done.vectors.into_iter().next().unwrap_or_default(),
    }))
}
