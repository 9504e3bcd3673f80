//! What the CLI reads back from a server, parsed leniently (every field defaulted) so it
//! works against any Ollama-compatible server, not only this one. The request bodies it
//! sends are plain JSON objects built where they are sent.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::api::{Message, Metrics};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Details {
    pub parent_model: String,
    pub format: String,
    pub family: String,
    pub families: Option<Vec<String>>,
    pub parameter_size: String,
    pub quantization_level: String,
}

/// `GET /api/tags` / `GET /api/ps` entries (the union of their fields).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ListedModel {
    pub name: String,
    pub model: String,
    pub size: u64,
    pub digest: String,
    pub modified_at: String,
    pub expires_at: String,
    pub size_vram: u64,
    pub context_length: u64,
    pub details: Details,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ListResponse {
    pub models: Vec<ListedModel>,
}

/// `POST /api/show`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ShowResponse {
    pub license: String,
    pub modelfile: String,
    pub parameters: String,
    pub template: String,
    pub system: String,
    pub details: Details,
    pub model_info: Map<String, Value>,
    pub projector_info: Map<String, Value>,
    pub capabilities: Vec<String>,
    pub modified_at: String,
    pub messages: Vec<Message>,
    /// Only with `verbose`.
    pub tensors: Option<Vec<Tensor>>,
    /// Set by Ollama for a model served elsewhere (cloud or another host).
    pub remote_model: String,
    pub remote_host: String,
    /// The least server version the model needs.
    pub requires: String,
}

/// One of `/api/show`'s `tensors`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Tensor {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub shape: Vec<u64>,
}

/// One line of a pull, push or create stream.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Progress {
    pub status: String,
    pub digest: String,
    pub total: u64,
    pub completed: u64,
}

/// One line of `/api/chat`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ChatLine {
    pub message: Message,
    pub done: bool,
    pub done_reason: String,
    #[serde(flatten)]
    pub metrics: Metrics,
}

/// One line of `/api/generate`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct GenerateLine {
    pub response: String,
    pub thinking: String,
    pub done: bool,
    pub done_reason: String,
    pub context: Vec<u64>,
    #[serde(flatten)]
    pub metrics: Metrics,
}
