//! What generate and chat share: validating the features we do not have yet, running a
//! job on the engine, and turning its events into pieces that each route frames its way.

use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;

use super::error::ApiError;
use super::ndjson::ndjson_response;
use crate::api::{KeepAlive, Metrics};
use crate::engine::{Done, Event, Lease, Registry};

/// One step of a generation, as the routes see it.
pub enum Piece {
    Text(String),
    Done {
        reason: &'static str,
        metrics: Metrics,
        context: Vec<u32>,
    },
    Error(String),
}

/// Engine events as pieces. The lease is held until the stream ends or is dropped (the
/// client went away), which also drops the receiver and so cancels the job.
pub fn pieces(
    rx: mpsc::UnboundedReceiver<Event>,
    lease: Lease,
    started: Instant,
) -> impl Stream<Item = Piece> + Send {
    futures::stream::unfold(Some((rx, lease)), move |state| async move {
        let (mut rx, lease) = state?;
        let piece = match rx.recv().await {
            Some(Event::Text(t)) => return Some((Piece::Text(t), Some((rx, lease)))),
            Some(Event::Done(done)) => done_piece(done, &lease, started),
            Some(Event::Error(e)) => Piece::Error(e),
            None => Piece::Error("the model runner stopped unexpectedly".into()),
        };
        Some((piece, None))
    })
}

fn done_piece(done: Done, lease: &Lease, started: Instant) -> Piece {
    let metrics = Metrics {
        total_duration: nanos(started.elapsed()),
        load_duration: nanos(lease.load_duration),
        prompt_eval_count: done.prompt_eval_count as u64,
        prompt_eval_duration: nanos(done.prompt_eval_duration),
        eval_count: done.eval_count as u64,
        eval_duration: nanos(done.eval_duration),
    };
    Piece::Done {
        reason: done.reason.as_str(),
        metrics,
        context: done.tokens,
    }
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The whole generation for `stream:false`: text, reason, metrics, context.
pub async fn collect(
    stream: impl Stream<Item = Piece>,
) -> Result<(String, &'static str, Metrics, Vec<u32>), ApiError> {
    let mut stream = std::pin::pin!(stream);
    let mut text = String::new();
    while let Some(piece) = stream.next().await {
        match piece {
            Piece::Text(t) => text.push_str(&t),
            Piece::Done {
                reason,
                metrics,
                context,
            } => return Ok((text, reason, metrics, context)),
            Piece::Error(e) => return Err(ApiError::Internal(e)),
        }
    }
    Err(ApiError::Internal(
        "generation ended without a result".into(),
    ))
}

/// A request with no prompt (or no messages): load the model, or with `keep_alive: 0`
/// unload it. Returns the reply's `done_reason`.
pub async fn load_or_unload(
    registry: &Registry,
    model: &str,
    keep_alive: Option<Option<Duration>>,
) -> Result<&'static str, ApiError> {
    if keep_alive == Some(Some(Duration::ZERO)) {
        registry.unload(model)?;
        return Ok("unload");
    }
    drop(registry.acquire(model, keep_alive).await?);
    Ok("load")
}

/// Streams pieces as NDJSON lines; an error ends the stream with an `{"error"}` line.
pub fn ndjson_pieces<S, F>(stream: S, line: F) -> axum::response::Response
where
    S: Stream<Item = Piece> + Send + 'static,
    F: Fn(Piece) -> Result<Value, serde_json::Error> + Send + 'static,
{
    ndjson_response(stream.map(move |piece| match piece {
        Piece::Error(e) => serde_json::json!({ "error": e }),
        piece => line(piece).unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() })),
    }))
}

/// `keep_alive` for the registry: `None` = server default, `Some(None)` = forever.
pub fn keep_alive(value: Option<&Value>) -> Result<Option<Option<Duration>>, ApiError> {
    let parsed = KeepAlive::from_request(value).map_err(ApiError::BadRequest)?;
    Ok(parsed.map(|k| match k {
        KeepAlive::For(d) => Some(d),
        KeepAlive::Forever => None,
    }))
}

/// Features that later work adds answer a clear error now, never a fake success.
pub struct Unsupported<'a> {
    pub model: &'a str,
    pub format: Option<&'a Value>,
    pub think: Option<&'a Value>,
    pub images: bool,
    pub logprobs: Option<bool>,
    pub top_logprobs: Option<i64>,
}

impl Unsupported<'_> {
    pub fn check(&self) -> Result<(), ApiError> {
        if let Some(n) = self.top_logprobs {
            if !(0..=20).contains(&n) {
                return Err(ApiError::BadRequest(
                    "top_logprobs must be between 0 and 20".into(),
                ));
            }
        }
        match self.think {
            None | Some(Value::Null) | Some(Value::Bool(false)) => {}
            Some(Value::Bool(true)) => return Err(self.no_thinking()),
            Some(Value::String(s)) if ["high", "medium", "low", "max"].contains(&s.as_str()) => {
                return Err(self.no_thinking())
            }
            Some(other) => {
                let shown = match other {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                };
                return Err(ApiError::BadRequest(format!(
                    "invalid think value: \"{shown}\" (must be \"high\", \"medium\", \"low\", \"max\", true, or false)"
                )));
            }
        }
        match self.format {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::String(s)) if s == "json" => return Err(no_format()),
            Some(Value::Object(_)) => return Err(no_format()),
            Some(other) => {
                return Err(ApiError::Internal(format!(
                    "invalid format: {other}; expected \"json\" or a valid JSON Schema object"
                )))
            }
        }
        if self.images {
            return Err(ApiError::BadRequest(format!(
                "{} does not support vision",
                self.model
            )));
        }
        if self.logprobs == Some(true) {
            return Err(ApiError::NotImplemented(
                "logprobs are not supported by rollama yet".into(),
            ));
        }
        Ok(())
    }

    fn no_thinking(&self) -> ApiError {
        ApiError::BadRequest(format!("\"{}\" does not support thinking", self.model))
    }
}

fn no_format() -> ApiError {
    ApiError::NotImplemented(
        "structured outputs ('format') are not supported by rollama yet".into(),
    )
}
