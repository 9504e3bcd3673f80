//! An operator's bounds on what one request may cost (`ROLLAMA_MAX_PROMPT_TOKENS`,
//! `ROLLAMA_MAX_NUM_CTX`, `ROLLAMA_REQUEST_TIMEOUT`) and on how long a model load may take
//! (`OLLAMA_LOAD_TIMEOUT`). All off by default but the load timeout, which is Ollama's 5m.

use std::time::Duration;

use super::EngineError;
use crate::api::go_duration;

/// Ollama's `OLLAMA_LOAD_TIMEOUT` default.
pub const DEFAULT_LOAD_TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caps {
    /// Tokens a prompt may have once templated (a chat's whole history, a generate's
    /// context included); an embedding request's inputs together. `None`: any.
    pub max_prompt_tokens: Option<usize>,
    /// The largest `num_ctx` a request may ask for; a model's own default above it is
    /// clamped to it. `None`: the model's window is the only bound.
    pub max_num_ctx: Option<usize>,
    /// How long a generation may run, counted from its arrival (queue wait included);
    /// past it the stream ends with an error and the job is cancelled. `None`: no bound.
    pub request_timeout: Option<Duration>,
    /// How long a model load may take before the request fails (the load itself cannot be
    /// stopped: it finishes in the background and is dropped). `None`: no bound.
    pub load_timeout: Option<Duration>,
}

impl Default for Caps {
    fn default() -> Self {
        Self {
            max_prompt_tokens: None,
            max_num_ctx: None,
            request_timeout: None,
            load_timeout: Some(DEFAULT_LOAD_TIMEOUT),
        }
    }
}

impl Caps {
    /// A request asking for more context than the operator allows is told so, rather
    /// than silently given less (Ollama clamps only to the model's own window).
    pub fn check_num_ctx(&self, asked: Option<i64>) -> Result<(), EngineError> {
        match (asked, self.max_num_ctx) {
            (Some(n), Some(max)) if n > 0 && n as u64 > max as u64 => Err(EngineError::BadRequest(
                format!("num_ctx {n} exceeds the server's limit of {max}"),
            )),
            _ => Ok(()),
        }
    }

    /// The window a model's requests may use: its own, or the cap if smaller.
    pub fn num_ctx_bound(&self, model: usize) -> usize {
        self.max_num_ctx.map_or(model, |max| model.min(max))
    }

    /// `what` (`prompt`, `input`) of `tokens` tokens within the cap.
    pub fn check_prompt(&self, what: &str, tokens: usize) -> Result<(), EngineError> {
        match self.max_prompt_tokens {
            Some(max) if tokens > max => Err(EngineError::BadRequest(format!(
                "the {what} is {tokens} tokens, more than the server's limit of {max}"
            ))),
            _ => Ok(()),
        }
    }
}

/// The last words of a generation that ran past `limit`.
pub fn deadline_message(limit: Duration) -> String {
    format!(
        "generation exceeded the server's deadline of {}",
        go_duration(limit)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_off_allow_anything() {
        let caps = Caps::default();
        assert!(caps.check_num_ctx(Some(1 << 20)).is_ok());
        assert!(caps.check_prompt("prompt", usize::MAX).is_ok());
        assert_eq!(caps.num_ctx_bound(8192), 8192);
        assert_eq!(caps.load_timeout, Some(DEFAULT_LOAD_TIMEOUT));
    }

    #[test]
    fn caps_on_refuse_with_the_numbers() {
        let caps = Caps {
            max_prompt_tokens: Some(100),
            max_num_ctx: Some(2048),
            ..Caps::default()
        };
        assert!(caps.check_num_ctx(Some(2048)).is_ok());
        assert!(caps.check_num_ctx(None).is_ok());
        let e = caps.check_num_ctx(Some(4096)).expect_err("over");
        assert_eq!(
            e.to_string(),
            "num_ctx 4096 exceeds the server's limit of 2048"
        );
        assert_eq!(caps.num_ctx_bound(8192), 2048);
        assert_eq!(caps.num_ctx_bound(1024), 1024);
        assert!(caps.check_prompt("prompt", 100).is_ok());
        let e = caps.check_prompt("prompt", 101).expect_err("over");
        assert_eq!(
            e.to_string(),
            "the prompt is 101 tokens, more than the server's limit of 100"
        );
        assert_eq!(
            deadline_message(Duration::from_secs(600)),
            "generation exceeded the server's deadline of 10m0s"
        );
    }
}
