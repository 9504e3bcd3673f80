use std::time::Duration;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// How long a model stays loaded after its last request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAlive {
    For(Duration),
    Forever,
}

impl KeepAlive {
    /// Parses Ollama's forms: seconds as a number, or a Go duration string with units.
    /// Negative values mean forever. A string without a unit is an error, as in Go.
    pub fn parse_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Number(n) => {
                let secs = n.as_f64().unwrap_or(0.0);
                Ok(Self::from_secs_f64(secs))
            }
            Value::String(s) => parse_go_duration(s.trim()).map(Self::from_secs_f64),
            Value::Bool(_) => Err("Unsupported type: 'bool'".into()),
            Value::Array(_) => Err("Unsupported type: 'array'".into()),
            Value::Object(_) => Err("Unsupported type: 'object'".into()),
            Value::Null => Err("Unsupported type: 'null'".into()),
        }
    }

    /// Parses the `OLLAMA_KEEP_ALIVE` form: a Go duration or integer seconds.
    pub fn parse_env(s: &str) -> Result<Self, String> {
        let s = s.trim().trim_matches(|c| c == '"' || c == '\'');
        if let Ok(n) = s.parse::<f64>() {
            return Ok(Self::from_secs_f64(n));
        }
        parse_go_duration(s).map(Self::from_secs_f64)
    }

    fn from_secs_f64(secs: f64) -> Self {
        if secs < 0.0 {
            Self::Forever
        } else {
            Self::For(Duration::from_secs_f64(secs.min(1e12)))
        }
    }

    /// A request's `keep_alive` field: absent or null means the server default (`None`).
    pub fn from_request(value: Option<&Value>) -> Result<Option<Self>, String> {
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(v) => Self::parse_value(v).map(Some),
        }
    }

    pub fn is_zero(&self) -> bool {
        matches!(self, Self::For(d) if d.is_zero())
    }
}

impl<'de> Deserialize<'de> for KeepAlive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Self::parse_value(&value).map_err(serde::de::Error::custom)
    }
}

/// Go's `time.ParseDuration`: `[-]` then one or more `<number><unit>` with units
/// ns, us, µs, ms, s, m, h. `"0"` alone is allowed.
fn parse_go_duration(s: &str) -> Result<f64, String> {
    let err = |msg: &str| format!("time: {msg} in duration \"{s}\"");
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(0.0);
    }
    if rest.is_empty() {
        return Err(format!("time: invalid duration \"{s}\""));
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!("time: invalid duration \"{s}\""));
        }
        let number: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("time: invalid duration \"{s}\""))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "" => return Err(err("missing unit")),
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            unit => return Err(format!("time: unknown unit \"{unit}\" in duration \"{s}\"")),
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    Ok(if neg { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_ollama_forms() {
        let p = |v: Value| KeepAlive::parse_value(&v);
        assert_eq!(p(json!(600)), Ok(KeepAlive::For(Duration::from_secs(600))));
        assert_eq!(
            p(json!("10m")),
            Ok(KeepAlive::For(Duration::from_secs(600)))
        );
        assert_eq!(
            p(json!("1h30m")),
            Ok(KeepAlive::For(Duration::from_secs(5400)))
        );
        assert_eq!(
            p(json!("300ms")),
            Ok(KeepAlive::For(Duration::from_millis(300)))
        );
        assert_eq!(p(json!(-1)), Ok(KeepAlive::Forever));
        assert_eq!(p(json!("-1m")), Ok(KeepAlive::Forever));
        assert_eq!(p(json!(0)), Ok(KeepAlive::For(Duration::ZERO)));
        assert_eq!(p(json!("0")), Ok(KeepAlive::For(Duration::ZERO)));
        assert_eq!(
            p(json!("10")),
            Err("time: missing unit in duration \"10\"".into())
        );
        assert!(p(json!(true)).is_err());
        assert_eq!(
            KeepAlive::parse_env("5m"),
            Ok(KeepAlive::For(Duration::from_secs(300)))
        );
        assert_eq!(
            KeepAlive::parse_env("30"),
            Ok(KeepAlive::For(Duration::from_secs(30)))
        );
    }
}
