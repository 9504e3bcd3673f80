//! One encoder layer: attention, then the feed-forward block (`BertIntermediate` +
//! `BertOutput`) with its residual and LayerNorm.

use candle_core::Tensor;

use super::super::ModelError;
use super::attention::Attention;
use super::config::BertConfig;
use super::fused::{BiasAct, ResidualNorm};
use super::weights::{Linear, Weights};
use super::BatchLayout;

pub(super) struct Layer {
    attention: Attention,
    intermediate: Linear,
    /// `intermediate`'s bias, then the activation (exact erf GELU for "gelu").
    activation: BiasAct,
    output: Linear,
    /// `output`'s bias, the residual, then `output.LayerNorm`.
    output_norm: ResidualNorm,
}

impl Layer {
    pub fn load(w: &Weights, cfg: &BertConfig, index: usize) -> Result<Self, ModelError> {
        let prefix = format!("encoder.layer.{index}");
        let (hidden, inner) = (cfg.hidden_size, cfg.intermediate_size);
        let intermediate = w.linear(&format!("{prefix}.intermediate.dense"), inner, hidden)?;
        let output = w.linear(&format!("{prefix}.output.dense"), hidden, inner)?;
        let norm = w.layer_norm(
            &format!("{prefix}.output.LayerNorm"),
            hidden,
            cfg.layer_norm_eps,
        )?;
        Ok(Self {
            attention: Attention::load(w, cfg, &format!("{prefix}.attention"))?,
            activation: BiasAct::new(&intermediate.bias, Some(cfg.activation()?))?,
            intermediate,
            output_norm: ResidualNorm::new(&output.bias, &norm)?,
            output,
        })
    }

    /// `xs`: `[tokens, hidden]` → same shape.
    pub fn forward(&self, xs: &Tensor, layout: &BatchLayout) -> Result<Tensor, ModelError> {
        let xs = self.attention.forward(xs, layout)?;
        let h = self.activation.forward(&self.intermediate.matmul(&xs)?)?;
        self.output_norm.forward(&self.output.matmul(&h)?, &xs)
    }
}
