//! `POST /api/chat`.

use std::time::Instant;

use axum::extract::State;
use axum::response::Response;
use serde_json::Value;

use crate::api::{timestamp_now, ChatChunk, ChatRequest, Message};
use crate::engine::{ChatPrompt, GenerateJob, GenerateOptions};
use crate::server::error::ApiError;
use crate::server::generation::{
    collect, keep_alive, load_or_unload, ndjson_pieces, pieces, Piece, Unsupported,
};
use crate::server::json::{ok_json, OllamaJson};
use crate::server::AppState;

pub async fn chat(
    State(state): State<AppState>,
    OllamaJson(req): OllamaJson<ChatRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    if req.model.is_empty() {
        return Err(ApiError::BadRequest("model is required".into()));
    }
    Unsupported {
        model: &req.model,
        format: req.format.as_ref(),
        think: req.think.as_ref(),
        images: req
            .messages
            .iter()
            .any(|m| m.images.as_ref().is_some_and(|i| !i.is_empty())),
        logprobs: req.logprobs,
        top_logprobs: req.top_logprobs,
    }
    .check()?;
    let keep_alive = keep_alive(req.keep_alive.as_ref())?;

    if req.messages.is_empty() {
        let reason = load_or_unload(&state.registry, &req.model, keep_alive).await?;
        return Ok(ok_json(&chunk(&req.model, String::new(), Some(reason))));
    }

    let lease = state.registry.acquire(&req.model, keep_alive).await?;
    // `"tools": []` (always sent by ollama-python) needs no capability.
    if req.tools.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(ApiError::BadRequest(format!(
            "registry.ollama.ai/library/{} does not support tools",
            lease.model.stored.name
        )));
    }
    let options = GenerateOptions::from_request(
        req.options.as_ref(),
        state.registry.config().default_num_ctx,
        lease.model.max_num_ctx,
    )?;
    let messages = req
        .messages
        .iter()
        .map(|m| {
            let mut m = m.clone();
            m.role = m.role.to_lowercase();
            serde_json::to_value(m).unwrap_or(Value::Null)
        })
        .collect();
    let model = std::sync::Arc::clone(&lease.model);
    let truncate = req.truncate.unwrap_or(true);
    let opts = options.clone();
    let tokens = tokio::task::spawn_blocking(move || {
        model
            .prompt
            .chat_tokens(&ChatPrompt { messages }, &opts, truncate)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;

    let rx = lease.model.engine.submit(GenerateJob {
        prompt: tokens,
        options,
        shift: req.shift.unwrap_or(true),
    })?;
    let name = req.model.clone();
    let stream = pieces(rx, lease, started);
    if req.stream == Some(false) {
        let (text, reason, metrics, _) = collect(stream).await?;
        let mut reply = chunk(&name, text, Some(reason));
        reply.metrics = Some(metrics);
        return Ok(ok_json(&reply));
    }
    Ok(ndjson_pieces(stream, move |piece| match piece {
        Piece::Text(t) => serde_json::to_value(chunk(&name, t, None)),
        Piece::Done {
            reason, metrics, ..
        } => {
            let mut last = chunk(&name, String::new(), Some(reason));
            last.metrics = Some(metrics);
            serde_json::to_value(last)
        }
        Piece::Error(e) => Ok(serde_json::json!({ "error": e })),
    }))
}

fn chunk(model: &str, content: String, done_reason: Option<&str>) -> ChatChunk {
    ChatChunk {
        model: model.to_string(),
        created_at: timestamp_now(),
        message: Message::assistant(content),
        done: done_reason.is_some(),
        done_reason: done_reason.map(str::to_string),
        metrics: None,
    }
}
