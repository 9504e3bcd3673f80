//! Wire types of rollama's own routes beside Ollama's (the gateway's): tokenizer access,
//! health and queue status. Ollama has none of these; their shapes follow the proposals
//! Ollama's users made (ollama#3582, PR #12030) where there is one.

use serde::{Deserialize, Serialize};

use serde_json::Value;

use super::Options;

/// `POST /api/tokenize`: the model's token ids for `content` (no template applied).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct TokenizeRequest {
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub content: String,
    /// Add BOS/EOS where the model asks for them, as a raw prompt gets them (default
    /// `false`, as llama.cpp's `/tokenize`: the text's own tokens).
    #[serde(default)]
    pub add_special: Option<bool>,
    #[serde(default)]
    pub options: Option<Options>,
    #[serde(default)]
    /// As everywhere: parsed by [`super::KeepAlive::from_request`].
    #[schema(schema_with = super::schema::keep_alive)]
    pub keep_alive: Option<Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenizeResponse {
    pub model: String,
    pub tokens: Vec<u32>,
    /// Nanoseconds, as Ollama's durations.
    pub total_duration: u64,
    pub load_duration: u64,
}

/// `POST /api/detokenize`: the text of token ids.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct DetokenizeRequest {
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub tokens: Vec<u32>,
    #[serde(default)]
    /// As everywhere: parsed by [`super::KeepAlive::from_request`].
    #[schema(schema_with = super::schema::keep_alive)]
    pub keep_alive: Option<Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DetokenizeResponse {
    pub model: String,
    pub content: String,
    pub total_duration: u64,
    pub load_duration: u64,
}

/// `GET /health/live` (the process answers) and `GET /health/ready` (a model can be
/// served: 200 `ready`, else 503 `not ready` with the reason).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HealthResponse {
    /// `ok` (live), `ready` or `not ready`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `GET /api/status`: the queues of every loaded model.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatusResponse {
    pub models: Vec<ModelStatus>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelStatus {
    /// As `/api/ps` names it (`name:tag`).
    pub name: String,
    /// Requests whose prompt is being rendered and tokenized.
    pub preparing: u64,
    /// Queued, not running yet.
    pub waiting: u64,
    /// Sequences in the decode batch.
    pub running: u64,
    /// Requests waiting beyond which new ones get 503 (`OLLAMA_MAX_QUEUE`).
    pub max_queue: u64,
    /// Sequences decoded together at most (`OLLAMA_NUM_PARALLEL`).
    pub max_running: u64,
    pub kv_reserved_tokens: u64,
    pub kv_budget_tokens: u64,
    pub kv_bytes: u64,
}
