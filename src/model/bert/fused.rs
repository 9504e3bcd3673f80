//! The elementwise steps between BERT's matmuls, fused into one pass each on CPU:
//! bias + activation, bias + residual + LayerNorm, scale + mask + softmax, and bias +
//! split into heads.
//!
//! Why: done with candle's generic ops each step is two or three passes over memory, and
//! candle runs large elementwise ops on its barrier pool while its matmuls (gemm) run on
//! its rayon pool, so on a machine with as many threads as cores the two pools' spinning
//! workers compete. These run on rayon (the pool `Device::with_context` installs), in
//! row-sized tasks. They compute what the generic ops compute up to rounding (LayerNorm's
//! variance in two passes, like PyTorch; `exp`/`erf` from [`super::math`]); on other
//! devices the generic ops run instead.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::super::ModelError;
use super::config::Activation;
use super::math;
use super::weights::LayerNorm;

/// Below this many values a pass runs on the calling thread.
const PARALLEL_MIN: usize = 16 * 1024;

/// `f(row_index, row)` over `rows` of `width` values, in parallel when large.
fn for_rows(dst: &mut [f32], width: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    if dst.len() < PARALLEL_MIN {
        dst.chunks_mut(width).enumerate().for_each(|(i, r)| f(i, r));
    } else {
        let min_rows = (PARALLEL_MIN / 4 / width).max(1);
        dst.par_chunks_mut(width)
            .with_min_len(min_rows)
            .enumerate()
            .for_each(|(i, r)| f(i, r));
    }
}

fn contiguous<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> candle_core::Result<&'a [f32]> {
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&s.as_slice::<f32>()?[start..end]),
        None => candle_core::bail!("{what}: input must be contiguous"),
    }
}

fn gelu_tanh(v: f32) -> f32 {
    const SQRT_TWO_OVER_PI: f32 = 0.797_884_6;
    0.5 * v * (1.0 + (SQRT_TWO_OVER_PI * v * (1.0 + 0.044715 * v * v)).tanh())
}

/// `act(x + bias)` per row; `bias` is one row.
pub(super) struct BiasAct {
    bias: Vec<f32>,
    bias_t: Tensor,
    act: Option<Activation>,
}

impl BiasAct {
    pub fn new(bias: &Tensor, act: Option<Activation>) -> Result<Self, ModelError> {
        Ok(Self {
            bias: bias.to_vec1()?,
            bias_t: bias.clone(),
            act,
        })
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor, ModelError> {
        if xs.device().is_cpu() {
            return Ok(xs.apply_op1_no_bwd(self)?);
        }
        let xs = xs.broadcast_add(&self.bias_t)?;
        Ok(match self.act {
            None => xs,
            Some(Activation::Gelu) => xs.gelu_erf()?,
            Some(Activation::GeluTanh) => xs.gelu()?,
            Some(Activation::Relu) => xs.relu()?,
        })
    }
}

impl CustomOp1 for BiasAct {
    fn name(&self) -> &'static str {
        "bert-bias-act"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let src = contiguous(s, l, self.name())?;
        let width = self.bias.len();
        if l.dims().last() != Some(&width) {
            candle_core::bail!("bias-act: {:?} against a bias of {width}", l.dims());
        }
        let mut dst = vec![0f32; src.len()];
        // One monomorphic loop per activation, so that each inlines and vectorizes.
        match self.act {
            None => self.run(src, &mut dst, |v| v),
            Some(Activation::Gelu) => self.run(src, &mut dst, math::gelu_erf),
            Some(Activation::GeluTanh) => self.run(src, &mut dst, gelu_tanh),
            Some(Activation::Relu) => self.run(src, &mut dst, |v: f32| v.max(0.0)),
        }
        Ok((CpuStorage::F32(dst), l.shape().clone()))
    }
}

impl BiasAct {
    fn run(&self, src: &[f32], dst: &mut [f32], act: impl Fn(f32) -> f32 + Sync) {
        let width = self.bias.len();
        for_rows(dst, width, |i, row| {
            let src = &src[i * width..(i + 1) * width];
            for ((d, &x), &b) in row.iter_mut().zip(src).zip(&self.bias) {
                *d = act(x + b);
            }
        });
    }
}

/// `LayerNorm((x + bias) + residual)` per row (transformers' `BertSelfOutput`/`BertOutput`
/// after the dense matmul).
pub(super) struct ResidualNorm {
    bias: Vec<f32>,
    gamma: Vec<f32>,
    beta: Vec<f32>,
    eps: f32,
    /// The same as tensors, for other devices.
    tensors: [Tensor; 3],
}

impl ResidualNorm {
    /// `bias`: the dense layer's; then the LayerNorm's parameters.
    pub fn new(bias: &Tensor, norm: &LayerNorm) -> Result<Self, ModelError> {
        Ok(Self {
            bias: bias.to_vec1()?,
            gamma: norm.weight.to_vec1()?,
            beta: norm.bias.to_vec1()?,
            eps: norm.eps,
            tensors: [bias.clone(), norm.weight.clone(), norm.bias.clone()],
        })
    }

    pub fn forward(&self, xs: &Tensor, residual: &Tensor) -> Result<Tensor, ModelError> {
        if xs.device().is_cpu() {
            return Ok(xs.apply_op2_no_bwd(residual, self)?);
        }
        let [bias, gamma, beta] = &self.tensors;
        let xs = (xs.broadcast_add(bias)? + residual)?;
        Ok(candle_nn::ops::layer_norm(&xs, gamma, beta, self.eps)?)
    }
}

impl CustomOp2 for ResidualNorm {
    fn name(&self) -> &'static str {
        "bert-residual-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let xs = contiguous(s1, l1, self.name())?;
        let residual = contiguous(s2, l2, self.name())?;
        let width = self.bias.len();
        if l1.dims() != l2.dims() || l1.dims().last() != Some(&width) {
            candle_core::bail!("residual-norm: {:?} + {:?}", l1.dims(), l2.dims());
        }
        let mut dst = vec![0f32; xs.len()];
        for_rows(&mut dst, width, |i, row| {
            let range = i * width..(i + 1) * width;
            for ((d, &x), (&b, &r)) in row
                .iter_mut()
                .zip(&xs[range.clone()])
                .zip(self.bias.iter().zip(&residual[range]))
            {
                *d = (x + b) + r;
            }
            let mean = row.iter().sum::<f32>() / width as f32;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / width as f32;
            let inv_std = 1.0 / (var + self.eps).sqrt();
            for ((d, &g), &b) in row.iter_mut().zip(&self.gamma).zip(&self.beta) {
                *d = (*d - mean) * inv_std * g + b;
            }
        });
        Ok((CpuStorage::F32(dst), l1.shape().clone()))
    }
}

/// `softmax(scores · scale + mask)` over the last dimension. `scores`:
/// `[b_sz, heads, seq_len, seq_len]`; `mask`: `[b_sz, 1, 1, seq_len]`, 0 or −∞.
pub(super) struct MaskedSoftmax {
    pub scale: f32,
}

impl MaskedSoftmax {
    pub fn forward(&self, scores: &Tensor, mask: &Tensor) -> Result<Tensor, ModelError> {
        if scores.device().is_cpu() {
            return Ok(scores.apply_op2_no_bwd(mask, self)?);
        }
        let scores = (scores * f64::from(self.scale))?.broadcast_add(mask)?;
        Ok(candle_nn::ops::softmax_last_dim(&scores)?)
    }
}

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "bert-masked-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let scores = contiguous(s1, l1, self.name())?;
        let mask = contiguous(s2, l2, self.name())?;
        let &[b_sz, heads, rows, seq_len] = l1.dims() else {
            candle_core::bail!("masked softmax: scores {:?}", l1.dims());
        };
        if mask.len() != b_sz * seq_len {
            candle_core::bail!("masked softmax: mask {:?}", l2.dims());
        }
        let per_batch = heads * rows;
        let mut dst = vec![0f32; scores.len()];
        for_rows(&mut dst, seq_len, |i, row| {
            let mask = &mask[(i / per_batch) * seq_len..][..seq_len];
            let src = &scores[i * seq_len..(i + 1) * seq_len];
            let mut max = f32::NEG_INFINITY;
            for ((d, &s), &m) in row.iter_mut().zip(src).zip(mask) {
                *d = s * self.scale + m;
                max = max.max(*d);
            }
            let mut sum = 0f32;
            for d in row.iter_mut() {
                *d = math::exp(*d - max);
                sum += *d;
            }
            let inv = 1.0 / sum;
            row.iter_mut().for_each(|d| *d *= inv);
        });
        Ok((CpuStorage::F32(dst), l1.shape().clone()))
    }
}

/// The fused query/key/value projection's output plus its bias, split into heads:
/// `[b_sz * seq_len, 3 * heads * head_dim]` → `[3, b_sz, heads, seq_len, head_dim]`.
pub(super) struct SplitHeads<'a> {
    pub bias: &'a [f32],
    pub bias_t: &'a Tensor,
    pub b_sz: usize,
    pub seq_len: usize,
    pub heads: usize,
    pub head_dim: usize,
}

impl SplitHeads<'_> {
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor, ModelError> {
        if xs.device().is_cpu() {
            return Ok(xs.apply_op1_no_bwd(self)?);
        }
        let (b_sz, seq_len, heads, head_dim) = (self.b_sz, self.seq_len, self.heads, self.head_dim);
        Ok(xs
            .broadcast_add(self.bias_t)?
            .reshape((b_sz, seq_len, 3, heads, head_dim))?
            .permute((2, 0, 3, 1, 4))?
            .contiguous()?)
    }
}

impl CustomOp1 for SplitHeads<'_> {
    fn name(&self) -> &'static str {
        "bert-split-heads"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let src = contiguous(s, l, self.name())?;
        let (b_sz, seq_len, heads, head_dim) = (self.b_sz, self.seq_len, self.heads, self.head_dim);
        let width = 3 * heads * head_dim;
        if l.dims() != [b_sz * seq_len, width] || self.bias.len() != width {
            candle_core::bail!("split heads: {:?}", l.dims());
        }
        let mut dst = vec![0f32; src.len()];
        // One task per (part, sequence, head): a `[seq_len, head_dim]` block of the output.
        for_rows(&mut dst, seq_len * head_dim, |block, out| {
            let (part, rest) = (block / (b_sz * heads), block % (b_sz * heads));
            let (b, h) = (rest / heads, rest % heads);
            let col = part * heads * head_dim + h * head_dim;
            let bias = &self.bias[col..col + head_dim];
            for (t, out) in out.chunks_exact_mut(head_dim).enumerate() {
                let src = &src[(b * seq_len + t) * width + col..][..head_dim];
                for ((o, &x), &b) in out.iter_mut().zip(src).zip(bias) {
                    *o = x + b;
                }
            }
        });
        Ok((
            CpuStorage::F32(dst),
            Shape::from((3, b_sz, heads, seq_len, head_dim)),
        ))
    }
}
