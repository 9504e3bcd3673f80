use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Logprob, Metrics, Options};

/// `POST /api/generate`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GenerateRequest {
    pub model: String,
    pub prompt: String,
    pub suffix: String,
    pub system: Option<String>,
    pub template: Option<String>,
    pub context: Option<Vec<u32>>,
    pub stream: Option<bool>,
    pub raw: bool,
    pub format: Option<Value>,
    pub images: Option<Vec<String>>,
    pub options: Option<Options>,
    /// Parsed by [`super::KeepAlive::from_request`] so its error text is Ollama's, unadorned.
    pub keep_alive: Option<Value>,
    pub think: Option<Value>,
    pub truncate: Option<bool>,
    pub shift: Option<bool>,
    pub logprobs: Option<bool>,
    pub top_logprobs: Option<i64>,
}

/// One NDJSON line of `/api/generate`, or the whole `stream:false` reply.
#[derive(Debug, Serialize)]
pub struct GenerateChunk {
    pub model: String,
    pub created_at: String,
    pub response: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking: Option<String>,
    pub done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Vec<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Vec<Logprob>>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
}
