//! `POST /v1/completions` (legacy text completions: the prompt goes in raw, no template).

use axum::extract::State;
use axum::response::Response;
use futures::{stream, Stream, StreamExt};
use serde_json::Value;

use super::{error_event, options, usage, Head};
use crate::api::openai::{
    Completion, CompletionChoice, CompletionLogprobs, CompletionRequest, Usage,
};
use crate::engine::{self, Input, Piece, Pieces, PromptInput, TokenLogprob};
use crate::server::json::ok_json;
use crate::server::openai::{OpenAiError, OpenAiJson};
use crate::server::reply::collect;
use crate::server::sse::{sse_response, SseItem};
use crate::server::wire;
use crate::server::AppState;

pub async fn completions(
    State(state): State<AppState>,
    OpenAiJson(req): OpenAiJson<CompletionRequest>,
) -> Result<Response, OpenAiError> {
    let request = generation(&req)?;
    let head = Head::new("cmpl", &req.model, request.logprobs.is_some());
    let pieces = state.engine.generate(request).await?;
    if !req.stream {
        let all = collect(pieces).await?;
        let choice = CompletionChoice {
            text: all.text,
            index: 0,
            logprobs: head.legacy(&all.logprobs, &mut 0),
            finish_reason: Some(wire::done_reason(all.finished.reason).into()),
        };
        let usage = usage(&all.finished.metrics);
        return Ok(ok_json(&head.completion(vec![choice], Some(usage))));
    }
    let usage = req.stream_options.is_some_and(|o| o.include_usage);
    Ok(sse_response(
        chunks(head, pieces, usage),
        state.sse_keep_alive,
    ))
}

/// What the request asks of the engine: its prompt, raw (no template, no reasoning).
fn generation(req: &CompletionRequest) -> Result<engine::GenerateRequest, OpenAiError> {
    if req.model.is_empty() {
        return Err(OpenAiError::bad_request("model is required"));
    }
    let prompt = match &req.prompt {
        Value::String(s) => s.clone(),
        Value::Array(items) if items.len() == 1 && items[0].is_string() => {
            items[0].as_str().unwrap_or_default().to_string()
        }
        _ => {
            return Err(OpenAiError::bad_request(
                "prompt must be a string (lists of prompts and token arrays are not supported)",
            ))
        }
    };
    if req.echo == Some(true) {
        return Err(OpenAiError::bad_request("echo is not supported"));
    }
    if req.best_of.is_some_and(|b| b != 1) {
        return Err(OpenAiError::bad_request("best_of must be 1"));
    }
    let logprobs = match req.logprobs {
        Some(n) if !(0..=5).contains(&n) => {
            return Err(OpenAiError::bad_request("logprobs must be between 0 and 5"))
        }
        n => n.map(|n| n as usize),
    };
    let input = Input::Prompt(PromptInput {
        prompt,
        raw: true,
        suffix: req.suffix.clone().unwrap_or_default(),
        ..PromptInput::default()
    });
    Ok(engine::GenerateRequest {
        options: options(&req.sampling, req.sampling.max_tokens)?,
        logprobs,
        ..engine::GenerateRequest::new(req.model.clone(), input)
    })
}

impl Head {
    fn completion(&self, choices: Vec<CompletionChoice>, usage: Option<Usage>) -> Completion {
        Completion {
            id: self.id.clone(),
            object: "text_completion".into(),
            created: self.created,
            model: self.model.clone(),
            system_fingerprint: "fp_ollama".into(),
            choices,
            usage,
        }
    }

    fn text(
        &self,
        text: String,
        logprobs: Option<CompletionLogprobs>,
        finish: Option<&str>,
    ) -> SseItem {
        let choice = CompletionChoice {
            text,
            index: 0,
            logprobs,
            finish_reason: finish.map(str::to_string),
        };
        SseItem::json(&self.completion(vec![choice], None))
    }

    /// The legacy parallel-array logprobs; `offset` runs on over a stream's chunks.
    fn legacy(&self, lps: &[TokenLogprob], offset: &mut usize) -> Option<CompletionLogprobs> {
        if !self.logprobs {
            return None;
        }
        let mut out = CompletionLogprobs::default();
        for lp in lps {
            out.tokens.push(lp.token.text.clone());
            out.token_logprobs.push(lp.token.logprob);
            out.top_logprobs
                .push(lp.top.iter().map(|t| (t.text.clone(), t.logprob)).collect());
            out.text_offset.push(*offset);
            *offset += lp.token.text.chars().count();
        }
        Some(out)
    }
}

fn chunks(
    head: Head,
    pieces: Pieces,
    include_usage: bool,
) -> impl Stream<Item = SseItem> + Send + 'static {
    let mut offset = 0;
    pieces.flat_map(move |piece| {
        let items = match piece {
            Piece::Text { text, logprobs } => {
                let lps = head.legacy(&logprobs, &mut offset);
                vec![head.text(text, lps, None)]
            }
            Piece::Thinking { .. } | Piece::Calls { .. } => vec![],
            Piece::Done(finished) => {
                let lps = head
                    .legacy(&finished.logprobs, &mut offset)
                    .filter(|l| !l.tokens.is_empty());
                let reason = wire::done_reason(finished.reason);
                let mut items = vec![head.text(String::new(), lps, Some(reason))];
                if include_usage {
                    let usage = usage(&finished.metrics);
                    items.push(SseItem::json(&head.completion(vec![], Some(usage))));
                }
                items.push(SseItem::Done);
                items
            }
            Piece::Error(e) => vec![error_event(e)],
        };
        stream::iter(items)
    })
}
