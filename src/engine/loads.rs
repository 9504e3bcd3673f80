//! What the [`super::Registry`] counts of model residency: loads and how long they took,
//! and unloads by why they happened. An operator tells a thrashing server (loads and
//! evictions climbing together) from one whose models simply expire when idle.
//!
//! Only counts: the server turns them into Prometheus series (`/metrics`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the load-time histogram: a small GGUF from the page cache
/// loads in tens of milliseconds, a large one from a cold disk in minutes.
pub const LOAD_SECONDS_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// Why a model left memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnloadReason {
    /// Unloaded, least recently used first, to make room for another model
    /// (`OLLAMA_MAX_LOADED_MODELS` or the memory budget).
    Evicted,
    /// Its keep-alive ran out while idle.
    Expired,
    /// Asked for: `keep_alive: 0`, or an unload request.
    Requested,
    /// The store's model under its name changed (created, copied or pulled anew).
    Replaced,
    /// Its thread died (a panic); it loads again on the next request.
    Died,
}

impl UnloadReason {
    /// The label value `/metrics` reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Evicted => "evicted",
            Self::Expired => "expired",
            Self::Requested => "requested",
            Self::Replaced => "replaced",
            Self::Died => "died",
        }
    }
}

/// A histogram of load times, in [`LOAD_SECONDS_BUCKETS`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadTimes {
    /// Loads per bucket (not cumulative): `counts[i]` took at most
    /// `LOAD_SECONDS_BUCKETS[i]` and more than the bound before; the last entry is
    /// every load slower than the largest bound.
    pub counts: Vec<u64>,
    pub sum_seconds: f64,
    pub count: u64,
}

impl LoadTimes {
    fn observe(&mut self, took: Duration) {
        if self.counts.is_empty() {
            self.counts = vec![0; LOAD_SECONDS_BUCKETS.len() + 1];
        }
        let s = took.as_secs_f64();
        let at = LOAD_SECONDS_BUCKETS
            .iter()
            .position(|&bound| s <= bound)
            .unwrap_or(LOAD_SECONDS_BUCKETS.len());
        self.counts[at] += 1;
        self.sum_seconds += s;
        self.count += 1;
    }

    /// `(upper bound, count)` pairs, not cumulative, `+Inf` last (what Prometheus
    /// encoders take).
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        LOAD_SECONDS_BUCKETS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .enumerate()
            .map(|(i, bound)| (bound, self.counts.get(i).copied().unwrap_or(0)))
            .collect()
    }
}

/// One model's residency counts since the server started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelLoads {
    /// As the store names it (`name:tag`).
    pub model: String,
    /// Successful loads (each one observed in `load_times`).
    pub load_times: LoadTimes,
    /// Unloads by reason, in [`UnloadReason`] order.
    pub unloads: Vec<(UnloadReason, u64)>,
}

/// Every model's residency counts, by name.
#[derive(Debug, Default)]
pub(crate) struct LoadStats {
    models: Mutex<HashMap<String, ModelLoads>>,
}

impl LoadStats {
    pub(crate) fn loaded(&self, model: &str, took: Duration) {
        self.with(model, |m| m.load_times.observe(took));
    }

    pub(crate) fn unloaded(&self, model: &str, why: UnloadReason) {
        self.with(model, |m| {
            match m.unloads.iter_mut().find(|(r, _)| *r == why) {
                Some((_, n)) => *n += 1,
                None => {
                    m.unloads.push((why, 1));
                    m.unloads.sort();
                }
            }
        });
    }

    /// Every model that was ever loaded or unloaded, by name.
    pub(crate) fn snapshot(&self) -> Vec<ModelLoads> {
        let models = self.models.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<ModelLoads> = models.values().cloned().collect();
        out.sort_by(|a, b| a.model.cmp(&b.model));
        out
    }

    fn with(&self, model: &str, f: impl FnOnce(&mut ModelLoads)) {
        let mut models = self.models.lock().unwrap_or_else(|e| e.into_inner());
        let entry = models
            .entry(model.to_string())
            .or_insert_with(|| ModelLoads {
                model: model.to_string(),
                ..ModelLoads::default()
            });
        f(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_fall_in_their_buckets_and_unloads_count_by_reason() {
        let stats = LoadStats::default();
        stats.loaded("a:latest", Duration::from_millis(30));
        stats.loaded("a:latest", Duration::from_secs(2));
        stats.loaded("a:latest", Duration::from_secs(3600));
        stats.unloaded("a:latest", UnloadReason::Expired);
        stats.unloaded("a:latest", UnloadReason::Evicted);
        stats.unloaded("a:latest", UnloadReason::Expired);
        stats.unloaded("b:latest", UnloadReason::Died);
        let all = stats.snapshot();
        assert_eq!(all.len(), 2);
        let a = &all[0];
        assert_eq!(a.model, "a:latest");
        assert_eq!(a.load_times.count, 3);
        let buckets = a.load_times.buckets();
        assert_eq!(buckets.len(), LOAD_SECONDS_BUCKETS.len() + 1);
        assert_eq!(buckets[0], (0.05, 1));
        assert_eq!(buckets[5], (2.5, 1));
        assert_eq!(buckets.last(), Some(&(f64::INFINITY, 1)));
        assert_eq!(buckets.iter().map(|b| b.1).sum::<u64>(), 3);
        assert!((a.load_times.sum_seconds - 3602.03).abs() < 1e-6);
        assert_eq!(
            a.unloads,
            vec![(UnloadReason::Evicted, 1), (UnloadReason::Expired, 2)]
        );
        assert_eq!(all[1].load_times.count, 0);
        assert_eq!(all[1].unloads, vec![(UnloadReason::Died, 1)]);
    }
}
