//! `POST /api/embed` and the legacy `POST /api/embeddings`.

use std::time::Instant;

use axum::extract::State;
use axum::response::Response;

use crate::api::{EmbedRequest, EmbedResponse, EmbeddingsRequest, EmbeddingsResponse};
use crate::server::embedding::{dimensions, embed as run, inputs, normalized, EmbedJob};
use crate::server::error::ApiError;
use crate::server::generation::{keep_alive, nanos};
use crate::server::json::{ok_json, OllamaJson};
use crate::server::AppState;

pub async fn embed(
    State(state): State<AppState>,
    OllamaJson(req): OllamaJson<EmbedRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    if req.model.is_empty() {
        return Err(ApiError::NotFound("model '' not found".into()));
    }
    let dims = dimensions(req.dimensions)?;
    let job = EmbedJob {
        model: &req.model,
        inputs: inputs(&req.input)?,
        truncate: req.truncate.unwrap_or(true),
        options: req.options.as_ref(),
        keep_alive: keep_alive(req.keep_alive.as_ref())?,
    };
    let done = run(&state, job).await?;
    Ok(ok_json(&EmbedResponse {
        model: req.model,
        embeddings: done
            .vectors
            .into_iter()
            .map(|v| normalized(v, dims))
            .collect(),
        total_duration: nanos(started.elapsed()),
        load_duration: nanos(done.lease.load_duration),
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
    let job = EmbedJob {
        model: &req.model,
        inputs: [req.prompt].into_iter().filter(|p| !p.is_empty()).collect(),
        truncate: true,
        options: req.options.as_ref(),
        keep_alive: keep_alive(req.keep_alive.as_ref())?,
    };
    let done = run(&state, job).await?;
    Ok(ok_json(&EmbeddingsResponse {
        embedding: done.vectors.into_iter().next().unwrap_or_default(),
    }))
}
