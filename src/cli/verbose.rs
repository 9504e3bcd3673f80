//! `--verbose`: the timings block Ollama prints after an answer (Go's `Metrics.Summary`),
//! on stderr so the answer on stdout stays clean for scripts.

use std::time::Duration;

use super::format::go_duration;
use crate::api::Metrics;

/// The lines of Go's `Metrics.Summary`: each only when its value is non-zero, as there.
pub fn summary(m: &Metrics) -> String {
    let mut out = String::new();
    let d = |ns: u64| go_duration(Duration::from_nanos(ns));
    let rate = |count: u64, ns: u64| count as f64 / Duration::from_nanos(ns).as_secs_f64();
    if m.total_duration > 0 {
        out += &format!("total duration:       {}\n", d(m.total_duration));
    }
    if m.load_duration > 0 {
        out += &format!("load duration:        {}\n", d(m.load_duration));
    }
    if m.prompt_eval_count > 0 {
        out += &format!("prompt eval count:    {} token(s)\n", m.prompt_eval_count);
    }
    if m.prompt_eval_duration > 0 {
        out += &format!("prompt eval duration: {}\n", d(m.prompt_eval_duration));
        out += &format!(
            "prompt eval rate:     {:.2} tokens/s\n",
            rate(m.prompt_eval_count, m.prompt_eval_duration)
        );
    }
    if m.eval_count > 0 {
        out += &format!("eval count:           {} token(s)\n", m.eval_count);
    }
    if m.eval_duration > 0 {
        out += &format!("eval duration:        {}\n", d(m.eval_duration));
        out += &format!(
            "eval rate:            {:.2} tokens/s\n",
            rate(m.eval_count, m.eval_duration)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_as_go_prints_it() {
        let m = Metrics {
            total_duration: 1_500_000_000,
            load_duration: 0,
            prompt_eval_count: 10,
            prompt_eval_duration: 250_000_000,
            eval_count: 20,
            eval_duration: 1_000_000_000,
        };
        assert_eq!(
            summary(&m),
            "total duration:       1.5s\n\
             prompt eval count:    10 token(s)\n\
             prompt eval duration: 250ms\n\
             prompt eval rate:     40.00 tokens/s\n\
             eval count:           20 token(s)\n\
             eval duration:        1s\n\
             eval rate:            20.00 tokens/s\n"
        );
    }
}
