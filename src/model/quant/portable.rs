//! The reference kernel, in plain Rust: what runs where no SIMD kernel does, and what the
//! SIMD kernels are tested against. It fixes the float arithmetic every kernel performs,
//! so a machine's results do not depend on which kernel it picked:
//! - 32-value types: per block, the exact integer dot product `Σ value · q`, then
//!   `acc = fma(isum, scale_w · d_a, acc)` and, with a min, `acc = fma(min_w, s_a, acc)`;
//! - K-quants: per super-block, the exact integer `Σ sub_scale · Σ value · q`, then
//!   `acc = fma(isum, d_w · d_a, acc)` and, with mins, the exact `Σ sub_min · Σq` in
//!   `acc = fma(imin, −(dmin_w · d_a), acc)`.
//!
//! Blocks are taken in order; integer sums are exact in any order.

use super::activations::Activations;
use super::pack::{PackedWeight, BLOCK};

/// Dot product of weight row `row` with activation row `col`.
pub(crate) fn dot(w: &PackedWeight, row: usize, a: &Activations, col: usize) -> f32 {
    match w.scheme.is_k() {
        true => dot_k(w, row, a, col),
        false => dot_32(w, row, a, col),
    }
}

/// Integer dot product of values `range` of block `b`.
fn block_sum(
    w: &PackedWeight,
    row: usize,
    b: usize,
    aq: &[i8],
    range: std::ops::Range<usize>,
) -> i32 {
    range.map(|j| w.value(row, b, j) * aq[j] as i32).sum()
}

fn dot_32(w: &PackedWeight, row: usize, a: &Activations, col: usize) -> f32 {
    let blocks = w.blocks();
    let mut acc = 0f32;
    for b in 0..blocks {
        let ai = col * blocks + b;
        let aq = &a.qs[ai * BLOCK..(ai + 1) * BLOCK];
        let isum = block_sum(w, row, b, aq, 0..BLOCK);
        acc = (isum as f32).mul_add(w.scale(row, b) * a.d[ai], acc);
        if w.scheme.float_min() {
            acc = w.min(row, b).mul_add(a.s[ai], acc);
        }
    }
    acc
}

fn dot_k(w: &PackedWeight, row: usize, a: &Activations, col: usize) -> f32 {
    let blocks = w.blocks();
    let per = w.scheme.sub_scales();
    let mut acc = 0f32;
    for sb in 0..blocks / 8 {
        let (mut isum, mut imin) = (0i32, 0i32);
        for b in sb * 8..sb * 8 + 8 {
            let ai = col * blocks + b;
            let aq = &a.qs[ai * BLOCK..(ai + 1) * BLOCK];
            let len = BLOCK / per;
            for h in 0..per {
                let part = block_sum(w, row, b, aq, h * len..(h + 1) * len);
                isum += w.sub_scale(row, b, h) * part;
            }
            if w.scheme.k_min() {
                imin += w.sub_min(row, b) * a.bsum[ai] as i32;
            }
        }
        let ad = a.d[col * blocks + sb * 8];
        acc = (isum as f32).mul_add(w.scale(row, sb * 8) * ad, acc);
        if w.scheme.k_min() {
            acc = (imin as f32).mul_add(-(w.min(row, sb * 8) * ad), acc);
        }
    }
    acc
}
