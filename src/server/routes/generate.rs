//! `POST /api/generate`.

use std::time::Instant;

use axum::extract::State;
use axum::response::Response;

use crate::api::{timestamp_now, GenerateChunk, GenerateRequest};
use crate::server::error::ApiError;
use crate::server::generation::{
    collect, format_grammar, keep_alive, load_or_unload, logprobs, ndjson_pieces, run,
    wire_logprobs, Input, Piece, Run, Unsupported,
};
use crate::server::json::{ok_json, OllamaJson};
use crate::server::output::Think;
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
        images: req.images.as_ref().is_some_and(|i| !i.is_empty()),
    }
    .check()?;
    let grammar = format_grammar(req.format.as_ref())?;
    let think = Think::from_request(req.think.as_ref())?;
    let top_logprobs = logprobs(req.logprobs, req.top_logprobs)?;
    let keep_alive = keep_alive(req.keep_alive.as_ref())?;

    if req.prompt.is_empty() && req.suffix.is_empty() {
        let reason = load_or_unload(&state.registry, &req.model, keep_alive).await?;
        return Ok(ok_json(&chunk(&req.model, String::new(), Some(reason))));
    }

    let lease = state.registry.acquire(&req.model, keep_alive).await?;
    lease.model.decoder("generate", &req.model)?;
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
    let input = Input::Generate {
        prompt: req.prompt,
        system: req.system,
        raw: req.raw,
        context: req.context.unwrap_or_default(),
    };
    let job = Run {
        truncate: req.truncate.unwrap_or(true),
        shift: req.shift.unwrap_or(true),
        logprobs: top_logprobs,
        grammar,
        // A raw prompt has no template to turn reasoning on or off.
        think: if req.raw { Think::Off } else { think },
        ..Run::new(&req.model, input, req.options.as_ref())
    };
    let stream = run(&state, lease, job, started).await?;
    let (name, raw, asked) = (req.model.clone(), req.raw, top_logprobs.is_some());
    if req.stream == Some(false) {
        let all = collect(stream).await?;
        let mut reply = chunk(&name, all.text, Some(all.reason));
        reply.thinking = Some(all.thinking).filter(|t| !t.is_empty());
        reply.metrics = Some(all.metrics);
        reply.context = (!raw).then_some(all.context);
        reply.logprobs = wire_logprobs(asked, &all.logprobs);
        return Ok(ok_json(&reply));
    }
    Ok(ndjson_pieces(stream, move |piece| match piece {
        Piece::Text { text, logprobs } => {
            let mut c = chunk(&name, text, None);
            c.logprobs = wire_logprobs(asked, &logprobs);
            serde_json::to_value(c)
        }
        Piece::Thinking { text, logprobs } => {
            let mut c = chunk(&name, String::new(), None);
            c.thinking = Some(text);
            c.logprobs = wire_logprobs(asked, &logprobs);
            serde_json::to_value(c)
        }
        // Generate takes no tools, so no calls are ever parsed.
        Piece::Calls { .. } => serde_json::to_value(chunk(&name, String::new(), None)),
        Piece::Done {
            reason,
            metrics,
            context,
            logprobs,
            ..
        } => {
            let mut last = chunk(&name, String::new(), Some(reason));
            last.metrics = Some(metrics);
            last.context = (!raw).then_some(context);
            last.logprobs = wire_logprobs(asked && !logprobs.is_empty(), &logprobs);
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
        thinking: None,
        done: done_reason.is_some(),
        done_reason: done_reason.map(str::to_string),
        context: None,
        logprobs: None,
        metrics: None,
    }
}
