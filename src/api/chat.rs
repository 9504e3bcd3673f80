use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Logprob, Metrics, Options};

/// `POST /api/chat`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    pub tools: Option<Vec<Value>>,
    pub stream: Option<bool>,
    #[schema(schema_with = super::schema::format)]
    pub format: Option<Value>,
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

/// A chat message, in requests and responses. `content` is always serialized.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Message {
    pub role: String,
    pub content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    pub fn assistant(content: String) -> Self {
        Self {
            role: "assistant".into(),
            content,
            ..Self::default()
        }
    }
}

/// One NDJSON line of `/api/chat`, or the whole `stream:false` reply. Every line carries
/// `message.role` (ollama-python requires it).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChatChunk {
    pub model: String,
    pub created_at: String,
    pub message: Message,
    pub done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Vec<Logprob>>,
    /// On the last line only.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Metrics)]
    pub metrics: Option<Metrics>,
}
