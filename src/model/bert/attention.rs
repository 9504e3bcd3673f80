//! BERT self-attention with its output projection, residual and LayerNorm
//! (`BertSelfAttention` + `BertSelfOutput` in `transformers`).
//!
//! Query, key and value are one matmul over stacked weights. Rows of a padded batch
//! attend only to their sequence's real tokens: the mask adds −∞ to padded keys, whose
//! softmax weights are then exactly 0, so padding changes no real token's output.

use candle_core::Tensor;

use super::super::ModelError;
use super::config::BertConfig;
use super::weights::{LayerNorm, Linear, Weights};

pub(super) struct Attention {
    /// `query`, `key`, `value` stacked: `[3 * hidden, hidden]`.
    qkv: Linear,
    output: Linear,
    norm: LayerNorm,
    heads: usize,
    head_dim: usize,
}

impl Attention {
    pub fn load(w: &Weights, cfg: &BertConfig, prefix: &str) -> Result<Self, ModelError> {
        let hidden = cfg.hidden_size;
        let part = |name: &str| w.linear(&format!("{prefix}.self.{name}"), hidden, hidden);
        Ok(Self {
            qkv: Linear::stack(&[part("query")?, part("key")?, part("value")?])?,
            output: w.linear(&format!("{prefix}.output.dense"), hidden, hidden)?,
            norm: w.layer_norm(
                &format!("{prefix}.output.LayerNorm"),
                hidden,
                cfg.layer_norm_eps,
            )?,
            heads: cfg.num_attention_heads,
            head_dim: cfg.head_dim(),
        })
    }

    /// `xs`: `[b_sz * seq_len, hidden]`; `mask`: `[b_sz, 1, 1, seq_len]`, 0 or −∞.
    pub fn forward(
        &self,
        xs: &Tensor,
        mask: &Tensor,
        b_sz: usize,
        seq_len: usize,
    ) -> Result<Tensor, ModelError> {
        let (heads, head_dim) = (self.heads, self.head_dim);
        let qkv = self
            .qkv
            .forward(xs)?
            .reshape((b_sz, seq_len, 3, heads, head_dim))?
            .permute((2, 0, 3, 1, 4))?;
        // Each `[b_sz, heads, seq_len, head_dim]`.
        let q = qkv.get(0)?.contiguous()?;
        let k = qkv.get(1)?.contiguous()?;
        let v = qkv.get(2)?.contiguous()?;

        let scale = 1.0 / (head_dim as f64).sqrt();
        let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(mask)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b_sz * seq_len, heads * head_dim))?;
        let out = self.output.forward(&context)?;
        self.norm.forward(&(out + xs)?)
    }
}
