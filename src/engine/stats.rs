//! Live counters of one engine, written by its worker and read by `/api/ps` and
//! `/metrics` without asking the worker anything.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

#[derive(Debug, Default)]
pub struct EngineStats {
    /// Requests whose prompt is being rendered and tokenized (before they queue).
    pub(crate) preparing: AtomicUsize,
    /// Requests accepted but not running yet (what `OLLAMA_MAX_QUEUE` caps).
    pub(crate) waiting: AtomicUsize,
    pub(crate) running: AtomicUsize,
    /// KV positions reserved by running sequences, out of `kv_budget`.
    pub(crate) kv_reserved: AtomicUsize,
    pub(crate) kv_budget: AtomicUsize,
    /// Bytes of KV buffers held by running sequences and the prefix cache.
    pub(crate) kv_bytes: AtomicUsize,
    pub(crate) prefix_cache_tokens: AtomicUsize,
    pub(crate) requests_total: AtomicU64,
    pub(crate) rejected_total: AtomicU64,
    pub(crate) prompt_tokens_total: AtomicU64,
    pub(crate) reused_tokens_total: AtomicU64,
    pub(crate) generated_tokens_total: AtomicU64,
    pub(crate) steps_total: AtomicU64,
    /// Requests that may wait before new ones are refused (`OLLAMA_MAX_QUEUE`).
    pub(crate) max_queue: AtomicUsize,
    /// Sequences decoded together at most (`OLLAMA_NUM_PARALLEL`); an embedder runs
    /// every queued request in its next round, so its bound is the queue's.
    pub(crate) max_running: AtomicUsize,
}

/// A copy of [`EngineStats`] at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub preparing: usize,
    pub waiting: usize,
    pub running: usize,
    pub kv_reserved: usize,
    pub kv_budget: usize,
    pub kv_bytes: usize,
    pub prefix_cache_tokens: usize,
    pub requests_total: u64,
    pub rejected_total: u64,
    /// Prompt tokens computed (reused ones not counted).
    pub prompt_tokens_total: u64,
    /// Prompt tokens taken from the prefix cache instead.
    pub reused_tokens_total: u64,
    pub generated_tokens_total: u64,
    /// Forward passes run.
    pub steps_total: u64,
    pub max_queue: usize,
    pub max_running: usize,
}

impl EngineStats {
    /// Counters of an engine with these limits.
    pub(crate) fn with_limits(max_queue: usize, max_running: usize) -> Self {
        Self {
            max_queue: AtomicUsize::new(max_queue),
            max_running: AtomicUsize::new(max_running),
            ..Self::default()
        }
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            preparing: self.preparing.load(Relaxed),
            waiting: self.waiting.load(Relaxed),
            running: self.running.load(Relaxed),
            kv_reserved: self.kv_reserved.load(Relaxed),
            kv_budget: self.kv_budget.load(Relaxed),
            kv_bytes: self.kv_bytes.load(Relaxed),
            prefix_cache_tokens: self.prefix_cache_tokens.load(Relaxed),
            requests_total: self.requests_total.load(Relaxed),
            rejected_total: self.rejected_total.load(Relaxed),
            prompt_tokens_total: self.prompt_tokens_total.load(Relaxed),
            reused_tokens_total: self.reused_tokens_total.load(Relaxed),
            generated_tokens_total: self.generated_tokens_total.load(Relaxed),
            steps_total: self.steps_total.load(Relaxed),
            max_queue: self.max_queue.load(Relaxed),
            max_running: self.max_running.load(Relaxed),
        }
    }

    /// Takes a place in the queue unless `max` requests already wait.
    pub(crate) fn try_enqueue(&self, max: usize) -> bool {
        let ok = self
            .waiting
            .fetch_update(Relaxed, Relaxed, |n| (n < max).then_some(n + 1))
            .is_ok();
        match ok {
            true => self.requests_total.fetch_add(1, Relaxed),
            false => self.rejected_total.fetch_add(1, Relaxed),
        };
        ok
    }

    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Relaxed);
    }
}

/// One request counted in [`EngineStats`]' `preparing` while it lives.
pub struct Preparing(Arc<EngineStats>);

impl Preparing {
    pub(crate) fn new(stats: Arc<EngineStats>) -> Self {
        stats.preparing.fetch_add(1, Relaxed);
        Self(stats)
    }
}

impl Drop for Preparing {
    fn drop(&mut self) {
        self.0.preparing.fetch_sub(1, Relaxed);
    }
}
