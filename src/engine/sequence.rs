//! One request's state inside the worker.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::sampling::Sampler;
use super::stop::{StopMatcher, StopOutcome};
use super::{Done, Event, FinishReason, GenerateOptions};
use crate::model::KvCache;
use crate::text::{StreamDecoder, Tokenizer};

pub struct Sequence {
    /// Prompt then generated tokens; the last one may not be fed to the model yet.
    pub tokens: Vec<u32>,
    pub cache: KvCache,
    prompt_len: usize,
    generated: usize,
    options: GenerateOptions,
    sampler: Sampler,
    decoder: StreamDecoder,
    stop: StopMatcher,
    events: mpsc::UnboundedSender<Event>,
    started: Instant,
    prefill_done: Option<Instant>,
}

impl Sequence {
    pub fn new(
        prompt: Vec<u32>,
        options: GenerateOptions,
        cache: KvCache,
        events: mpsc::UnboundedSender<Event>,
    ) -> Self {
        Self {
            prompt_len: prompt.len(),
            tokens: prompt,
            cache,
            generated: 0,
            sampler: Sampler::new(&options),
            stop: StopMatcher::new(options.stop.clone()),
            options,
            decoder: StreamDecoder::new(),
            events,
            started: Instant::now(),
            prefill_done: None,
        }
    }

    /// The client is gone: stop working on it.
    pub fn is_cancelled(&self) -> bool {
        self.events.is_closed()
    }

    /// Tokens generated so far.
    pub fn generated(&self) -> usize {
        self.generated
    }

    /// Tokens not yet in the cache.
    pub fn pending(&self) -> usize {
        self.tokens.len() - self.cache.len()
    }

    pub fn fail(&self, message: String) {
        let _ = self.events.send(Event::Error(message));
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
        let token = self.sampler.sample(logits, &self.tokens);
        if tokenizer.stop_ids().contains(&token) {
            return self.finish(FinishReason::Stop, None);
        }
        self.tokens.push(token);
        self.generated += 1;
        let text = match self.decoder.push(tokenizer, token) {
            Ok(t) => t,
            Err(e) => {
                self.fail(e.to_string());
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
        if self.options.num_predict.is_some_and(|n| self.generated >= n)
            || self.tokens.len() >= self.options.num_ctx
        {
            let rest = self.stop.flush();
            return self.finish(FinishReason::Length, Some(rest));
        }
        true
    }

    fn finish(&mut self, reason: FinishReason, text: Option<String>) -> bool {
        if let Some(t) = text.filter(|t| !t.is_empty()) {
            let _ = self.events.send(Event::Text(t));
        }
        let now = Instant::now();
        let prefill_done = self.prefill_done.unwrap_or(now);
        let done = Done {
            reason,
            prompt_eval_count: self.prompt_len,
            prompt_eval_duration: prefill_done - self.started,
            eval_count: self.generated,
            eval_duration: (now - prefill_done).max(Duration::from_nanos(1)),
            tokens: std::mem::take(&mut self.tokens),
        };
        let _ = self.events.send(Event::Done(done));
        false
    }
}
