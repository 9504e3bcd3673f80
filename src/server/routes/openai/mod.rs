//! `/v1`: OpenAI's API over the same engine, as Ollama serves it (reference §4), with
//! OpenAI's error bodies and SSE streams.

mod chat;
mod completions;
mod embeddings;
mod models;

pub use chat::chat_completions;
pub use completions::completions;
pub use embeddings::embeddings;
pub use models::{model, models};

use serde_json::{json, Map, Value};

use crate::api::openai::{Sampling, Usage};
use crate::api::Metrics;
use crate::server::openai::{reply_id, unix_now, OpenAiError};
use crate::server::sse::SseItem;
use crate::server::ApiError;

/// The request's sampling fields as native `options`. Unset temperature and top_p are 1.0
/// (OpenAI's defaults, which Ollama applies too); out-of-range values are 400s.
fn options(s: &Sampling, max_tokens: Option<i64>) -> Result<Map<String, Value>, OpenAiError> {
    if let Some(n) = s.n.filter(|&n| n != 1) {
        return Err(OpenAiError::bad_request(format!(
            "n = {n} is not supported: rollama returns exactly one choice per request (n = 1)"
        )));
    }
    if s.logit_bias
        .as_ref()
        .is_some_and(|b| b.as_object().is_some_and(|m| !m.is_empty()))
    {
        return Err(OpenAiError::bad_request("logit_bias is not supported"));
    }
    let ranged = |name: &str, v: Option<f64>, lo: f64, hi: f64| match v {
        Some(x) if !(lo..=hi).contains(&x) => Err(OpenAiError::bad_request(format!(
            "{name} must be between {lo} and {hi}, got {x}"
        ))),
        _ => Ok(v),
    };
    let temperature = ranged("temperature", s.temperature, 0.0, 2.0)?.unwrap_or(1.0);
    let top_p = ranged("top_p", s.top_p, 0.0, 1.0)?.unwrap_or(1.0);
    let presence = ranged("presence_penalty", s.presence_penalty, -2.0, 2.0)?;
    let frequency = ranged("frequency_penalty", s.frequency_penalty, -2.0, 2.0)?;
    let mut o = Map::new();
    o.insert("temperature".into(), json!(temperature));
    o.insert("top_p".into(), json!(top_p));
    if let Some(p) = presence {
        o.insert("presence_penalty".into(), json!(p));
    }
    if let Some(f) = frequency {
        o.insert("frequency_penalty".into(), json!(f));
    }
    if let Some(seed) = s.seed {
        o.insert("seed".into(), json!(seed));
    }
    if let Some(stop) = &s.stop {
        o.insert("stop".into(), json!(stop.clone().into_vec()));
    }
    match max_tokens {
        Some(n) if n < 1 => {
            return Err(OpenAiError::bad_request(format!(
                "max_tokens must be at least 1, got {n}"
            )))
        }
        Some(n) => {
            o.insert("num_predict".into(), json!(n));
        }
        None => {}
    }
    Ok(o)
}

/// Token counts of a finished generation: its whole prompt (cached prefix included, unlike
/// `prompt_eval_count`) and what it generated. `context` is prompt + generated tokens.
fn usage(metrics: &Metrics, context: &[u32]) -> Usage {
    let completion = metrics.eval_count;
    Usage::new(
        (context.len() as u64).saturating_sub(completion),
        completion,
    )
}

/// What every reply and chunk of one request repeats.
struct Head {
    id: String,
    created: i64,
    model: String,
    /// Logprobs were asked for.
    logprobs: bool,
}

impl Head {
    fn new(id_prefix: &str, model: &str, logprobs: bool) -> Self {
        Self {
            id: reply_id(id_prefix),
            created: unix_now(),
            model: model.to_string(),
            logprobs,
        }
    }
}

/// A failure midway: the last event of a stream (no `[DONE]` follows).
fn error_event(message: String) -> SseItem {
    SseItem::json(&OpenAiError(ApiError::Internal(message)).body())
}
