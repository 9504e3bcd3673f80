//! The network: our own decoder over candle tensors, weights from GGUF.
//!
//! Never imports tokio or axum. The engine calls [`Model::forward`] on its own thread with a
//! packed batch of token runs from several sequences, each at its own position, each with
//! its own [`KvCache`].

mod error;
pub mod gguf;

pub use error::ModelError;
pub use gguf::GgufFile;

use candle_core::{Device, Tensor};

/// Hyper-parameters read from GGUF metadata.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub architecture: String,
    pub context_length: usize,
    pub embedding_length: usize,
    pub block_count: usize,
    pub vocab_size: usize,
}

/// Per-sequence attention cache (one K and V per layer). Lives outside the model.
pub struct KvCache {
    len: usize,
}

impl KvCache {
    /// Positions already stored: the next token fed is at this position.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forget every position from `len` on (prefix reuse keeps the rest).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

/// One sequence's part of a packed batch: new tokens appended at `cache.len()`.
pub struct SeqBatch<'a> {
    pub tokens: &'a [u32],
    pub cache: &'a mut KvCache,
}

/// A loaded decoder.
pub struct Model {
    config: ModelConfig,
    device: Device,
}

impl Model {
    pub fn load(file: &GgufFile, device: &Device) -> Result<Self, ModelError> {
        let _ = file;
        let _ = device;
        Err(ModelError::Unsupported("not implemented yet".into()))
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn new_cache(&self) -> KvCache {
        KvCache { len: 0 }
    }

    /// Runs every sequence's new tokens through the network in one pass, appends their keys
    /// and values to each sequence's cache, and returns the logits of each sequence's last
    /// token: a `[batch.len(), vocab]` f32 tensor on the model's device.
    pub fn forward(&self, batch: &mut [SeqBatch<'_>]) -> Result<Tensor, ModelError> {
        let _ = batch;
        Err(ModelError::Unsupported("not implemented yet".into()))
    }
}

/// The device models run on: the first CUDA GPU when built with `--features cuda` and one
/// is present, else the CPU.
pub fn default_device() -> Result<Device, ModelError> {
    #[cfg(feature = "cuda")]
    if candle_core::utils::cuda_is_available() {
        return Ok(Device::new_cuda(0)?);
    }
    Ok(Device::Cpu)
}
