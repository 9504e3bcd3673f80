//! BERT self-attention with its output projection, residual and LayerNorm
//! (`BertSelfAttention` + `BertSelfOutput` in `transformers`).
//!
//! Query, key and value are one matmul over stacked weights, over the packed tokens; they
//! are then laid out padded for the attention matmuls. Rows of the padded batch
//! attend only to their sequence's real tokens: the mask adds −∞ to padded keys, whose
//! softmax weights are then exactly 0, so padding changes no real token's output.

use candle_core::Tensor;

use super::super::ModelError;
use super::config::BertConfig;
use super::fused::{MaskedSoftmax, ResidualNorm, SplitHeads};
use super::weights::{Linear, Weights};
use super::BatchLayout;

pub(super) struct Attention {
    /// `query`, `key`, `value` stacked: `Wᵀ` is `[hidden, 3 * hidden]`.
    qkv: Linear,
    /// `qkv`'s bias on the host, for [`SplitHeads`].
    qkv_bias: Vec<f32>,
    output: Linear,
    /// `output`'s bias, the residual, then `output.LayerNorm`.
    output_norm: ResidualNorm,
    heads: usize,
    head_dim: usize,
}

impl Attention {
    pub fn load(w: &Weights, cfg: &BertConfig, prefix: &str) -> Result<Self, ModelError> {
        let hidden = cfg.hidden_size;
        let part = |name: &str| w.linear(&format!("{prefix}.self.{name}"), hidden, hidden);
        let qkv = Linear::stack(&[part("query")?, part("key")?, part("value")?])?;
        let output = w.linear(&format!("{prefix}.output.dense"), hidden, hidden)?;
        let norm = w.layer_norm(
            &format!("{prefix}.output.LayerNorm"),
            hidden,
            cfg.layer_norm_eps,
        )?;
        Ok(Self {
            qkv_bias: qkv.bias.to_vec1()?,
            qkv,
            output_norm: ResidualNorm::new(&output.bias, &norm)?,
            output,
            heads: cfg.num_attention_heads,
            head_dim: cfg.head_dim(),
        })
    }

    /// `xs`: `[tokens, hidden]`, packed → same shape.
    pub fn forward(&self, xs: &Tensor, layout: &BatchLayout) -> Result<Tensor, ModelError> {
        let (heads, head_dim) = (self.heads, self.head_dim);
        let (b_sz, seq_len) = (layout.b_sz, layout.seq_len);
        let split = SplitHeads {
            bias: &self.qkv_bias,
            bias_t: &self.qkv.bias,
            b_sz,
            seq_len,
            heads,
            head_dim,
        };
        // `[3, b_sz, heads, seq_len, head_dim]`: each part a contiguous view.
        let qkv = self.qkv.matmul(xs)?.index_select(&layout.to_padded, 0)?;
        let qkv = split.forward(&qkv)?;
        let (q, k, v) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);

        let scores = q.matmul(&k.t()?)?;
        let softmax = MaskedSoftmax {
            scale: 1.0 / (head_dim as f32).sqrt(),
        };
        let probs = softmax.forward(&scores, &layout.mask)?;
        let context = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b_sz * seq_len, heads * head_dim))?
            .index_select(&layout.to_packed, 0)?;
        self.output_norm.forward(&self.output.matmul(&context)?, xs)
    }
}
