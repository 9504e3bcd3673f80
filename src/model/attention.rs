//! Self-attention over packed tokens: projections once for the whole batch, then scores
//! per sequence against that sequence's own cache.

use candle_core::{DType, Device, Tensor};

use super::attention_cpu::CausalAttention;
use super::config::ModelConfig;
use super::kv_cache::f16_precision;
use super::rope::{Rope, RopeTables};
use super::weights::{Linear, Projections, RmsNorm, WeightReader};
use super::{ModelError, SeqBatch};

/// Where one sequence's tokens sit in the packed batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    /// First row of the sequence in the packed `[tokens, ...]` tensors.
    pub start: usize,
    /// Number of new tokens.
    pub len: usize,
    /// Position of the first new token (the cache length before this pass).
    pub pos: usize,
}

/// Which rope a layer uses: Gemma 3's sliding-window layers have their own base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RopeKind {
    Global,
    Local,
}

/// `blk.N.attn_*`: the attention half of a decoder block.
pub(crate) struct Attention {
    /// `attn_q`, `attn_k`, `attn_v` (or Phi-3's fused `attn_qkv`).
    qkv: Projections,
    attn_output: Linear,
    /// Qwen3 and Gemma 3 normalize each head of Q and K before RoPE.
    attn_q_norm: Option<RmsNorm>,
    attn_k_norm: Option<RmsNorm>,
    layer: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    scale: f64,
    /// Keys further back than this many positions are invisible (sliding-window layers).
    window: Option<usize>,
    pub rope: RopeKind,
}

impl Attention {
    pub fn load(w: &mut WeightReader, cfg: &ModelConfig, layer: usize) -> Result<Self, ModelError> {
        let p = format!("blk.{layer}");
        let hidden = cfg.embedding_length;
        let q_dim = cfg.head_count * cfg.head_dim;
        let kv_dim = cfg.head_count_kv * cfg.head_dim;
        let local = cfg.layer_is_local.get(layer).copied().unwrap_or(false);
        let qkv = match w.contains(&format!("{p}.attn_qkv.weight")) {
            // Phi-3: one weight, Q rows then K then V.
            true => Projections::fused(
                w.linear(&format!("{p}.attn_qkv"), q_dim + 2 * kv_dim, hidden)?,
                vec![q_dim, kv_dim, kv_dim],
            )?,
            false => Projections::new(vec![
                w.linear(&format!("{p}.attn_q"), q_dim, hidden)?,
                w.linear(&format!("{p}.attn_k"), kv_dim, hidden)?,
                w.linear(&format!("{p}.attn_v"), kv_dim, hidden)?,
            ])?,
        };
        Ok(Self {
            qkv,
            attn_output: w.linear(&format!("{p}.attn_output"), hidden, q_dim)?,
            attn_q_norm: w.rms_norm_opt(
                &format!("{p}.attn_q_norm.weight"),
                cfg.head_dim,
                cfg.rms_eps,
            )?,
            attn_k_norm: w.rms_norm_opt(
                &format!("{p}.attn_k_norm.weight"),
                cfg.head_dim,
                cfg.rms_eps,
            )?,
            layer,
            heads: cfg.head_count,
            kv_heads: cfg.head_count_kv,
            head_dim: cfg.head_dim,
            scale: cfg.attention_scale,
            window: cfg.sliding_window.filter(|_| local),
            rope: if local {
                RopeKind::Local
            } else {
                RopeKind::Global
            },
        })
    }

    /// `x`: `[tokens, hidden]` for all sequences packed; appends each sequence's K/V to its
    /// cache at layer `self.layer` and returns `[tokens, hidden]`.
    pub fn forward(
        &self,
        x: &Tensor,
        spans: &[Span],
        batch: &mut [SeqBatch<'_>],
        rope: &Rope,
        tables: &RopeTables,
    ) -> Result<Tensor, ModelError> {
        let tokens = x.dim(0)?;
        let [q, k, v]: [Tensor; 3] = self
            .qkv
            .forward(x)?
            .try_into()
            .map_err(|_| ModelError::Format("attention: expected Q, K and V".into()))?;
        let q = q.reshape((tokens, self.heads, self.head_dim))?;
        let k = k.reshape((tokens, self.kv_heads, self.head_dim))?;
        let v = v.reshape((tokens, self.kv_heads, self.head_dim))?;
        let q = match &self.attn_q_norm {
            Some(norm) => norm.forward(&q)?,
            None => q,
        };
        let k = match &self.attn_k_norm {
            Some(norm) => norm.forward(&k)?,
            None => k,
        };
        let q = (rope.apply(&q, tables)? * self.scale)?;
        // Rounded once for all packed rows rather than per sequence: llama.cpp stores K and
        // V as f16 and, on CPU, multiplies K by Q converted to f16.
        let k = f16_precision(&rope.apply(&k, tables)?)?;
        let v = f16_precision(&v)?;
        let q = match uses_cpu_kernel(&q) {
            true => f16_precision(&q)?,
            false => q,
        };

        let mut outputs = Vec::with_capacity(spans.len());
        for (span, seq) in spans.iter().zip(batch.iter_mut()) {
            let q = q.narrow(0, span.start, span.len)?;
            let k = k.narrow(0, span.start, span.len)?.transpose(0, 1)?;
            let v = v.narrow(0, span.start, span.len)?.transpose(0, 1)?;
            outputs.push(self.attend(&q, &k, &v, *span, seq)?);
        }
        let out = Tensor::cat(&outputs, 0)?;
        Ok(self.attn_output.forward(&out)?)
    }

    /// One sequence: `q` `[n, heads, d]`, new `k`/`v` `[kv_heads, n, d]` → `[n, heads * d]`.
    ///
    /// CPU runs [`CausalAttention`] (batch invariant); other devices matmul + mask.
    fn attend(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        span: Span,
        seq: &mut SeqBatch<'_>,
    ) -> Result<Tensor, ModelError> {
        let n = span.len;
        // The oldest key any of these queries may see: nothing before it is read at all.
        let from = match self.window {
            Some(w) => (span.pos + 1).saturating_sub(w),
            None => 0,
        };
        let (keys, values) = seq.cache.append(self.layer, k, v, from)?;
        if uses_cpu_kernel(q) {
            let op = CausalAttention {
                heads: self.heads,
                kv_heads: self.kv_heads,
                head_dim: self.head_dim,
                pos: span.pos,
                from,
                window: self.window,
            };
            return Ok(q.contiguous()?.apply_op3_no_bwd(&keys, &values, &op)?);
        }
        let kv_len = keys.dim(1)?;

        // Query heads that share a KV head become extra rows of one matmul: no repeat_kv copy.
        // llama.cpp (and HF's repeat_kv) map query head h to KV head h / group.
        let group = self.heads / self.kv_heads;
        let q = q
            .reshape((n, self.kv_heads, group, self.head_dim))?
            .permute((1, 2, 0, 3))?
            .contiguous()?
            .reshape((self.kv_heads, group * n, self.head_dim))?;
        let scores = q.matmul(&keys.t()?)?.to_dtype(DType::F32)?;
        let scores = match n {
            // A single query sees every key in [from, pos]: no mask needed.
            1 => scores,
            _ => {
                let mask = self.mask(span, from, kv_len, q.device())?;
                scores
                    .reshape((self.kv_heads, group, n, kv_len))?
                    .broadcast_add(&mask)?
                    .reshape((self.kv_heads, group * n, kv_len))?
            }
        };
        let probs = candle_nn::ops::softmax_last_dim(&scores)?.to_dtype(values.dtype())?;
        let out = probs.matmul(&values)?;
        Ok(out
            .reshape((self.kv_heads, group, n, self.head_dim))?
            .permute((2, 0, 1, 3))?
            .contiguous()?
            .reshape((n, self.heads * self.head_dim))?)
    }

    /// Additive mask `[n, kv_len]` for queries at `pos..pos+n` over keys at `from..`:
    /// causal, and on sliding-window layers llama.cpp's rule `q - k < window`.
    fn mask(
        &self,
        span: Span,
        from: usize,
        kv_len: usize,
        device: &Device,
    ) -> Result<Tensor, ModelError> {
        let mut mask = Vec::with_capacity(span.len * kv_len);
        for i in 0..span.len {
            let q = span.pos + i;
            for j in 0..kv_len {
                let key = from + j;
                let visible = key <= q && self.window.is_none_or(|w| q - key < w);
                mask.push(if visible { 0.0 } else { f32::NEG_INFINITY });
            }
        }
        Ok(Tensor::from_vec(mask, (span.len, kv_len), device)?)
    }
}

/// f32 attention on CPU runs our batch-invariant [`CausalAttention`] kernel.
fn uses_cpu_kernel(q: &Tensor) -> bool {
    q.device().is_cpu() && q.dtype() == DType::F32
}
