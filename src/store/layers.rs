//! What an Ollama-layout model carries besides its weights: template, system prompt,
//! default parameters, seeded messages, license, and where it came from.

use serde_json::{Map, Value};

use super::manifest::{self, Manifest};
use super::{Blobs, ModelConfig, StoreError};

/// Text layers are small; anything larger is not what the manifest claims.
const MAX_TEXT_LAYER: u64 = 16 << 20;

/// The layers of a model applied to its requests (all empty for a loose file).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layers {
    /// A Go `text/template` (Ollama renders this, not the weights' Jinja template).
    pub template: Option<String>,
    pub system: Option<String>,
    /// Modelfile parameters, as JSON with their proper types (`stop` an array).
    pub params: Map<String, Value>,
    /// A conversation seeded before the request's messages.
    pub messages: Vec<Value>,
    pub license: Vec<String>,
    /// The model it was created `FROM` (the weights layer's `from`).
    pub parent: String,
    /// The config blob (details Ollama shows without opening the weights).
    pub config: ModelConfig,
    /// Layers rollama cannot apply (a LoRA adapter, a vision projector).
    pub unsupported: Vec<String>,
}

impl Layers {
    pub fn read(manifest: &Manifest, blobs: &Blobs) -> Result<Self, StoreError> {
        let text = |digest| -> Result<String, StoreError> {
            let bytes = blobs.read_small(digest, MAX_TEXT_LAYER)?;
            String::from_utf8(bytes)
                .map_err(|_| StoreError::Corrupt(format!("layer {digest} is not UTF-8 text")))
        };
        let json = |digest| -> Result<Value, StoreError> {
            serde_json::from_str(&text(digest)?)
                .map_err(|e| StoreError::Corrupt(format!("layer {digest} is not valid JSON: {e}")))
        };
        let mut layers = Layers {
            config: serde_json::from_value(json(&manifest.config.digest)?).map_err(|e| {
                StoreError::Corrupt(format!("the config blob is not a model config: {e}"))
            })?,
            ..Self::default()
        };
        for layer in &manifest.layers {
            match layer.media_type.as_str() {
                manifest::TEMPLATE => layers.template = Some(text(&layer.digest)?),
                manifest::SYSTEM => layers.system = Some(text(&layer.digest)?),
                manifest::PARAMS => match json(&layer.digest)? {
                    Value::Object(map) => layers.params = map,
                    _ => {
                        return Err(StoreError::Corrupt(
                            "the params layer is not an object".into(),
                        ))
                    }
                },
                manifest::MESSAGES => match json(&layer.digest)? {
                    Value::Array(list) => layers.messages = list,
                    _ => {
                        return Err(StoreError::Corrupt(
                            "the messages layer is not a list".into(),
                        ))
                    }
                },
                manifest::LICENSE => layers.license.push(text(&layer.digest)?),
                manifest::MODEL => layers.parent = layer.from.clone(),
                manifest::ADAPTER => layers.unsupported.push("a LoRA adapter".into()),
                manifest::PROJECTOR => layers.unsupported.push("a vision projector".into()),
                _ => {}
            }
        }
        Ok(layers)
    }
}
