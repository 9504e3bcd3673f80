//! `POST /api/chat`.

use axum::extract::State;
use axum::response::Response;

use crate::api::{timestamp_now, ChatChunk, ChatRequest, Message};
use crate::engine::{self, Input, Piece};
use crate::server::error::ApiError;
use crate::server::json::OllamaJson;
use crate::server::reply::{native, Collected, Frame};
use crate::server::wire;
use crate::server::AppState;

pub async fn chat(
    State(state): State<AppState>,
    OllamaJson(req): OllamaJson<ChatRequest>,
) -> Result<Response, ApiError> {
    let (model, streamed) = (req.model.clone(), req.stream != Some(false));
    let request = generation(req)?;
    let frame = ChatFrame {
        model,
        logprobs: request.logprobs.is_some(),
    };
    let idle = matches!(&request.input, Input::Chat(messages) if messages.is_empty());
    native(&state, request, frame, streamed, idle).await
}

/// What the request asks of the engine, every field checked as Ollama does.
fn generation(req: ChatRequest) -> Result<engine::GenerateRequest, ApiError> {
    if req.model.is_empty() {
        return Err(ApiError::BadRequest("model is required".into()));
    }
    let images = req
        .messages
        .iter()
        .any(|m| m.images.iter().flatten().next().is_some());
    wire::refuse_images(&req.model, images)?;
    Ok(engine::GenerateRequest {
        format: wire::format(req.format.as_ref())?,
        think: wire::think(req.think.as_ref())?,
        logprobs: wire::logprobs(req.logprobs, req.top_logprobs)?,
        keep_alive: wire::keep_alive(req.keep_alive.as_ref())?,
        options: req.options.unwrap_or_default(),
        truncate: req.truncate.unwrap_or(true),
        shift: req.shift.unwrap_or(true),
        // `"tools": []` (always sent by ollama-python) needs no capability.
        tools: req.tools.unwrap_or_default(),
        ..engine::GenerateRequest::new(req.model, Input::Chat(req.messages))
    })
}

/// How this request's chunks look.
struct ChatFrame {
    model: String,
    logprobs: bool,
}

impl ChatFrame {
    fn chunk(&self, content: String, done_reason: Option<&str>) -> ChatChunk {
        ChatChunk {
            model: self.model.clone(),
            created_at: timestamp_now(),
            message: Message::assistant(content),
            done: done_reason.is_some(),
            done_reason: done_reason.map(str::to_string),
            logprobs: None,
            metrics: None,
        }
    }
}

impl Frame for ChatFrame {
    type Chunk = ChatChunk;

    fn idle(&self, done_reason: &str) -> ChatChunk {
        self.chunk(String::new(), Some(done_reason))
    }

    fn line(&self, piece: Piece) -> ChatChunk {
        let (mut c, logprobs) = match piece {
            Piece::Text { text, logprobs } => (self.chunk(text, None), logprobs),
            Piece::Thinking { text, logprobs } => {
                let mut c = self.chunk(String::new(), None);
                c.message.thinking = Some(text);
                (c, logprobs)
            }
            Piece::Calls { calls, logprobs } => {
                let mut c = self.chunk(String::new(), None);
                c.message.tool_calls = wire::native_calls(&calls);
                (c, logprobs)
            }
            Piece::Error(_) => (self.chunk(String::new(), None), vec![]),
            Piece::Done(finished) => {
                let mut last = self.chunk(String::new(), Some(wire::done_reason(finished.reason)));
                last.metrics = Some(wire::metrics(&finished.metrics));
                // The last line carries only the logprobs of text held back to the end.
                let asked = self.logprobs && !finished.logprobs.is_empty();
                last.logprobs = wire::logprob_objects(asked, &finished.logprobs);
                return last;
            }
        };
        c.logprobs = wire::logprob_objects(self.logprobs, &logprobs);
        c
    }

    fn whole(&self, all: Collected) -> ChatChunk {
        let reason = wire::done_reason(all.finished.reason);
        let mut reply = self.chunk(all.text, Some(reason));
        reply.message.thinking = Some(all.thinking).filter(|t| !t.is_empty());
        reply.message.tool_calls = wire::native_calls(&all.calls);
        reply.metrics = Some(wire::metrics(&all.finished.metrics));
        reply.logprobs = wire::logprob_objects(self.logprobs, &all.logprobs);
        reply
    }
}
