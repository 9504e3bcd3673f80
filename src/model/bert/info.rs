//! [`EmbedderInfo`]: what `/api/show` and `/api/tags` report of an embedder, read from
//! its config files and safetensors headers without loading the weights.

use std::path::Path;

use candle_core::Device;

use super::weights::Weights;
use super::{BertConfig, Pooling, SentenceConfig};
use crate::model::ModelError;

pub struct EmbedderInfo {
    pub config: BertConfig,
    pub sentence: SentenceConfig,
    pub parameter_count: u64,
}

impl EmbedderInfo {
    pub fn read(dir: &Path) -> Result<Self, ModelError> {
        Ok(Self {
            config: BertConfig::from_dir(dir)?,
            sentence: SentenceConfig::from_dir(dir)?,
            parameter_count: Weights::open(dir, &Device::Cpu)?.parameter_count(),
        })
    }

    /// Longest input, as [`super::Embedder::max_tokens`].
    pub fn max_tokens(&self) -> usize {
        let positions = self.config.max_position_embeddings;
        self.sentence
            .max_seq_length
            .map_or(positions, |m| m.min(positions))
    }

    /// GGUF's `pooling_type` (1 mean, 2 cls) as llama.cpp writes it for BERT; none for
    /// the poolings GGUF has no number for.
    pub fn pooling_type(&self) -> Option<u32> {
        match self.sentence.pooling {
            Pooling::Mean => Some(1),
            Pooling::Cls => Some(2),
            Pooling::Max | Pooling::MeanSqrtLen => None,
        }
    }
}

/// Whether a checkpoint directory holds a BERT encoder (`model_type` "bert" in
/// `config.json`) rather than a decoder.
pub fn is_bert_dir(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("config.json")) else {
        return false;
    };
    serde_json::from_str::<serde_json::Value>(&text).is_ok_and(|c| c["model_type"] == "bert")
}
