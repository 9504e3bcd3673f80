//! One decoder block (`blk.N.*`): pre-norm attention and MLP with residuals, plus
//! Gemma's extra norms on each branch output.

use candle_core::Tensor;

use super::attention::{Attention, RopeKind, Span};
use super::config::ModelConfig;
use super::feed_forward::FeedForward;
use super::rope::{Rope, RopeTables};
use super::weights::{RmsNorm, WeightReader};
use super::{ModelError, SeqBatch};

pub(crate) struct Block {
    attn_norm: RmsNorm,
    attention: Attention,
    /// Gemma 3 normalizes the attention output before the residual add.
    post_attention_norm: Option<RmsNorm>,
    ffn_norm: RmsNorm,
    feed_forward: FeedForward,
    /// Gemma 3 normalizes the MLP output before the residual add.
    post_ffw_norm: Option<RmsNorm>,
}

/// The rope flavours of one pass, with their tables for this batch's positions.
pub(crate) struct Ropes<'a> {
    pub global: (&'a Rope, RopeTables),
    /// Absent when the model has no sliding-window layers.
    pub local: Option<(&'a Rope, RopeTables)>,
}

impl Block {
    pub fn load(w: &mut WeightReader, cfg: &ModelConfig, layer: usize) -> Result<Self, ModelError> {
        let p = format!("blk.{layer}");
        let (dim, eps) = (cfg.embedding_length, cfg.rms_eps);
        Ok(Self {
            attn_norm: w.rms_norm(&format!("{p}.attn_norm.weight"), dim, eps)?,
            attention: Attention::load(w, cfg, layer)?,
            post_attention_norm: w.rms_norm_opt(
                &format!("{p}.post_attention_norm.weight"),
                dim,
                eps,
            )?,
            ffn_norm: w.rms_norm(&format!("{p}.ffn_norm.weight"), dim, eps)?,
            feed_forward: FeedForward::load(w, cfg, layer)?,
            post_ffw_norm: w.rms_norm_opt(&format!("{p}.post_ffw_norm.weight"), dim, eps)?,
        })
    }

    /// `x`: `[tokens, hidden]` → `[tokens, hidden]`.
    pub fn forward(
        &self,
        x: &Tensor,
        spans: &[Span],
        batch: &mut [SeqBatch<'_>],
        ropes: &Ropes,
    ) -> Result<Tensor, ModelError> {
        let (rope, tables) = match (self.attention.rope, &ropes.local) {
            (RopeKind::Local, Some((rope, tables))) => (*rope, tables),
            _ => (ropes.global.0, &ropes.global.1),
        };
        let h = self.attn_norm.forward(x)?;
        let h = self.attention.forward(&h, spans, batch, rope, tables)?;
        let h = match &self.post_attention_norm {
            Some(norm) => norm.forward(&h)?,
            None => h,
        };
        let x = (x + h)?;
        let h = self.feed_forward.forward(&self.ffn_norm.forward(&x)?)?;
        let h = match &self.post_ffw_norm {
            Some(norm) => norm.forward(&h)?,
            None => h,
        };
        Ok((x + h)?)
    }
}
