//! The reference kernel, in plain Rust: what runs where AVX2/FMA is missing, and what the
//! SIMD kernels are tested against. It reproduces their arithmetic exactly — integer sums
//! over 8 lanes of 4 values, one fused multiply-add per lane and block, the same final
//! reduction order — so a machine's results do not depend on which kernel it picked.

use super::activations::Activations;
use super::pack::{PackedWeight, BLOCK};

/// Lanes of the accumulators (an AVX2 register of f32).
pub(crate) const LANES: usize = 8;

/// Sums 8 lanes in the order the SIMD reduction does: halves, then pairs, then the last two.
pub(crate) fn hsum(l: [f32; LANES]) -> f32 {
    let s4 = [l[0] + l[4], l[1] + l[5], l[2] + l[6], l[3] + l[7]];
    let s2 = [s4[0] + s4[2], s4[1] + s4[3]];
    s2[0] + s2[1]
}

/// Dot product of weight row `row` with activation row `col`.
pub(crate) fn dot(w: &PackedWeight, row: usize, a: &Activations, col: usize) -> f32 {
    match w.scheme.is_k() {
        true => dot_k(w, row, a, col),
        false => dot_32(w, row, a, col),
    }
}

/// Integer sum of lane `lane` (values `4·lane..4·lane + 4`) of block `b`.
fn lane_sum(w: &PackedWeight, row: usize, b: usize, aq: &[i8], lane: usize) -> i32 {
    (4 * lane..4 * lane + 4)
        .map(|j| w.value(row, b, j) * aq[j] as i32)
        .sum()
}

/// 32-value types: one multiply-add per lane and block with `scale_w · d_a`.
fn dot_32(w: &PackedWeight, row: usize, a: &Activations, col: usize) -> f32 {
    let blocks = w.blocks();
    let mut acc = [0f32; LANES];
    let mut macc = 0f32;
    for b in 0..blocks {
        let (ai, wi) = (col * blocks + b, row * blocks + b);
        let aq = &a.qs[ai * BLOCK..(ai + 1) * BLOCK];
        let scale = w.scales[wi] * a.d[ai];
        for (lane, acc) in acc.iter_mut().enumerate() {
            *acc = (lane_sum(w, row, b, aq, lane) as f32).mul_add(scale, *acc);
        }
        if w.scheme.has_min() {
            macc = w.mins[wi].mul_add(a.s[ai], macc);
        }
    }
    hsum(acc) + macc
}

/// K-quants: a super-block's lanes summed in integers with the sub-block scales, then one
/// multiply-add per lane with `d_w · d_a`; mins likewise, with `−d_a · dmin_w`.
fn dot_k(w: &PackedWeight, row: usize, a: &Activations, col: usize) -> f32 {
    let blocks = w.blocks();
    let per = w.scheme.sub_scales();
    let mut acc = [0f32; LANES];
    let mut macc = 0f32;
    for sb in 0..blocks / 8 {
        let mut isum = [0i32; LANES];
        let mut imin = 0i32;
        for b in sb * 8..sb * 8 + 8 {
            let (ai, wi) = (col * blocks + b, row * blocks + b);
            let aq = &a.qs[ai * BLOCK..(ai + 1) * BLOCK];
            for (lane, isum) in isum.iter_mut().enumerate() {
                let sc = w.sub_scales[wi * per + (lane / 4) * (per - 1)] as i32;
                *isum += sc * lane_sum(w, row, b, aq, lane);
            }
            if w.scheme.has_min() {
                imin += w.sub_mins[wi] as i32 * a.bsum[ai];
            }
        }
        let (wsb, ad) = (row * blocks / 8 + sb, a.d[col * blocks + sb * 8]);
        let d = w.scales[wsb] * ad;
        for (acc, isum) in acc.iter_mut().zip(isum) {
            *acc = (isum as f32).mul_add(d, *acc);
        }
        if w.scheme.has_min() {
            macc = (-ad * w.mins[wsb]).mul_add(imin as f32, macc);
        }
    }
    hsum(acc) + macc
}
