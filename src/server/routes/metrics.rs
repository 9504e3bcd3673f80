//! `GET /metrics`: Prometheus text exposition of every loaded model's engine counters.
//! Opt-in (`--metrics` / `ROLLAMA_METRICS`); otherwise the route is a 404 as in Ollama.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::meta;
use crate::engine::{Counters, StatsSnapshot};
use crate::server::AppState;

type Field = fn(&StatsSnapshot) -> u64;

/// Name, type, help, and how to read it off a snapshot.
const SERIES: &[(&str, &str, &str, Field)] = &[
    (
        "rollama_requests_preparing",
        "gauge",
        "Requests whose prompt is being rendered and tokenized.",
        |s| s.preparing as u64,
    ),
    (
        "rollama_requests_waiting",
        "gauge",
        "Requests queued, not started yet.",
        |s| s.waiting as u64,
    ),
    (
        "rollama_sequences_running",
        "gauge",
        "Sequences in the decode batch.",
        |s| s.running as u64,
    ),
    (
        "rollama_kv_reserved_tokens",
        "gauge",
        "KV positions reserved by running sequences.",
        |s| s.kv_reserved as u64,
    ),
    (
        "rollama_kv_budget_tokens",
        "gauge",
        "KV positions the model may reserve in all.",
        |s| s.kv_budget as u64,
    ),
    (
        "rollama_kv_bytes",
        "gauge",
        "Bytes of KV buffers held (running sequences and prefix cache).",
        |s| s.kv_bytes as u64,
    ),
    (
        "rollama_prefix_cache_tokens",
        "gauge",
        "KV positions kept for prefix reuse.",
        |s| s.prefix_cache_tokens as u64,
    ),
    (
        "rollama_requests_total",
        "counter",
        "Requests accepted into the queue.",
        |s| s.requests_total,
    ),
    (
        "rollama_requests_rejected_total",
        "counter",
        "Requests refused with 503 (queue full).",
        |s| s.rejected_total,
    ),
    (
        "rollama_prompt_tokens_total",
        "counter",
        "Prompt tokens computed.",
        |s| s.prompt_tokens_total,
    ),
    (
        "rollama_prompt_tokens_reused_total",
        "counter",
        "Prompt tokens taken from the prefix cache.",
        |s| s.reused_tokens_total,
    ),
    (
        "rollama_generated_tokens_total",
        "counter",
        "Tokens generated.",
        |s| s.generated_tokens_total,
    ),
    (
        "rollama_steps_total",
        "counter",
        "Batched forward passes run.",
        |s| s.steps_total,
    ),
];

pub async fn metrics(State(state): State<AppState>) -> Response {
    if !state.metrics {
        return meta::not_found().await;
    }
    let counters = state.engine.counters();
    let mut out = String::new();
    for (name, kind, help, field) in SERIES {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (model, stats) in &counters.models {
            let _ = writeln!(
                out,
                "{name}{{model=\"{}\"}} {}",
                escape(model),
                field(stats)
            );
        }
    }
    grammar(&counters, &mut out);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

/// Server-wide: the cost of structured output.
fn grammar(counters: &Counters, out: &mut String) {
    for (name, help, value) in [
        (
            "rollama_grammar_tokens_total",
            "Tokens sampled under a grammar (format, forced tool calls).",
            counters.grammar_tokens,
        ),
        (
            "rollama_grammar_masks_total",
            "Of those, tokens whose first draw the grammar refused, so the full vocabulary mask was computed.",
            counters.grammar_masks,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
    }
}

/// Label values escape backslash, quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
