//! `POST /v1/embeddings`.

use axum::extract::State;
use axum::response::Response;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;

use crate::api::openai::{EmbeddingData, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage};
use crate::engine;
use crate::server::json::ok_json;
use crate::server::openai::{OpenAiError, OpenAiJson};
use crate::server::wire;
use crate::server::AppState;

pub async fn embeddings(
    State(state): State<AppState>,
    OpenAiJson(req): OpenAiJson<EmbeddingRequest>,
) -> Result<Response, OpenAiError> {
    let (request, base64) = embedding(&req)?;
    let done = state.engine.embed(request).await?;
    let data = done
        .vectors
        .into_iter()
        .enumerate()
        .map(|(index, v)| EmbeddingData {
            object: "embedding".into(),
            embedding: match base64 {
                true => Value::String(STANDARD.encode(le_bytes(&v))),
                false => Value::from(v),
            },
            index,
        })
        .collect();
    let tokens = done.prompt_tokens as u64;
    Ok(ok_json(&EmbeddingResponse {
        object: "list".into(),
        data,
        model: req.model,
        usage: EmbeddingUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    }))
}

/// What the request asks of the engine, and whether vectors go back as base64.
fn embedding(req: &EmbeddingRequest) -> Result<(engine::EmbedRequest, bool), OpenAiError> {
    if req.model.is_empty() {
        return Err(OpenAiError::bad_request("model is required"));
    }
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(OpenAiError::bad_request(format!(
            "Invalid value for 'encoding_format' = {other}. Supported values: ['float', 'base64']."
        )))
        }
    };
    let inputs = match &req.input {
        // OpenAI embeds "" (Ollama's /api/embed would return nothing for it).
        Value::String(s) => vec![s.clone()],
        Value::Array(items) if !items.is_empty() => wire::inputs(&req.input)
            .map_err(|_| OpenAiError::bad_request("invalid input: expected strings"))?,
        _ => return Err(OpenAiError::bad_request("invalid input")),
    };
    let request = engine::EmbedRequest {
        model: req.model.clone(),
        dimensions: wire::dimensions(req.dimensions)?,
        inputs,
        truncate: true,
        options: Default::default(),
        keep_alive: None,
        normalize: true,
    };
    Ok((request, base64))
}

/// The vector as little-endian f32 bytes (OpenAI's `base64` encoding).
fn le_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
