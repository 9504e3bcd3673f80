//! What a `run` carries from request to request (Ollama's `runOptions`): the model, the
//! conversation, the system message, the `/set` options and modes, and the flags of the
//! command line read as Ollama reads them.

use serde_json::{json, Map, Value};

use super::args::RunArgs;
use super::wire::ShowResponse;
use super::CliError;
use crate::api::Message;

#[derive(Debug, Clone, Default)]
pub struct Session {
    pub model: String,
    /// The model this one was made from (`details.parent_model`), what `/save` builds on.
    pub parent_model: String,
    /// Messages stored in the model (shown at start, kept by `/save`).
    pub loaded_messages: Vec<Message>,
    /// This chat's messages, sent with every turn.
    pub messages: Vec<Message>,
    pub system: String,
    /// `/set parameter` values, typed.
    pub options: Map<String, Value>,
    /// `""`, `"json"` or a JSON schema.
    pub format: String,
    /// `true`/`false` or a level; `None`: the server decides.
    pub think: Option<Value>,
    pub hide_thinking: bool,
    pub keep_alive: Option<Value>,
    pub word_wrap: bool,
    pub verbose: bool,
}

impl Session {
    /// The session the flags describe (before the model is looked at).
    pub fn from_args(args: &RunArgs) -> Result<Self, CliError> {
        let think = match args.think.as_deref() {
            None => None,
            Some("" | "true") => Some(Value::Bool(true)),
            Some("false") => Some(Value::Bool(false)),
            Some(level @ ("high" | "medium" | "low" | "max")) => Some(Value::from(level)),
            Some(other) => {
                return Err(CliError::Usage(format!(
                    "invalid value for --think: {other:?} (must be true, false, high, medium, low, or max)"
                )))
            }
        };
        let keep_alive = match args.keepalive.as_deref() {
            None | Some("") => None,
            Some(text) => Some(keep_alive_value(text)?),
        };
        Ok(Self {
            model: args.model.clone(),
            format: args.format.clone().unwrap_or_default(),
            think,
            hide_thinking: args.hidethinking,
            keep_alive,
            word_wrap: !args.nowordwrap,
            verbose: args.verbose,
            ..Self::default()
        })
    }

    /// What `/api/show` says about the model that the session keeps (`applyShowResponseToRunOptions`).
    pub fn apply_show(&mut self, info: &ShowResponse, think_set_by_user: bool) {
        self.parent_model = info.details.parent_model.clone();
        self.loaded_messages = info.messages.clone();
        // Ollama's inferThinkingOption: a thinking model thinks unless told otherwise.
        if !think_set_by_user {
            self.think = info
                .capabilities
                .iter()
                .any(|c| c == "thinking")
                .then_some(Value::Bool(true));
        }
    }

    /// `format` as the request carries it: `"json"`, a schema, or absent.
    pub fn format_value(&self) -> Result<Option<Value>, CliError> {
        match self.format.as_str() {
            "" => Ok(None),
            "json" => Ok(Some(Value::from("json"))),
            schema => serde_json::from_str(schema)
                .map(Some)
                .map_err(|e| CliError::Usage(format!("invalid format: {e}"))),
        }
    }

    /// The fields every generation request of this session carries.
    pub fn request(&self) -> Result<Map<String, Value>, CliError> {
        let mut body = Map::new();
        body.insert("model".into(), Value::from(self.model.clone()));
        if let Some(format) = self.format_value()? {
            body.insert("format".into(), format);
        }
        if !self.options.is_empty() {
            body.insert("options".into(), Value::Object(self.options.clone()));
        }
        if let Some(think) = &self.think {
            body.insert("think".into(), think.clone());
        }
        if let Some(keep_alive) = &self.keep_alive {
            body.insert("keep_alive".into(), keep_alive.clone());
        }
        Ok(body)
    }

    /// The body of `/save NAME`: Ollama's `NewCreateRequest`.
    pub fn create_request(&self, name: &str) -> Value {
        let from = match valid_name(&self.parent_model) {
            true => self.parent_model.clone(),
            false => self.model.clone(),
        };
        let mut body = json!({ "model": name, "from": from });
        if !self.system.is_empty() {
            body["system"] = Value::from(self.system.clone());
        }
        if !self.options.is_empty() {
            body["parameters"] = Value::Object(self.options.clone());
        }
        let messages: Vec<&Message> = self
            .loaded_messages
            .iter()
            .chain(self.messages.iter())
            .collect();
        if !messages.is_empty() {
            body["messages"] = json!(messages);
        }
        body
    }
}

/// A plausible model name (Ollama checks `model.ParseName(..).IsValid()`).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-:/".contains(c))
}

/// `--keepalive` parsed as Go's `time.ParseDuration` and sent as Ollama's client sends
/// it: the duration's Go text, or `-1` for a negative one (keep loaded forever).
fn keep_alive_value(text: &str) -> Result<Value, CliError> {
    let invalid = || CliError::Usage(format!("time: invalid duration {text:?}"));
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(Value::from("0s"));
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut nanos = 0f64;
    let mut s = rest;
    while !s.is_empty() {
        let num_len = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (num, tail) = s.split_at(num_len);
        let value: f64 = num.parse().map_err(|_| invalid())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => {
                return Err(CliError::Usage(format!(
                    "time: missing unit in duration {text:?}"
                )))
            }
            other => {
                return Err(CliError::Usage(format!(
                    "time: unknown unit {other:?} in duration {text:?}"
                )))
            }
        };
        nanos += value * scale;
        s = tail;
    }
    if negative && nanos > 0.0 {
        return Ok(Value::from(-1));
    }
    let d = std::time::Duration::from_nanos(nanos.round() as u64);
    Ok(Value::from(super::format::go_duration(d)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_is_read_as_go_reads_durations() {
        assert_eq!(keep_alive_value("5m").ok(), Some(json!("5m0s")));
        assert_eq!(keep_alive_value("1h30m").ok(), Some(json!("1h30m0s")));
        assert_eq!(keep_alive_value("1.5s").ok(), Some(json!("1.5s")));
        assert_eq!(keep_alive_value("0").ok(), Some(json!("0s")));
        assert_eq!(keep_alive_value("-1m").ok(), Some(json!(-1)));
        assert_eq!(
            keep_alive_value("5").map_err(|e| e.to_string()),
            Err("time: missing unit in duration \"5\"".into())
        );
        assert_eq!(
            keep_alive_value("soon").map_err(|e| e.to_string()),
            Err("time: invalid duration \"soon\"".into())
        );
    }
}
