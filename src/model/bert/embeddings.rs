//! BERT's input layer: word + token-type + position embeddings, then LayerNorm.

use candle_core::Tensor;

use super::super::ModelError;
use super::config::BertConfig;
use super::weights::{LayerNorm, Weights};

pub(super) struct Embeddings {
    /// `[vocab, hidden]`.
    word: Tensor,
    /// `[max_positions, hidden]`; a row's positions are 0, 1, 2… whatever the padding.
    position: Tensor,
    /// Row 0 of `token_type_embeddings`: every token is segment A.
    token_type: Tensor,
    norm: LayerNorm,
}

impl Embeddings {
    pub fn load(w: &Weights, cfg: &BertConfig) -> Result<Self, ModelError> {
        let hidden = cfg.hidden_size;
        let token_types = w.get(
            "embeddings.token_type_embeddings.weight",
            &[cfg.type_vocab_size, hidden],
        )?;
        Ok(Self {
            word: w.get(
                "embeddings.word_embeddings.weight",
                &[cfg.vocab_size, hidden],
            )?,
            position: w.get(
                "embeddings.position_embeddings.weight",
                &[cfg.max_position_embeddings, hidden],
            )?,
            token_type: token_types.get(0)?,
            norm: w.layer_norm("embeddings.LayerNorm", hidden, cfg.layer_norm_eps)?,
        })
    }

    /// `ids`, `positions`: `[tokens]` u32 → `[tokens, hidden]`.
    pub fn forward(&self, ids: &Tensor, positions: &Tensor) -> Result<Tensor, ModelError> {
        // transformers' order: (word + token type) + position.
        let xs = self
            .word
            .index_select(ids, 0)?
            .broadcast_add(&self.token_type)?
            .add(&self.position.index_select(positions, 0)?)?;
        self.norm.forward(&xs)
    }
}
