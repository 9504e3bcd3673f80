//! The parameters of one generation: a request's [`Options`] (typed by `api`) resolved
//! against the defaults and the model's window.

use super::EngineError;
use crate::api::Options;

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
    /// A request's options on top of the defaults, once the model is known: `num_ctx`
    /// defaults to `default_num_ctx` and is clamped to `context_length` (the model's window,
    /// or its KV budget if smaller). A known option of the wrong type is Ollama's error.
    pub fn resolve(
        options: &Options,
        default_num_ctx: usize,
        context_length: usize,
    ) -> Result<Self, EngineError> {
        options.check().map_err(EngineError::InvalidOption)?;
        let d = Self::default();
        let count = |v: Option<i64>| v.map(|n| n.max(0) as usize);
        let num_ctx = options
            .num_ctx
            .map_or(default_num_ctx, |n| n.max(4) as usize);
        let num_ctx = num_ctx.min(context_length.max(4));
        Ok(Self {
            temperature: options.temperature.unwrap_or(d.temperature),
            top_k: count(options.top_k).unwrap_or(d.top_k),
            top_p: options.top_p.unwrap_or(d.top_p),
            min_p: options.min_p.unwrap_or(d.min_p),
            typical_p: options.typical_p.unwrap_or(d.typical_p),
            repeat_penalty: options.repeat_penalty.unwrap_or(d.repeat_penalty),
            repeat_last_n: match options.repeat_last_n {
                Some(n) if n < 0 => num_ctx,
                n => count(n).unwrap_or(d.repeat_last_n),
            },
            presence_penalty: options.presence_penalty.unwrap_or(d.presence_penalty),
            frequency_penalty: options.frequency_penalty.unwrap_or(d.frequency_penalty),
            seed: options.seed.filter(|&s| s >= 0).map(|s| s as u64),
            stop: options.stop.clone().unwrap_or_default(),
            num_predict: options.num_predict.filter(|&n| n >= 0).map(|n| n as usize),
            num_ctx,
            num_keep: count(options.num_keep).unwrap_or(d.num_keep),
            num_thread: options.num_thread.filter(|&n| n > 0).map(|n| n as usize),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse(v: Value) -> Result<GenerateOptions, EngineError> {
        let options: Options = serde_json::from_value(v).expect("options parse");
        GenerateOptions::resolve(&options, 4096, 8192)
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
