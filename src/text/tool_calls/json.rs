//! JSON helpers shared by the tool-call syntaxes: finding where a streamed JSON value ends, and
//! turning parsed values into [`ParsedToolCall`]s.

use serde_json::{Map, Value};

use super::ParsedToolCall;

/// Where a JSON value that starts at byte 0 ends, as far as the text seen so far tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum JsonEnd {
    /// The value closes at this byte offset (exclusive).
    Complete(usize),
    /// Still open: more text is needed.
    Incomplete,
    /// Brackets that do not match: no continuation can make this a value.
    Invalid,
}

/// Scans a `{...}` or `[...]` value by bracket depth, skipping strings and escapes, so a
/// streaming parser knows when to hand the text to serde. It checks nesting only; serde checks
/// the rest.
pub(super) fn scan_value(s: &str) -> JsonEnd {
    let mut stack: Vec<u8> = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' if !stack.is_empty() => in_string = true,
            b'{' => stack.push(b'}'),
            b'[' => stack.push(b']'),
            b'}' | b']' => {
                if stack.pop() != Some(b) {
                    return JsonEnd::Invalid;
                }
                if stack.is_empty() {
                    return JsonEnd::Complete(i + 1);
                }
            }
            _ if stack.is_empty() => return JsonEnd::Invalid,
            _ => {}
        }
    }
    JsonEnd::Incomplete
}

/// A call object `{"name": ..., "arguments" | "parameters": {...}}`. Arguments given as a JSON
/// string holding an object (Granite, some Hermes fine-tunes) are decoded. `require_args`: a
/// bare `{"name": ...}` counts only for syntaxes with an explicit marker, where the model
/// clearly meant a call; for Llama 3's untagged JSON it would catch ordinary JSON answers.
pub(super) fn call_from_value(value: &Value, require_args: bool) -> Option<ParsedToolCall> {
    let obj = value.as_object()?;
    let name = obj.get("name")?.as_str()?.trim();
    if name.is_empty() {
        return None;
    }
    let args = obj.get("arguments").or_else(|| obj.get("parameters"));
    let arguments = match args {
        Some(Value::Object(map)) => Value::Object(map.clone()),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => v,
            _ => return None,
        },
        Some(Value::Null) | None if !require_args => Value::Object(Map::new()),
        _ => return None,
    };
    Some(ParsedToolCall {
        name: name.to_string(),
        arguments,
    })
}

/// Every call in `text`: JSON values separated by whitespace, `,` or `;`, where an array value
/// stands for its elements. `None` unless all of it parses and every element is a call.
pub(super) fn calls_from_sequence(text: &str, require_args: bool) -> Option<Vec<ParsedToolCall>> {
    let mut calls = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',' || c == ';');
        if rest.is_empty() {
            break;
        }
        let JsonEnd::Complete(end) = scan_value(rest) else {
            return None;
        };
        let value: Value = serde_json::from_str(&rest[..end]).ok()?;
        match &value {
            Value::Array(items) => {
                for item in items {
                    calls.push(call_from_value(item, require_args)?);
                }
            }
            _ => calls.push(call_from_value(&value, require_args)?),
        }
        rest = &rest[end..];
    }
    (!calls.is_empty()).then_some(calls)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scan_finds_the_end_past_strings_and_escapes() {
        let s = r#"{"a": "}\"]", "b": [1, {"c": 2}]} tail"#;
        assert_eq!(scan_value(s), JsonEnd::Complete(s.len() - 5));
        assert_eq!(scan_value(r#"{"a": [1, 2"#), JsonEnd::Incomplete);
        assert_eq!(scan_value(r#"{"a": [1, 2}"#), JsonEnd::Invalid);
        assert_eq!(scan_value("hello"), JsonEnd::Invalid);
    }

    #[test]
    fn calls_accept_parameters_and_string_arguments() {
        let calls = calls_from_sequence(
            r#"{"name": "a", "parameters": {"x": 1}}; {"name": "b", "arguments": "{\"y\": 2}"}"#,
            true,
        );
        let calls = calls.expect("two calls");
        assert_eq!(calls[0].arguments, json!({"x": 1}));
        assert_eq!(calls[1].name, "b");
        assert_eq!(calls[1].arguments, json!({"y": 2}));
        assert!(calls_from_sequence(r#"{"name": "a"}"#, true).is_none());
        assert!(calls_from_sequence(r#"{"name": "a"}"#, false).is_some());
        assert!(calls_from_sequence(r#"{"parameters": {}}"#, false).is_none());
        assert!(calls_from_sequence("", false).is_none());
    }
}
