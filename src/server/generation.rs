//! What every generating route shares (native and `/v1`): validating the features we do
//! not have yet, running a job on the engine, and turning its events into pieces that each
//! route frames its way.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::error::ApiError;
use super::ndjson::ndjson_response;
use super::output::{Asks, OutputParser, Part, Think, ToolCall, ToolChoice};
use super::AppState;
use crate::api::{KeepAlive, Logprob, Metrics, TopLogprob};
use crate::engine::{
    ChatPrompt, Done, EngineError, Event, GenerateJob, GenerateOptions, GeneratePrompt, Grammar,
    Lease, Registry, TokenLogprob, TokenProb,
};
use crate::text::Tokenizer;

/// One step of a generation, as the routes see it.
pub enum Piece {
    /// Answer text, with the logprobs of the tokens sampled since the previous piece (when
    /// asked).
    Text {
        text: String,
        logprobs: Vec<TokenLogprob>,
    },
    /// Reasoning text (`think`), with the logprobs of its tokens.
    Thinking {
        text: String,
        logprobs: Vec<TokenLogprob>,
    },
    /// Whole tool calls, parsed from the model's own syntax, with the logprobs of their
    /// tokens.
    Calls {
        calls: Vec<ToolCall>,
        logprobs: Vec<TokenLogprob>,
    },
    Done {
        /// `stop` or `length`; routes that relabel a reply with calls see `called`.
        reason: &'static str,
        called: bool,
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
    /// The model as the request named it (Ollama's error texts quote it).
    pub model: &'a str,
    pub input: Input,
    pub options: Option<&'a Map<String, Value>>,
    /// Drop old messages / cut the prompt when it is longer than `num_ctx`.
    pub truncate: bool,
    pub shift: bool,
    /// `top_logprobs` when logprobs are asked for.
    pub logprobs: Option<usize>,
    /// Structured output: what the generation must match.
    pub grammar: Option<Grammar>,
    pub think: Think,
    /// Tool definitions (chat only).
    pub tools: Vec<Value>,
    pub tool_choice: ToolChoice,
    /// A forced choice may be several calls (OpenAI's `parallel_tool_calls: true`); one
    /// otherwise.
    pub parallel_tool_calls: bool,
}

impl<'a> Run<'a> {
    /// A run with nothing but the model's name as the request gave it, the input and the
    /// options set.
    pub fn new(model: &'a str, input: Input, options: Option<&'a Map<String, Value>>) -> Self {
        Self {
            model,
            input,
            options,
            truncate: true,
            shift: true,
            logprobs: None,
            grammar: None,
            think: Think::Default,
            tools: vec![],
            tool_choice: ToolChoice::Auto,
            parallel_tool_calls: false,
        }
    }
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
    let asks = Asks::resolve(&decoder.prompt, &lease.model.stored.name, &run)?;
    let grammar = run.grammar.or_else(|| asks.grammar.clone());
    let visible = visible_tokens(&decoder.prompt.tokenizer, &asks.markers);
    let (opts, truncate) = (options.clone(), run.truncate);
    let input = run.input;
    let (model, vars, tools) = (Arc::clone(&decoder), asks.vars.clone(), asks.tools.clone());
    let reasoning = asks.reasoning().cloned();
    let (prompt, constraint) = tokio::task::spawn_blocking(move || {
        let prompt = &model.prompt;
        let tokens = match input {
            Input::Chat(messages) => {
                let chat = ChatPrompt {
                    messages,
                    tools,
                    vars,
                };
                prompt.chat_tokens(&chat, &opts, truncate)
            }
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
                    vars: &vars,
                };
                prompt.generate_tokens(&generate, &opts, truncate)
            }
        }?;
        let mut constraint = grammar.map(|g| model.grammars.compile(&g)).transpose()?;
        if let Some(tags) = reasoning {
            // Free reasoning, then the grammar for the answer.
            let opened = tokens.text.trim_end().ends_with(&tags.open);
            constraint = constraint.map(|c| c.after_thinking(&tags.open, &tags.close, opened));
        }
        Ok::<_, EngineError>((tokens, constraint))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    let parser = asks.parser(&prompt.text);
    let rx = decoder.engine.submit(GenerateJob {
        prompt: prompt.tokens,
        options,
        shift: run.shift,
        logprobs: run.logprobs,
        constraint,
        visible,
    })?;
    Ok(pieces(rx, lease, started, parser))
}

/// Control tokens among `markers`: the engine prints them so the parsers see them.
fn visible_tokens(tokenizer: &Tokenizer, markers: &[String]) -> Vec<u32> {
    markers
        .iter()
        .filter_map(|m| tokenizer.token_id(m))
        .filter(|&id| tokenizer.is_control(id))
        .collect()
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

/// Engine events as pieces, taken apart by `parser`. The lease is held until the stream
/// ends or is dropped (the client went away), which also drops the receiver and so cancels
/// the job.
pub fn pieces(
    rx: mpsc::UnboundedReceiver<Event>,
    lease: Lease,
    started: Instant,
    parser: OutputParser,
) -> impl Stream<Item = Piece> + Send {
    let state = Pieces {
        rx,
        lease,
        parser,
        ready: VecDeque::new(),
        logprobs: vec![],
        ended: false,
    };
    futures::stream::unfold(state, move |mut st| async move {
        loop {
            if let Some(piece) = st.ready.pop_front() {
                return Some((piece, st));
            }
            if st.ended {
                return None;
            }
            match st.rx.recv().await {
                Some(Event::Logprob(lp)) => st.logprobs.push(lp),
                Some(Event::Text(text)) => {
                    let parts = st.parser.push(&text);
                    st.queue(parts);
                }
                Some(Event::Done(done)) => {
                    let parts = st.parser.finish();
                    st.queue(parts);
                    let logprobs = std::mem::take(&mut st.logprobs);
                    let called = st.parser.called();
                    let piece = done_piece(done, &st.lease, started, logprobs, called);
                    st.ready.push_back(piece);
                    st.ended = true;
                }
                Some(Event::Error(e)) => {
                    st.ready.push_back(Piece::Error(e));
                    st.ended = true;
                }
                None => {
                    let e = "the model runner stopped unexpectedly".to_string();
                    st.ready.push_back(Piece::Error(e));
                    st.ended = true;
                }
            }
        }
    })
}

/// The state of [`pieces`].
struct Pieces {
    rx: mpsc::UnboundedReceiver<Event>,
    lease: Lease,
    parser: OutputParser,
    ready: VecDeque<Piece>,
    /// Logprobs of tokens whose answer text has not come out yet.
    logprobs: Vec<TokenLogprob>,
    ended: bool,
}

impl Pieces {
    /// Parsed parts as pieces: consecutive calls in one piece; the logprobs of the tokens
    /// sampled since the last piece go with the next one, whatever it holds.
    fn queue(&mut self, parts: Vec<Part>) {
        for part in parts {
            let logprobs = std::mem::take(&mut self.logprobs);
            match part {
                Part::Content(text) => self.ready.push_back(Piece::Text { text, logprobs }),
                Part::Thinking(text) => self.ready.push_back(Piece::Thinking { text, logprobs }),
                Part::Call(call) => match self.ready.back_mut() {
                    Some(Piece::Calls { calls, logprobs: l }) => {
                        calls.push(call);
                        l.extend(logprobs);
                    }
                    _ => self.ready.push_back(Piece::Calls {
                        calls: vec![call],
                        logprobs,
                    }),
                },
            }
        }
    }
}

fn done_piece(
    done: Done,
    lease: &Lease,
    started: Instant,
    logprobs: Vec<TokenLogprob>,
    called: bool,
) -> Piece {
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
        called,
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
    pub thinking: String,
    pub calls: Vec<ToolCall>,
    /// `stop` or `length`.
    pub reason: &'static str,
    pub metrics: Metrics,
    pub context: Vec<u32>,
    pub logprobs: Vec<TokenLogprob>,
}

/// The whole generation for `stream:false`.
pub async fn collect(stream: impl Stream<Item = Piece>) -> Result<Collected, ApiError> {
    let mut stream = std::pin::pin!(stream);
    let mut text = String::new();
    let mut thinking = String::new();
    let mut calls = vec![];
    let mut all = vec![];
    while let Some(piece) = stream.next().await {
        match piece {
            Piece::Text { text: t, logprobs } => {
                text.push_str(&t);
                all.extend(logprobs);
            }
            Piece::Thinking { text: t, logprobs } => {
                thinking.push_str(&t);
                all.extend(logprobs);
            }
            Piece::Calls { calls: c, logprobs } => {
                calls.extend(c);
                all.extend(logprobs);
            }
            Piece::Done {
                reason,
                metrics,
                context,
                logprobs,
                ..
            } => {
                all.extend(logprobs);
                return Ok(Collected {
                    text,
                    thinking,
                    calls,
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

/// Features rollama does not have answer a clear error, never a fake success.
pub struct Unsupported<'a> {
    pub model: &'a str,
    pub images: bool,
}

impl Unsupported<'_> {
    pub fn check(&self) -> Result<(), ApiError> {
        if self.images {
            return Err(ApiError::BadRequest(format!(
                "{} does not support vision",
                self.model
            )));
        }
        Ok(())
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
