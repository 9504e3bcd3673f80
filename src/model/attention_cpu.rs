//! CPU attention kernel: one query row at a time, over exactly the keys that row may see.
//!
//! Why not matmul + mask: gemm picks its blocking from the matrix shapes, so a row's
//! scores round differently when it is computed in a 200-token prefill, in a 5-token
//! chunk or alone in a decode step. Those last-bit differences are not harmless here: the
//! next layers quantize activations to int8 (see `cpu_layout`), a one-ulp change can flip
//! a rounding step, and on SmolLM2 that grows to logit differences of 1–3 and different
//! greedy tokens. This kernel reduces every row in a fixed order over its own visible keys,
//! so a sequence's results do not depend on what else is in the batch or how its prompt
//! was chunked.

use candle_core::{CpuStorage, CustomOp3, Layout, Shape};
use std::sync::OnceLock;

/// Rows × heads below this many multiply-adds run on the calling thread.
const PARALLEL_WORK: usize = 1 << 16;
/// Lanes of the fixed-order dot product.
const LANES: usize = 8;

/// Attention of `n` query rows at positions `pos..pos + n` over keys at `from..pos + n`.
///
/// Inputs: `q` `[n, heads, d]` (already scaled), `k`, `v` `[kv_heads, len, d]` (any row
/// stride, e.g. a view of a larger cache). Output `[n, heads * d]`. f32 only.
pub(crate) struct CausalAttention {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub pos: usize,
    pub from: usize,
    /// Sliding window: a query at `p` sees keys `k` with `p - k < window`.
    pub window: Option<usize>,
}

/// A strided `[heads, len, d]` view into a CPU buffer.
struct Heads<'a> {
    data: &'a [f32],
    offset: usize,
    head_stride: usize,
    row_stride: usize,
}

impl<'a> Heads<'a> {
    fn new(storage: &'a CpuStorage, layout: &Layout, d: usize) -> candle_core::Result<Self> {
        let stride = layout.stride();
        if layout.dims().len() != 3 || stride[2] != 1 || layout.dims()[2] != d {
            candle_core::bail!(
                "attention: keys/values must be [kv_heads, len, d] with unit stride"
            );
        }
        Ok(Self {
            data: storage.as_slice::<f32>()?,
            offset: layout.start_offset(),
            head_stride: stride[0],
            row_stride: stride[1],
        })
    }

    fn row(&self, head: usize, j: usize, d: usize) -> &'a [f32] {
        let start = self.offset + head * self.head_stride + j * self.row_stride;
        &self.data[start..start + d]
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (a8, b8) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

impl CausalAttention {
    /// Keys `[lo, hi)` (indices into the `from`-based view) visible to query row `i`.
    fn visible(&self, i: usize) -> (usize, usize) {
        let p = self.pos + i;
        let first = match self.window {
            Some(w) => (p + 1).saturating_sub(w).max(self.from),
            None => self.from,
        };
        (first - self.from, p + 1 - self.from)
    }

    /// One (row, head): softmax(q·K) V in key order.
    fn row_head(&self, q: &[f32], k: &Heads, v: &Heads, i: usize, h: usize, out: &mut [f32]) {
        let d = self.head_dim;
        let g = h / (self.heads / self.kv_heads);
        let (lo, hi) = self.visible(i);
        let mut scores: Vec<f32> = (lo..hi).map(|j| dot(q, k.row(g, j, d))).collect();
        let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0f32;
        for s in scores.iter_mut() {
            *s = (*s - max).exp();
            sum += *s;
        }
        // Normalized probabilities at f16 precision: llama.cpp feeds them to its f16 V matmul.
        for s in scores.iter_mut() {
            *s = half_round(*s / sum);
        }
        out.fill(0.0);
        for (j, p) in (lo..hi).zip(&scores) {
            for (o, x) in out.iter_mut().zip(v.row(g, j, d)) {
                *o += p * x;
            }
        }
    }
}

impl CustomOp3 for CausalAttention {
    fn name(&self) -> &'static str {
        "rollama-causal-attention"
    }

    fn cpu_fwd(
        &self,
        q_s: &CpuStorage,
        q_l: &Layout,
        k_s: &CpuStorage,
        k_l: &Layout,
        v_s: &CpuStorage,
        v_l: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (d, heads) = (self.head_dim, self.heads);
        let Some((q_start, q_end)) = q_l.contiguous_offsets() else {
            candle_core::bail!("attention: queries must be contiguous");
        };
        let q = &q_s.as_slice::<f32>()?[q_start..q_end];
        let n = q.len() / (heads * d);
        let (k, v) = (Heads::new(k_s, k_l, d)?, Heads::new(v_s, v_l, d)?);
        if n == 0 || k_l.dims()[1] < self.visible(n - 1).1 || self.kv_heads == 0 {
            candle_core::bail!("attention: {n} queries do not fit {:?} keys", k_l.dims());
        }

        let item = |idx: usize, out: &mut [f32]| {
            let (i, h) = (idx / heads, idx % heads);
            let q_row = &q[(i * heads + h) * d..(i * heads + h + 1) * d];
            self.row_head(q_row, &k, &v, i, h, out);
        };
        let items = n * heads;
        let work = items * (self.pos + n - self.from) * d;
        let mut dst = vec![0f32; items * d];
        if work < PARALLEL_WORK {
            for (idx, out) in dst.chunks_exact_mut(d).enumerate() {
                item(idx, out);
            }
        } else {
            // Each item fills its own slot; the pool hands out ranges of items.
            let slots: Vec<OnceLock<Vec<f32>>> = (0..items).map(|_| OnceLock::new()).collect();
            candle_core::utils::barrier_pool().execute_chunked(items, |range| {
                for idx in range {
                    let mut out = vec![0f32; d];
                    item(idx, &mut out);
                    let _ = slots[idx].set(out);
                }
            });
            for (slot, out) in slots.iter().zip(dst.chunks_exact_mut(d)) {
                if let Some(row) = slot.get() {
                    out.copy_from_slice(row);
                }
            }
        }
        Ok((CpuStorage::F32(dst), Shape::from((n, heads * d))))
    }
}

/// f32 rounded to f16 precision (to nearest, ties to even) for values in f16's normal
/// range, which is all that matters for probabilities that are summed.
fn half_round(x: f32) -> f32 {
    let bits = x.to_bits();
    let lsb = (bits >> 13) & 1;
    f32::from_bits(bits.wrapping_add(0x0FFF + lsb) & !0x1FFF)
}

#[cfg(test)]
mod tests {
    use super::half_round;

    #[test]
    fn rounds_like_f16() {
        for x in [0.1f32, 0.3333, 1.0, 0.999_9, 123.456, 1e-3] {
            let want = candle_core::Tensor::new(&[x], &candle_core::Device::Cpu)
                .and_then(|t| t.to_dtype(candle_core::DType::F16))
                .and_then(|t| t.to_dtype(candle_core::DType::F32))
                .and_then(|t| t.to_vec1::<f32>())
                .expect("convert");
            assert_eq!(half_round(x), want[0], "{x}");
        }
    }
}
