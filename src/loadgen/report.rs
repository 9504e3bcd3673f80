//! Figures of one `rollama bench` run.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::{BenchArgs, Outcome, ProbeReport};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub label: String,
    pub api: String,
    pub concurrency: usize,
    pub requests: usize,
    pub errors: Vec<String>,
    pub wall_s: f64,
    pub generated_tokens: usize,
    /// Generated tokens of all streams per second of wall time.
    pub aggregate_tok_s: f64,
    pub ttft_p50_ms: f64,
    pub ttft_p95_ms: f64,
    /// Each stream's decode rate after its first token, median and slowest 5 %.
    pub stream_tok_s_p50: f64,
    pub stream_tok_s_p5: f64,
    /// TTFT of a request arriving on an idle and on a busy server (`--probes`).
    pub probe: Option<ProbeReport>,
}

impl Report {
    pub(super) fn new(
        args: &BenchArgs,
        wall: Duration,
        outcomes: &[Outcome],
        errors: Vec<String>,
    ) -> Self {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let ttft: Vec<f64> = outcomes.iter().map(|o| ms(o.ttft)).collect();
        let rates: Vec<f64> = outcomes
            .iter()
            .filter(|o| o.tokens > 1 && o.total > o.ttft)
            .map(|o| (o.tokens - 1) as f64 / (o.total - o.ttft).as_secs_f64())
            .collect();
        let generated_tokens = outcomes.iter().map(|o| o.tokens).sum();
        Self {
            label: args.label.clone(),
            api: format!("{:?}", args.api).to_lowercase(),
            concurrency: args.concurrency,
            requests: outcomes.len() + errors.len(),
            errors,
            wall_s: wall.as_secs_f64(),
            generated_tokens,
            aggregate_tok_s: generated_tokens as f64 / wall.as_secs_f64().max(1e-9),
            ttft_p50_ms: percentile(&ttft, 50.0),
            ttft_p95_ms: percentile(&ttft, 95.0),
            stream_tok_s_p50: percentile(&rates, 50.0),
            stream_tok_s_p5: percentile(&rates, 5.0),
            probe: None,
        }
    }
}

/// Nearest-rank percentile; NaN for no data.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.label.is_empty() {
            writeln!(f, "{}", self.label)?;
        }
        writeln!(
            f,
            "  {} clients ({} API), {} requests, {} failed, {:.1} s",
            self.concurrency,
            self.api,
            self.requests,
            self.errors.len(),
            self.wall_s
        )?;
        writeln!(
            f,
            "  aggregate: {:.1} tok/s ({} tokens)",
            self.aggregate_tok_s, self.generated_tokens
        )?;
        writeln!(
            f,
            "  TTFT: p50 {:.0} ms, p95 {:.0} ms",
            self.ttft_p50_ms, self.ttft_p95_ms
        )?;
        writeln!(
            f,
            "  per stream: p50 {:.1} tok/s, p5 {:.1} tok/s",
            self.stream_tok_s_p50, self.stream_tok_s_p5
        )?;
        if let Some(p) = &self.probe {
            writeln!(
                f,
                "  TTFT of a new request: idle p50 {:.0} ms, with {} others streaming p50 {:.0} ms ({:.2}x)",
                p.idle_ttft_p50_ms, p.background, p.loaded_ttft_p50_ms, p.ratio
            )?;
        }
        for e in self.errors.iter().take(5) {
            writeln!(f, "  error: {e}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank() {
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&v, 50.0), 3.0);
        assert_eq!(percentile(&v, 95.0), 5.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert!(percentile(&[], 50.0).is_nan());
    }
}
