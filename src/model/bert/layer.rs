//! One encoder layer: attention, then the feed-forward block (`BertIntermediate` +
//! `BertOutput`) with its residual and LayerNorm.

use candle_core::Tensor;

use super::super::ModelError;
use super::attention::Attention;
use super::config::{Activation, BertConfig};
use super::weights::{LayerNorm, Linear, Weights};

pub(super) struct Layer {
    attention: Attention,
    intermediate: Linear,
    activation: Activation,
    output: Linear,
    norm: LayerNorm,
}

impl Layer {
    pub fn load(w: &Weights, cfg: &BertConfig, index: usize) -> Result<Self, ModelError> {
        let prefix = format!("encoder.layer.{index}");
        let (hidden, inner) = (cfg.hidden_size, cfg.intermediate_size);
        Ok(Self {
            attention: Attention::load(w, cfg, &format!("{prefix}.attention"))?,
            intermediate: w.linear(&format!("{prefix}.intermediate.dense"), inner, hidden)?,
            activation: cfg.activation()?,
            output: w.linear(&format!("{prefix}.output.dense"), hidden, inner)?,
            norm: w.layer_norm(
                &format!("{prefix}.output.LayerNorm"),
                hidden,
                cfg.layer_norm_eps,
            )?,
        })
    }

    /// `xs`: `[b_sz * seq_len, hidden]` → same shape.
    pub fn forward(
        &self,
        xs: &Tensor,
        mask: &Tensor,
        b_sz: usize,
        seq_len: usize,
    ) -> Result<Tensor, ModelError> {
        let xs = self.attention.forward(xs, mask, b_sz, seq_len)?;
        let h = self.intermediate.forward(&xs)?;
        let h = match self.activation {
            Activation::Gelu => h.gelu_erf()?,
            Activation::GeluTanh => h.gelu()?,
            Activation::Relu => h.relu()?,
        };
        let out = self.output.forward(&h)?;
        self.norm.forward(&(out + xs)?)
    }
}
