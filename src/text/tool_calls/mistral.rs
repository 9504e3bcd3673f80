//! Mistral: `[TOOL_CALLS]` then a JSON array of calls (v3, Nemo), or `name[ARGS]{...}` /
//! `name[CALL_ID]id[ARGS]{...}` / `name{...}` (v11 tokenizers; one marker per call).

use serde_json::Value;

use super::json::{calls_from_sequence, scan_value, JsonEnd};
use super::{ParsedToolCall, State, Step, ToolCallParser};

const MARKER: &str = "[TOOL_CALLS]";
const ARGS: &str = "[ARGS]";
const CALL_ID: &str = "[CALL_ID]";

/// What the text after the marker amounts to so far.
enum Parse {
    /// Could still become a call.
    Open,
    /// Cannot be a call.
    Bad,
    /// Whole calls, and the bytes they took.
    Calls(Vec<ParsedToolCall>, usize),
}

impl ToolCallParser {
    /// One step of the Mistral machine: text until the marker, then one call form.
    pub(super) fn mistral_step(&mut self, at_end: bool) -> Step {
        if self.state != State::Call {
            return self.text_step(MARKER, at_end);
        }
        let lead = self.buf.len() - self.buf.trim_start().len();
        let rest = &self.buf[lead..];
        let parse = match rest.chars().next() {
            Some('[') | Some('{') => json_form(rest),
            Some(c) if is_name_char(c) => v11_form(rest),
            Some(_) => Parse::Bad,
            None => Parse::Open,
        };
        match parse {
            Parse::Calls(calls, n) => {
                self.emit_calls(calls, lead + n);
                self.state = State::Text;
                Step::Progress
            }
            Parse::Open if !at_end => Step::Wait,
            Parse::Open => {
                let all = self.buf.len();
                self.release_marker(MARKER, all);
                Step::Progress
            }
            Parse::Bad => {
                self.release_marker(MARKER, 0);
                Step::Progress
            }
        }
    }
}

/// `[{"name": ..., "arguments": {...}, "id": ...}, ...]` (a lone object is accepted too).
fn json_form(rest: &str) -> Parse {
    match scan_value(rest) {
        JsonEnd::Complete(n) => match calls_from_sequence(&rest[..n], false) {
            Some(calls) => Parse::Calls(calls, n),
            None => Parse::Bad,
        },
        JsonEnd::Incomplete => Parse::Open,
        JsonEnd::Invalid => Parse::Bad,
    }
}

/// `name[ARGS]{...}`, `name[CALL_ID]id[ARGS]{...}` or `name{...}`.
fn v11_form(rest: &str) -> Parse {
    let name_len = rest.len() - rest.trim_start_matches(is_name_char).len();
    let name = &rest[..name_len];
    let mut pos = name_len;
    if rest[pos..].starts_with(CALL_ID) {
        pos += CALL_ID.len();
        let id_len = rest[pos..].len() - rest[pos..].trim_start_matches(is_name_char).len();
        pos += id_len;
        if !rest[pos..].is_empty() && !rest[pos..].starts_with('[') {
            return Parse::Bad;
        }
    }
    let after = &rest[pos..];
    if after.starts_with(ARGS) {
        pos += ARGS.len();
    } else if after.is_empty() || (ARGS.starts_with(after) || CALL_ID.starts_with(after)) {
        return Parse::Open;
    } else if !after.starts_with('{') {
        return Parse::Bad;
    }
    let lead = rest[pos..].len() - rest[pos..].trim_start().len();
    let args = &rest[pos + lead..];
    match args.chars().next() {
        None => return Parse::Open,
        Some('{') => {}
        Some(_) => return Parse::Bad,
    }
    match scan_value(args) {
        JsonEnd::Complete(n) => match serde_json::from_str::<Value>(&args[..n]) {
            Ok(arguments @ Value::Object(_)) => {
                let call = ParsedToolCall {
                    name: name.to_string(),
                    arguments,
                };
                Parse::Calls(vec![call], pos + lead + n)
            }
            _ => Parse::Bad,
        },
        JsonEnd::Incomplete => Parse::Open,
        JsonEnd::Invalid => Parse::Bad,
    }
}

/// Function names and call ids: letters, digits, `_`, `-`, `.`.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}
