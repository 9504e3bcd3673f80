//! `POST /api/chat`.

use std::time::Instant;

use axum::extract::State;
use axum::response::Response;
use serde_json::Value;

use crate::api::{timestamp_now, ChatChunk, ChatRequest, Message};
use crate::server::error::ApiError;
use crate::server::generation::{
    collect, format_grammar, keep_alive, load_or_unload, logprobs, ndjson_pieces, run,
    wire_logprobs, Input, Piece, Run, Unsupported,
};
use crate::server::json::{ok_json, OllamaJson};
use crate::server::output::{Think, ToolCall};
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
        images: req
            .messages
            .iter()
            .any(|m| m.images.as_ref().is_some_and(|i| !i.is_empty())),
    }
    .check()?;
    let grammar = format_grammar(req.format.as_ref())?;
    let think = Think::from_request(req.think.as_ref())?;
    let top_logprobs = logprobs(req.logprobs, req.top_logprobs)?;
    let keep_alive = keep_alive(req.keep_alive.as_ref())?;

    if req.messages.is_empty() {
        let reason = load_or_unload(&state.registry, &req.model, keep_alive).await?;
        return Ok(ok_json(&chunk(&req.model, String::new(), Some(reason))));
    }

    let lease = state.registry.acquire(&req.model, keep_alive).await?;
    lease.model.decoder("chat", &req.model)?;
    let messages = req
        .messages
        .iter()
        .map(|m| {
            let mut m = m.clone();
            m.role = m.role.to_lowercase();
            serde_json::to_value(m).unwrap_or(Value::Null)
        })
        .collect();
    let job = Run {
        truncate: req.truncate.unwrap_or(true),
        shift: req.shift.unwrap_or(true),
        logprobs: top_logprobs,
        grammar,
        think,
        // `"tools": []` (always sent by ollama-python) needs no capability.
        tools: req.tools.clone().unwrap_or_default(),
        ..Run::new(&req.model, Input::Chat(messages), req.options.as_ref())
    };
    let stream = run(&state, lease, job, started).await?;
    let (name, asked) = (req.model.clone(), top_logprobs.is_some());
    if req.stream == Some(false) {
        let all = collect(stream).await?;
        let mut reply = chunk(&name, all.text, Some(all.reason));
        reply.message.thinking = Some(all.thinking).filter(|t| !t.is_empty());
        reply.message.tool_calls = native_calls(&all.calls);
        reply.metrics = Some(all.metrics);
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
            c.message.thinking = Some(text);
            c.logprobs = wire_logprobs(asked, &logprobs);
            serde_json::to_value(c)
        }
        Piece::Calls { calls, logprobs } => {
            let mut c = chunk(&name, String::new(), None);
            c.message.tool_calls = native_calls(&calls);
            c.logprobs = wire_logprobs(asked, &logprobs);
            serde_json::to_value(c)
        }
        Piece::Done {
            reason,
            metrics,
            logprobs,
            ..
        } => {
            let mut last = chunk(&name, String::new(), Some(reason));
            last.metrics = Some(metrics);
            last.logprobs = wire_logprobs(asked && !logprobs.is_empty(), &logprobs);
            serde_json::to_value(last)
        }
        Piece::Error(e) => Ok(serde_json::json!({ "error": e })),
    }))
}

/// Calls in Ollama's shape; `None` when there are none.
fn native_calls(calls: &[ToolCall]) -> Option<Vec<Value>> {
    (!calls.is_empty()).then(|| calls.iter().map(ToolCall::native).collect())
}

fn chunk(model: &str, content: String, done_reason: Option<&str>) -> ChatChunk {
    ChatChunk {
        model: model.to_string(),
        created_at: timestamp_now(),
        message: Message::assistant(content),
        done: done_reason.is_some(),
        done_reason: done_reason.map(str::to_string),
        logprobs: None,
        metrics: None,
    }
}
