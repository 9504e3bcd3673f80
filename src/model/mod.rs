//! The network: our own decoder over candle tensors, weights from GGUF or from a Hugging Face
//! safetensors directory presented as GGUF ([`Checkpoint`]).
//!
//! Never imports tokio or axum. The engine calls [`Model::forward`] on its own thread with a
//! packed batch of token runs from several sequences, each at its own position, each with
//! its own [`KvCache`].
//!
//! One pass: embed all packed tokens → per block, projections and MLP run once over every
//! token (one matmul per weight per step), attention runs per sequence against its cache
//! → only each sequence's last row goes through the vocabulary projection.
//!
//! Families: `llama`, `qwen2`, `qwen3`, `gemma3`, `phi3` (see [`config::Family`]), from GGUF
//! files or Hugging Face safetensors directories ([`Checkpoint`]). Embedding models (BERT,
//! from safetensors directories) are [`bert::Embedder`], a separate encoder.
//!
//! On CPU a sequence's logits are bit-for-bit the same whatever else shares the pass and
//! however its prompt was chunked: every op is row-independent (attention has its own
//! kernel for that, `attention_cpu`), which matters because these small quantized models
//! turn last-bit differences into different greedy tokens. On CPU the quantized weights
//! are repacked at load for our own kernels (`quant`), which compute llama.cpp's sums.

mod attention;
mod attention_cpu;
pub mod bert;
mod checkpoint;
pub mod config;
mod cpu_layout;
mod decoder;
mod error;
mod feed_forward;
mod gated;
pub mod gguf;
pub mod hf;
mod kv_cache;
pub mod quant;
pub mod quantize;
mod rope;
mod safetensors;
mod weights;

pub use checkpoint::Checkpoint;
pub use config::ModelConfig;
pub use error::ModelError;
pub use gguf::GgufFile;
pub use hf::HfCheckpoint;
pub use kv_cache::KvCache;

use candle_core::{DType, Device, Tensor};

use attention::Span;
use decoder::{Block, Ropes};
use kv_cache::CacheLayout;
use rope::Rope;
use weights::{Embedding, Linear, RmsNorm, WeightReader};

/// One sequence's part of a packed batch: new tokens appended at `cache.len()`.
pub struct SeqBatch<'a> {
    pub tokens: &'a [u32],
    pub cache: &'a mut KvCache,
}

/// How a model is loaded.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Re-encode 32-block weights (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) as Q8_0 padded for candle's
    /// repacked VNNI/AMX kernels instead of ours, for comparison: slower than ours, at the
    /// cost of memory and of numerics that drift further from llama.cpp's. Off by default.
    pub cpu_requantize: bool,
}

/// A loaded decoder.
pub struct Model {
    config: ModelConfig,
    device: Device,
    /// dtype of activations and of the KV cache. Matmul weights stay quantized.
    dtype: DType,
    token_embd: Embedding,
    blocks: Vec<Block>,
    output_norm: RmsNorm,
    /// `output.weight`, or the embedding table itself when the model ties them.
    output: Linear,
    rope_global: Rope,
    /// Gemma 3's sliding-window layers rotate with their own base.
    rope_local: Option<Rope>,
}

impl Model {
    /// Loads with the default [`LoadOptions`] (numerics as close to llama.cpp as we get).
    pub fn load(file: &Checkpoint, device: &Device) -> Result<Self, ModelError> {
        Self::load_with(file, device, &LoadOptions::default())
    }

    pub fn load_with(
        file: &Checkpoint,
        device: &Device,
        options: &LoadOptions,
    ) -> Result<Self, ModelError> {
        let config = ModelConfig::from_checkpoint(file)?;
        // f32 everywhere for now; f16/bf16 activations on CUDA are a later step.
        let dtype = DType::F32;
        let mut w = WeightReader::open(file, device, dtype, options.cpu_requantize)?;
        let (vocab, hidden) = (config.vocab_size, config.embedding_length);

        let token_embd = w.qtensor("token_embd.weight", &[vocab, hidden])?;
        if hidden % token_embd.dtype().block_size() != 0 {
            return Err(ModelError::Unsupported(format!(
                "embedding width {hidden} with {:?} blocks",
                token_embd.dtype()
            )));
        }
        // Tied models project onto the embedding table: prepare it once and share it.
        let (token_embd, output) = match w.contains("output.weight") {
            true => (
                Embedding::new(token_embd, hidden),
                w.linear("output", vocab, hidden)?,
            ),
            false => match w.pack(&token_embd, "token_embd")? {
                Some(packed) => {
                    let packed = std::sync::Arc::new(packed);
                    (
                        Embedding::Packed(packed.clone()),
                        Linear::packed(packed, None),
                    )
                }
                None => {
                    let table = cpu_layout::prepare(token_embd, w.requantize())?;
                    let embedding = Embedding::new(table.weight.clone(), hidden);
                    (embedding, Linear::from_prepared(table, None, dtype)?)
                }
            },
        };
        let rope_factors = match w.dense_opt("rope_freqs.weight", &[config.rope_dims / 2])? {
            Some(t) => Some(t.to_dtype(DType::F32)?.to_vec1::<f32>()?),
            None => None,
        };
        let rope_global = Rope::new(
            config.rope_base,
            config.rope_dims,
            config.rope_freq_scale,
            rope_factors.as_deref(),
            config.rope_style,
        );
        let rope_local = config.layer_is_local.iter().any(|&l| l).then(|| {
            Rope::new(
                config.rope_base_local,
                config.rope_dims,
                1.0,
                None,
                config.rope_style,
            )
        });
        let blocks = (0..config.block_count)
            .map(|layer| Block::load(&mut w, &config, layer))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            output_norm: w.rms_norm("output_norm.weight", hidden, config.rms_eps)?,
            config,
            device: device.clone(),
            dtype,
            token_embd,
            blocks,
            output,
            rope_global,
            rope_local,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// dtype of activations and KV cache.
    pub fn activation_dtype(&self) -> DType {
        self.dtype
    }

    pub fn new_cache(&self) -> KvCache {
        KvCache::new(self.cache_layout(), self.device.clone())
    }

    /// Bytes of KV cache one position takes, over all layers.
    pub fn kv_bytes_per_token(&self) -> usize {
        let c = &self.config;
        2 * c.block_count * c.head_count_kv * c.head_dim * self.dtype.size_in_bytes()
    }

    fn cache_layout(&self) -> CacheLayout {
        CacheLayout {
            layers: self.config.block_count,
            kv_heads: self.config.head_count_kv,
            head_dim: self.config.head_dim,
            dtype: self.dtype,
        }
    }

    /// Runs every sequence's new tokens through the network in one pass, appends their keys
    /// and values to each sequence's cache, and returns the logits of each sequence's last
    /// token: a `[batch.len(), vocab]` f32 tensor on the model's device.
    ///
    /// On error no cache changes length.
    pub fn forward(&self, batch: &mut [SeqBatch<'_>]) -> Result<Tensor, ModelError> {
        let spans = self.check_batch(batch)?;
        for seq in batch.iter_mut() {
            seq.cache.reserve(seq.tokens.len())?;
        }
        // On CPU, candle's pinned thread pool: a no-op when the caller already installed it.
        let logits = self
            .device
            .with_context(|| self.forward_packed(batch, &spans))?;
        for (seq, span) in batch.iter_mut().zip(&spans) {
            seq.cache.advance(span.len);
        }
        Ok(logits)
    }

    /// Validates the batch and lays its sequences out one after another.
    fn check_batch(&self, batch: &[SeqBatch<'_>]) -> Result<Vec<Span>, ModelError> {
        if batch.is_empty() {
            return Err(ModelError::Format(
                "forward called with an empty batch".into(),
            ));
        }
        let layout = self.cache_layout();
        let mut spans = Vec::with_capacity(batch.len());
        let mut start = 0;
        for (i, seq) in batch.iter().enumerate() {
            seq.cache.check_layout(&layout, &self.device)?;
            let (len, pos) = (seq.tokens.len(), seq.cache.len());
            if len == 0 {
                return Err(ModelError::Format(format!(
                    "sequence {i} has no new tokens"
                )));
            }
            if pos + len > self.config.context_length {
                return Err(ModelError::Format(format!(
                    "sequence {i} needs {} positions, context length is {}",
                    pos + len,
                    self.config.context_length
                )));
            }
            if let Some(&t) = seq
                .tokens
                .iter()
                .find(|&&t| t as usize >= self.config.vocab_size)
            {
                return Err(ModelError::Format(format!(
                    "token {t} is outside the vocabulary ({})",
                    self.config.vocab_size
                )));
            }
            spans.push(Span { start, len, pos });
            start += len;
        }
        Ok(spans)
    }

    fn forward_packed(
        &self,
        batch: &mut [SeqBatch<'_>],
        spans: &[Span],
    ) -> Result<Tensor, ModelError> {
        let ids: Vec<u32> = batch
            .iter()
            .flat_map(|s| s.tokens.iter().copied())
            .collect();
        let positions: Vec<usize> = spans.iter().flat_map(|s| s.pos..s.pos + s.len).collect();
        let ids = Tensor::new(ids.as_slice(), &self.device)?;

        let mut x = self.token_embd.forward(&ids)?.to_dtype(DType::F32)?;
        if let Some(scale) = self.config.embedding_scale {
            x = (x * scale)?;
        }
        let mut x = x.to_dtype(self.dtype)?;

        let ropes = Ropes {
            global: (
                &self.rope_global,
                self.rope_global
                    .tables(&positions, &self.device, self.dtype)?,
            ),
            local: match &self.rope_local {
                Some(rope) => Some((rope, rope.tables(&positions, &self.device, self.dtype)?)),
                None => None,
            },
        };
        for block in &self.blocks {
            x = block.forward(&x, spans, batch, &ropes)?;
        }

        // Only each sequence's last token needs logits: the vocabulary projection is the
        // largest matmul of the model (262k rows for Gemma 3).
        let last: Vec<u32> = spans.iter().map(|s| (s.start + s.len - 1) as u32).collect();
        let last = Tensor::new(last.as_slice(), &self.device)?;
        let x = self.output_norm.forward(&x.index_select(&last, 0)?)?;
        let logits = self.output.forward(&x)?.to_dtype(DType::F32)?;
        match self.config.final_logit_softcap {
            Some(cap) => Ok(((logits / cap)?.tanh()? * cap)?),
            None => Ok(logits),
        }
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
