//! `POST /api/generate`.

use axum::extract::State;
use axum::response::Response;

use crate::api::{timestamp_now, GenerateChunk, GenerateRequest};
use crate::engine::{self, Finished, Input, Piece, PromptInput};
use crate::server::error::ApiError;
use crate::server::json::OllamaJson;
use crate::server::reply::{native, Collected, Frame};
use crate::server::wire;
use crate::server::AppState;

pub async fn generate(
    State(state): State<AppState>,
    OllamaJson(req): OllamaJson<GenerateRequest>,
) -> Result<Response, ApiError> {
    let (model, raw, streamed) = (req.model.clone(), req.raw, req.stream != Some(false));
    let request = generation(req)?;
    let frame = GenerateFrame {
        model,
        raw,
        logprobs: request.logprobs.is_some(),
    };
    let idle =
        matches!(&request.input, Input::Prompt(p) if p.prompt.is_empty() && p.suffix.is_empty());
    native(&state, request, frame, streamed, idle).await
}

/// What the request asks of the engine, every field checked as Ollama does.
fn generation(req: GenerateRequest) -> Result<engine::GenerateRequest, ApiError> {
    if req.model.is_empty() {
        return Err(ApiError::NotFound("model '' not found".into()));
    }
    refuse_raw_extras(&req)?;
    wire::refuse_images(&req.model, req.images.iter().flatten().next().is_some())?;
    let input = Input::Prompt(PromptInput {
        prompt: req.prompt,
        system: req.system,
        raw: req.raw,
        context: req.context.unwrap_or_default(),
        suffix: req.suffix,
        template: req.template,
    });
    Ok(engine::GenerateRequest {
        format: wire::format(req.format.as_ref())?,
        think: wire::think(req.think.as_ref())?,
        logprobs: wire::logprobs(req.logprobs, req.top_logprobs)?,
        keep_alive: wire::keep_alive(req.keep_alive.as_ref())?,
        options: req.options.unwrap_or_default(),
        truncate: req.truncate.unwrap_or(true),
        shift: req.shift.unwrap_or(true),
        ..engine::GenerateRequest::new(req.model, input)
    })
}

/// Ollama's check: a raw prompt takes no template, system prompt or context.
fn refuse_raw_extras(req: &GenerateRequest) -> Result<(), ApiError> {
    let set = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
    if req.raw
        && (set(&req.template) || set(&req.system) || req.context.iter().flatten().next().is_some())
    {
        return Err(ApiError::BadRequest(
            "raw mode does not support template, system, or context".into(),
        ));
    }
    Ok(())
}

/// How this request's chunks look.
struct GenerateFrame {
    model: String,
    /// Raw replies carry no `context`.
    raw: bool,
    logprobs: bool,
}

impl GenerateFrame {
    fn chunk(&self, response: String, done_reason: Option<&str>) -> GenerateChunk {
        GenerateChunk {
            model: self.model.clone(),
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

    fn last(&self, response: String, finished: Finished) -> GenerateChunk {
        let mut last = self.chunk(response, Some(wire::done_reason(finished.reason)));
        last.metrics = Some(wire::metrics(&finished.metrics));
        last.context = (!self.raw).then_some(finished.context);
        last
    }
}

impl Frame for GenerateFrame {
    type Chunk = GenerateChunk;

    fn idle(&self, done_reason: &str) -> GenerateChunk {
        self.chunk(String::new(), Some(done_reason))
    }

    fn line(&self, piece: Piece) -> GenerateChunk {
        let (mut c, logprobs) = match piece {
            Piece::Text { text, logprobs } => (self.chunk(text, None), logprobs),
            Piece::Thinking { text, logprobs } => {
                let mut c = self.chunk(String::new(), None);
                c.thinking = Some(text);
                (c, logprobs)
            }
            // Generate takes no tools, so no calls are ever parsed.
            Piece::Calls { .. } | Piece::Error(_) => (self.chunk(String::new(), None), vec![]),
            Piece::Done(mut finished) => {
                let logprobs = std::mem::take(&mut finished.logprobs);
                let mut c = self.last(String::new(), finished);
                // The last line carries only the logprobs of text held back to the end.
                c.logprobs =
                    wire::logprob_objects(self.logprobs && !logprobs.is_empty(), &logprobs);
                return c;
            }
        };
        c.logprobs = wire::logprob_objects(self.logprobs, &logprobs);
        c
    }

    fn whole(&self, all: Collected) -> GenerateChunk {
        let mut reply = self.last(all.text, all.finished);
        reply.thinking = Some(all.thinking).filter(|t| !t.is_empty());
        reply.logprobs = wire::logprob_objects(self.logprobs, &all.logprobs);
        reply
    }
}
