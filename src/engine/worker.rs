//! The model's own thread: takes requests, steps every running sequence through one packed
//! forward pass, samples, streams. No async code runs here.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use candle_core::Tensor;
use tokio::sync::mpsc;

use std::sync::atomic::Ordering::Relaxed;

use super::prefix_cache::PrefixCache;
use super::sequence::Sequence;
use super::stats::EngineStats;
use super::{compute_turn, Command, EngineConfig, Failure};
use crate::model::{Model, ModelError, SeqBatch};
use crate::text::Tokenizer;

pub(crate) fn run(
    model: Model,
    tokenizer: Arc<Tokenizer>,
    config: EngineConfig,
    stats: Arc<EngineStats>,
    rx: mpsc::UnboundedReceiver<Command>,
) {
    // Not inside candle's pool for the whole loop: an idle engine would hold one of its
    // threads forever (a third model, or an embedder, would wait for it to unload). Each
    // forward pass enters the pool for its own duration.
    Worker::new(model, tokenizer, config, stats, rx).run_loop();
    // The model and its caches are freed now: give the pages back.
    crate::memory::release_free_memory();
}

struct Worker {
    model: Model,
    tokenizer: Arc<Tokenizer>,
    config: EngineConfig,
    stats: Arc<EngineStats>,
    rx: mpsc::UnboundedReceiver<Command>,
    /// First come, first served: only the head may start next.
    waiting: VecDeque<Sequence>,
    running: Vec<Sequence>,
    /// KV positions held by the running sequences' reservations.
    reserved: usize,
    prefixes: PrefixCache,
}

impl Worker {
    fn new(
        model: Model,
        tokenizer: Arc<Tokenizer>,
        config: EngineConfig,
        stats: Arc<EngineStats>,
        rx: mpsc::UnboundedReceiver<Command>,
    ) -> Self {
        stats.kv_budget.store(config.kv_tokens, Relaxed);
        Self {
            prefixes: PrefixCache::new(config.prefix_cache_tokens),
            model,
            tokenizer,
            config,
            stats,
            rx,
            waiting: VecDeque::new(),
            running: vec![],
            reserved: 0,
        }
    }

    fn run_loop(mut self) {
        loop {
            if self.running.is_empty() && self.waiting.is_empty() {
                self.publish();
                // Idle: block until work arrives or every handle is dropped.
                match self.rx.blocking_recv() {
                    Some(cmd) => self.accept(cmd),
                    None => return,
                }
            }
            while let Ok(cmd) = self.rx.try_recv() {
                self.accept(cmd);
            }
            self.drop_cancelled();
            self.admit();
            self.publish();
            if !self.running.is_empty() {
                self.step();
            }
        }
    }

    fn accept(&mut self, cmd: Command) {
        let Command::Generate { job, events } = cmd;
        let seq = Sequence::new(job, self.model.new_cache(), events);
        let problem = if seq.tokens.is_empty() {
            Some("the prompt produced no tokens".to_string())
        } else if seq.tokens.len() > seq.reservation() {
            // The server truncates or refuses such prompts; this guards other callers.
            Some("the prompt is longer than the context length".to_string())
        } else if seq.reservation() > self.config.kv_tokens {
            Some(format!(
                "the request needs {} positions of KV cache and the model has {} in all",
                seq.reservation(),
                self.config.kv_tokens
            ))
        } else {
            None
        };
        match problem {
            Some(message) => {
                self.stats.waiting.fetch_sub(1, Relaxed);
                seq.fail(Failure::by_request(message));
            }
            None => self.waiting.push_back(seq),
        }
    }

    /// Clients that went away: their sequences leave now and their KV is freed.
    fn drop_cancelled(&mut self) {
        let before = self.waiting.len();
        self.waiting.retain(|s| !s.is_cancelled());
        self.stats
            .waiting
            .fetch_sub(before - self.waiting.len(), Relaxed);
        let reserved = &mut self.reserved;
        self.running.retain(|s| {
            let gone = s.is_cancelled();
            if gone {
                *reserved -= s.reservation();
            }
            !gone
        });
    }

    /// Starts waiting sequences in arrival order while a slot is free and the head's
    /// reservation fits in the KV budget. A head that does not fit blocks those behind
    /// it, so a large request is never starved by small ones.
    fn admit(&mut self) {
        while self.running.len() < self.config.max_running {
            let fits = self
                .waiting
                .front()
                .is_some_and(|s| self.reserved + s.reservation() <= self.config.kv_tokens);
            if !fits {
                break;
            }
            let Some(mut seq) = self.waiting.pop_front() else {
                break;
            };
            self.stats.waiting.fetch_sub(1, Relaxed);
            if let Some(t) = &seq.trace {
                t.admitted(seq.tokens.len());
            }
            match self.prefixes.lookup(&seq.tokens) {
                Ok(Some(reuse)) => seq.reuse_prefix(reuse.cache, reuse.len),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(request = seq.request_id(), error = %e, "prefix cache copy failed")
                }
            }
            EngineStats::add(&self.stats.reused_tokens_total, seq.reused());
            EngineStats::add(&self.stats.prompt_tokens_total, seq.pending());
            self.reserved += seq.reservation();
            self.running.push(seq);
        }
    }

    /// Ends a sequence: its reservation is released and its KV goes to the prefix cache.
    fn retire(&mut self, seq: Sequence) {
        self.reserved -= seq.reservation();
        let (tokens, cache) = seq.into_cache();
        self.prefixes.insert(tokens, cache);
    }

    /// Ends a sequence with an error; its KV is dropped.
    fn abort(&mut self, seq: Sequence, message: &str) {
        tracing::warn!(
            request = seq.request_id(),
            error = message,
            "generation failed"
        );
        seq.fail(Failure::internal(message));
        self.reserved -= seq.reservation();
    }

    fn publish(&self) {
        let s = &self.stats;
        s.running.store(self.running.len(), Relaxed);
        s.kv_reserved.store(self.reserved, Relaxed);
        let running_bytes: usize = self.running.iter().map(|q| q.cache.allocated_bytes()).sum();
        s.kv_bytes
            .store(running_bytes + self.prefixes.allocated_bytes(), Relaxed);
        s.prefix_cache_tokens.store(self.prefixes.tokens(), Relaxed);
    }

    /// One forward pass over every running sequence: one token each for those decoding,
    /// and the step's remaining token budget for prompts still being read.
    fn step(&mut self) {
        let mut budget = self.config.max_batch_tokens;
        let mut chunks = Vec::with_capacity(self.running.len());
        for seq in &self.running {
            let take = if seq.pending() <= 1 {
                seq.pending()
            } else {
                seq.pending().min(budget.max(1))
            };
            budget = budget.saturating_sub(take);
            chunks.push(take);
        }
        let threads = self.running.iter().filter_map(|s| s.num_thread()).max();
        let result = {
            let _turn = compute_turn();
            let mut batch: Vec<SeqBatch<'_>> = self
                .running
                .iter_mut()
                .zip(&chunks)
                .filter(|(_, &n)| n > 0)
                .map(|(seq, &n)| {
                    let start = seq.cache.len();
                    SeqBatch {
                        tokens: &seq.tokens[start..start + n],
                        cache: &mut seq.cache,
                    }
                })
                .collect();
            let model = &self.model;
            crate::model::quant::with_threads(threads.unwrap_or(0), || {
                model.forward(&mut batch).and_then(to_rows)
            })
        };
        let mut rows = match result {
            Ok(rows) => rows.into_iter(),
            Err(e) => {
                let requests: Vec<&str> = self.running.iter().map(Sequence::request_id).collect();
                tracing::error!(error = %e, ?requests, "forward pass failed");
                for seq in std::mem::take(&mut self.running) {
                    self.abort(seq, &e.to_string());
                }
                return;
            }
        };
        self.stats.steps_total.fetch_add(1, Relaxed);
        let tokenizer = Arc::clone(&self.tokenizer);
        let mut keep = Vec::with_capacity(self.running.len());
        for (mut seq, n) in std::mem::take(&mut self.running).into_iter().zip(chunks) {
            if n == 0 {
                keep.push(seq);
                continue;
            }
            let Some(mut logits) = rows.next() else {
                self.abort(seq, "internal error: missing logits row");
                continue;
            };
            if self
                .config
                .panic_after_tokens
                .is_some_and(|n| seq.generated() >= n)
            {
                // The test hook of a dying worker: no error event, the thread just ends.
                panic!("injected panic (test hook)");
            }
            if self
                .config
                .fail_after_tokens
                .is_some_and(|n| seq.generated() >= n)
            {
                self.abort(seq, "injected failure (test hook)");
                continue;
            }
            // Still reading its prompt: the logits of a partial prompt are not used.
            if seq.pending() > 0 {
                keep.push(seq);
                continue;
            }
            let before = seq.generated();
            // A panic here (sampling, grammar, detokenizing, stop strings) is a bug in one
            // request's processing: it fails that request alone, and its possibly broken
            // state (KV included) is dropped rather than cached.
            let hook = self.config.panic_on_seed;
            let advanced = panic::catch_unwind(AssertUnwindSafe(|| {
                if hook.is_some() && seq.seed() == hook {
                    panic!("injected panic (test hook)");
                }
                seq.advance(&mut logits, &tokenizer)
            }));
            let more = match advanced {
                Ok(more) => more,
                Err(payload) => {
                    let id = seq.trace.as_ref().map(|t| t.id.clone());
                    tracing::error!(
                        request = id.as_deref().unwrap_or("-"),
                        panic = panic_message(payload.as_ref()),
                        "a sequence panicked: it alone fails"
                    );
                    let message = match id {
                        Some(id) => format!("internal error (request {id})"),
                        None => "internal error".to_string(),
                    };
                    self.abort(seq, &message);
                    continue;
                }
            };
            let produced = seq.generated() - before;
            EngineStats::add(&self.stats.generated_tokens_total, produced);
            match more {
                true => keep.push(seq),
                false => self.retire(seq),
            }
        }
        self.running = keep;
    }
}

/// A panic's text, when it has one.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "a panic without a message"
    }
}

fn to_rows(logits: Tensor) -> Result<Vec<Vec<f32>>, ModelError> {
    Ok(logits.to_dtype(candle_core::DType::F32)?.to_vec2::<f32>()?)
}
