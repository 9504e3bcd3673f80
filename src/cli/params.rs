//! `/set parameter NAME VALUE...` typed as Ollama's `api.FormatParams` types it: each known
//! option has a Go type (float32, int, bool, []string) and a value that does not parse is
//! refused with Ollama's words before anything is sent.

use serde_json::Value;

#[derive(Clone, Copy)]
enum Kind {
    Float,
    Int,
    Bool,
    Strings,
}

/// The fields of Ollama's `api.Options` (with its `Runner`) and their Go types.
fn kind(name: &str) -> Option<Kind> {
    Some(match name {
        "temperature" | "top_p" | "min_p" | "typical_p" | "repeat_penalty" | "presence_penalty"
        | "frequency_penalty" => Kind::Float,
        "num_keep" | "seed" | "num_predict" | "top_k" | "repeat_last_n" | "num_ctx"
        | "num_batch" | "num_gpu" | "main_gpu" | "num_thread" | "draft_num_predict" => Kind::Int,
        "use_mmap" => Kind::Bool,
        "stop" => Kind::Strings,
        _ => return None,
    })
}

/// Why a parameter's value was refused, in Ollama's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("unknown parameter '{0}'")]
    Unknown(String),
    /// Go prints the values as a slice: `invalid float value [abc]`.
    #[error("invalid {kind} value [{values}]")]
    Invalid { kind: &'static str, values: String },
}

/// The JSON value for `name` given the words after it (`/set parameter`, or one
/// Modelfile `PARAMETER` line: `stop` becomes a list either way).
pub fn parse(name: &str, values: &[String]) -> Result<Value, ParamError> {
    let Some(kind) = kind(name) else {
        return Err(ParamError::Unknown(name.to_string()));
    };
    let first = values.first().map(String::as_str).unwrap_or("");
    let invalid = |kind| ParamError::Invalid {
        kind,
        values: values.join(" "),
    };
    match kind {
        Kind::Float => first
            .parse::<f32>()
            .ok()
            .filter(|f| f.is_finite())
            // A float32 written with float32 precision (0.7, not 0.699999988), as Go does.
            .and_then(|f| f.to_string().parse::<f64>().ok())
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| invalid("float")),
        Kind::Int => first
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| invalid("int")),
        Kind::Bool => go_bool(first)
            .map(Value::Bool)
            .ok_or_else(|| invalid("bool")),
        Kind::Strings => Ok(Value::from(values.to_vec())),
    }
}

/// Go's `strconv.ParseBool`.
pub fn go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A value as Go's `%v` prints it (`/show parameters`): `0.7`, `42`, `[a b]`.
pub fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(go_value).collect();
            format!("[{}]", items.join(" "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn words(s: &[&str]) -> Vec<String> {
        s.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn parameters_are_typed_as_ollama_types_them() {
        assert_eq!(parse("temperature", &words(&["0.7"])), Ok(json!(0.7)));
        assert_eq!(parse("temperature", &words(&["0"])), Ok(json!(0.0)));
        assert_eq!(parse("num_predict", &words(&["4000"])), Ok(json!(4000)));
        assert_eq!(parse("stop", &words(&["a", "b"])), Ok(json!(["a", "b"])));
        assert_eq!(parse("use_mmap", &words(&["false"])), Ok(json!(false)));
        assert_eq!(
            parse("num_ctx", &words(&["big"])),
            Err(ParamError::Invalid {
                kind: "int",
                values: "big".into()
            })
        );
        assert_eq!(
            parse("temperature", &words(&["hot"])),
            Err(ParamError::Invalid {
                kind: "float",
                values: "hot".into()
            })
        );
        assert_eq!(
            parse("warmth", &words(&["1"])),
            Err(ParamError::Unknown("warmth".into()))
        );
    }

    #[test]
    fn values_print_as_go_prints_them() {
        assert_eq!(go_value(&json!(0.7)), "0.7");
        assert_eq!(go_value(&json!(["a", "b"])), "[a b]");
        assert_eq!(go_value(&json!(12)), "12");
    }
}
