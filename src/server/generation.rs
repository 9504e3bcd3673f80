//! What every generating route shares (native and `/v1`): validating the features we do
//! not have yet, running a job on the engine, and turning its events into pieces that each
//! route frames its way.

use std::time::{Duration, Instant};

use std::sync::Arc;

use futures::{Stream, StreamExt};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::error::ApiError;
use super::ndjson::ndjson_response;
use super::AppState;
use crate::api::{KeepAlive, Logprob, Metrics, TopLogprob};
use crate::engine::{
    ChatPrompt, Done, EngineError, Event, GenerateJob, GenerateOptions, GeneratePrompt, Grammar,
    Lease, Registry, TokenLogprob, TokenProb,
};

/// One step of a generation, as the routes see it.
pub enum Piece {
    /// Text, with the logprobs of the tokens sampled since the previous piece (when asked).
    Text {
        text: String,
        logprobs: Vec<TokenLogprob>,
    },
    Done {
        reason: &'static str,
        metrics: Metrics,
        context: Vec<u32>,
        /// Logprobs of tokens whose text never came (held back at the end).
        logprobs: Vec<TokenLogprob>,
    },
    Error(String),
}

/// What the model is asked, after the route's own checks.
pub enum Input {
    Chat(Vec<Value>),
    Generate {
        prompt: String,
        system: Option<String>,
        raw: bool,
        context: Vec<u32>,
    },
}

/// How to run a generation on a model already leased.
pub struct Run<'a> {
    pub input: Input,
    pub options: Option<&'a Map<String, Value>>,
    /// Drop old messages / cut the prompt when it is longer than `num_ctx`.
    pub truncate: bool,
    pub shift: bool,
    /// `top_logprobs` when logprobs are asked for.
    pub logprobs: Option<usize>,
    /// Structured output: what the generation must match.
    pub grammar: Option<Grammar>,
}

/// Tokenizes the input, queues the job and returns its pieces. The options are validated
/// before anything is queued.
pub async fn run(
    state: &AppState,
    lease: Lease,
    run: Run<'_>,
    started: Instant,
) -> Result<impl Stream<Item = Piece> + Send, ApiError> {
    let options = GenerateOptions::from_request(
        run.options,
        state.registry.config().default_num_ctx,
        lease.model.max_num_ctx,
    )?;
    let decoder = Arc::clone(lease.model.decoder("generate", &lease.model.stored.name)?);
    let (opts, truncate) = (options.clone(), run.truncate);
    let (input, grammar) = (run.input, run.grammar);
    let model = Arc::clone(&decoder);
    let (tokens, constraint) = tokio::task::spawn_blocking(move || {
        let constraint = grammar.map(|g| model.grammars.compile(&g)).transpose()?;
        let prompt = &model.prompt;
        let tokens = match input {
            Input::Chat(messages) => prompt.chat_tokens(&ChatPrompt { messages }, &opts, truncate),
            Input::Generate {
                prompt: text,
                system,
                raw,
                context,
            } => {
                let generate = GeneratePrompt {
                    prompt: &text,
                    system: system.as_deref(),
                    raw,
                    context: &context,
                };
                prompt.generate_tokens(&generate, &opts, truncate)
            }
        }?;
        Ok::<_, EngineError>((tokens, constraint))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    let rx = decoder.engine.submit(GenerateJob {
        prompt: tokens,
        options,
        shift: run.shift,
        logprobs: run.logprobs,
        constraint,
        visible: vec![],
    })?;
    Ok(pieces(rx, lease, started))
}

/// `logprobs` / `top_logprobs` of a request as the engine takes them.
pub fn logprobs(
    logprobs: Option<bool>,
    top_logprobs: Option<i64>,
) -> Result<Option<usize>, ApiError> {
    let top = top_logprobs.unwrap_or(0);
    if !(0..=20).contains(&top) {
        return Err(ApiError::BadRequest(
            "top_logprobs must be between 0 and 20".into(),
        ));
    }
    Ok((logprobs == Some(true)).then_some(top as usize))
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
        let mut logprobs = vec![];
        let piece = loop {
            match rx.recv().await {
                Some(Event::Logprob(lp)) => logprobs.push(lp),
                Some(Event::Text(text)) => {
                    let piece = Piece::Text { text, logprobs };
                    return Some((piece, Some((rx, lease))));
                }
                Some(Event::Done(done)) => break done_piece(done, &lease, started, logprobs),
                Some(Event::Error(e)) => break Piece::Error(e),
                None => break Piece::Error("the model runner stopped unexpectedly".into()),
            }
        };
        Some((piece, None))
    })
}

fn done_piece(done: Done, lease: &Lease, started: Instant, logprobs: Vec<TokenLogprob>) -> Piece {
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
        logprobs,
    }
}

pub fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Engine logprobs as wire objects; `None` when none were asked for.
pub fn wire_logprobs(asked: bool, logprobs: &[TokenLogprob]) -> Option<Vec<Logprob>> {
    let prob = |p: &TokenProb| TopLogprob {
        token: p.text.clone(),
        logprob: p.logprob,
        bytes: p.bytes.clone(),
    };
    asked.then(|| {
        logprobs
            .iter()
            .map(|lp| Logprob {
                token: lp.token.text.clone(),
                logprob: lp.token.logprob,
                bytes: lp.token.bytes.clone(),
                top_logprobs: lp.top.iter().map(prob).collect(),
            })
            .collect()
    })
}

/// A whole generation, for `stream:false`.
pub struct Collected {
    pub text: String,
    pub reason: &'static str,
    pub metrics: Metrics,
    pub context: Vec<u32>,
    pub logprobs: Vec<TokenLogprob>,
}

/// The whole generation for `stream:false`.
pub async fn collect(stream: impl Stream<Item = Piece>) -> Result<Collected, ApiError> {
    let mut stream = std::pin::pin!(stream);
    let mut text = String::new();
    let mut all = vec![];
    while let Some(piece) = stream.next().await {
        match piece {
            Piece::Text { text: t, logprobs } => {
                text.push_str(&t);
                all.extend(logprobs);
            }
            Piece::Done {
                reason,
                metrics,
                context,
                logprobs,
            } => {
                all.extend(logprobs);
                return Ok(Collected {
                    text,
                    reason,
                    metrics,
                    context,
                    logprobs: all,
                });
            }
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
    pub think: Option<&'a Value>,
    pub images: bool,
}

impl Unsupported<'_> {
    pub fn check(&self) -> Result<(), ApiError> {
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
        if self.images {
            return Err(ApiError::BadRequest(format!(
                "{} does not support vision",
                self.model
            )));
        }
        Ok(())
    }

    fn no_thinking(&self) -> ApiError {
        ApiError::BadRequest(format!("\"{}\" does not support thinking", self.model))
    }
}

/// Ollama's `format`: `"json"`, a JSON-schema object, or nothing (`""`, `null`).
pub fn format_grammar(format: Option<&Value>) -> Result<Option<Grammar>, ApiError> {
    match format {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) if s == "json" => Ok(Some(Grammar::Json)),
        Some(Value::Object(schema)) => Ok(Some(Grammar::Schema(Value::Object(schema.clone())))),
        Some(other) => Err(ApiError::Internal(format!(
            "invalid format: {other}; expected \"json\" or a valid JSON Schema object"
        ))),
    }
}
