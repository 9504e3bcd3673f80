//! OpenAI wire types for `/v1`, as Ollama's compatibility layer serves them
//! (`shared/reference/ollama-api.md` §4).

mod chat;
mod completion;
mod embedding;
mod models;

pub use chat::{
    Beyond, ChatChoice, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChatMessage,
    ChunkChoice, Delta, ResponseMessage,
};
pub use completion::{Completion, CompletionChoice, CompletionLogprobs, CompletionRequest};
pub use embedding::{EmbeddingData, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage};
pub use models::{ModelList, ModelObject};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Logprob;

/// `{"error": {...}}`: every `/v1` error body, and a failed stream's last SSE event.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorObject,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorObject {
    pub message: String,
    /// `invalid_request_error` (400), `not_found_error` (404), `api_error` otherwise.
    #[serde(rename = "type")]
    pub kind: String,
    pub param: Option<String>,
    pub code: Option<String>,
}

/// Token counts of a request.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

impl Usage {
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct StreamOptions {
    pub include_usage: bool,
}

/// `stop`: one string or a list of them.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

/// The sampling fields chat and completions share.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Sampling {
    #[schema(minimum = 1)]
    pub max_tokens: Option<i64>,
    #[schema(minimum = 0, maximum = 2)]
    pub temperature: Option<f64>,
    #[schema(minimum = 0, maximum = 1)]
    pub top_p: Option<f64>,
    pub seed: Option<i64>,
    pub stop: Option<Stop>,
    #[schema(minimum = -2, maximum = 2)]
    pub presence_penalty: Option<f64>,
    #[schema(minimum = -2, maximum = 2)]
    pub frequency_penalty: Option<f64>,
    pub n: Option<i64>,
    /// Accepted and ignored, as by every OpenAI-compatible server.
    pub user: Option<String>,
    pub logit_bias: Option<Value>,
}

/// `choices[].logprobs` of a chat completion.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChoiceLogprobs {
    pub content: Vec<Logprob>,
}
