//! Ollama's `options` object turned into validated generation parameters.
//!
//! Unknown keys are ignored, as Ollama does (clients still send legacy ones such as
//! `mirostat` or `tfs_z`); a known key with the wrong JSON type is an error.

use serde_json::{Map, Value};

use super::EngineError;

/// Everything that shapes one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    pub temperature: f32,
    pub top_k: usize,
    pub top_p: f32,
    pub min_p: f32,
    pub typical_p: f32,
    pub repeat_penalty: f32,
    /// Tokens looked back for penalties; 0 disables them.
    pub repeat_last_n: usize,
    pub presence_penalty: f32,
    pub frequency_penalty: f32,
    /// `None` = a fresh random seed per request.
    pub seed: Option<u64>,
    pub stop: Vec<String>,
    /// `None` = until a stop condition or the context is full.
    pub num_predict: Option<usize>,
    pub num_ctx: usize,
    /// Prompt tokens always kept when a long prompt is truncated.
    pub num_keep: usize,
    /// CPU threads for the forward passes this request takes part in (`None`: all of the
    /// pool). A step shared by several requests uses the largest they ask for.
    pub num_thread: Option<usize>,
}

/// Ollama's default context window on a machine without a large GPU.
pub const DEFAULT_NUM_CTX: usize = 4096;

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.9,
            min_p: 0.0,
            typical_p: 1.0,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            seed: None,
            stop: vec![],
            num_predict: None,
            num_ctx: DEFAULT_NUM_CTX,
            num_keep: 4,
            num_thread: None,
        }
    }
}

impl GenerateOptions {
    /// Applies a request's `options` on top of the defaults. `context_length` is the
    /// model's trained window; `num_ctx` is clamped to it.
    pub fn from_request(
        options: Option<&Map<String, Value>>,
        default_num_ctx: usize,
        context_length: usize,
    ) -> Result<Self, EngineError> {
        let mut o = Self {
            num_ctx: default_num_ctx,
            ..Self::default()
        };
        let mut repeat_last_n: i64 = 64;
        if let Some(map) = options {
            for (key, value) in map {
                if value.is_null() {
                    continue;
                }
                match key.as_str() {
                    "temperature" => o.temperature = float(key, value)?,
                    "top_k" => o.top_k = int(key, value)?.max(0) as usize,
                    "top_p" => o.top_p = float(key, value)?,
                    "min_p" => o.min_p = float(key, value)?,
                    "typical_p" => o.typical_p = float(key, value)?,
                    "repeat_penalty" => o.repeat_penalty = float(key, value)?,
                    "repeat_last_n" => repeat_last_n = int(key, value)?,
                    "presence_penalty" => o.presence_penalty = float(key, value)?,
                    "frequency_penalty" => o.frequency_penalty = float(key, value)?,
                    "seed" => {
                        let seed = int(key, value)?;
                        o.seed = (seed >= 0).then_some(seed as u64);
                    }
                    "num_predict" => {
                        let n = int(key, value)?;
                        o.num_predict = (n >= 0).then_some(n as usize);
                    }
                    "num_ctx" => o.num_ctx = int(key, value)?.max(4) as usize,
                    "num_keep" => o.num_keep = int(key, value)?.max(0) as usize,
                    "stop" => o.stop = stop_list(key, value)?,
                    // Load-time options we accept with their types checked.
                    "num_thread" => {
                        let n = int(key, value)?;
                        o.num_thread = (n > 0).then_some(n as usize);
                    }
                    "num_batch" | "num_gpu" | "main_gpu" | "draft_num_predict" => {
                        int(key, value)?;
                    }
                    "use_mmap" => {
                        boolean(key, value)?;
                    }
                    _ => tracing::debug!(option = %key, "ignoring unknown option"),
                }
            }
        }
        o.num_ctx = o.num_ctx.min(context_length.max(4));
        o.repeat_last_n = match repeat_last_n {
            n if n < 0 => o.num_ctx,
            n => n as usize,
        };
        Ok(o)
    }
}

fn type_error(key: &str, ty: &str) -> EngineError {
    EngineError::InvalidOption(format!("option \"{key}\" must be of type {ty}"))
}

fn float(key: &str, v: &Value) -> Result<f32, EngineError> {
    v.as_f64()
        .map(|x| x as f32)
        .ok_or_else(|| type_error(key, "float"))
}

/// Integers may arrive as JSON floats; they are truncated, as in Ollama.
fn int(key: &str, v: &Value) -> Result<i64, EngineError> {
    v.as_i64()
        .or_else(|| v.as_f64().map(|x| x as i64))
        .ok_or_else(|| type_error(key, "integer"))
}

fn boolean(key: &str, v: &Value) -> Result<bool, EngineError> {
    v.as_bool().ok_or_else(|| type_error(key, "boolean"))
}

/// `stop` must be an array of strings; a plain string is accepted too.
fn stop_list(key: &str, v: &Value) -> Result<Vec<String>, EngineError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| type_error(key, "[]string"))
            })
            .collect(),
        _ => Err(type_error(key, "[]string")),
    }
    .map(|stops| stops.into_iter().filter(|s| !s.is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<GenerateOptions, EngineError> {
        let map = v.as_object().cloned().unwrap_or_default();
        GenerateOptions::from_request(Some(&map), 4096, 8192)
    }

    #[test]
    fn known_options_apply_and_unknown_are_ignored() {
        let o = parse(
            json!({"temperature": 0, "top_k": 5.0, "seed": 42, "stop": ["\n"],
            "num_predict": 7, "mirostat": 2, "tfs_z": 1.0, "penalize_newline": true,
            "num_ctx": 100000, "repeat_last_n": -1}),
        )
        .expect("valid");
        assert_eq!(o.temperature, 0.0);
        assert_eq!(o.top_k, 5);
        assert_eq!(o.seed, Some(42));
        assert_eq!(o.stop, vec!["\n".to_string()]);
        assert_eq!(o.num_predict, Some(7));
        assert_eq!(o.num_ctx, 8192, "clamped to the model's window");
        assert_eq!(o.repeat_last_n, 8192);
    }

    #[test]
    fn wrong_types_are_errors() {
        let err = parse(json!({"temperature": "hot"})).expect_err("type error");
        assert_eq!(
            err.to_string(),
            "option \"temperature\" must be of type float"
        );
        assert!(parse(json!({"stop": 3})).is_err());
        assert!(parse(json!({"seed": "x"})).is_err());
        assert_eq!(
            parse(json!({"num_predict": -1})).expect("ok").num_predict,
            None
        );
    }
}
