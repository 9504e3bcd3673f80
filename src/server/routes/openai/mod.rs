//! `/v1`: OpenAI's API over the same engine, as Ollama serves it (reference §4), with
//! OpenAI's error bodies and SSE streams.

mod chat;
mod chat_reply;
mod completions;
mod embeddings;
mod models;

pub use chat::chat_completions;
pub use completions::completions;
pub use embeddings::embeddings;
pub use models::{model, models};

use crate::api::openai::{Sampling, Usage};
use crate::api::Options;
use crate::engine::{Failure, GenerationMetrics};
use crate::server::openai::{reply_id, unix_now, OpenAiError};
use crate::server::sse::SseItem;
use crate::server::ApiError;

/// The request's sampling fields as options. Unset temperature and top_p are 1.0
/// (OpenAI's defaults, which Ollama applies too); out-of-range values are 400s.
fn options(s: &Sampling, max_tokens: Option<i64>) -> Result<Options, OpenAiError> {
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
        _ => Ok(v.map(|x| x as f32)),
    };
    if let Some(n) = max_tokens.filter(|&n| n < 1) {
        return Err(OpenAiError::bad_request(format!(
            "max_tokens must be at least 1, got {n}"
        )));
    }
    Ok(Options {
        temperature: Some(ranged("temperature", s.temperature, 0.0, 2.0)?.unwrap_or(1.0)),
        top_p: Some(ranged("top_p", s.top_p, 0.0, 1.0)?.unwrap_or(1.0)),
        presence_penalty: ranged("presence_penalty", s.presence_penalty, -2.0, 2.0)?,
        frequency_penalty: ranged("frequency_penalty", s.frequency_penalty, -2.0, 2.0)?,
        seed: s.seed,
        stop: s.stop.clone().map(|stop| {
            let stops = stop.into_vec();
            stops.into_iter().filter(|s| !s.is_empty()).collect()
        }),
        num_predict: max_tokens,
        ..Options::default()
    })
}

/// Token counts of a finished generation: its whole prompt (cached prefix included, unlike
/// `prompt_eval_count`) and what it generated.
fn usage(metrics: &GenerationMetrics) -> Usage {
    Usage::new(metrics.prompt_tokens as u64, metrics.eval_count as u64)
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
fn error_event(failure: Failure) -> SseItem {
    let error = match failure.by_request {
        true => ApiError::BadRequest(failure.message),
        false => ApiError::Internal(failure.message),
    };
    SseItem::json(&OpenAiError(error).body())
}
