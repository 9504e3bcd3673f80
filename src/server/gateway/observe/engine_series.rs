//! The engine's live counters as series, read fresh at each scrape: every loaded model's
//! queue, slots, KV and token counts (these names and labels are what dashboards and
//! tests already read), the grammar engine's cost, and model residency (loads with their
//! times, unloads by reason).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use crate::engine::{Counters, StatsSnapshot};

type Field = fn(&StatsSnapshot) -> u64;

/// Name (counters without their `_total`, which the encoder adds), type, help, and how
/// to read it off a snapshot.
const SERIES: &[(&str, MetricType, &str, Field)] = &[
    (
        "rollama_requests_preparing",
        MetricType::Gauge,
        "Requests whose prompt is being rendered and tokenized.",
        |s| s.preparing as u64,
    ),
    (
        "rollama_requests_waiting",
        MetricType::Gauge,
        "Requests queued, not started yet.",
        |s| s.waiting as u64,
    ),
    (
        "rollama_sequences_running",
        MetricType::Gauge,
        "Sequences in the decode batch.",
        |s| s.running as u64,
    ),
    (
        "rollama_kv_reserved_tokens",
        MetricType::Gauge,
        "KV positions reserved by running sequences.",
        |s| s.kv_reserved as u64,
    ),
    (
        "rollama_kv_budget_tokens",
        MetricType::Gauge,
        "KV positions the model may reserve in all.",
        |s| s.kv_budget as u64,
    ),
    (
        "rollama_kv_bytes",
        MetricType::Gauge,
        "Bytes of KV buffers held (running sequences and prefix cache).",
        |s| s.kv_bytes as u64,
    ),
    (
        "rollama_prefix_cache_tokens",
        MetricType::Gauge,
        "KV positions kept for prefix reuse.",
        |s| s.prefix_cache_tokens as u64,
    ),
    (
        "rollama_requests",
        MetricType::Counter,
        "Requests accepted into the queue.",
        |s| s.requests_total,
    ),
    (
        "rollama_requests_rejected",
        MetricType::Counter,
        "Requests refused with 503 (queue full).",
        |s| s.rejected_total,
    ),
    (
        "rollama_prompt_tokens",
        MetricType::Counter,
        "Prompt tokens computed.",
        |s| s.prompt_tokens_total,
    ),
    (
        "rollama_prompt_tokens_reused",
        MetricType::Counter,
        "Prompt tokens taken from the prefix cache.",
        |s| s.reused_tokens_total,
    ),
    (
        "rollama_generated_tokens",
        MetricType::Counter,
        "Tokens generated.",
        |s| s.generated_tokens_total,
    ),
    (
        "rollama_steps",
        MetricType::Counter,
        "Batched forward passes run.",
        |s| s.steps_total,
    ),
];

/// One scrape's copy of the engine's counters.
#[derive(Debug)]
pub(super) struct EngineSeries(pub Counters);

impl Collector for EngineSeries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let counters = &self.0;
        for (name, kind, help, field) in SERIES {
            let mut family = encoder.encode_descriptor(name, help, None, *kind)?;
            for (model, stats) in &counters.models {
                let labels = [("model", model.as_str())];
                let mut series = family.encode_family(&labels)?;
                let value = field(stats);
                match kind {
                    MetricType::Counter => {
                        series.encode_counter::<NoLabelSet, _, u64>(&value, None)?
                    }
                    _ => series.encode_gauge(&value)?,
                }
            }
        }
        for (name, help, value) in [
            (
                "rollama_grammar_tokens",
                "Tokens sampled under a grammar (format, forced tool calls).",
                counters.grammar_tokens,
            ),
            (
                "rollama_grammar_masks",
                "Of those, tokens whose first draw the grammar refused, so the full vocabulary mask was computed.",
                counters.grammar_masks,
            ),
        ] {
            encoder
                .encode_descriptor(name, help, None, MetricType::Counter)?
                .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
        }
        residency(counters, &mut encoder)
    }
}

/// Loads, load times and unloads of every model seen so far.
fn residency(counters: &Counters, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let mut loads = encoder.encode_descriptor(
        "rollama_model_loads",
        "Models loaded into memory.",
        None,
        MetricType::Counter,
    )?;
    for m in &counters.loads {
        let labels = [("model", m.model.as_str())];
        loads
            .encode_family(&labels)?
            .encode_counter::<NoLabelSet, _, u64>(&m.load_times.count, None)?;
    }
    let mut times = encoder.encode_descriptor(
        "rollama_model_load_seconds",
        "Time to load a model (reading weights, starting its thread), without waiting for room.",
        None,
        MetricType::Histogram,
    )?;
    for m in counters.loads.iter().filter(|m| m.load_times.count > 0) {
        let labels = [("model", m.model.as_str())];
        let t = &m.load_times;
        times
            .encode_family(&labels)?
            .encode_histogram::<NoLabelSet>(t.sum_seconds, t.count, &t.buckets(), None)?;
    }
    let mut unloads = encoder.encode_descriptor(
        "rollama_model_unloads",
        "Models unloaded, by reason: evicted (room for another model), expired (keep_alive), requested (keep_alive 0), replaced (the stored model changed), died (its thread panicked).",
        None,
        MetricType::Counter,
    )?;
    for m in &counters.loads {
        for (reason, n) in &m.unloads {
            let labels = [("model", m.model.as_str()), ("reason", reason.as_str())];
            unloads
                .encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(n, None)?;
        }
    }
    Ok(())
}
