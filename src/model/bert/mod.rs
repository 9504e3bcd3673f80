//! [`Embedder`]: a BERT encoder with sentence-transformers pooling, for embedding models
//! stored as Hugging Face / sentence-transformers directories (all-MiniLM-L6-v2 and kin).
//!
//! Never imports tokio or axum. The caller tokenizes (with `[CLS] … [SEP]`, truncated to
//! [`Embedder::max_tokens`]) and L2-normalizes when [`Embedder::normalize`] says so.
//!
//! One pass: embeddings → encoder layers, each with every token's projections in one
//! matmul per weight over the batch's tokens packed (no padding), and attention over them
//! padded to the longest input, masked to each sequence's own tokens → pooling over each
//! sequence's tokens. All f32. On CPU the
//! steps between matmuls are fused ([`fused`]) and run on the matmuls' own thread pool.

mod attention;
mod config;
mod embeddings;
mod fused;
mod info;
mod layer;
mod math;
mod pooling;
mod sentence;
mod weights;

use std::path::Path;

use candle_core::{Device, Tensor};

pub use config::BertConfig;
pub use info::{is_bert_dir, EmbedderInfo};
pub use pooling::Pooling;
pub use sentence::SentenceConfig;

use super::ModelError;
use embeddings::Embeddings;
use layer::Layer;
use weights::Weights;

/// Where a batch's tokens are. Everything but attention runs on the tokens packed one
/// sequence after another (`[tokens, hidden]`, no padding to compute); attention runs on
/// them padded to the longest (`[b_sz, heads, seq_len, head_dim]`) with a mask.
pub(super) struct BatchLayout {
    pub b_sz: usize,
    pub seq_len: usize,
    pub tokens: usize,
    /// `[b_sz, 1, 1, seq_len]`: 0 on real tokens, −∞ on padding.
    pub mask: Tensor,
    /// `[b_sz * seq_len]` u32: the packed row of each padded slot (row 0 for padding, whose
    /// keys are masked and whose queries are dropped).
    pub to_padded: Tensor,
    /// `[tokens]` u32: the padded slot of each packed row.
    pub to_packed: Tensor,
}

impl BatchLayout {
    fn new(batch: &[Vec<u32>], device: &Device) -> Result<Self, ModelError> {
        let b_sz = batch.len();
        let seq_len = batch.iter().map(Vec::len).max().unwrap_or(0);
        let mut mask = vec![f32::NEG_INFINITY; b_sz * seq_len];
        let mut to_padded = vec![0u32; b_sz * seq_len];
        let mut to_packed = Vec::new();
        for (i, seq) in batch.iter().enumerate() {
            for t in 0..seq.len() {
                let slot = i * seq_len + t;
                mask[slot] = 0.0;
                to_padded[slot] = to_packed.len() as u32;
                to_packed.push(slot as u32);
            }
        }
        let tokens = to_packed.len();
        Ok(Self {
            b_sz,
            seq_len,
            tokens,
            mask: Tensor::from_vec(mask, (b_sz, 1, 1, seq_len), device)?,
            to_padded: Tensor::from_vec(to_padded, b_sz * seq_len, device)?,
            to_packed: Tensor::from_vec(to_packed, tokens, device)?,
        })
    }
}

/// A loaded BERT sentence embedder.
pub struct Embedder {
    config: BertConfig,
    sentence: SentenceConfig,
    device: Device,
    embeddings: Embeddings,
    layers: Vec<Layer>,
    parameter_count: u64,
}

impl Embedder {
    /// Loads a sentence-transformers / Hugging Face directory: `config.json` (only
    /// `model_type` "bert"; others are refused with [`ModelError::Unsupported`]), the
    /// pooling mode named by `modules.json` (mean when there is none), whether a
    /// `Normalize` module follows, `max_seq_length` from `sentence_bert_config.json`, and
    /// the weights of every `*.safetensors` file, memory-mapped (f32, f16 or bf16 stored,
    /// f32 computed; names with or without a `bert.` prefix).
    pub fn load(dir: &Path, device: &Device) -> Result<Embedder, ModelError> {
        let config = BertConfig::from_dir(dir)?;
        let sentence = SentenceConfig::from_dir(dir)?;
        let weights = Weights::open(dir, device)?;
        let embeddings = Embeddings::load(&weights, &config)?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(&weights, &config, i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Embedder {
            parameter_count: weights.parameter_count(),
            config,
            sentence,
            device: device.clone(),
            embeddings,
            layers,
        })
    }

    /// Sentence vectors of `batch`, in order, in one forward pass (attention pads inputs to
    /// the longest, masked: a vector does not depend on its batch). Each input is token ids that already
    /// include `[CLS]`/`[SEP]`, 1 to [`max_tokens`](Self::max_tokens) of them. Pooled,
    /// NOT L2-normalized.
    pub fn embed(&self, batch: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, ModelError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.check_batch(batch)?;
        let layout = BatchLayout::new(batch, &self.device)?;
        let ids: Vec<u32> = batch.iter().flatten().copied().collect();
        let positions: Vec<u32> = batch.iter().flat_map(|s| 0..s.len() as u32).collect();
        let ids = Tensor::from_vec(ids, layout.tokens, &self.device)?;
        let positions = Tensor::from_vec(positions, layout.tokens, &self.device)?;

        // On CPU, candle's thread pool (the one matmuls fan out on) stays installed for the
        // whole pass instead of being entered op by op.
        let hidden = self
            .device
            .with_context(|| self.encode(&ids, &positions, &layout))?;
        let hidden = hidden.flatten_all()?.to_vec1::<f32>()?;
        let dim = self.dim();
        let mut start = 0;
        Ok(batch
            .iter()
            .map(|seq| {
                let rows = &hidden[start * dim..(start + seq.len()) * dim];
                start += seq.len();
                self.sentence.pooling.pool(rows, dim)
            })
            .collect())
    }

    /// Token vectors after the last layer, packed: `[tokens, hidden]`.
    fn encode(
        &self,
        ids: &Tensor,
        positions: &Tensor,
        layout: &BatchLayout,
    ) -> Result<Tensor, ModelError> {
        let mut xs = self.embeddings.forward(ids, positions)?;
        for layer in &self.layers {
            xs = layer.forward(&xs, layout)?;
        }
        Ok(xs)
    }

    fn check_batch(&self, batch: &[Vec<u32>]) -> Result<(), ModelError> {
        let max = self.max_tokens();
        for (i, seq) in batch.iter().enumerate() {
            if seq.is_empty() || seq.len() > max {
                return Err(ModelError::Format(format!(
                    "input {i} has {} tokens; this model takes 1 to {max}",
                    seq.len()
                )));
            }
            if let Some(&t) = seq.iter().find(|&&t| t as usize >= self.config.vocab_size) {
                return Err(ModelError::Format(format!(
                    "token {t} is outside the vocabulary ({})",
                    self.config.vocab_size
                )));
            }
        }
        Ok(())
    }

    /// Width of a sentence vector (`hidden_size`; 384 for all-MiniLM-L6-v2).
    pub fn dim(&self) -> usize {
        self.config.hidden_size
    }

    /// Longest input [`embed`](Self::embed) takes: sentence-transformers' `max_seq_length`
    /// when given, never more than the model's positions.
    pub fn max_tokens(&self) -> usize {
        let positions = self.config.max_position_embeddings;
        self.sentence
            .max_seq_length
            .map_or(positions, |m| m.min(positions))
    }

    /// A `Normalize` module is listed: the API layer should L2-normalize the vectors.
    pub fn normalize(&self) -> bool {
        self.sentence.normalize
    }

    pub fn pooling(&self) -> Pooling {
        self.sentence.pooling
    }

    /// Parameters stored in the checkpoint (BERT's unused pooler included).
    pub fn parameter_count(&self) -> u64 {
        self.parameter_count
    }

    /// `model_type` of the checkpoint: "bert".
    pub fn architecture(&self) -> &str {
        &self.config.model_type
    }

    pub fn config(&self) -> &BertConfig {
        &self.config
    }
}
