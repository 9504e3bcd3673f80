//! x86 SIMD kernels (AVX2 + FMA here, AVX-512 VNNI in [`avx512`]): the crate's one module
//! allowed `unsafe`.
//!
//! The unsafety is of two kinds only: calling `#[target_feature]` functions, which is sound
//! once `available()` has said the CPU has the features (the dispatcher in `matmul` checks
//! it once and never calls in here otherwise), and unaligned vector loads through pointers
//! into the slices of a [`GroupTile`], which `GroupTile::new` cut to exactly the data the
//! kernels read.
//!
//! Both kernels give each weight row its own 32-bit lane (see [`avx512`]); here a 256-bit
//! register covers half a group, 8 rows, and each half is multiplied in turn. Without
//! `vpdpbusd`, 4 products are summed with `maddubs` (unsigned × signed bytes into 16 bits)
//! and `madd` by ones; Q8_0, whose stored values (`w + 128`) could overflow `maddubs`'s 16
//! bits, moves the weights' sign onto the activations instead (llama.cpp's trick) and needs
//! no offset term. The arithmetic is exactly [`super::portable`]'s.
#![allow(unsafe_code)]
// Tiles index several per-activation-row arrays (sums, accumulators, pointers) in step.
#![allow(clippy::needless_range_loop)]

pub(crate) mod avx512;

use std::arch::x86_64::*;

use super::pack::{Scheme, BLOCK, GROUP};
use super::tile::{GroupTile, Kind};

/// Rows of a group one register covers.
const HALF: usize = GROUP / 2;

/// Whether this CPU runs the kernels here.
pub(crate) fn available() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

/// A group of weight rows times `NA` activation rows: `[activation row][row in group]`.
/// Must only be called when [`available`].
pub(crate) fn group<K: Kind, const NA: usize>(t: &GroupTile<'_, NA>) -> [[f32; GROUP]; NA] {
    let mut out = [[0f32; GROUP]; NA];
    for half in 0..2 {
        // SAFETY: see the module docs; `half` selects rows `8·half..8·half + 8`, inside
        // every per-row array of the group.
        unsafe { half_avx2::<K, NA>(t, half * HALF, &mut out) };
    }
    out
}

#[target_feature(enable = "avx2,fma")]
unsafe fn half_avx2<K: Kind, const NA: usize>(
    t: &GroupTile<'_, NA>,
    r0: usize,
    out: &mut [[f32; GROUP]; NA],
) {
    let s = K::S;
    let bb = s.block_bytes();
    // Q8_0 takes its offset out with the sign trick instead (module docs).
    let corr = s.offset() != 0 && s != Scheme::Q8_0;
    let mut acc = [_mm256_setzero_ps(); NA];
    if !s.is_k() {
        for b in 0..t.blocks {
            let qp = t.qs.as_ptr().add(b * GROUP * bb + r0 * 4);
            ahead(qp, GROUP * bb, t.scales.as_ptr().add(b * GROUP));
            let ap: [*const i8; NA] = std::array::from_fn(|c| t.aq[c].as_ptr().add(b * BLOCK));
            let mut sums: [__m256i; NA] = std::array::from_fn(|c| match corr {
                true => _mm256_set1_epi32(*t.corr[c].get_unchecked(b)),
                false => _mm256_setzero_si256(),
            });
            block_dots::<K, NA>(qp, &ap, &mut sums, 0..bb / 4);
            let sw = _mm256_loadu_ps(t.scales.as_ptr().add(b * GROUP + r0));
            for c in 0..NA {
                let scale = _mm256_mul_ps(sw, _mm256_set1_ps(*t.ad[c].get_unchecked(b)));
                acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums[c]), scale, acc[c]);
            }
            if s.float_min() {
                let wm = _mm256_loadu_ps(t.mins.as_ptr().add(b * GROUP + r0));
                for c in 0..NA {
                    let asum = _mm256_set1_ps(*t.asum[c].get_unchecked(b));
                    acc[c] = _mm256_fmadd_ps(wm, asum, acc[c]);
                }
            }
        }
        for (o, v) in out.iter_mut().zip(acc) {
            _mm256_storeu_ps(o.as_mut_ptr().add(r0), v);
        }
        return;
    }
    let per = s.sub_scales();
    for sb in 0..t.blocks / 8 {
        let mut isum = [_mm256_setzero_si256(); NA];
        for b in sb * 8..sb * 8 + 8 {
            let qp = t.qs.as_ptr().add(b * GROUP * bb + r0 * 4);
            ahead(qp, GROUP * bb, t.sub_scales.as_ptr().add(b * per * GROUP));
            let ap: [*const i8; NA] = std::array::from_fn(|c| t.aq[c].as_ptr().add(b * BLOCK));
            for h in 0..per {
                let sc = _mm256_cvtepi8_epi32(_mm_loadl_epi64(
                    t.sub_scales.as_ptr().add((b * per + h) * GROUP + r0).cast(),
                ));
                let mut sums: [__m256i; NA] = std::array::from_fn(|c| match s.per16() {
                    true => _mm256_set1_epi32(*t.corr[c].get_unchecked(b * 2 + h)),
                    false => _mm256_setzero_si256(),
                });
                let runs = bb / 4 / per;
                block_dots::<K, NA>(qp, &ap, &mut sums, h * runs..(h + 1) * runs);
                for c in 0..NA {
                    isum[c] = _mm256_add_epi32(isum[c], _mm256_mullo_epi32(sums[c], sc));
                }
            }
        }
        let d = _mm256_loadu_ps(t.scales.as_ptr().add(sb * GROUP + r0));
        let dmin = match s.k_min() {
            true => _mm256_loadu_ps(t.mins.as_ptr().add(sb * GROUP + r0)),
            false => _mm256_setzero_ps(),
        };
        for c in 0..NA {
            let ad = *t.ad[c].get_unchecked(sb * 8);
            let scale = _mm256_mul_ps(d, _mm256_set1_ps(ad));
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), scale, acc[c]);
            if s.k_min() {
                let mut imin = _mm256_setzero_si256();
                for b in (sb * 8..sb * 8 + 8).step_by(2) {
                    let mn = t.sub_mins.as_ptr().add(((b / 2) * GROUP + r0) * 2);
                    let pair = t.bsum[c].as_ptr().add(b).cast::<i32>().read_unaligned();
                    let prod =
                        _mm256_madd_epi16(_mm256_loadu_si256(mn.cast()), _mm256_set1_epi32(pair));
                    imin = _mm256_add_epi32(imin, prod);
                }
                let mscale = _mm256_mul_ps(dmin, _mm256_set1_ps(-ad));
                acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(imin), mscale, acc[c]);
            }
        }
    }
    for (o, v) in out.iter_mut().zip(acc) {
        _mm256_storeu_ps(o.as_mut_ptr().add(r0), v);
    }
}

/// Blocks ahead of the current one whose data is prefetched: decode streams each weight
/// once, from the last-level cache or memory, faster than the hardware prefetcher ramps up
/// on a group's short run.
pub(crate) const AHEAD: usize = 8;

/// Prefetches the block `AHEAD` blocks after the one of `bytes` bytes at `qp`, and the line
/// `AHEAD` lines after `line` (the block's scales). Past the end of the data, this only
/// touches no-fault prefetch hints.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) fn ahead<T>(qp: *const u8, bytes: usize, line: *const T) {
    let next = qp.wrapping_add(AHEAD * bytes);
    for at in (0..bytes).step_by(64) {
        prefetch(next.wrapping_add(at));
    }
    prefetch(line.cast::<u8>().wrapping_add(AHEAD * 64));
}

#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) fn prefetch<T>(p: *const T) {
    // A hint: never faults, reads nothing back, so any address will do.
    _mm_prefetch::<_MM_HINT_T0>(p.cast());
}

/// Adds `Σ value · q` over the block's runs `runs` for 8 rows (see
/// [`avx512::block_dots`](avx512)): `qp` points at the half's first row in run 0.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn block_dots<K: Kind, const NA: usize>(
    qp: *const u8,
    ap: &[*const i8; NA],
    sums: &mut [__m256i; NA],
    runs: std::ops::Range<usize>,
) {
    let mask = _mm256_set1_epi8(0x0F);
    for k in runs {
        let x = _mm256_loadu_si256(qp.add(k * 64).cast());
        if K::S.nib() {
            let lo = _mm256_and_si256(x, mask);
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(x), mask);
            for c in 0..NA {
                sums[c] = dot4(sums[c], lo, quad(ap[c], 4 * k));
                sums[c] = dot4(sums[c], hi, quad(ap[c], 16 + 4 * k));
            }
        } else if K::S == Scheme::Q8_0 {
            let w = _mm256_xor_si256(x, _mm256_set1_epi8(-128));
            let abs = _mm256_sign_epi8(w, w);
            for c in 0..NA {
                let a = _mm256_sign_epi8(quad(ap[c], 4 * k), w);
                sums[c] = dot4(sums[c], abs, a);
            }
        } else {
            for c in 0..NA {
                sums[c] = dot4(sums[c], x, quad(ap[c], 4 * k));
            }
        }
    }
}

/// `sum + Σ u·a` per lane of 4 bytes (`u` unsigned, at most 128 so `maddubs` is exact).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn dot4(sum: __m256i, u: __m256i, a: __m256i) -> __m256i {
    let pairs = _mm256_maddubs_epi16(u, a);
    _mm256_add_epi32(sum, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
}

/// Activation bytes `at..at + 4`, broadcast to every lane.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn quad(p: *const i8, at: usize) -> __m256i {
    _mm256_set1_epi32(p.add(at).cast::<i32>().read_unaligned())
}
