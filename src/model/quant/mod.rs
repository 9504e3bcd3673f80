//! Our CPU matrix kernels for quantized weights.
//!
//! candle 0.11's quantized CPU path multiplies one weight row by one activation row at a
//! time (no tiling, so a prefill is a series of matrix-vector products) and has only scalar
//! code for Q4_1/Q5_0/Q5_1. Here each supported GGUF weight is repacked once at load, its
//! rows interleaved in groups of 16 so one SIMD lane is one weight row ([`pack`]);
//! activations are quantized once per matmul, on the pool, the way llama.cpp quantizes them
//! for that type ([`activations`]); and tiles of 16 weight rows × up to 8 activation rows
//! ([`tile`]) are multiplied with AVX-512 VNNI or AVX2/FMA when the CPU has them (detected at
//! run time, [`x86`]) or in plain Rust otherwise ([`portable`], bit-for-bit the same
//! numbers). Groups of output rows are split across candle's persistent worker pool.
//!
//! Every output value is computed by the same sequence of operations whatever the batch
//! around it, so a sequence's logits do not depend on what else shares the step.

mod activations;
mod matmul;
mod out;
mod pack;
mod portable;
mod tile;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::cell::Cell;

use candle_core::{CpuStorage, CustomOp1, Layout, Shape};

pub use matmul::Kernel;
pub(crate) use pack::{supports, PackedWeight};

thread_local! {
    /// Threads a matmul started on this thread may use (0: the whole pool).
    static THREADS: Cell<usize> = const { Cell::new(0) };
}

/// Runs `f` with matmuls limited to `threads` threads (0: all of candle's pool).
pub(crate) fn with_threads<R>(threads: usize, f: impl FnOnce() -> R) -> R {
    let before = THREADS.with(|t| t.replace(threads));
    let out = f();
    THREADS.with(|t| t.set(before));
    out
}

/// Threads the CPU kernels use by default: candle's pool plus the calling thread
/// (physical cores, or `CANDLE_NUM_THREADS`/`RAYON_NUM_THREADS`).
pub fn default_threads() -> usize {
    candle_core::utils::barrier_pool().n_workers() + 1
}

/// Sizes candle's CPU pools to `threads`; only effective before the first model loads,
/// which is when candle creates them. Two pools: the barrier pool (`CANDLE_NUM_THREADS`)
/// runs our quantized kernels and candle's elementwise ops; candle's rayon pool and its f32
/// matmuls (gemm, the BERT embedder's whole cost) read `RAYON_NUM_THREADS`, else they would
/// use every physical core whatever `--threads` says.
pub fn set_pool_threads(threads: usize) {
    if threads > 0 {
        std::env::set_var("CANDLE_NUM_THREADS", threads.to_string());
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    }
}

fn current_threads() -> usize {
    match THREADS.with(Cell::get) {
        0 => default_threads(),
        n => n,
    }
}

/// `x · Wᵀ` as a candle op: `[..., cols]` f32 → `[..., rows]` f32, CPU only.
pub(crate) struct PackedMatMul<'a>(pub &'a PackedWeight);

impl CustomOp1 for PackedMatMul<'_> {
    fn name(&self) -> &'static str {
        "rollama-packed-matmul"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let w = self.0;
        let Some((start, end)) = l.contiguous_offsets() else {
            candle_core::bail!("packed matmul: input must be contiguous");
        };
        let dims = l.dims();
        if dims.last() != Some(&w.cols) {
            candle_core::bail!(
                "packed matmul: input {dims:?} against weight [{}, {}]",
                w.rows,
                w.cols
            );
        }
        let x = &s.as_slice::<f32>()?[start..end];
        let m = x.len() / w.cols;
        let out = matmul::matmul(w, x, m, current_threads(), Kernel::detect());
        let mut shape = dims.to_vec();
        if let Some(last) = shape.last_mut() {
            *last = w.rows;
        }
        Ok((CpuStorage::F32(out), Shape::from(shape)))
    }
}

/// Reference entry points for the property tests and kernel benchmarks.
pub mod testing {
    use candle_core::quantized::GgmlDType;

    pub use super::matmul::Kernel;

    /// Every GGUF type the kernels cover.
    pub const TYPES: [GgmlDType; 8] = [
        GgmlDType::Q4_0,
        GgmlDType::Q4_1,
        GgmlDType::Q5_0,
        GgmlDType::Q5_1,
        GgmlDType::Q8_0,
        GgmlDType::Q4K,
        GgmlDType::Q5K,
        GgmlDType::Q6K,
    ];

    /// A GGUF-quantized matrix repacked for the kernels.
    pub struct Packed(super::PackedWeight);

    impl Packed {
        /// `data`: GGUF blocks of a `[rows, cols]` matrix of `dtype`.
        pub fn new(
            dtype: GgmlDType,
            data: &[u8],
            rows: usize,
            cols: usize,
        ) -> Result<Self, String> {
            super::PackedWeight::from_gguf(dtype, data, rows, cols)?
                .map(Self)
                .ok_or_else(|| format!("{dtype:?} is not covered by the kernels"))
        }

        /// `x` (`m × cols`) times the matrix transposed → `m × rows`.
        pub fn matmul(&self, x: &[f32], m: usize, threads: usize, kernel: Kernel) -> Vec<f32> {
            super::matmul::matmul(&self.0, x, m, threads, kernel)
        }

        pub fn size_in_bytes(&self) -> usize {
            self.0.size_in_bytes()
        }
    }
}
