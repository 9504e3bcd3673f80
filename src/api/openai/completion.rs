use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Sampling, StreamOptions, Usage};

/// `POST /v1/completions` (legacy text completions).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct CompletionRequest {
    pub model: String,
    /// A string; lists and token arrays are refused (as by Ollama).
    #[schema(schema_with = crate::api::schema::openai_prompt)]
    pub prompt: Value,
    pub suffix: Option<String>,
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    #[serde(flatten)]
    pub sampling: Sampling,
    /// How many top alternatives to report per token (0–5); the chosen token's always.
    #[schema(minimum = 0, maximum = 5)]
    pub logprobs: Option<i64>,
    pub echo: Option<bool>,
    pub best_of: Option<i64>,
}

/// The reply, and (with `object` the same) each streamed chunk.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Completion {
    pub id: String,
    pub object: String,
    pub created: i64,
    pub model: String,
    pub system_fingerprint: String,
    pub choices: Vec<CompletionChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CompletionChoice {
    pub text: String,
    pub index: u32,
    pub logprobs: Option<CompletionLogprobs>,
    pub finish_reason: Option<String>,
}

/// The legacy logprobs layout: parallel arrays over the generated tokens.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CompletionLogprobs {
    pub tokens: Vec<String>,
    pub token_logprobs: Vec<f32>,
    pub top_logprobs: Vec<BTreeMap<String, f32>>,
    /// Character offset of each token in the returned text.
    pub text_offset: Vec<usize>,
}
