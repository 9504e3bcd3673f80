//! One bar's numbers as Ollama's `progress.Bar` shows them: the percent, the sizes, a rate
//! over the last ~10 s and the time left, each in a fixed-width column so the bar between
//! them keeps its width while the numbers change.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::cli::format::{go_duration, human_bytes};

/// Ollama keeps 10 samples, at most one a second: the rate is that of the last ~10 s, not
/// of the whole transfer, so it follows a connection that speeds up or stalls.
const MAX_BUCKETS: usize = 10;
const BUCKET_EVERY: Duration = Duration::from_secs(1);

/// Samples of a bar's value over time, for its rate (Ollama's `buckets`).
#[derive(Debug, Clone)]
pub struct Meter {
    initial: u64,
    started: Instant,
    buckets: VecDeque<(Instant, u64)>,
}

impl Meter {
    /// A bar that starts at `initial` (bytes already there, as on a resumed download: they
    /// do not count toward the rate).
    pub fn new(initial: u64, started: Instant) -> Self {
        Self {
            initial,
            started,
            buckets: VecDeque::new(),
        }
    }

    /// The bar's value at `now`; kept as a sample when the last one is over a second old.
    pub fn record(&mut self, value: u64, now: Instant) {
        let due = match self.buckets.back() {
            None => true,
            Some((at, _)) => now.saturating_duration_since(*at) > BUCKET_EVERY,
        };
        if due {
            self.buckets.push_back((now, value));
            if self.buckets.len() > MAX_BUCKETS {
                self.buckets.pop_front();
            }
        }
    }

    /// Bytes a second (0 when not known yet), over whole seconds as Ollama rounds them.
    pub fn rate(&self) -> f64 {
        let (bytes, secs) = match (self.buckets.front(), self.buckets.back()) {
            (Some(&(at, value)), _) if self.buckets.len() == 1 => (
                value as f64 - self.initial as f64,
                whole_secs(at.saturating_duration_since(self.started)),
            ),
            (Some(&(t0, v0)), Some(&(t1, v1))) => (
                v1 as f64 - v0 as f64,
                whole_secs(t1.saturating_duration_since(t0)),
            ),
            _ => (0.0, 0.0),
        };
        match secs == 0.0 {
            true => 0.0,
            false => bytes / secs,
        }
    }
}

/// Go's `d.Round(time.Second).Seconds()`.
fn whole_secs(d: Duration) -> f64 {
    d.as_secs_f64().round()
}

/// Percent done, 0 for a bar of unknown (zero) size.
pub fn percent(current: u64, total: u64) -> f64 {
    match total {
        0 => 0.0,
        t => current as f64 / t as f64 * 100.0,
    }
}

/// The percent column: `%3.0f`, as in `  5`, ` 45`, `100`.
pub fn percent_column(current: u64, total: u64) -> String {
    format!("{:3.0}", percent(current, total))
}

/// Time left at `rate` bytes a second, in whole seconds as Ollama counts it.
pub fn time_left(current: u64, total: u64, rate: f64) -> Duration {
    if rate <= 0.0 {
        return Duration::ZERO;
    }
    let secs = total.saturating_sub(current) as f64 / rate;
    Duration::from_secs(secs as u64)
}

/// Ollama's `formatDuration`: at most two units, `99h+` past 100 hours.
pub fn eta(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        s if s >= 100 * 3600 => "99h+".into(),
        s if s >= 3600 => format!("{}h{}m", s / 3600, (s / 60) % 60),
        _ => go_duration(Duration::from_secs((d.as_secs_f64()).round() as u64)),
    }
}

/// The columns right of the bar (31 characters): `900 MB/2.0 GB   50 MB/s     20s` while
/// it runs (rate and time left only once a rate is known), `2.0 GB` and blanks when done.
pub fn stats(current: u64, total: u64, rate: f64) -> String {
    let running = current < total;
    let mut s = String::new();
    match running {
        true => s.push_str(&format!(
            "{:>6}/{:>6}",
            human_bytes(current),
            human_bytes(total)
        )),
        false => s.push_str(&format!("{:>6}{:7}", human_bytes(total), "")),
    }
    match running && rate > 0.0 {
        true => {
            let rate_text = format!("{}/s", human_bytes(rate as u64));
            let left = eta(time_left(current, total, rate));
            s.push_str(&format!("  {rate_text:>8}  {left:>6}"));
        }
        false => s.push_str(&" ".repeat(18)),
    }
    s
}

/// A bar as one plain line for a log (no terminal): `pulling 8eeb52dfb3bb: 100% 2.0 GB`
/// when done, `pulling 8eeb52dfb3bb:  45% 900 MB/2.0 GB` before.
pub fn plain_line(label: &str, current: u64, total: u64) -> String {
    let pct = percent_column(current, total);
    let label = label.trim();
    match current < total {
        true => format!(
            "{label} {pct}% {}/{}",
            human_bytes(current),
            human_bytes(total)
        ),
        false => format!("{label} {pct}% {}", human_bytes(total)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_is_rounded_to_three_columns() {
        assert_eq!(percent_column(0, 100), "  0");
        assert_eq!(percent_column(45, 100), " 45");
        assert_eq!(percent_column(996, 1000), "100");
        assert_eq!(percent_column(1000, 1000), "100");
        assert_eq!(percent_column(5, 0), "  0");
    }

    #[test]
    fn rate_is_over_the_samples_in_whole_seconds() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut m = Meter::new(100, t0);
        assert_eq!(m.rate(), 0.0, "no sample yet");
        // One sample: since the start, the bytes that were there before not counted.
        m.record(100 + 50_000_000, t0 + s(2));
        assert_eq!(m.rate(), 25_000_000.0);
        // Samples closer than a second apart are not kept.
        m.record(200_000_000, t0 + Duration::from_millis(2500));
        assert_eq!(m.rate(), 25_000_000.0);
        // Two samples: between them.
        m.record(100 + 50_000_000 + 30_000_000, t0 + s(5));
        assert_eq!(m.rate(), 10_000_000.0);
        // Only the last 10 samples count.
        let mut m = Meter::new(0, t0);
        for i in 0..20u64 {
            let bytes = if i < 10 { 0 } else { (i - 9) * 1000 };
            m.record(bytes, t0 + s(2 * i));
        }
        // Samples 10..20: 1000 → 10000 over 18 s.
        assert_eq!(m.rate(), 9000.0 / 18.0);
    }

    #[test]
    fn time_left_is_in_at_most_two_units() {
        assert_eq!(eta(time_left(900, 2000, 50.0)), "22s");
        assert_eq!(eta(Duration::ZERO), "0s");
        assert_eq!(eta(Duration::from_secs(65)), "1m5s");
        assert_eq!(eta(Duration::from_secs(3600 + 61)), "1h1m");
        assert_eq!(eta(Duration::from_secs(100 * 3600)), "99h+");
        assert_eq!(time_left(10, 5, 3.0), Duration::ZERO);
    }

    #[test]
    fn stats_columns_have_a_fixed_width() {
        let running = stats(900_000_000, 2_019_393_189, 50_000_000.0);
        assert_eq!(running, "900 MB/2.0 GB   50 MB/s     22s");
        let no_rate = stats(900_000_000, 2_019_393_189, 0.0);
        assert_eq!(no_rate, format!("900 MB/2.0 GB{}", " ".repeat(18)));
        let done = stats(2_019_393_189, 2_019_393_189, 50_000_000.0);
        assert_eq!(done, format!("2.0 GB{}", " ".repeat(25)));
        let small = stats(512, 1500, 100.0);
        assert_eq!(small, " 512 B/1.5 KB   100 B/s      9s");
        for s in [running, no_rate, done, small] {
            assert_eq!(s.chars().count(), 31, "{s:?}");
        }
    }

    #[test]
    fn plain_lines_say_the_sizes() {
        assert_eq!(
            plain_line("pulling 8eeb52dfb3bb:", 134_515_008, 134_515_008),
            "pulling 8eeb52dfb3bb: 100% 134 MB"
        );
        assert_eq!(
            plain_line("pulling 8eeb52dfb3bb:", 900_000_000, 2_019_393_189),
            "pulling 8eeb52dfb3bb:  45% 900 MB/2.0 GB"
        );
    }
}
