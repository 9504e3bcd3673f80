use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ChoiceLogprobs, Sampling, StreamOptions, Usage};

/// `POST /v1/chat/completions`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ChatCompletionRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    #[serde(flatten)]
    pub sampling: Sampling,
    #[schema(minimum = 1)]
    pub max_completion_tokens: Option<i64>,
    pub logprobs: Option<bool>,
    #[schema(minimum = 0, maximum = 20)]
    pub top_logprobs: Option<i64>,
    pub response_format: Option<Value>,
    pub tools: Option<Vec<Value>>,
    pub tool_choice: Option<Value>,
    pub parallel_tool_calls: Option<bool>,
    pub reasoning_effort: Option<String>,
    pub reasoning: Option<Value>,
}

/// A request message: `content` is a string, a list of typed parts, or null.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ChatMessage {
    pub role: String,
    #[schema(schema_with = crate::api::schema::openai_content)]
    pub content: Value,
    pub name: Option<String>,
    pub tool_calls: Option<Vec<Value>>,
    pub tool_call_id: Option<String>,
    /// Earlier reasoning, under Ollama's name and DeepSeek's.
    pub reasoning: Option<String>,
    pub reasoning_content: Option<String>,
}

/// The non-streamed reply.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChatCompletion {
    pub id: String,
    pub object: String,
    pub created: i64,
    pub model: String,
    pub system_fingerprint: String,
    pub choices: Vec<ChatChoice>,
    pub usage: Usage,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChatChoice {
    pub index: u32,
    pub message: ResponseMessage,
    pub logprobs: Option<ChoiceLogprobs>,
    pub finish_reason: String,
}

#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResponseMessage {
    pub role: String,
    pub content: String,
    #[serde(flatten)]
    pub extra: Beyond,
}

/// What a message or delta carries besides text, each field only when present.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Beyond {
    /// Reasoning text, under Ollama's name (`reasoning`) and the one DeepSeek/vLLM clients
    /// read (`reasoning_content`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<Value>>,
}

impl Beyond {
    /// Reasoning under both names; `None` when empty.
    pub fn reasoning(text: String) -> Self {
        let text = Some(text).filter(|t| !t.is_empty());
        Self {
            reasoning: text.clone(),
            reasoning_content: text,
            tool_calls: None,
        }
    }
}

/// One SSE event of a streamed reply.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChatCompletionChunk {
    pub id: String,
    pub object: String,
    pub created: i64,
    pub model: String,
    pub system_fingerprint: String,
    pub choices: Vec<ChunkChoice>,
    /// Only on the last chunk, and only with `stream_options.include_usage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: Delta,
    pub logprobs: Option<ChoiceLogprobs>,
    pub finish_reason: Option<String>,
}

/// What a chunk adds to the message; `{}` on the finish chunk.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(flatten)]
    pub extra: Beyond,
}
