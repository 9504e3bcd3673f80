//! One request's state inside the worker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::constraint::{Constraint, Step};
use super::sampling::{log_probs, Sampler};
use super::stop::{StopMatcher, StopOutcome};
use super::{
    Done, Event, Failure, FinishReason, GenerateJob, GenerateOptions, TokenLogprob, TokenProb,
    Trace,
};
use crate::model::KvCache;
use crate::text::{StreamDecoder, Tokenizer};

pub struct Sequence {
    /// The window the model sees: prompt then generated tokens, minus what context shifts
    /// dropped. The last one may not be fed to the model yet.
    pub tokens: Vec<u32>,
    pub cache: KvCache,
    /// Everything, prompt and generated, never shifted (Ollama's `context`).
    history: Vec<u32>,
    prompt_len: usize,
    /// Prompt tokens whose KV came from the prefix cache.
    reused: usize,
    /// KV positions this sequence may grow to, held against the engine's budget.
    reservation: usize,
    shift: bool,
    /// `Some(k)`: report each token's logprob and the top `k`.
    logprobs: Option<usize>,
    generated: usize,
    options: GenerateOptions,
    sampler: Sampler,
    constraint: Option<Constraint>,
    /// Control tokens printed as their text.
    visible: Vec<u32>,
    decoder: StreamDecoder,
    stop: StopMatcher,
    events: mpsc::UnboundedSender<Event>,
    started: Instant,
    prefill_done: Option<Instant>,
    /// The HTTP request it serves, if the server opened a trace.
    pub trace: Option<Arc<Trace>>,
}

impl Sequence {
    /// The id of the HTTP request it serves, for log lines on the model's thread.
    pub fn request_id(&self) -> &str {
        self.trace.as_deref().map_or("", |t| t.id.as_str())
    }

    /// Threads this sequence's request asked for (`num_thread`).
    pub fn num_thread(&self) -> Option<usize> {
        self.options.num_thread
    }

    pub fn new(job: GenerateJob, cache: KvCache, events: mpsc::UnboundedSender<Event>) -> Self {
        let GenerateJob {
            prompt,
            options,
            shift,
            logprobs,
            constraint,
            visible,
            trace,
        } = job;
        // With a `num_predict` that fits, the window never grows past prompt + num_predict;
        // otherwise it may fill `num_ctx` (and then shift within it).
        let reservation = match options.num_predict {
            Some(n) => options.num_ctx.min(prompt.len() + n.max(1)),
            None => options.num_ctx,
        };
        Self {
            prompt_len: prompt.len(),
            history: prompt.clone(),
            tokens: prompt,
            cache,
            reused: 0,
            reservation,
            shift,
            logprobs,
            generated: 0,
            sampler: Sampler::new(&options),
            constraint,
            visible,
            stop: StopMatcher::new(options.stop.clone()),
            options,
            decoder: StreamDecoder::new(),
            events,
            started: Instant::now(),
            prefill_done: None,
            trace,
        }
    }

    /// KV positions to hold against the budget while this sequence runs.
    pub fn reservation(&self) -> usize {
        self.reservation
    }

    /// Starts from a copy of an earlier request's KV for the first `len` prompt tokens.
    pub fn reuse_prefix(&mut self, cache: KvCache, len: usize) {
        debug_assert_eq!(cache.len(), len);
        self.cache = cache;
        self.reused = len;
    }

    /// Prompt tokens taken from the prefix cache.
    pub fn reused(&self) -> usize {
        self.reused
    }

    /// The KV cache and the tokens it holds, for the prefix cache once the sequence ends.
    pub fn into_cache(mut self) -> (Vec<u32>, KvCache) {
        self.tokens.truncate(self.cache.len());
        (self.tokens, self.cache)
    }

    /// The client is gone: stop working on it.
    pub fn is_cancelled(&self) -> bool {
        self.events.is_closed()
    }

    /// The request's `seed`, when it set one.
    pub fn seed(&self) -> Option<u64> {
        self.options.seed
    }

    /// Tokens generated so far.
    pub fn generated(&self) -> usize {
        self.generated
    }

    /// Tokens not yet in the cache.
    pub fn pending(&self) -> usize {
        self.tokens.len() - self.cache.len()
    }

    pub fn fail(&self, failure: Failure) {
        let _ = self.events.send(Event::Error(failure));
    }

    /// Takes the logits of the sequence's last fed token, samples, streams the text.
    /// Returns `false` once the sequence is finished (its `Done` has been sent).
    pub fn advance(&mut self, logits: &mut [f32], tokenizer: &Tokenizer) -> bool {
        if self.prefill_done.is_none() {
            self.prefill_done = Some(Instant::now());
        }
        if self.options.num_predict == Some(0) {
            return self.finish(FinishReason::Length, None);
        }
        // Penalties change the logits in place: keep the model's own for the report.
        let raw = self.logprobs.map(|k| (k, logits.to_vec()));
        let left = self.left();
        let token = match &mut self.constraint {
            None => self.sampler.sample(logits, &self.tokens),
            Some(c) => match c.sample(&mut self.sampler, logits, &self.tokens, tokenizer, left) {
                Step::Token(t) => t,
                Step::Complete => {
                    let rest = self.drain_held_back();
                    return self.finish(self.grammar_end(), Some(rest));
                }
                Step::Failed(e) => {
                    // The request's format could not be enforced (llguidance's limits).
                    self.fail(Failure::by_request(format!(
                        "the format could not be enforced: {e}"
                    )));
                    return false;
                }
            },
        };
        if let Some((k, raw)) = raw.filter(|_| !tokenizer.is_stop(token)) {
            let report = token_logprob(tokenizer, &raw, token, k);
            let _ = self.events.send(Event::Logprob(report));
        }
        if tokenizer.is_stop(token) {
            let rest = self.drain_held_back();
            return self.finish(FinishReason::Stop, Some(rest));
        }
        self.tokens.push(token);
        self.history.push(token);
        self.generated += 1;
        // Timed when sampled, not when its text comes out (a stop string's start is held
        // back): one observation per generated token, as `eval_count` counts them.
        if let Some(t) = &self.trace {
            t.token();
        }
        let printed = if self.visible.contains(&token) {
            let text = tokenizer.token_text(token).unwrap_or_default();
            Ok(self.decoder.push_text(text))
        } else {
            self.decoder.push(tokenizer, token)
        };
        let text = match printed {
            Ok(t) => t,
            Err(e) => {
                self.fail(Failure::internal(e.to_string()));
                return false;
            }
        };
        match self.stop.push(&text) {
            StopOutcome::Stop(before) => return self.finish(FinishReason::Stop, Some(before)),
            StopOutcome::Emit(t) if !t.is_empty() => {
                let _ = self.events.send(Event::Text(t));
            }
            StopOutcome::Emit(_) => {}
        }
        if self
            .constraint
            .as_ref()
            .is_some_and(Constraint::is_complete)
        {
            let rest = self.drain_held_back();
            return self.finish(self.grammar_end(), Some(rest));
        }
        let predicted_all = self
            .options
            .num_predict
            .is_some_and(|n| self.generated >= n);
        let window_full = self.tokens.len() >= self.options.num_ctx;
        if predicted_all || (window_full && !self.shift_window()) {
            let mut rest = self.drain_held_back();
            if let Some(closing) = self.constraint.as_ref().and_then(Constraint::closing) {
                rest.push_str(&closing);
            }
            return self.finish(FinishReason::Length, Some(rest));
        }
        true
    }

    /// Tokens this sequence may still generate, the next one included: what is left of
    /// `num_predict`, and of the window when it may not shift. `None`: no limit.
    fn left(&self) -> Option<usize> {
        let predict = self
            .options
            .num_predict
            .map(|n| n.saturating_sub(self.generated));
        let window = (!self.shift).then(|| self.options.num_ctx.saturating_sub(self.tokens.len()));
        match (predict, window) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Why a reply ends when its grammar is complete: the model's choice, or its budget
    /// when it had to follow the way out.
    fn grammar_end(&self) -> FinishReason {
        match self.constraint.as_ref().is_some_and(Constraint::steered) {
            true => FinishReason::Length,
            false => FinishReason::Stop,
        }
    }

    /// Context shift, as Ollama does when a generation fills `num_ctx`: keep the first
    /// `num_keep` tokens, drop half of the rest, and go on. The kept tail is recomputed at
    /// its new positions (chunked like any prompt) rather than rotating cached keys, so the
    /// KV is exactly what a fresh prompt of those tokens would give. Returns `false` when
    /// shifting is off or cannot free anything.
    fn shift_window(&mut self) -> bool {
        let num_ctx = self.options.num_ctx;
        let keep = self.options.num_keep.min(num_ctx / 2);
        let discard = (self.tokens.len() - keep) / 2;
        if !self.shift || discard == 0 {
            return false;
        }
        self.tokens.drain(keep..keep + discard);
        self.cache.truncate(keep);
        tracing::debug!(request = self.request_id(), keep, discard, "context shift");
        true
    }

    /// Text still held back when generation ends for a reason other than a stop string:
    /// bytes of an unfinished character, and a possible start of a stop string.
    fn drain_held_back(&mut self) -> String {
        let tail = self.decoder.flush();
        match self.stop.push(&tail) {
            StopOutcome::Stop(before) => before,
            StopOutcome::Emit(mut t) => {
                t.push_str(&self.stop.flush());
                t
            }
        }
    }

    fn finish(&mut self, reason: FinishReason, text: Option<String>) -> bool {
        if let Some(t) = text.filter(|t| !t.is_empty()) {
            let _ = self.events.send(Event::Text(t));
        }
        let now = Instant::now();
        let prefill_done = self.prefill_done.unwrap_or(now);
        let done = Done {
            reason,
            prompt_eval_count: self.prompt_len - self.reused,
            prompt_eval_duration: prefill_done - self.started,
            eval_count: self.generated,
            eval_duration: (now - prefill_done).max(Duration::from_nanos(1)),
            tokens: std::mem::take(&mut self.history),
        };
        let _ = self.events.send(Event::Done(done));
        false
    }
}

fn token_logprob(tokenizer: &Tokenizer, logits: &[f32], token: u32, k: usize) -> TokenLogprob {
    let (chosen, top) = log_probs(logits, token, k);
    let prob = |id: u32, logprob: f32| {
        let bytes = tokenizer.piece(id, false).unwrap_or_default().to_vec();
        TokenProb {
            text: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
            logprob,
        }
    };
    TokenLogprob {
        token: prob(token, chosen),
        top: top.into_iter().map(|(id, lp)| prob(id, lp)).collect(),
    }
}
