//! Sizes, ages and durations written as Ollama's CLI writes them (its `format` package
//! and Go's `time.Duration` printing), so scripts that read `ollama list` read ours.

use std::time::Duration;

use chrono::{DateTime, Utc};

pub use crate::api::go_duration;

const KB: f64 = 1000.0;
const MB: f64 = KB * 1000.0;
const GB: f64 = MB * 1000.0;
const TB: f64 = GB * 1000.0;

/// `format.HumanBytes`: decimal units, a decimal only below 10 and only when not whole.
pub fn human_bytes(b: u64) -> String {
    let b = b as f64;
    let (value, unit) = match b {
        b if b >= TB => (b / TB, "TB"),
        b if b >= GB => (b / GB, "GB"),
        b if b >= MB => (b / MB, "MB"),
        b if b >= KB => (b / KB, "KB"),
        b => return format!("{} B", b as u64),
    };
    match value {
        v if v >= 10.0 => format!("{} {unit}", v as u64),
        v if v != v.trunc() => format!("{v:.1} {unit}"),
        v => format!("{} {unit}", v as u64),
    }
}

/// `format.HumanTime`: "2 weeks ago", "4 minutes from now", `zero` for no time at all
/// (an empty or unparsable timestamp, or Go's zero time).
pub fn human_time(rfc3339: &str, zero: &str) -> String {
    human_time_at(rfc3339, zero, Utc::now())
}

pub fn human_time_at(rfc3339: &str, zero: &str, now: DateTime<Utc>) -> String {
    let Ok(t) = DateTime::parse_from_rfc3339(rfc3339) else {
        return zero.to_string();
    };
    let t = t.with_timezone(&Utc);
    if t.timestamp() <= -62135596800 {
        // 0001-01-01T00:00:00Z, Go's zero time.
        return zero.to_string();
    }
    let delta = now.signed_duration_since(t);
    if delta.num_days() / 365 < -20 {
        return "Forever".into();
    }
    match delta.to_std() {
        Ok(ago) => format!("{} ago", human_duration(ago)),
        Err(_) => {
            let ahead = (-delta).to_std().unwrap_or_default();
            format!("{} from now", human_duration(ahead))
        }
    }
}

fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    match seconds {
        0 => return "Less than a second".into(),
        1 => return "1 second".into(),
        2..=59 => return format!("{seconds} seconds"),
        _ => {}
    }
    let minutes = seconds / 60;
    match minutes {
        1 => return "About a minute".into(),
        2..=59 => return format!("{minutes} minutes"),
        _ => {}
    }
    let hours = (d.as_secs_f64() / 3600.0).round() as u64;
    match hours {
        1 => "About an hour".into(),
        h if h < 48 => format!("{h} hours"),
        h if h < 24 * 7 * 2 => format!("{} days", h / 24),
        h if h < 24 * 30 * 2 => format!("{} weeks", h / 24 / 7),
        h if h < 24 * 365 * 2 => format!("{} months", h / 24 / 30),
        _ => format!("{} years", seconds / 3600 / 24 / 365),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn bytes_as_ollama_prints_them() {
        let cases = [
            (0, "0 B"),
            (999, "999 B"),
            (1000, "1 KB"),
            (1500, "1.5 KB"),
            (134_515_008, "134 MB"),
            (2_019_393_189, "2.0 GB"),
            (1_000_000_000, "1 GB"),
            (9_990_000_000, "10.0 GB"),
            (20_000_000_000, "20 GB"),
        ];
        for (b, want) in cases {
            assert_eq!(human_bytes(b), want, "{b}");
        }
    }

    #[test]
    fn ages_as_ollama_prints_them() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        let cases = [
            ("2026-12-01T12:00:00Z", "Less than a second ago"),
            ("2026-12-01T11:59:30Z", "30 seconds ago"),
            ("2026-12-01T11:58:30Z", "About a minute ago"),
            ("2026-12-01T11:00:00Z", "About an hour ago"),
            ("2026-11-29T12:00:00Z", "2 days ago"),
            ("2026-11-10T12:00:00Z", "3 weeks ago"),
            ("2026-12-01T12:04:00.5Z", "4 minutes from now"),
            ("0001-01-01T00:00:00Z", "Never"),
            ("", "Never"),
            ("2318-01-01T00:00:00Z", "Forever"),
        ];
        for (t, want) in cases {
            assert_eq!(human_time_at(t, "Never", now), want, "{t}");
        }
    }

    #[test]
    fn durations_as_go_prints_them() {
        let cases = [
            (Duration::from_nanos(0), "0s"),
            (Duration::from_nanos(512), "512ns"),
            (Duration::from_micros(1500), "1.5ms"),
            (Duration::from_nanos(3_000_042), "3.000042ms"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_millis(62_500), "1m2.5s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_nanos(1_234_567_891), "1.234567891s"),
        ];
        for (d, want) in cases {
            assert_eq!(go_duration(d), want, "{d:?}");
        }
    }
}
