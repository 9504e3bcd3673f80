//! The server's own series, kept between scrapes: requests by route, method, status and
//! key; request duration; the engine's latencies per model (time to first token, gaps
//! between tokens, queue wait); tokens per key. Rendered in the Prometheus text format
//! (0.0.4) with the engine's counters read at the scrape ([`super::engine_series`]).

use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{prometheus_text, DescriptorEncoder, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::engine_series::EngineSeries;
use super::Ending;
use crate::engine::{Counters, Observer};
use crate::server::gateway::rate::Rate;
use crate::server::gateway::Budget;

/// The text format's `Content-Type` (what Prometheus and `prometheus-parse` read).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Bucket bounds, in seconds, for latencies of LLM serving: a first token from a few
/// milliseconds (a warm small model) to a minute (a cold load under a queue).
const FIRST_TOKEN: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0,
    30.0, 45.0, 60.0,
];
/// Between two tokens: a millisecond (a small model on a GPU) to seconds (a large model
/// on a CPU, or a step that also reads a long prompt).
const INTER_TOKEN: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75,
    1.0, 2.5, 5.0,
];
/// Waiting for a slot, and whole requests: up to the ten minutes a long stream may run.
const LONG: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
    300.0, 600.0,
];

fn first_token() -> Histogram {
    Histogram::new(FIRST_TOKEN.iter().copied())
}

fn inter_token() -> Histogram {
    Histogram::new(INTER_TOKEN.iter().copied())
}

fn long() -> Histogram {
    Histogram::new(LONG.iter().copied())
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: String,
    /// The key's name; empty without one (Prometheus reads an empty label as absent).
    key: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyTokenLabels {
    key: String,
    /// `prompt` or `generated`.
    kind: &'static str,
}

/// Every series the server keeps; shared by all requests (each family locks briefly).
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Histograms<RouteLabels>,
    first_token: Histograms<ModelLabels>,
    inter_token: Histograms<ModelLabels>,
    queue_wait: Histograms<ModelLabels>,
    key_tokens: Family<KeyTokenLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let durations: Histograms<RouteLabels> = Family::new_with_constructor(long);
        let first_token: Histograms<ModelLabels> = Family::new_with_constructor(first_token);
        let inter_token: Histograms<ModelLabels> = Family::new_with_constructor(inter_token);
        let queue_wait: Histograms<ModelLabels> = Family::new_with_constructor(long);
        let key_tokens = Family::<KeyTokenLabels, Counter>::default();
        // The registry adds the full stop to each help text.
        let mut registry = Registry::default();
        registry.register(
            "rollama_http_requests",
            "HTTP requests answered, by route template, method, status and key name",
            requests.clone(),
        );
        registry.register(
            "rollama_http_request_duration_seconds",
            "From the request to the last byte of its response body (whole streams)",
            durations.clone(),
        );
        registry.register(
            "rollama_time_to_first_token_seconds",
            "From the request to its first generated token",
            first_token.clone(),
        );
        registry.register(
            "rollama_inter_token_latency_seconds",
            "Between two generated tokens of one request",
            inter_token.clone(),
        );
        registry.register(
            "rollama_queue_wait_seconds",
            "Queued on the model before the request started running",
            queue_wait.clone(),
        );
        registry.register(
            "rollama_key_tokens",
            "Tokens read (prompt) and written (generated), by key name",
            key_tokens.clone(),
        );
        Self {
            registry,
            requests,
            durations,
            first_token,
            inter_token,
            queue_wait,
            key_tokens,
        }
    }
}

impl Metrics {
    /// The whole exposition: the engine's `counters` as of now, then the server's series.
    pub fn render(&self, counters: &Counters, rate: &Rate) -> Result<String, std::fmt::Error> {
        let mut scrape = Registry::default();
        scrape.register_collector(Box::new(EngineSeries(counters.clone())));
        if rate.is_on() {
            scrape.register_collector(Box::new(RateSeries(rate.clone())));
        }
        let mut out = String::new();
        prometheus_text::encode(&mut out, &scrape)?;
        prometheus_text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    pub(crate) fn request_ended(&self, r: &Ending) {
        let key = r.key.as_ref().map_or_else(String::new, |k| k.0.to_string());
        self.requests
            .get_or_create(&RequestLabels {
                route: r.route.clone(),
                method: r.method,
                status: r.status.to_string(),
                key: key.clone(),
            })
            .inc();
        self.durations
            .get_or_create(&RouteLabels {
                route: r.route.clone(),
            })
            .observe(r.started.elapsed().as_secs_f64());
        let Some(trace) = &r.trace else {
            return;
        };
        let (prompt, generated) = trace.tokens();
        for (kind, n) in [("prompt", prompt), ("generated", generated)] {
            if n > 0 {
                let key = key.clone();
                self.key_tokens
                    .get_or_create(&KeyTokenLabels { key, kind })
                    .inc_by(n);
            }
        }
    }
}

/// The rate limits' refusals by budget, read off [`Rate`] at each scrape (the 429s are
/// also in `rollama_http_requests_total`; this says which budget ran out).
struct RateSeries(Rate);

impl std::fmt::Debug for RateSeries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RateSeries")
    }
}

impl Collector for RateSeries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "rollama_rate_limited",
            "Requests refused 429 by a rate limit, by the budget that ran out.",
            None,
            MetricType::Counter,
        )?;
        for (budget, name) in [(Budget::Requests, "requests"), (Budget::Tokens, "tokens")] {
            family
                .encode_family(&[("budget", name)])?
                .encode_counter::<NoLabelSet, _, u64>(&self.0.refused(budget), None)?;
        }
        Ok(())
    }
}

fn model(model: &str) -> ModelLabels {
    ModelLabels {
        model: model.to_string(),
    }
}

impl Observer for Metrics {
    fn queue_wait(&self, m: &str, wait: Duration) {
        self.queue_wait
            .get_or_create(&model(m))
            .observe(wait.as_secs_f64());
    }

    fn first_token(&self, m: &str, ttft: Duration) {
        self.first_token
            .get_or_create(&model(m))
            .observe(ttft.as_secs_f64());
    }

    fn inter_token(&self, m: &str, gap: Duration) {
        self.inter_token
            .get_or_create(&model(m))
            .observe(gap.as_secs_f64());
    }
}
