//! `POST /api/generate`.

use std::time::Instant;

use axum::extract::State;
use axum::response::Response;

use crate::api::{timestamp_now, GenerateChunk, GenerateRequest};
use crate::engine::{GenerateJob, GenerateOptions, GeneratePrompt};
use crate::server::error::ApiError;
use crate::server::generation::{
    collect, keep_alive, load_or_unload, ndjson_pieces, pieces, Piece, Unsupported,
};
use crate::server::json::{ok_json, OllamaJson};
use crate::server::AppState;

pub async fn generate(
    State(state): State<AppState>,
    OllamaJson(req): OllamaJson<GenerateRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    if req.model.is_empty() {
        return Err(ApiError::NotFound("model '' not found".into()));
    }
    let template_set = req.template.as_deref().is_some_and(|t| !t.is_empty());
    if req.raw
        && (template_set
            || req.system.as_deref().is_some_and(|s| !s.is_empty())
            || req.context.as_ref().is_some_and(|c| !c.is_empty()))
    {
        return Err(ApiError::BadRequest(
            "raw mode does not support template, system, or context".into(),
        ));
    }
    Unsupported {
        model: &req.model,
        format: req.format.as_ref(),
        think: req.think.as_ref(),
        images: req.images.as_ref().is_some_and(|i| !i.is_empty()),
        logprobs: req.logprobs,
        top_logprobs: req.top_logprobs,
    }
    .check()?;
    let keep_alive = keep_alive(req.keep_alive.as_ref())?;

    if req.prompt.is_empty() && req.suffix.is_empty() {
        let reason = load_or_unload(&state.registry, &req.model, keep_alive).await?;
        return Ok(ok_json(&chunk(&req.model, String::new(), Some(reason))));
    }

    let lease = state.registry.acquire(&req.model, keep_alive).await?;
    if !req.suffix.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "registry.ollama.ai/library/{} does not support insert",
            lease.model.stored.name
        )));
    }
    if template_set {
        return Err(ApiError::NotImplemented(
            "the 'template' field (a Go template) is not supported by rollama; the model's own chat template is used".into(),
        ));
    }
    let options = GenerateOptions::from_request(
        req.options.as_ref(),
        state.registry.config().default_num_ctx,
        lease.model.max_num_ctx,
    )?;
    let model = std::sync::Arc::clone(&lease.model);
    let truncate = req.truncate.unwrap_or(true);
    let opts = options.clone();
    let tokens = tokio::task::spawn_blocking(move || {
        let context = req.context.unwrap_or_default();
        let prompt = GeneratePrompt {
            prompt: &req.prompt,
            system: req.system.as_deref(),
            raw: req.raw,
            context: &context,
        };
        model.prompt.generate_tokens(&prompt, &opts, truncate)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;

    let rx = lease.model.engine.submit(GenerateJob {
        prompt: tokens,
        options,
        shift: req.shift.unwrap_or(true),
    })?;
    let name = req.model.clone();
    let raw = req.raw;
    let stream = pieces(rx, lease, started);
    if req.stream == Some(false) {
        let (text, reason, metrics, context) = collect(stream).await?;
        let mut reply = chunk(&name, text, Some(reason));
        reply.metrics = Some(metrics);
        reply.context = (!raw).then_some(context);
        return Ok(ok_json(&reply));
    }
    Ok(ndjson_pieces(stream, move |piece| match piece {
        Piece::Text(t) => serde_json::to_value(chunk(&name, t, None)),
        Piece::Done {
            reason,
            metrics,
            context,
        } => {
            let mut last = chunk(&name, String::new(), Some(reason));
            last.metrics = Some(metrics);
            last.context = (!raw).then_some(context);
            serde_json::to_value(last)
        }
        Piece::Error(e) => Ok(serde_json::json!({ "error": e })),
    }))
}

fn chunk(model: &str, response: String, done_reason: Option<&str>) -> GenerateChunk {
    GenerateChunk {
        model: model.to_string(),
        created_at: timestamp_now(),
        response,
        done: done_reason.is_some(),
        done_reason: done_reason.map(str::to_string),
        context: None,
        metrics: None,
    }
}
