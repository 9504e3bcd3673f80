//! Activation rows quantized to int8 once per matmul, the way llama.cpp's x86 CPU backend
//! quantizes them for the weight's type (its `vec_dot_type`): per 32 values with an f16
//! scale (Q8_0, Q8_1) or per 256 with an f32 scale (Q8_K). Rounding is to nearest, ties to
//! even, as `_mm256_round_ps` and `nearest_int` do. Rows are independent, so a matmul
//! quantizes them in [`Part`]s on several threads.

use half::f16;

use super::pack::{ActQuant, Scheme, BLOCK};

/// `rows × cols` activations as int8 with one scale and one sum term per 32 values.
#[derive(Debug)]
pub(crate) struct Activations {
    pub qs: Vec<i8>,
    /// Scale per 32-value block (`rows × cols / 32`); K-quant scales repeat per 256.
    pub d: Vec<f32>,
    /// `d · Σq` per block, multiplied by the weight's min (Q4_1, Q5_1).
    pub s: Vec<f32>,
    /// `Σq` per block, multiplied by the integer mins of Q4_K/Q5_K.
    pub bsum: Vec<i16>,
    /// `−offset · Σq` per block (per 16 values for Q6_K), what takes a weight's storage
    /// offset back out of `Σ stored · q` ([`Scheme::offset`]); empty without an offset.
    pub corr: Vec<i32>,
    mode: ActQuant,
    scheme: Scheme,
}

/// Some consecutive rows of the input and where their quantized form goes.
pub(crate) struct Part<'a> {
    x: &'a [f32],
    qs: &'a mut [i8],
    d: &'a mut [f32],
    s: &'a mut [f32],
    bsum: &'a mut [i16],
    corr: &'a mut [i32],
    mode: ActQuant,
    scheme: Scheme,
}

impl Activations {
    /// Room for `x` (rows one after another, each a multiple of the block size long)
    /// quantized for a weight of `scheme`; [`Activations::parts`] fills it.
    pub fn new(x: &[f32], mode: ActQuant, scheme: Scheme) -> Self {
        let n = x.len() / BLOCK;
        Activations {
            qs: vec![0; x.len()],
            d: vec![0.0; n],
            s: vec![0.0; n],
            bsum: vec![0; n],
            corr: vec![0; n * scheme.corrections()],
            mode,
            scheme,
        }
    }

    /// `x` in parts of `rows` rows of `cols` values, each to be quantized once.
    pub fn parts<'a>(&'a mut self, x: &'a [f32], cols: usize, rows: usize) -> Vec<Part<'a>> {
        let (blocks, per) = (cols / BLOCK * rows, self.scheme.corrections());
        let corr_len = (blocks * per).max(1);
        let corr = self
            .corr
            .chunks_mut(corr_len)
            .map(Some)
            .chain(std::iter::repeat_with(|| None));
        x.chunks(cols * rows)
            .zip(self.qs.chunks_mut(cols * rows))
            .zip(self.d.chunks_mut(blocks))
            .zip(self.s.chunks_mut(blocks))
            .zip(self.bsum.chunks_mut(blocks))
            .zip(corr)
            .map(|(((((x, qs), d), s), bsum), corr)| Part {
                x,
                qs,
                d,
                s,
                bsum,
                corr: corr.unwrap_or_default(),
                mode: self.mode,
                scheme: self.scheme,
            })
            .collect()
    }
}

impl Part<'_> {
    /// Quantizes the part's rows.
    pub fn quantize(&mut self) {
        match self.mode {
            ActQuant::Q8_0 | ActQuant::Q8_1 => self.per_block(),
            ActQuant::Q8K => self.per_super_block(),
        }
        let off = self.scheme.offset();
        match self.scheme.corrections() {
            0 => {}
            1 => {
                for (c, &sum) in self.corr.iter_mut().zip(self.bsum.iter()) {
                    *c = -off * sum as i32;
                }
            }
            per => {
                for (c, run) in self.corr.iter_mut().zip(self.qs.chunks_exact(BLOCK / per)) {
                    *c = -off * run.iter().map(|&q| q as i32).sum::<i32>();
                }
            }
        }
    }

    fn per_block(&mut self) {
        let blocks = self
            .x
            .chunks_exact(BLOCK)
            .zip(self.qs.chunks_exact_mut(BLOCK));
        for (i, (xs, qs)) in blocks.enumerate() {
            let amax = abs_max(xs);
            let d = amax / 127.0;
            let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
            let sum = round_into(xs, id, qs);
            let d16 = f16::from_f32(d).to_f32();
            self.d[i] = d16;
            self.bsum[i] = sum as i16;
            self.s[i] = match self.mode {
                ActQuant::Q8_1 => f16::from_f32(d * sum as f32).to_f32(),
                _ => d16 * sum as f32,
            };
        }
    }

    fn per_super_block(&mut self) {
        const PER: usize = 256 / BLOCK;
        let supers = self.x.chunks_exact(256).zip(self.qs.chunks_exact_mut(256));
        for (i, (xs, qs)) in supers.enumerate() {
            let at = i * PER..(i + 1) * PER;
            // The first value of largest magnitude, with its sign (llama.cpp
            // quantize_row_q8_K).
            let amax = abs_max(xs);
            let max = xs.iter().copied().find(|v| v.abs() == amax).unwrap_or(0.0);
            if max == 0.0 {
                self.d[at.clone()].fill(0.0);
                self.s[at.clone()].fill(0.0);
                self.bsum[at].fill(0);
                continue;
            }
            let iscale = -127.0 / max;
            let d = 1.0 / iscale;
            for (j, (qb, xb)) in qs
                .chunks_exact_mut(BLOCK)
                .zip(xs.chunks_exact(BLOCK))
                .enumerate()
            {
                let sum = round_into(xb, iscale, qb);
                self.d[at.start + j] = d;
                self.s[at.start + j] = d * sum as f32;
                self.bsum[at.start + j] = sum as i16;
            }
        }
    }
}

/// The largest magnitude in `xs` (a multiple of 8 long), in 8 independent lanes so the
/// compiler can vectorize it.
fn abs_max(xs: &[f32]) -> f32 {
    let mut m = [0f32; 8];
    for chunk in xs.chunks_exact(8) {
        for (m, v) in m.iter_mut().zip(chunk) {
            let a = v.abs();
            *m = if a > *m { a } else { *m };
        }
    }
    m.into_iter().fold(0f32, |a, b| if b > a { b } else { a })
}

/// `q = round(x · scale)` (ties to even, at most 127 in magnitude), returning `Σq`.
fn round_into(xs: &[f32], scale: f32, qs: &mut [i8]) -> i32 {
    let mut sum = 0i32;
    for (q, &v) in qs.iter_mut().zip(xs) {
        let r = (v * scale).round_ties_even().clamp(-127.0, 127.0);
        *q = r as i32 as i8;
        sum += *q as i32;
    }
    sum
}
