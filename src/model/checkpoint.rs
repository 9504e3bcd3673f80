//! [`Checkpoint`]: a model on disk, either one GGUF file or a Hugging Face directory.
//!
//! Both present themselves the same way: GGUF metadata keys (synthesized from `config.json`
//! and the tokenizer files for a Hugging Face directory, see [`super::hf`]) and tensors under
//! GGUF names. So [`super::ModelConfig`], the weight reader, `text::Tokenizer::from_gguf`
//! and the chat template code never need to know which one they read.

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file::Value;

use super::hf::HfCheckpoint;
use super::{GgufFile, ModelError};
use crate::text::{value_as_f64, value_as_u64};

/// A model's weights and metadata, as opened by [`Checkpoint::open`].
pub enum Checkpoint {
    Gguf(GgufFile),
    Safetensors(HfCheckpoint),
}

impl Checkpoint {
    /// A file is read as GGUF, a directory as a Hugging Face decoder checkpoint.
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        match path.is_dir() {
            true => Ok(Self::Safetensors(HfCheckpoint::open(path)?)),
            false => Ok(Self::Gguf(GgufFile::open(path)?)),
        }
    }

    /// GGUF-style metadata (synthesized for a Hugging Face directory).
    pub fn metadata(&self) -> &HashMap<String, Value> {
        match self {
            Self::Gguf(f) => f.metadata(),
            Self::Safetensors(h) => h.metadata(),
        }
    }

    /// `general.architecture`, e.g. `llama`, `qwen2`, `gemma3`, `phi3`.
    pub fn architecture(&self) -> Result<&str, ModelError> {
        self.get_str("general.architecture")
            .ok_or_else(|| ModelError::Format("missing general.architecture".into()))
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata().get(key)
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// Any integer variant as u64.
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        value_as_u64(self.get(key)?)
    }

    /// Any numeric variant as f64.
    pub fn get_f64(&self, key: &str) -> Option<f64> {
        value_as_f64(self.get(key)?)
    }

    /// `{arch}.{suffix}` as u64, e.g. `arch_u64("context_length")`.
    pub fn arch_u64(&self, suffix: &str) -> Option<u64> {
        let arch = self.architecture().ok()?;
        self.get_u64(&format!("{arch}.{suffix}"))
    }

    /// Row-major shape of the tensor called `name` (GGUF naming), if the model has it.
    pub fn tensor_shape(&self, name: &str) -> Option<Vec<usize>> {
        match self {
            Self::Gguf(f) => f
                .content
                .tensor_infos
                .get(name)
                .map(|t| t.shape.dims().to_vec()),
            Self::Safetensors(h) => h.tensor_shape(name),
        }
    }

    /// Every tensor as (GGUF name, type, shape), sorted by name (`/api/show` verbose).
    pub fn tensor_list(&self) -> Vec<(String, String, Vec<usize>)> {
        let mut list: Vec<(String, String, Vec<usize>)> = match self {
            Self::Gguf(f) => f
                .content
                .tensor_infos
                .iter()
                .map(|(name, info)| {
                    let ty = format!("{:?}", info.ggml_dtype);
                    (name.clone(), ty, info.shape.dims().to_vec())
                })
                .collect(),
            Self::Safetensors(h) => h.tensor_list(),
        };
        list.sort_by(|a, b| a.0.cmp(&b.0));
        list
    }

    pub fn contains_tensor(&self, name: &str) -> bool {
        match self {
            Self::Gguf(f) => f.content.tensor_infos.contains_key(name),
            Self::Safetensors(h) => h.contains_tensor(name),
        }
    }

    /// Total number of weights, for `details.parameter_size`.
    pub fn parameter_count(&self) -> u64 {
        match self {
            Self::Gguf(f) => f.parameter_count(),
            Self::Safetensors(h) => h.parameter_count(),
        }
    }

    /// Ollama's `quantization_level`: `Q4_K_M`, … for GGUF; `F16`, `BF16`, `F32` for
    /// safetensors (the dtype of the matmul weights).
    pub fn quantization_level(&self) -> String {
        match self {
            Self::Gguf(f) => f.quantization_level(),
            Self::Safetensors(h) => h.quantization_level(),
        }
    }

    /// `gguf` or `safetensors` (Ollama's `details.format`).
    pub fn format(&self) -> &'static str {
        match self {
            Self::Gguf(_) => "gguf",
            Self::Safetensors(_) => "safetensors",
        }
    }

    /// The file or directory this was opened from.
    pub fn path(&self) -> &Path {
        match self {
            Self::Gguf(f) => &f.path,
            Self::Safetensors(h) => h.dir(),
        }
    }
}
