//! A GGUF file opened for its header: metadata and tensor directory, no weights read.
//!
//! [`super::Checkpoint`] wraps it (metadata for the config, the tokenizer and `/api/show`);
//! [`crate::model::Model::load`] reads the tensors.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{Content, Value};

use super::ModelError;
use crate::text::value_as_u64;

/// The parsed header of one GGUF file.
pub struct GgufFile {
    pub path: PathBuf,
    pub content: Content,
}

impl GgufFile {
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        let file = File::open(path).map_err(|e| ModelError::Io(path.to_path_buf(), e))?;
        let mut reader = BufReader::new(file);
        let content = Content::read(&mut reader)
            .map_err(|e| ModelError::Format(format!("{}: {e}", path.display())))?;
        Ok(Self {
            path: path.to_path_buf(),
            content,
        })
    }

    pub fn metadata(&self) -> &HashMap<String, Value> {
        &self.content.metadata
    }

    /// Any integer variant as u64 (files differ in which width they store). The other
    /// metadata accessors are [`super::Checkpoint`]'s, shared with Hugging Face directories.
    fn get_u64(&self, key: &str) -> Option<u64> {
        value_as_u64(self.content.metadata.get(key)?)
    }

    /// Total number of weights, for `details.parameter_size`.
    pub fn parameter_count(&self) -> u64 {
        if let Some(n) = self.get_u64("general.parameter_count") {
            return n;
        }
        self.content
            .tensor_infos
            .values()
            .map(|t| t.shape.elem_count() as u64)
            .sum()
    }

    /// Ollama's `quantization_level`, from `general.file_type` (llama.cpp's `llama_ftype`).
    pub fn quantization_level(&self) -> String {
        let name = match self.get_u64("general.file_type") {
            Some(0) => "F32",
            Some(1) => "F16",
            Some(2) => "Q4_0",
            Some(3) => "Q4_1",
            Some(7) => "Q8_0",
            Some(8) => "Q5_0",
            Some(9) => "Q5_1",
            Some(10) => "Q2_K",
            Some(11) => "Q3_K_S",
            Some(12) => "Q3_K_M",
            Some(13) => "Q3_K_L",
            Some(14) => "Q4_K_S",
            Some(15) => "Q4_K_M",
            Some(16) => "Q5_K_S",
            Some(17) => "Q5_K_M",
            Some(18) => "Q6_K",
            Some(32) => "BF16",
            _ => "unknown",
        };
        name.to_string()
    }
}
