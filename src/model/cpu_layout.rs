//! Re-encoding of weights for candle's CPU kernels (`--cpu-requantize`; by default our own
//! kernels in `quant` multiply the GGUF types directly).
//!
//! candle 0.11's fast x86 path (repacked tiles, VNNI/AMX dot products) covers only Q4_K,
//! Q6_K and Q8_0 with an input width `k` that is a multiple of 256 and an output width
//! that is a multiple of 16. Everything else falls back to per-block dot products, which
//! are scalar for Q4_1/Q5_0/Q5_1. Small models miss the fast path twice: they ship 32-wide
//! block types and their hidden sizes (576, 640) are not multiples of 256. Measured on a
//! 2-core AVX-512 machine, a 128×576×1536 matmul takes 55 ms as Q4_1, 12 ms as Q8_0 and
//! 3.5 ms as Q8_0 zero-padded to k = 768.
//!
//! This is opt-in ([`super::LoadOptions::cpu_requantize`], `--cpu-requantize`): it changes
//! the numbers (Q8_0 weights, activations quantized per 256 instead of llama.cpp's Q8_1
//! per 32), and measurably moves logits away from llama.cpp's on the same file (SmolLM2's
//! first-step logits: 0.49 apart without it, 1.09 with it). When enabled,
//! on CPU every 32-block weight becomes Q8_0 (8-bit steps, finer than the 4/5-bit source:
//! values barely move) zero-padded along `k` to a multiple of 256; the activations are
//! padded to match in [`super::weights::Linear::forward`]. Zero columns add nothing to the
//! dot products. The cost is memory: up to 8.5 bits per weight instead of 4.5–5.5.

use std::borrow::Cow;
use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QStorage, QTensor};
use candle_core::{Device, Tensor};

use super::ModelError;

/// Width multiple that the repacked kernels need along `k`.
const K_MULTIPLE: usize = 256;
/// Row multiple that the repacked kernels need along `n`.
const N_MULTIPLE: usize = 16;
/// Rows converted at a time, bounding the f32 scratch (Gemma 3's 262144-row table would
/// otherwise need ~1.5 GB transiently).
const CHUNK_ELEMS: usize = 1 << 22;

/// A weight as the device's kernels want it, and how inputs must be shaped for it.
pub(crate) struct Prepared {
    pub weight: Arc<QTensor>,
    /// Zero columns appended along `k`.
    pub pad_k: usize,
    /// Fewest input rows per matmul. candle runs a one-row Q6_K matmul through a different
    /// kernel than a multi-row one, and the two round differently; a decode step would then
    /// not reproduce the same row computed in a prefill. Padding to two rows keeps every
    /// row on the tiled kernel, so results do not depend on batch composition.
    pub min_rows: usize,
}

pub(crate) fn prepare(weight: Arc<QTensor>, requantize: bool) -> Result<Prepared, ModelError> {
    let device = weight.device();
    let dtype = weight.dtype();
    let min_rows = match device.is_cpu() && dtype == GgmlDType::Q6K {
        true => 2,
        false => 1,
    };
    let keep = |weight| {
        Ok(Prepared {
            weight,
            pad_k: 0,
            min_rows,
        })
    };
    let block32 = matches!(
        dtype,
        GgmlDType::Q4_0 | GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1 | GgmlDType::Q8_0
    );
    let scalar_kernel = matches!(dtype, GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1);
    // Without `requantize` our own kernels take every 32-block type (`quant`).
    if !device.is_cpu() || !block32 || !requantize {
        return keep(weight);
    }
    let (n, k) = weight.shape().dims2()?;
    if n == 0 || k == 0 {
        return keep(weight);
    }
    let repackable = requantize && n % N_MULTIPLE == 0;
    let padded_k = match repackable {
        true => k.next_multiple_of(K_MULTIPLE),
        false => k,
    };
    let gains = scalar_kernel || (repackable && (padded_k != k || dtype != GgmlDType::Q8_0));
    if !gains {
        return keep(weight);
    }
    let rows_per_chunk = (CHUNK_ELEMS / padded_k).max(1);
    let src = weight.data()?;
    let src_row_bytes = src.len() / n;
    let mut bytes: Vec<u8> = Vec::new();
    for first in (0..n).step_by(rows_per_chunk) {
        let rows = rows_per_chunk.min(n - first);
        let chunk = &src[first * src_row_bytes..(first + rows) * src_row_bytes];
        let chunk = QTensor::new(
            QStorage::from_data(Cow::Borrowed(chunk), &device, dtype)?,
            (rows, k),
        )?;
        let dense = chunk
            .dequantize(&device)?
            .pad_with_zeros(1, 0, padded_k - k)?;
        bytes.extend_from_slice(&QTensor::quantize(&dense, GgmlDType::Q8_0)?.data()?);
    }
    let weight = from_bytes(&bytes, (n, padded_k), &device)?;
    Ok(Prepared {
        weight: Arc::new(weight),
        pad_k: padded_k - k,
        min_rows: 1,
    })
}

/// candle asserts (panics) when block data is misaligned; check first so a surprising
/// allocator turns into an error instead.
fn from_bytes(bytes: &[u8], shape: (usize, usize), device: &Device) -> Result<QTensor, ModelError> {
    if !(bytes.as_ptr() as usize).is_multiple_of(std::mem::align_of::<u64>()) {
        return Err(ModelError::Format(
            "misaligned re-encoded weight buffer".into(),
        ));
    }
    let storage = QStorage::from_data(Cow::Borrowed(bytes), device, GgmlDType::Q8_0)?;
    Ok(QTensor::new(storage, shape)?)
}

/// Shapes activations `[rows, k]` the way a prepared weight expects: zero columns to
/// `k + pad_k`, zero rows up to `min_rows`.
pub(crate) fn pad_input(x: &Tensor, pad_k: usize, min_rows: usize) -> candle_core::Result<Tensor> {
    let x = match pad_k {
        0 => x.clone(),
        _ => x.pad_with_zeros(1, 0, pad_k)?,
    };
    let rows = x.dim(0)?;
    match rows < min_rows {
        true => x.pad_with_zeros(0, 0, min_rows - rows),
        false => Ok(x),
    }
}
