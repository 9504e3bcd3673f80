//! Activation rows quantized to int8 once per matmul, the way llama.cpp's x86 CPU backend
//! quantizes them for the weight's type (its `vec_dot_type`): per 32 values with an f16
//! scale (Q8_0, Q8_1) or per 256 with an f32 scale (Q8_K). Rounding is to nearest, ties to
//! even, as `_mm256_round_ps` and `nearest_int` do.

use half::f16;

use super::pack::{ActQuant, BLOCK};

/// `rows × cols` activations as int8 with one scale and one sum term per 32 values.
#[derive(Debug)]
pub(crate) struct Activations {
    pub qs: Vec<i8>,
    /// Scale per 32-value block (`rows × cols / 32`); K-quant scales repeat per 256.
    pub d: Vec<f32>,
    /// `d · Σq` per block, multiplied by the weight's min (Q4_1, Q5_1).
    pub s: Vec<f32>,
    /// `Σq` per block, multiplied by the integer mins of Q4_K/Q5_K.
    pub bsum: Vec<i32>,
}

/// Quantizes `x` (rows one after another, each a multiple of the block size long).
pub(crate) fn quantize(x: &[f32], mode: ActQuant) -> Activations {
    let n = x.len() / BLOCK;
    let mut a = Activations {
        qs: vec![0; x.len()],
        d: Vec::with_capacity(n),
        s: Vec::with_capacity(n),
        bsum: Vec::with_capacity(n),
    };
    match mode {
        ActQuant::Q8_0 | ActQuant::Q8_1 => {
            for (xs, qs) in x.chunks_exact(BLOCK).zip(a.qs.chunks_exact_mut(BLOCK)) {
                let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
                let d = amax / 127.0;
                let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
                let mut sum = 0i32;
                for (q, &v) in qs.iter_mut().zip(xs) {
                    *q = (v * id).round_ties_even() as i8;
                    sum += *q as i32;
                }
                let d16 = f16::from_f32(d).to_f32();
                a.d.push(d16);
                a.bsum.push(sum);
                a.s.push(match mode {
                    ActQuant::Q8_1 => f16::from_f32(d * sum as f32).to_f32(),
                    _ => d16 * sum as f32,
                });
            }
        }
        ActQuant::Q8K => {
            for (xs, qs) in x.chunks_exact(256).zip(a.qs.chunks_exact_mut(256)) {
                // The value of largest magnitude, with its sign (llama.cpp quantize_row_q8_K).
                let max = xs
                    .iter()
                    .fold(0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
                if max == 0.0 {
                    a.d.extend([0.0; 256 / BLOCK]);
                    a.s.extend([0.0; 256 / BLOCK]);
                    a.bsum.extend([0; 256 / BLOCK]);
                    continue;
                }
                let iscale = -127.0 / max;
                let d = 1.0 / iscale;
                for (qb, xb) in qs.chunks_exact_mut(BLOCK).zip(xs.chunks_exact(BLOCK)) {
                    let mut sum = 0i32;
                    for (q, &v) in qb.iter_mut().zip(xb) {
                        *q = ((iscale * v).round_ties_even() as i32).min(127) as i8;
                        sum += *q as i32;
                    }
                    a.d.push(d);
                    a.s.push(d * sum as f32);
                    a.bsum.push(sum);
                }
            }
        }
    }
    a
}
