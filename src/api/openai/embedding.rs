use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /v1/embeddings`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct EmbeddingRequest {
    pub model: String,
    /// A string or a list of strings (token arrays are refused).
    #[schema(schema_with = crate::api::schema::openai_embedding_input)]
    pub input: Value,
    pub dimensions: Option<i64>,
    /// `float` (default) or `base64` (little-endian f32 bytes).
    #[schema(schema_with = crate::api::schema::encoding_format)]
    pub encoding_format: Option<String>,
    pub user: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EmbeddingResponse {
    pub object: String,
    pub data: Vec<EmbeddingData>,
    pub model: String,
    pub usage: EmbeddingUsage,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EmbeddingData {
    pub object: String,
    /// A list of floats, or a base64 string.
    #[schema(schema_with = crate::api::schema::openai_embedding)]
    pub embedding: Value,
    pub index: usize,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EmbeddingUsage {
    pub prompt_tokens: u64,
    pub total_tokens: u64,
}
