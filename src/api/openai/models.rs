use serde::{Deserialize, Serialize};

/// `GET /v1/models`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelList {
    pub object: String,
    /// `[]` when the store is empty (Ollama sends `null`, which breaks typed clients).
    pub data: Vec<ModelObject>,
}

/// One model, and the body of `GET /v1/models/{model}`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelObject {
    pub id: String,
    pub object: String,
    /// Unix seconds of the model file's mtime.
    pub created: i64,
    pub owned_by: String,
}
