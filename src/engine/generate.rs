//! A generation from request to pieces: the model leased, the request checked against what
//! it can do, the prompt built and tokenized off the async runtime, grammars compiled, the
//! job queued, and the engine's events taken apart into answer, reasoning and tool calls.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use tokio::sync::mpsc;

use super::output::{Asks, OutputParser, Part};
use super::prompt::{ChatPrompt, GeneratePrompt, Prompt};
use super::registry::{Decoder, Lease, Registry};
use super::request::{Finished, GenerateRequest, GenerationMetrics, Input, Piece, Pieces};
use super::{
    Constraint, Done, EngineError, Event, Failure, GenerateJob, GenerateOptions, TokenLogprob,
    Trace,
};
use crate::api::{Message, Options};
use crate::store::Layers;
use crate::text::{GoTemplate, Tokenizer};
use serde_json::Value;

/// Runs `req` on its model; errors before the first piece are returned, later ones are the
/// stream's last piece.
pub async fn generate(registry: &Registry, req: GenerateRequest) -> Result<Pieces, EngineError> {
    let started = Instant::now();
    let trace = super::trace::current();
    let caps = &registry.config().caps;
    // Before the load: a request the operator's cap refuses costs nothing.
    caps.check_num_ctx(req.options.num_ctx)?;
    let lease = registry.acquire(&req.model, req.keep_alive).await?;
    if let Some(t) = &trace {
        // The store's name (`name:tag`), as the engine's own series label the model.
        t.set_model(&lease.stored.name);
    }
    let decoder = Arc::clone(lease.model.decoder(req.input.capability(), &req.model)?);
    let stored_name = lease.model.stored.name.clone();
    let layers = {
        let (store, stored) = (registry.store().clone(), lease.stored.clone());
        super::describe::blocking(move || Ok(store.layers(&stored)?)).await?
    };
    let mut req = req;
    let own_template = apply_layers(&mut req, &layers)?;
    if let Input::Prompt(p) = &req.input {
        let inserts = match &own_template {
            Some(t) => t.vars().iter().any(|v| v == "suffix"),
            None => decoder.prompt.inserts(),
        };
        if !p.suffix.is_empty() && !inserts {
            return Err(EngineError::BadRequest(format!(
                "registry.ollama.ai/library/{stored_name} does not support insert"
            )));
        }
    }
    let default_num_ctx = registry.config().default_num_ctx;
    let window = caps.num_ctx_bound(lease.model.max_num_ctx);
    let options = GenerateOptions::resolve(&req.options, default_num_ctx, window)?;
    let asks = Asks::resolve(&decoder.prompt, &stored_name, &req)?;
    let (shift, logprobs) = (req.shift, req.logprobs);
    let prepared = prepare(
        &decoder,
        req,
        &asks,
        &options,
        own_template,
        layers.messages,
    )
    .await?;
    caps.check_prompt("prompt", prepared.prompt.tokens.len())?;
    let parser = asks.parser(&prepared.prompt.text);
    let submitted = decoder.engine.submit(GenerateJob {
        prompt: prepared.prompt.tokens,
        options,
        shift,
        logprobs,
        constraint: prepared.constraint,
        visible: visible_tokens(&decoder.prompt.tokenizer, &asks.markers),
        trace: trace.clone(),
    });
    let rx = match submitted {
        Ok(rx) => rx,
        Err(e) => {
            if matches!(e, EngineError::WorkerDied) {
                lease.forget_dead_model();
            }
            return Err(e);
        }
    };
    let deadline = caps
        .request_timeout
        .and_then(|limit| Deadline::after(started, limit));
    Ok(pieces(rx, lease, started, parser, trace, deadline).boxed())
}

/// When a generation must have ended (`ROLLAMA_REQUEST_TIMEOUT`), counted from its arrival.
#[derive(Clone, Copy)]
struct Deadline {
    at: tokio::time::Instant,
    limit: std::time::Duration,
}

impl Deadline {
    /// `None` when `limit` is too far away to be a point in time.
    fn after(started: Instant, limit: std::time::Duration) -> Option<Self> {
        let at = started.checked_add(limit)?;
        Some(Self {
            at: tokio::time::Instant::from_std(at),
            limit,
        })
    }
}

/// A prompt ready to queue.
struct Prepared {
    prompt: Prompt,
    constraint: Option<Constraint>,
}

/// Renders and tokenizes the prompt and compiles its grammar on a blocking thread. The
/// work stops early when the request goes away (the client disconnected), and counts as
/// `preparing` in the engine's stats while it runs.
async fn prepare(
    decoder: &Arc<Decoder>,
    req: GenerateRequest,
    asks: &Asks,
    options: &GenerateOptions,
    template: Option<GoTemplate>,
    seeded: Vec<Value>,
) -> Result<Prepared, EngineError> {
    let cancel = CancelOnDrop::default();
    let flag = Arc::clone(&cancel.0);
    let model = Arc::clone(decoder);
    let (vars, tools) = (asks.vars.clone(), asks.tools.clone());
    let grammar = req.format.or_else(|| asks.grammar.clone());
    let reasoning = asks.reasoning().cloned();
    let (options, truncate, shift) = (options.clone(), req.truncate, req.shift);
    let input = req.input;
    let task = tokio::task::spawn_blocking(move || {
        let _preparing = model.engine.preparing();
        let prompt = &model.prompt;
        let tokens = match input {
            Input::Chat(messages) => {
                let chat = ChatPrompt {
                    messages: messages.iter().map(ChatPrompt::message).collect(),
                    tools,
                    vars,
                };
                prompt.chat_tokens(&chat, &options, truncate, &flag)
            }
            Input::Prompt(p) => {
                let generate = GeneratePrompt {
                    prompt: &p.prompt,
                    system: p.system.as_deref(),
                    raw: p.raw,
                    context: &p.context,
                    vars: &vars,
                    suffix: &p.suffix,
                    template: template.as_ref(),
                    seeded: &seeded,
                };
                prompt.generate_tokens(&generate, &options, truncate)
            }
        }?;
        let mut constraint = grammar.map(|g| model.grammars.compile(&g)).transpose()?;
        if let Some(tags) = reasoning {
            // Free reasoning, then the grammar for the answer.
            let opened = tokens.text.trim_end().ends_with(&tags.open);
            constraint = constraint.map(|c| c.after_thinking(&tags.open, &tags.close, opened));
        }
        if let Some(c) = &constraint {
            fits_budget(
                c,
                &model.prompt.tokenizer,
                &options,
                shift,
                tokens.tokens.len(),
            )?;
        }
        Ok::<_, EngineError>(Prepared {
            prompt: tokens,
            constraint,
        })
    });
    let prepared = task
        .await
        .map_err(|e| EngineError::Failed(format!("preparing the prompt failed: {e}")))?;
    drop(cancel);
    prepared
}

/// What an Ollama model's layers add to a request, as Ollama applies them: its parameters
/// under the request's options, its seeded messages before a chat's, its system prompt
/// when the request brings none. Returns the request's own Go template (`template`), if
/// it gave one.
fn apply_layers(
    req: &mut GenerateRequest,
    layers: &Layers,
) -> Result<Option<GoTemplate>, EngineError> {
    if !layers.params.is_empty() {
        let defaults = Options::from_map(&layers.params);
        if let Err(e) = defaults.check() {
            tracing::warn!(model = %req.model, error = %e, "ignoring the model's parameters");
        } else {
            req.options = std::mem::take(&mut req.options).over(&defaults);
        }
    }
    let system = layers.system.as_deref().filter(|s| !s.is_empty());
    match &mut req.input {
        Input::Chat(messages) => {
            let first_is_system = messages
                .first()
                .is_some_and(|m| m.role.eq_ignore_ascii_case("system"));
            let mut all: Vec<Message> = layers
                .messages
                .iter()
                .filter_map(|m| serde_json::from_value(m.clone()).ok())
                .collect();
            all.append(messages);
            if let (Some(system), false) = (system, first_is_system) {
                all.insert(
                    0,
                    Message {
                        role: "system".into(),
                        content: system.into(),
                        ..Message::default()
                    },
                );
            }
            *messages = all;
            Ok(None)
        }
        Input::Prompt(p) => {
            if p.system.as_deref().is_none_or(str::is_empty) {
                p.system = system.map(String::from);
            }
            match p.template.as_deref().filter(|t| !t.is_empty()) {
                Some(t) => GoTemplate::parse(t)
                    .map(Some)
                    .map_err(|e| EngineError::BadRequest(format!("template error: {e}"))),
                None => Ok(None),
            }
        }
    }
}

/// A constrained reply must be able to end valid within its budget: refused up front when
/// even the shortest reply the grammar allows would not fit.
fn fits_budget(
    constraint: &Constraint,
    tokenizer: &Tokenizer,
    options: &GenerateOptions,
    shift: bool,
    prompt_len: usize,
) -> Result<(), EngineError> {
    let Some(shortest) = constraint.shortest(tokenizer) else {
        return Ok(());
    };
    if let Some(n) = options.num_predict.filter(|&n| n > 0 && n < shortest) {
        return Err(EngineError::BadRequest(format!(
            "num_predict {n} is too small for the format: its shortest valid reply takes {shortest} tokens"
        )));
    }
    let room = options.num_ctx.saturating_sub(prompt_len);
    if !shift && room < shortest {
        return Err(EngineError::BadRequest(format!(
            "the context window leaves room for {room} tokens and the format's shortest valid reply takes {shortest}; raise num_ctx or allow shift"
        )));
    }
    Ok(())
}

/// Set when dropped: a request future dropped mid-way (its client went away) tells the
/// blocking work it started to stop.
#[derive(Default)]
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Relaxed);
    }
}

/// Control tokens among `markers`: the engine prints them so the parsers see them.
fn visible_tokens(tokenizer: &Tokenizer, markers: &[String]) -> Vec<u32> {
    markers
        .iter()
        .filter_map(|m| tokenizer.token_id(m))
        .filter(|&id| tokenizer.is_control(id))
        .collect()
}

/// Engine events as pieces, taken apart by `parser`. The lease is held until the stream
/// ends or is dropped (the client went away), which also drops the receiver and so cancels
/// the job.
fn pieces(
    rx: mpsc::UnboundedReceiver<Event>,
    lease: Lease,
    started: Instant,
    parser: OutputParser,
    trace: Option<Arc<Trace>>,
    deadline: Option<Deadline>,
) -> impl futures::Stream<Item = Piece> + Send {
    let state = PieceStream {
        trace,
        deadline,
        rx,
        lease,
        parser,
        started,
        ready: VecDeque::new(),
        logprobs: vec![],
        ended: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(piece) = st.ready.pop_front() {
                return Some((piece, st));
            }
            if st.ended {
                return None;
            }
            let event = match st.deadline {
                None => st.rx.recv().await,
                // Checked after each wait too, so a generation past its deadline ends
                // even when an event was already waiting.
                Some(d) => match tokio::time::timeout_at(d.at, st.rx.recv()).await {
                    Ok(event) if tokio::time::Instant::now() < d.at => event,
                    _ => {
                        st.time_out(d.limit);
                        continue;
                    }
                },
            };
            st.take(event);
        }
    })
}

/// The state of [`pieces`].
struct PieceStream {
    rx: mpsc::UnboundedReceiver<Event>,
    lease: Lease,
    parser: OutputParser,
    started: Instant,
    ready: VecDeque<Piece>,
    /// Logprobs of tokens whose answer text has not come out yet.
    logprobs: Vec<TokenLogprob>,
    ended: bool,
    trace: Option<Arc<Trace>>,
    deadline: Option<Deadline>,
}

impl PieceStream {
    /// The deadline passed: the stream ends with the error, and closing the receiver
    /// cancels the job at the worker's next step (it sees the channel closed).
    fn time_out(&mut self, limit: std::time::Duration) {
        self.rx.close();
        let failure = Failure::timed_out(super::caps::deadline_message(limit));
        self.ready.push_back(Piece::Error(failure));
        self.ended = true;
    }

    fn take(&mut self, event: Option<Event>) {
        match event {
            Some(Event::Logprob(lp)) => self.logprobs.push(lp),
            Some(Event::Text(text)) => {
                let parts = self.parser.push(&text);
                self.queue(parts);
            }
            Some(Event::Done(done)) => {
                if let Some(t) = &self.trace {
                    t.finished(done.prompt_eval_count, done.eval_count);
                }
                let parts = self.parser.finish();
                self.queue(parts);
                let finished = self.finished(done);
                self.ready.push_back(Piece::Done(finished));
                self.ended = true;
            }
            Some(Event::Error(e)) => {
                self.ready.push_back(Piece::Error(e));
                self.ended = true;
            }
            None => {
                // The worker dropped our events without a last word: its thread is gone.
                self.lease.forget_dead_model();
                let e = Failure::internal(EngineError::WorkerDied.to_string());
                self.ready.push_back(Piece::Error(e));
                self.ended = true;
            }
        }
    }

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

    fn finished(&mut self, done: Done) -> Finished {
        let metrics = GenerationMetrics {
            total_duration: self.started.elapsed(),
            load_duration: self.lease.load_duration,
            prompt_eval_count: done.prompt_eval_count,
            prompt_eval_duration: done.prompt_eval_duration,
            eval_count: done.eval_count,
            eval_duration: done.eval_duration,
            prompt_tokens: done.tokens.len().saturating_sub(done.eval_count),
        };
        Finished {
            reason: done.reason,
            called: self.parser.called(),
            metrics,
            context: done.tokens,
            logprobs: std::mem::take(&mut self.logprobs),
        }
    }
}
