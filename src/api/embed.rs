use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Options;

/// `POST /api/embed`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct EmbedRequest {
    pub model: String,
    /// A string or a list of strings.
    #[schema(schema_with = super::schema::embed_input)]
    pub input: Value,
    pub truncate: Option<bool>,
    pub dimensions: Option<i64>,
    #[schema(default = json!(null))]
    pub options: Option<Options>,
    #[schema(schema_with = super::schema::keep_alive)]
    pub keep_alive: Option<Value>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EmbedResponse {
    pub model: String,
    /// L2-normalized, one per input, in order.
    pub embeddings: Vec<Vec<f32>>,
    pub total_duration: u64,
    pub load_duration: u64,
    pub prompt_eval_count: u64,
}

/// `POST /api/embeddings` (legacy).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct EmbeddingsRequest {
    pub model: String,
    pub prompt: String,
    #[schema(default = json!(null))]
    pub options: Option<Options>,
    #[schema(schema_with = super::schema::keep_alive)]
    pub keep_alive: Option<Value>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EmbeddingsResponse {
    /// Not normalized: the model's pooled output as is.
    pub embedding: Vec<f32>,
}
