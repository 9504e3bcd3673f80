use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `GET /api/version`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VersionResponse {
    pub version: String,
}

/// The `details` object of tags, show and ps: all six classic fields always present.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ModelDetails {
    pub parent_model: String,
    pub format: String,
    pub family: String,
    pub families: Vec<String>,
    pub parameter_size: String,
    pub quantization_level: String,
}

/// One entry of `GET /api/tags`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TagModel {
    pub name: String,
    pub model: String,
    pub modified_at: String,
    pub size: u64,
    pub digest: String,
    pub details: ModelDetails,
}

/// `GET /api/tags`: `models` is `[]`, never null.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TagsResponse {
    pub models: Vec<TagModel>,
}

/// `POST /api/show`; `name` is the deprecated alias of `model`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ShowRequest {
    pub model: String,
    pub name: String,
    pub verbose: bool,
    /// Shown instead of the model's system prompt.
    pub system: String,
}

/// `POST /api/show` reply; `model_info` is always present.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShowResponse {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub license: String,
    pub modelfile: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub parameters: String,
    pub template: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub system: String,
    pub details: ModelDetails,
    pub model_info: Map<String, Value>,
    pub capabilities: Vec<String>,
    pub modified_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tensors: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<Value>,
}

/// One entry of `GET /api/ps`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PsResponse {
    pub models: Vec<PsModel>,
}

/// A model name given as `model` or by its deprecated spelling `name`.
fn either(model: String, name: String) -> String {
    match model.is_empty() {
        true => name,
        false => model,
    }
}

/// `POST /api/create` (the current JSON body; a Modelfile text is no longer accepted).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct CreateRequest {
    pub model: String,
    pub name: String,
    pub from: Option<String>,
    pub files: Option<Map<String, Value>>,
    pub adapters: Option<Map<String, Value>>,
    pub template: Option<String>,
    pub system: Option<String>,
    /// A string or a list of strings.
    #[schema(schema_with = super::schema::license)]
    pub license: Option<Value>,
    pub parameters: Option<Map<String, Value>>,
    pub messages: Option<Vec<Value>>,
    pub quantize: Option<String>,
    /// Deprecated spelling of `quantize`.
    pub quantization: Option<String>,
    pub stream: Option<bool>,
}

impl CreateRequest {
    pub fn target(&self) -> String {
        either(self.model.clone(), self.name.clone())
    }
}

/// `POST /api/pull` and `POST /api/push`; `username`/`password` are accepted and unused.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct PullRequest {
    pub model: String,
    pub name: String,
    pub insecure: bool,
    pub stream: Option<bool>,
}

impl PullRequest {
    pub fn target(&self) -> String {
        either(self.model.clone(), self.name.clone())
    }
}

/// `POST /api/copy`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct CopyRequest {
    pub source: String,
    pub destination: String,
}

/// `DELETE /api/delete` (ollama-js sends `name`).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct DeleteRequest {
    pub model: String,
    pub name: String,
}

impl DeleteRequest {
    pub fn target(&self) -> String {
        either(self.model.clone(), self.name.clone())
    }
}

/// One line of a pull, push or create stream; `digest`, `total` and `completed` are
/// left out when empty or zero, as Ollama does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ProgressResponse {
    pub status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub digest: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub completed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// How a Modelfile quotes a value (Ollama's `parser.quote`), for the `modelfile` of
/// `/api/show` and for the CLI printing a parsed one: values with newlines or edge spaces
/// get quotes, triple ones when they hold a quote themselves.
pub fn modelfile_quote(s: &str) -> String {
    if s.contains('\n') || s.starts_with(' ') || s.ends_with(' ') {
        if s.contains('"') {
            return format!("\"\"\"{s}\"\"\"");
        }
        return format!("\"{s}\"");
    }
    s.to_string()
}
