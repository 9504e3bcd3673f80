use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Logprob, Metrics, Options};

/// `POST /api/generate`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
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
    #[schema(schema_with = super::schema::format)]
    pub format: Option<Value>,
    pub images: Option<Vec<String>>,
    #[schema(default = json!(null))]
    pub options: Option<Options>,
    /// Parsed by [`super::KeepAlive::from_request`] so its error text is Ollama's, unadorned.
    #[schema(schema_with = super::schema::keep_alive)]
    pub keep_alive: Option<Value>,
    #[schema(schema_with = super::schema::think)]
    pub think: Option<Value>,
    pub truncate: Option<bool>,
    pub shift: Option<bool>,
    pub logprobs: Option<bool>,
    #[schema(minimum = 0, maximum = 20)]
    pub top_logprobs: Option<i64>,
}

/// One NDJSON line of `/api/generate`, or the whole `stream:false` reply.
#[derive(Debug, Serialize, utoipa::ToSchema)]
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
    /// On the last line only.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Metrics)]
    pub metrics: Option<Metrics>,
}
