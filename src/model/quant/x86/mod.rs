//! x86 SIMD kernels (AVX2 + FMA here, AVX-512 VNNI in [`avx512`]): the crate's one module
//! allowed `unsafe`.
//!
//! The unsafety is of two kinds only: calling `#[target_feature]` functions, which is sound
//! once [`available`] has said the CPU has AVX2 and FMA (the dispatcher in `matmul` checks
//! it once and never calls in here otherwise), and unaligned vector loads through pointers
//! into slices whose bounds are checked when the slices are taken, at offsets below the
//! loop bounds those checks covered.
//!
//! A tile multiplies `RW` weight rows by `RC` activation rows: each weight block is loaded
//! and unpacked once for the `RC` activation rows, each activation block once for the `RW`
//! weight rows. Integer products use llama.cpp's scheme (`maddubs` of unsigned × signed
//! bytes, the sign of signed weights moved onto the activations), summed into 8 lanes of
//! 4 values, converted to f32 and scaled with one FMA per block; the arithmetic is exactly
//! that of [`super::portable::dot`].
#![allow(unsafe_code)]

pub(crate) mod avx512;

use std::arch::x86_64::*;

use super::activations::Activations;
use super::out::Out;
use super::pack::{PackedWeight, BLOCK};

/// Whether this CPU runs the kernels here.
pub(crate) fn available() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

/// Row slices a tile reads: per weight row and per activation row, exactly the blocks of
/// that row (bounds checked here, once per tile).
struct Rows<'a, const RW: usize, const RC: usize> {
    wq: [&'a [u8]; RW],
    aq: [&'a [i8]; RC],
}

impl<'a, const RW: usize, const RC: usize> Rows<'a, RW, RC> {
    fn new(w: &'a PackedWeight, a: &'a Activations, row0: usize, col0: usize) -> Self {
        let blocks = w.blocks();
        let bb = w.scheme.block_bytes();
        Self {
            wq: std::array::from_fn(|r| {
                &w.qs[(row0 + r) * blocks * bb..(row0 + r + 1) * blocks * bb]
            }),
            aq: std::array::from_fn(|c| {
                &a.qs[(col0 + c) * blocks * BLOCK..(col0 + c + 1) * blocks * BLOCK]
            }),
        }
    }
}

fn store<const RW: usize, const RC: usize>(
    sums: [[f32; RC]; RW],
    out: &mut Out<'_>,
    at: (usize, usize),
) {
    for (r, row) in sums.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            out.set(at.0 + r, at.1 + c, *v);
        }
    }
}

/// `RW × RC` dot products of a 32-value type: weight rows `row0..row0 + RW` with
/// activation rows `col0..col0 + RC`, written to `out`.
///
/// `NIB`: 4-bit values; `OFF8`: minus 8 (Q4_0); `MIN`: unsigned with a per-block min.
/// Panics if the rows are out of range; must only be called when [`available`].
pub(crate) fn tile<
    const NIB: bool,
    const OFF8: bool,
    const MIN: bool,
    const RW: usize,
    const RC: usize,
>(
    w: &PackedWeight,
    a: &Activations,
    row0: usize,
    col0: usize,
    out: &mut Out<'_>,
) {
    let rows = Rows::<RW, RC>::new(w, a, row0, col0);
    let blocks = w.blocks();
    let (wr, ar) = (
        row0 * blocks..(row0 + RW) * blocks,
        col0 * blocks..(col0 + RC) * blocks,
    );
    let ws = &w.scales[wr.clone()];
    let wm = if MIN { &w.mins[wr] } else { &[][..] };
    let (ad, asum) = (&a.d[ar.clone()], &a.s[ar]);
    // SAFETY: only called after `available()` (see the module docs); `rows` holds exactly
    // `blocks` blocks per row and the kernel reads blocks `0..blocks`.
    let sums = unsafe { tile_avx2::<NIB, OFF8, MIN, RW, RC>(blocks, &rows, ws, wm, ad, asum) };
    store(sums, out, (row0, col0));
}

#[target_feature(enable = "avx2,fma")]
unsafe fn tile_avx2<
    const NIB: bool,
    const OFF8: bool,
    const MIN: bool,
    const RW: usize,
    const RC: usize,
>(
    blocks: usize,
    rows: &Rows<'_, RW, RC>,
    ws: &[f32],
    wm: &[f32],
    ad: &[f32],
    asum: &[f32],
) -> [[f32; RC]; RW] {
    let bb = if NIB { BLOCK / 2 } else { BLOCK };
    let mut acc = [[_mm256_setzero_ps(); RC]; RW];
    let mut macc = [[0f32; RC]; RW];
    for b in 0..blocks {
        let av: [__m256i; RC] =
            std::array::from_fn(|c| _mm256_loadu_si256(rows.aq[c].as_ptr().add(b * BLOCK).cast()));
        for r in 0..RW {
            prefetch(rows.wq[r], (b + AHEAD) * bb);
            let v = load_values::<NIB, OFF8>(rows.wq[r].as_ptr().add(b * bb));
            let s = ws[r * blocks + b];
            for c in 0..RC {
                let lanes = lane_sums::<MIN>(v, av[c]);
                let scale = _mm256_set1_ps(s * ad[c * blocks + b]);
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lanes), scale, acc[r][c]);
                if MIN {
                    macc[r][c] = wm[r * blocks + b].mul_add(asum[c * blocks + b], macc[r][c]);
                }
            }
        }
    }
    std::array::from_fn(|r| std::array::from_fn(|c| hsum(acc[r][c]) + macc[r][c]))
}

/// `RW × RC` dot products of a K-quant (see [`tile`]): each super-block summed in integers
/// with the sub-block scales (`madd` by 16-bit scales, as llama.cpp), then scaled once.
///
/// `NIB`: 4-bit values (Q4_K); `MIN`: unsigned with mins (Q4_K, Q5_K); `PER16`: a scale per
/// 16 values (Q6_K).
pub(crate) fn tile_k<
    const NIB: bool,
    const MIN: bool,
    const PER16: bool,
    const RW: usize,
    const RC: usize,
>(
    w: &PackedWeight,
    a: &Activations,
    row0: usize,
    col0: usize,
    out: &mut Out<'_>,
) {
    let rows = Rows::<RW, RC>::new(w, a, row0, col0);
    let blocks = w.blocks();
    let per = if PER16 { 2 } else { 1 };
    let supers = row0 * blocks / 8..(row0 + RW) * blocks / 8;
    let k = KRows {
        d: &w.scales[supers.clone()],
        dmin: if MIN { &w.mins[supers] } else { &[][..] },
        sc: &w.sub_scales[row0 * blocks * per..(row0 + RW) * blocks * per],
        mn: if MIN {
            &w.sub_mins[row0 * blocks..(row0 + RW) * blocks]
        } else {
            &[][..]
        },
        ad: &a.d[col0 * blocks..(col0 + RC) * blocks],
        bsum: &a.bsum[col0 * blocks..(col0 + RC) * blocks],
    };
    // SAFETY: as in `tile`.
    let sums = unsafe { tile_k_avx2::<NIB, MIN, PER16, RW, RC>(blocks, &rows, &k) };
    store(sums, out, (row0, col0));
}

/// The K-quant scales of a tile's weight rows and activation rows.
struct KRows<'a> {
    d: &'a [f32],
    dmin: &'a [f32],
    sc: &'a [i8],
    mn: &'a [u8],
    ad: &'a [f32],
    bsum: &'a [i32],
}

#[target_feature(enable = "avx2,fma")]
unsafe fn tile_k_avx2<
    const NIB: bool,
    const MIN: bool,
    const PER16: bool,
    const RW: usize,
    const RC: usize,
>(
    blocks: usize,
    rows: &Rows<'_, RW, RC>,
    k: &KRows<'_>,
) -> [[f32; RC]; RW] {
    let bb = if NIB { BLOCK / 2 } else { BLOCK };
    let per = if PER16 { 2 } else { 1 };
    let mut acc = [[_mm256_setzero_ps(); RC]; RW];
    let mut macc = [[0f32; RC]; RW];
    for sb in 0..blocks / 8 {
        let mut isum = [[_mm256_setzero_si256(); RC]; RW];
        let mut imin = [[0i32; RC]; RW];
        for b in sb * 8..sb * 8 + 8 {
            let av: [__m256i; RC] = std::array::from_fn(|c| {
                _mm256_loadu_si256(rows.aq[c].as_ptr().add(b * BLOCK).cast())
            });
            for r in 0..RW {
                prefetch(rows.wq[r], (b + AHEAD) * bb);
                let v = load_values::<NIB, false>(rows.wq[r].as_ptr().add(b * bb));
                let at = (r * blocks + b) * per;
                let scales = match PER16 {
                    true => _mm256_set_m128i(
                        _mm_set1_epi16(k.sc[at + 1] as i16),
                        _mm_set1_epi16(k.sc[at] as i16),
                    ),
                    false => _mm256_set1_epi16(k.sc[at] as i16),
                };
                for c in 0..RC {
                    let pairs = pair_sums::<MIN>(v, av[c]);
                    isum[r][c] = _mm256_add_epi32(isum[r][c], _mm256_madd_epi16(pairs, scales));
                    if MIN {
                        imin[r][c] += k.mn[r * blocks + b] as i32 * k.bsum[c * blocks + b];
                    }
                }
            }
        }
        for r in 0..RW {
            let wi = r * blocks / 8 + sb;
            for c in 0..RC {
                let ad = k.ad[c * blocks + sb * 8];
                let d = _mm256_set1_ps(k.d[wi] * ad);
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[r][c]), d, acc[r][c]);
                if MIN {
                    macc[r][c] = (-ad * k.dmin[wi]).mul_add(imin[r][c] as f32, macc[r][c]);
                }
            }
        }
    }
    std::array::from_fn(|r| std::array::from_fn(|c| hsum(acc[r][c]) + macc[r][c]))
}

/// Blocks ahead of the current one whose weights are prefetched: four rows stream at
/// once, more than the hardware prefetcher keeps ahead of on its own.
const AHEAD: usize = 8;

/// Hints the cache line of `bytes[at]`, if it is in the slice.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn prefetch(bytes: &[u8], at: usize) {
    if let Some(p) = bytes.get(at) {
        _mm_prefetch::<_MM_HINT_T0>((p as *const u8).cast());
    }
}

/// 16 sums of adjacent value pairs (`maddubs`): unsigned weights directly, signed ones with
/// their sign moved onto the activations (llama.cpp's `mul_sum_i8_pairs`).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn pair_sums<const MIN: bool>(v: __m256i, a: __m256i) -> __m256i {
    match MIN {
        true => _mm256_maddubs_epi16(v, a),
        false => _mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(a, v)),
    }
}

/// 8 lanes, each the integer dot product of 4 values.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn lane_sums<const MIN: bool>(v: __m256i, a: __m256i) -> __m256i {
    _mm256_madd_epi16(pair_sums::<MIN>(v, a), _mm256_set1_epi16(1))
}

/// 32 values of one block as bytes: 4-bit ones unpacked (low nibbles are values 0..16,
/// high nibbles 16..32), minus 8 for Q4_0.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn load_values<const NIB: bool, const OFF8: bool>(p: *const u8) -> __m256i {
    if !NIB {
        return _mm256_loadu_si256(p.cast());
    }
    let x = _mm_loadu_si128(p.cast());
    let mask = _mm_set1_epi8(0x0F);
    let lo = _mm_and_si128(x, mask);
    let hi = _mm_and_si128(_mm_srli_epi16(x, 4), mask);
    let v = _mm256_set_m128i(hi, lo);
    match OFF8 {
        true => _mm256_sub_epi8(v, _mm256_set1_epi8(8)),
        false => v,
    }
}

/// Same order as [`super::portable::hsum`].
#[target_feature(enable = "avx2,fma")]
#[inline]
fn hsum(v: __m256) -> f32 {
    let s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)))
}
