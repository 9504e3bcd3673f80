use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `GET /api/version`.
#[derive(Debug, Serialize)]
pub struct VersionResponse {
    pub version: String,
}

/// The `details` object of tags, show and ps: all six classic fields always present.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ModelDetails {
    pub parent_model: String,
    pub format: String,
    pub family: String,
    pub families: Vec<String>,
    pub parameter_size: String,
    pub quantization_level: String,
}

/// One entry of `GET /api/tags`.
#[derive(Debug, Serialize)]
pub struct TagModel {
    pub name: String,
    pub model: String,
    pub modified_at: String,
    pub size: u64,
    pub digest: String,
    pub details: ModelDetails,
}

/// `GET /api/tags`: `models` is `[]`, never null.
#[derive(Debug, Serialize)]
pub struct TagsResponse {
    pub models: Vec<TagModel>,
}

/// `POST /api/show`; `name` is the deprecated alias of `model`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ShowRequest {
    pub model: String,
    pub name: String,
    pub verbose: bool,
}

/// `POST /api/show` reply; `model_info` is always present.
#[derive(Debug, Serialize)]
pub struct ShowResponse {
    pub modelfile: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub parameters: String,
    pub template: String,
    pub details: ModelDetails,
    pub model_info: Map<String, Value>,
    pub capabilities: Vec<String>,
    pub modified_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tensors: Option<Vec<Value>>,
}

/// One entry of `GET /api/ps`.
#[derive(Debug, Serialize)]
pub struct PsModel {
    pub name: String,
    pub model: String,
    pub size: u64,
    pub digest: String,
    pub details: ModelDetails,
    pub expires_at: String,
    pub size_vram: u64,
    pub context_length: usize,
}

/// `GET /api/ps`: `models` is `[]` when nothing is loaded.
#[derive(Debug, Serialize)]
pub struct PsResponse {
    pub models: Vec<PsModel>,
}
