//! Ollama wire types: what goes over HTTP, as serde structs. No logic, no axum.
//!
//! Field names and optionality follow `shared/reference/ollama-api.md`; metrics in final
//! chunks are always present (Go omits zeros, but LangChain needs both token counts).

mod chat;
mod duration;
mod embed;
mod gateway;
mod generate;
mod keep_alive;
mod models;
pub mod openai;
mod options;
mod schema;

pub use chat::{ChatChunk, ChatRequest, Message};
pub use duration::go_duration;
pub use embed::{EmbedRequest, EmbedResponse, EmbeddingsRequest, EmbeddingsResponse};
pub use gateway::{
    DetokenizeRequest, DetokenizeResponse, HealthResponse, ModelStatus, StatusResponse,
    TokenizeRequest, TokenizeResponse,
};
pub use generate::{GenerateChunk, GenerateRequest};
pub use keep_alive::KeepAlive;
pub use models::{
    modelfile_quote, CopyRequest, CreateRequest, DeleteRequest, ModelDetails, ProgressResponse,
    PsModel, PsResponse, PullRequest, ShowRequest, ShowResponse, TagModel, TagsResponse,
    VersionResponse,
};
pub use options::Options;

use serde::{Deserialize, Serialize};

/// `{"error": "..."}`, the body of every native error and of a failed stream's last line.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

/// A generated token's log-probability (`logprobs` on native chunks, and the items of
/// `/v1` `choices[].logprobs.content`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Logprob {
    pub token: String,
    pub logprob: f32,
    pub bytes: Vec<u8>,
    /// Most likely tokens at that step; always sent (OpenAI's clients require the key).
    pub top_logprobs: Vec<TopLogprob>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TopLogprob {
    pub token: String,
    pub logprob: f32,
    pub bytes: Vec<u8>,
}

/// Counters of a finished generation, flattened into the final chunk (and read back by
/// the CLI's `--verbose`). Durations are nanoseconds.
#[derive(Debug, Default, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Metrics {
    pub total_duration: u64,
    pub load_duration: u64,
    pub prompt_eval_count: u64,
    pub prompt_eval_duration: u64,
    pub eval_count: u64,
    pub eval_duration: u64,
}

/// `created_at` of a chunk: UTC RFC 3339, nanoseconds with trailing zeros trimmed.
pub fn timestamp_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}
