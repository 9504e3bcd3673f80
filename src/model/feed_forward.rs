//! The gated MLP of a decoder block: `down(act(gate(x)) * up(x))`.

use candle_core::Tensor;

use super::config::{Family, ModelConfig};
use super::gated::{gated, Gate};
use super::weights::{Linear, Projections, WeightReader};
use super::ModelError;

/// `blk.N.ffn_{gate,up,down}` (Phi-3: `ffn_up` holds gate and up).
pub(crate) struct FeedForward {
    /// `ffn_gate`, `ffn_up`.
    gate_up: Projections,
    ffn_down: Linear,
    /// Gemma uses tanh-approximated GELU (llama.cpp `LLM_FFN_GELU`); the rest SiLU.
    /// candle-transformers' quantized Gemma 3 gets this wrong.
    activation: Gate,
}

impl FeedForward {
    pub fn load(w: &mut WeightReader, cfg: &ModelConfig, layer: usize) -> Result<Self, ModelError> {
        let p = format!("blk.{layer}");
        let (hidden, ff) = (cfg.embedding_length, cfg.feed_forward_length);
        let gate_up = match cfg.family {
            // Phi-3 fuses both into `ffn_up`: gate rows first (HF `gate_up_proj`).
            Family::Phi3 => Projections::fused(
                w.linear(&format!("{p}.ffn_up"), 2 * ff, hidden)?,
                vec![ff, ff],
            )?,
            _ => Projections::new(vec![
                w.linear(&format!("{p}.ffn_gate"), ff, hidden)?,
                w.linear(&format!("{p}.ffn_up"), ff, hidden)?,
            ])?,
        };
        Ok(Self {
            gate_up,
            ffn_down: w.linear(&format!("{p}.ffn_down"), hidden, ff)?,
            activation: match cfg.family {
                Family::Gemma3 => Gate::GeluTanh,
                Family::Llama | Family::Qwen2 | Family::Qwen3 | Family::Phi3 => Gate::Silu,
            },
        })
    }

    /// `x`: `[tokens, hidden]` → `[tokens, hidden]`.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut parts = self.gate_up.forward(x)?.into_iter();
        let (Some(gate), Some(up)) = (parts.next(), parts.next()) else {
            candle_core::bail!("feed-forward: expected gate and up");
        };
        self.ffn_down.forward(&gated(&gate, &up, self.activation)?)
    }
}
