//! `rollama serve` flags of [`crate::server::gateway::limits`] and the engine's caps.

use std::time::Duration;

use serde_json::Value;

use crate::api::KeepAlive;
use crate::engine::{Caps, DEFAULT_LOAD_TIMEOUT};
use crate::server::gateway::limits::Limits;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct LimitsArgs {
    /// Largest request body accepted: bytes, or `512KiB`, `10MiB`; larger ones get 413.
    /// Blob uploads (`/api/blobs/`, models) are exempt. Default: no limit, as Ollama.
    #[arg(long, env = "ROLLAMA_MAX_BODY_BYTES", value_parser = crate::engine::residency::parse_bytes)]
    pub max_body_bytes: Option<u64>,

    /// Most tokens a prompt may have once templated (a chat's whole history), or an
    /// embedding request's inputs together; more gets 400. Default (or 0): no limit.
    #[arg(long, env = "ROLLAMA_MAX_PROMPT_TOKENS")]
    pub max_prompt_tokens: Option<usize>,

    /// Largest `num_ctx` a request may ask for (more gets 400); a model's own default
    /// above it is lowered to it. Default (or 0): the model's window.
    #[arg(long, env = "ROLLAMA_MAX_NUM_CTX")]
    pub max_num_ctx: Option<usize>,

    /// How long a generation may run from its arrival (`10m`, `90s`, seconds); past it
    /// the stream ends with an error (504 when nothing was sent yet). `0`: no deadline,
    /// the default.
    #[arg(long, env = "ROLLAMA_REQUEST_TIMEOUT")]
    pub request_timeout: Option<String>,

    /// How long a model load may take before the request fails (`5m`, seconds; `0` or
    /// negative: no limit). Default 5m, as Ollama.
    #[arg(long, env = "OLLAMA_LOAD_TIMEOUT")]
    pub load_timeout: Option<String>,
}

impl LimitsArgs {
    pub fn config(&self) -> anyhow::Result<Limits> {
        let request_timeout = match self.request_timeout.as_deref() {
            None => None,
            Some(raw) => positive(parse_duration(raw).ok_or_else(|| {
                anyhow::anyhow!("ROLLAMA_REQUEST_TIMEOUT: invalid duration {raw:?}")
            })?),
        };
        Ok(Limits {
            max_body_bytes: self.max_body_bytes,
            engine: Caps {
                max_prompt_tokens: self.max_prompt_tokens.filter(|&n| n > 0),
                max_num_ctx: self.max_num_ctx.filter(|&n| n > 0),
                request_timeout,
                load_timeout: load_timeout(self.load_timeout.as_deref()),
            },
        })
    }
}

/// Ollama's `envconfig.LoadTimeout`: a Go duration, else whole seconds, else (unset or
/// unparsable) 5 minutes; zero or negative is no limit.
fn load_timeout(raw: Option<&str>) -> Option<Duration> {
    let raw = raw.map(unquote).filter(|s| !s.is_empty());
    let Some(raw) = raw else {
        return Some(DEFAULT_LOAD_TIMEOUT);
    };
    match parse_duration(raw) {
        Some(d) => positive(d),
        None => {
            tracing::warn!(value = %raw, "invalid OLLAMA_LOAD_TIMEOUT, using 5m");
            Some(DEFAULT_LOAD_TIMEOUT)
        }
    }
}

/// A Go duration or whole seconds, as Ollama reads its duration variables; a negative
/// one is `Forever` (no limit, for every caller).
fn parse_duration(raw: &str) -> Option<KeepAlive> {
    let raw = unquote(raw);
    KeepAlive::parse_value(&Value::String(raw.to_string()))
        .ok()
        .or_else(|| {
            let secs: i64 = raw.parse().ok()?;
            Some(match u64::try_from(secs) {
                Ok(secs) => KeepAlive::For(Duration::from_secs(secs)),
                Err(_) => KeepAlive::Forever,
            })
        })
}

/// A limit from a parsed duration: zero and negative mean none.
fn positive(d: KeepAlive) -> Option<Duration> {
    match d {
        KeepAlive::For(d) if !d.is_zero() => Some(d),
        _ => None,
    }
}

/// Ollama's `envconfig.Var`: surrounding spaces and quotes go.
fn unquote(raw: &str) -> &str {
    raw.trim().trim_matches(|c| c == '"' || c == '\'')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_timeout_as_ollama_reads_it() {
        let m = |n: u64| Some(Duration::from_secs(n * 60));
        assert_eq!(load_timeout(None), m(5));
        assert_eq!(load_timeout(Some("")), m(5));
        assert_eq!(load_timeout(Some("10m")), m(10));
        assert_eq!(load_timeout(Some("\"90s\"")), Some(Duration::from_secs(90)));
        assert_eq!(load_timeout(Some("30")), Some(Duration::from_secs(30)));
        assert_eq!(load_timeout(Some("0")), None);
        assert_eq!(load_timeout(Some("-1")), None);
        assert_eq!(load_timeout(Some("-5m")), None);
        assert_eq!(
            load_timeout(Some("1.5")),
            m(5),
            "neither a duration nor an integer"
        );
        assert_eq!(load_timeout(Some("soon")), m(5));
    }

    #[test]
    fn flags_become_limits() {
        let args = LimitsArgs {
            max_body_bytes: Some(10 << 20),
            max_prompt_tokens: Some(0),
            max_num_ctx: Some(8192),
            request_timeout: Some("10m".into()),
            load_timeout: None,
        };
        let limits = args.config().expect("valid");
        assert_eq!(limits.max_body_bytes, Some(10 << 20));
        assert_eq!(limits.engine.max_prompt_tokens, None, "0 is no limit");
        assert_eq!(limits.engine.max_num_ctx, Some(8192));
        assert_eq!(
            limits.engine.request_timeout,
            Some(Duration::from_secs(600))
        );
        assert_eq!(limits.engine.load_timeout, Some(DEFAULT_LOAD_TIMEOUT));
        let off = LimitsArgs {
            request_timeout: Some("0".into()),
            ..LimitsArgs::default()
        };
        assert_eq!(off.config().expect("valid").engine.request_timeout, None);
        let bad = LimitsArgs {
            request_timeout: Some("ten minutes".into()),
            ..LimitsArgs::default()
        };
        assert!(
            bad.config().is_err(),
            "a typo in our own flag stops the start"
        );
        let d = LimitsArgs::default().config().expect("valid");
        assert_eq!(d.max_body_bytes, None);
        assert_eq!(d.engine, Caps::default());
    }
}
