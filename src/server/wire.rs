//! Translations between the wire and the engine that several routes share: request fields
//! in Ollama's loose forms read into engine values, and engine values written in Ollama's
//! and OpenAI's shapes.

use std::time::Duration;

use serde_json::{json, Value};

use super::error::ApiError;
use crate::api::{KeepAlive, Logprob, Metrics, TopLogprob};
use crate::engine::{
    FinishReason, GenerationMetrics, Grammar, Think, TokenLogprob, TokenProb, ToolCall,
};

const LEVELS: [&str; 4] = ["low", "medium", "high", "max"];

fn level(s: &str) -> Option<&'static str> {
    LEVELS.iter().copied().find(|l| *l == s)
}

/// Ollama's `think`: a bool or a level.
pub fn think(value: Option<&Value>) -> Result<Think, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(Think::Default),
        Some(Value::Bool(false)) => Ok(Think::Off),
        Some(Value::Bool(true)) => Ok(Think::On(None)),
        Some(Value::String(s)) if level(s).is_some() => Ok(Think::On(level(s))),
        Some(other) => {
            let shown = match other {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            Err(ApiError::BadRequest(format!(
                "invalid think value: \"{shown}\" (must be \"high\", \"medium\", \"low\", \"max\", true, or false)"
            )))
        }
    }
}

/// OpenAI's `reasoning_effort` as Ollama maps it.
pub fn effort(effort: Option<&str>) -> Result<Think, ApiError> {
    match effort {
        None => Ok(Think::Default),
        Some("none") => Ok(Think::Off),
        Some("minimal") => Ok(Think::On(Some("low"))),
        Some("xhigh" | "ultra") => Ok(Think::On(Some("max"))),
        Some(s) => match level(s) {
            Some(l) => Ok(Think::On(Some(l))),
            None => Err(ApiError::BadRequest(format!(
                "invalid reasoning_effort: \"{s}\" (must be \"none\", \"minimal\", \"low\", \"medium\", \"high\", \"xhigh\" or \"max\")"
            ))),
        },
    }
}

/// Ollama's `format`: `"json"`, a JSON-schema object, or nothing (`""`, `null`); anything
/// else is Ollama's 500.
pub fn format(format: Option<&Value>) -> Result<Option<Grammar>, ApiError> {
    match format {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) if s == "json" => Ok(Some(Grammar::Json)),
        Some(Value::Object(schema)) => Ok(Some(Grammar::Schema(Value::Object(schema.clone())))),
        Some(other) => Err(ApiError::Internal(format!(
            "invalid format: {other}; expected \"json\" or a valid JSON Schema object"
        ))),
    }
}

/// `keep_alive` in Ollama's forms (seconds, or a Go duration); `None` for the default.
pub fn keep_alive(value: Option<&Value>) -> Result<Option<KeepAlive>, ApiError> {
    KeepAlive::from_request(value).map_err(ApiError::BadRequest)
}

/// `keep_alive: 0`, the native way to unload.
pub fn unloads(keep_alive: Option<KeepAlive>) -> bool {
    keep_alive.is_some_and(|k| k.is_zero())
}

/// `logprobs` / `top_logprobs` of a request as the engine takes them.
pub fn logprobs(
    logprobs: Option<bool>,
    top_logprobs: Option<i64>,
) -> Result<Option<usize>, ApiError> {
    let top = top_logprobs.unwrap_or(0);
    if !(0..=20).contains(&top) {
        return Err(ApiError::BadRequest(
            "top_logprobs must be between 0 and 20".into(),
        ));
    }
    Ok((logprobs == Some(true)).then_some(top as usize))
}

/// Images are not understood by any model served here: Ollama's 400, never ignored.
pub fn refuse_images(model: &str, any: bool) -> Result<(), ApiError> {
    match any {
        true => Err(ApiError::BadRequest(format!(
            "{model} does not support vision"
        ))),
        false => Ok(()),
    }
}

/// Engine logprobs as wire objects; `None` when none were asked for.
pub fn logprob_objects(asked: bool, logprobs: &[TokenLogprob]) -> Option<Vec<Logprob>> {
    let prob = |p: &TokenProb| TopLogprob {
        token: p.text.clone(),
        logprob: p.logprob,
        bytes: p.bytes.clone(),
    };
    asked.then(|| {
        logprobs
            .iter()
            .map(|lp| Logprob {
                token: lp.token.text.clone(),
                logprob: lp.token.logprob,
                bytes: lp.token.bytes.clone(),
                top_logprobs: lp.top.iter().map(prob).collect(),
            })
            .collect()
    })
}

/// `done_reason` (and OpenAI's `finish_reason`).
pub fn done_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
    }
}

/// `input` as strings: one string or a list of them (`invalid input type` otherwise).
pub fn inputs(input: &Value) -> Result<Vec<String>, ApiError> {
    let invalid = || ApiError::BadRequest("invalid input type".into());
    match input {
        Value::Null => Ok(vec![]),
        Value::String(s) if s.is_empty() => Ok(vec![]),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or_else(invalid))
            .collect(),
        _ => Err(invalid()),
    }
}

/// `dimensions` of an embedding request: `None` for 0 or absent.
pub fn dimensions(d: Option<i64>) -> Result<Option<usize>, ApiError> {
    match d {
        Some(d) if d < 0 => Err(ApiError::BadRequest(
            "dimensions must be a positive integer".into(),
        )),
        Some(0) | None => Ok(None),
        Some(d) => Ok(Some(d as usize)),
    }
}

/// RFC 3339 in the server's local offset, with nanoseconds (`modified_at`, `expires_at`).
pub fn local_time(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Local>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Nanos, false)
}

pub fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A generation's counters as Ollama's final chunk carries them.
pub fn metrics(m: &GenerationMetrics) -> Metrics {
    Metrics {
        total_duration: nanos(m.total_duration),
        load_duration: nanos(m.load_duration),
        prompt_eval_count: m.prompt_eval_count as u64,
        prompt_eval_duration: nanos(m.prompt_eval_duration),
        eval_count: m.eval_count as u64,
        eval_duration: nanos(m.eval_duration),
    }
}

/// Calls in Ollama's shape (`arguments` an object, `index` inside `function`); `None`
/// when there are none.
pub fn native_calls(calls: &[ToolCall]) -> Option<Vec<Value>> {
    let one = |c: &ToolCall| {
        json!({"id": c.id, "function": {"index": c.index, "name": c.name,
            "arguments": c.arguments}})
    };
    (!calls.is_empty()).then(|| calls.iter().map(one).collect())
}

/// Calls in OpenAI's shape (`arguments` a JSON string); `None` when there are none.
pub fn openai_calls(calls: &[ToolCall]) -> Option<Vec<Value>> {
    let one = |c: &ToolCall| {
        json!({"id": c.id, "index": c.index, "type": "function",
            "function": {"name": c.name, "arguments": c.arguments.to_string()}})
    };
    (!calls.is_empty()).then(|| calls.iter().map(one).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn think_values_and_efforts_map_as_ollama() {
        assert_eq!(think(None).ok(), Some(Think::Default));
        assert_eq!(think(Some(&json!(false))).ok(), Some(Think::Off));
        assert_eq!(think(Some(&json!(true))).ok(), Some(Think::On(None)));
        assert_eq!(
            think(Some(&json!("max"))).ok(),
            Some(Think::On(Some("max")))
        );
        assert!(think(Some(&json!("lots"))).is_err());
        assert!(think(Some(&json!(1))).is_err());
        for (e, t) in [
            ("none", Think::Off),
            ("minimal", Think::On(Some("low"))),
            ("medium", Think::On(Some("medium"))),
            ("xhigh", Think::On(Some("max"))),
            ("ultra", Think::On(Some("max"))),
        ] {
            assert_eq!(effort(Some(e)).ok(), Some(t), "{e}");
        }
        assert!(effort(Some("extreme")).is_err());
    }
}
