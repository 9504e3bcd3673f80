//! Ollama's manifests: a Docker distribution v2 manifest per `host/namespace/model/tag`,
//! naming a config blob and the layers (weights, template, system, params, …) by digest.

use serde::{Deserialize, Serialize};

use super::Digest;

pub const MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const MODEL: &str = "application/vnd.ollama.image.model";
pub const TEMPLATE: &str = "application/vnd.ollama.image.template";
pub const SYSTEM: &str = "application/vnd.ollama.image.system";
pub const PARAMS: &str = "application/vnd.ollama.image.params";
pub const LICENSE: &str = "application/vnd.ollama.image.license";
pub const MESSAGES: &str = "application/vnd.ollama.image.messages";
pub const PROJECTOR: &str = "application/vnd.ollama.image.projector";
pub const ADAPTER: &str = "application/vnd.ollama.image.adapter";
/// One file of a Hugging Face safetensors checkpoint, its relative path in the layer's
/// `name` (rollama's; Ollama skips layers of types it does not know).
pub const CHECKPOINT_FILE: &str = "application/vnd.rollama.checkpoint.file";

/// A manifest as Ollama writes it (`schemaVersion` 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    pub media_type: String,
    pub config: Layer,
    pub layers: Vec<Layer>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Layer {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    /// The model this layer was inherited from (`FROM`), as Ollama records it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    /// A file name within the model (tensor files, checkpoint files).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// The config blob (`model.ConfigV2`): what `/api/tags` shows without opening the weights.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    #[serde(default)]
    pub model_format: String,
    #[serde(default)]
    pub model_family: String,
    #[serde(default)]
    pub model_families: Option<Vec<String>>,
    /// Shown as the parameter size (`3.2B`).
    #[serde(default)]
    pub model_type: String,
    /// Shown as the quantization level (`Q4_K_M`).
    #[serde(default)]
    pub file_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub renderer: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub parser: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub requires: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_length: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_length: Option<u64>,
    /// Required by the image spec.
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
}

impl Manifest {
    pub fn new(config: Layer, layers: Vec<Layer>) -> Self {
        Self {
            schema_version: 2,
            media_type: MANIFEST_V2.into(),
            config,
            layers,
        }
    }

    /// Sum of the config's and every layer's size (what `/api/tags` reports).
    pub fn size(&self) -> u64 {
        self.config.size + self.layers.iter().map(|l| l.size).sum::<u64>()
    }

    /// The first layer of a media type.
    pub fn layer(&self, media_type: &str) -> Option<&Layer> {
        self.layers.iter().find(|l| l.media_type == media_type)
    }

    /// Every blob it references, config first.
    pub fn digests(&self) -> impl Iterator<Item = &Digest> {
        std::iter::once(&self.config.digest).chain(self.layers.iter().map(|l| &l.digest))
    }

    /// The bytes written to disk (Ollama's encoding: compact JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl ModelConfig {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}
