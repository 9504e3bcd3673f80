//! [`Embedder`]: a BERT encoder with sentence-transformers pooling, for embedding models
//! stored as Hugging Face / sentence-transformers directories (all-MiniLM-L6-v2 and kin).
//!
//! Never imports tokio or axum. The caller tokenizes (with `[CLS] … [SEP]`, truncated to
//! [`Embedder::max_tokens`]) and L2-normalizes when [`Embedder::normalize`] says so.
//!
//! One pass: the batch is padded to its longest input → embeddings → encoder layers, each
//! with every token's projections in one matmul per weight and attention masked to each
//! sequence's own tokens → pooling over each sequence's real tokens. All f32. On CPU the
//! steps between matmuls are fused ([`fused`]) and run on the matmuls' own thread pool.

mod attention;
mod config;
mod embeddings;
mod fused;
mod layer;
mod math;
mod pooling;
mod sentence;
mod weights;

use std::path::Path;

use candle_core::{Device, Tensor};

pub use config::BertConfig;
pub use pooling::Pooling;
pub use sentence::SentenceConfig;

use super::ModelError;
use embeddings::Embeddings;
use layer::Layer;
use weights::Weights;

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

    /// Sentence vectors of `batch`, in order, in one forward pass (inputs padded to the
    /// longest; the padding changes no vector). Each input is token ids that already
    /// include `[CLS]`/`[SEP]`, 1 to [`max_tokens`](Self::max_tokens) of them. Pooled,
    /// NOT L2-normalized.
    pub fn embed(&self, batch: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, ModelError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.check_batch(batch)?;
        let seq_len = batch.iter().map(Vec::len).max().unwrap_or(0);
        let b_sz = batch.len();
        let dim = self.dim();

        let mut ids = vec![0u32; b_sz * seq_len];
        let mut mask = vec![f32::NEG_INFINITY; b_sz * seq_len];
        for (i, seq) in batch.iter().enumerate() {
            let row = i * seq_len;
            ids[row..row + seq.len()].copy_from_slice(seq);
            mask[row..row + seq.len()].fill(0.0);
        }
        let ids = Tensor::from_vec(ids, (b_sz, seq_len), &self.device)?;
        let mask = Tensor::from_vec(mask, (b_sz, 1, 1, seq_len), &self.device)?;

        // On CPU, candle's thread pool (the one matmuls fan out on) stays installed for the
        // whole pass instead of being entered op by op.
        let hidden = self
            .device
            .with_context(|| self.encode(&ids, &mask, b_sz, seq_len))?;
        let hidden = hidden.flatten_all()?.to_vec1::<f32>()?;
        Ok(batch
            .iter()
            .enumerate()
            .map(|(i, seq)| {
                let start = i * seq_len * dim;
                let rows = &hidden[start..start + seq.len() * dim];
                self.sentence.pooling.pool(rows, dim)
            })
            .collect())
    }

    /// Token vectors after the last layer: `[b_sz * seq_len, hidden]`.
    fn encode(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        b_sz: usize,
        seq_len: usize,
    ) -> Result<Tensor, ModelError> {
        let mut xs = self.embeddings.forward(ids)?;
        for layer in &self.layers {
            xs = layer.forward(&xs, mask, b_sz, seq_len)?;
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
