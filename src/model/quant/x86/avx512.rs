//! AVX-512 VNNI kernels: one 32-bit lane per weight row.
//!
//! A register holds 4 bytes of each of a group's 16 rows (the packed layout puts them
//! there), so `vpdpbusd` against the activation's matching 4 bytes, broadcast, adds those
//! 4 products to each row's lane: 8 such instructions sum a whole block for 16 rows, with
//! the stored values unsigned and the offset term (`−offset · Σq`, from the activations)
//! as the starting value. The block sums then take one convert and one multiply-add with
//! the 16 rows' scales, per activation row. K-quants multiply each block's sums by the rows'
//! sub-scales (`vpmulld`) into a super-block sum, and their mins by the activations' block
//! sums with `vpdpwssd`. The arithmetic is exactly [`super::super::portable`]'s.

use std::arch::x86_64::*;

use super::super::pack::{BLOCK, GROUP};
use super::super::tile::{GroupTile, Kind};
use super::{ahead, prefetch, AHEAD};

/// Whether this CPU runs the kernels here.
pub(crate) fn available() -> bool {
    super::available()
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vnni")
}

/// A group of weight rows times `NA` activation rows: `[activation row][row in group]`.
/// Must only be called when [`available`].
pub(crate) fn group<K: Kind, const NA: usize>(t: &GroupTile<'_, NA>) -> [[f32; GROUP]; NA] {
    let mut out = [[0f32; GROUP]; NA];
    // SAFETY: `available()` was checked by the dispatcher; `GroupTile::new` sliced every
    // array to exactly the group's and the activation rows' data, which is what the kernel
    // reads (blocks `0..t.blocks`).
    unsafe { group_avx512::<K, NA>(t, &mut out) };
    out
}

#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn group_avx512<K: Kind, const NA: usize>(
    t: &GroupTile<'_, NA>,
    out: &mut [[f32; GROUP]; NA],
) {
    let s = K::S;
    let bb = s.block_bytes();
    let mut acc = [_mm512_setzero_ps(); NA];
    if !s.is_k() {
        for b in 0..t.blocks {
            let qp = t.qs.as_ptr().add(b * GROUP * bb);
            ahead(qp, GROUP * bb, t.scales.as_ptr().add(b * GROUP));
            if s.float_min() {
                prefetch(t.mins.as_ptr().add(b * GROUP).wrapping_add(AHEAD * GROUP));
            }
            let ap: [*const i8; NA] = std::array::from_fn(|c| t.aq[c].as_ptr().add(b * BLOCK));
            let mut sums: [__m512i; NA] = std::array::from_fn(|c| match s.offset() {
                0 => _mm512_setzero_si512(),
                _ => _mm512_set1_epi32(*t.corr[c].get_unchecked(b)),
            });
            block_dots::<K, NA>(qp, &ap, &mut sums, 0..bb / 4);
            let sw = _mm512_loadu_ps(t.scales.as_ptr().add(b * GROUP));
            for c in 0..NA {
                let scale = _mm512_mul_ps(sw, _mm512_set1_ps(*t.ad[c].get_unchecked(b)));
                acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums[c]), scale, acc[c]);
            }
            if s.float_min() {
                let wm = _mm512_loadu_ps(t.mins.as_ptr().add(b * GROUP));
                for c in 0..NA {
                    let asum = _mm512_set1_ps(*t.asum[c].get_unchecked(b));
                    acc[c] = _mm512_fmadd_ps(wm, asum, acc[c]);
                }
            }
        }
        for (o, v) in out.iter_mut().zip(acc) {
            _mm512_storeu_ps(o.as_mut_ptr(), v);
        }
        return;
    }
    let per = s.sub_scales();
    for sb in 0..t.blocks / 8 {
        let mut isum = [_mm512_setzero_si512(); NA];
        for b in sb * 8..sb * 8 + 8 {
            let qp = t.qs.as_ptr().add(b * GROUP * bb);
            ahead(qp, GROUP * bb, t.sub_scales.as_ptr().add(b * per * GROUP));
            let ap: [*const i8; NA] = std::array::from_fn(|c| t.aq[c].as_ptr().add(b * BLOCK));
            for h in 0..per {
                let sc = _mm512_cvtepi8_epi32(_mm_loadu_si128(
                    t.sub_scales.as_ptr().add((b * per + h) * GROUP).cast(),
                ));
                let mut sums: [__m512i; NA] = std::array::from_fn(|c| match s.per16() {
                    true => _mm512_set1_epi32(*t.corr[c].get_unchecked(b * 2 + h)),
                    false => _mm512_setzero_si512(),
                });
                let runs = bb / 4 / per;
                block_dots::<K, NA>(qp, &ap, &mut sums, h * runs..(h + 1) * runs);
                for c in 0..NA {
                    isum[c] = _mm512_add_epi32(isum[c], _mm512_mullo_epi32(sums[c], sc));
                }
            }
        }
        let d = _mm512_loadu_ps(t.scales.as_ptr().add(sb * GROUP));
        let dmin = match s.k_min() {
            true => _mm512_loadu_ps(t.mins.as_ptr().add(sb * GROUP)),
            false => _mm512_setzero_ps(),
        };
        for c in 0..NA {
            let ad = *t.ad[c].get_unchecked(sb * 8);
            let scale = _mm512_mul_ps(d, _mm512_set1_ps(ad));
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[c]), scale, acc[c]);
            if s.k_min() {
                // `Σ sub_min · Σq` over the super-block, two blocks per `vpdpwssd`.
                let mut imin = _mm512_setzero_si512();
                for b in (sb * 8..sb * 8 + 8).step_by(2) {
                    let mn = t.sub_mins.as_ptr().add((b / 2) * GROUP * 2);
                    let pair = t.bsum[c].as_ptr().add(b).cast::<i32>().read_unaligned();
                    let mn = _mm512_loadu_si512(mn.cast());
                    imin = _mm512_dpwssd_epi32(imin, mn, _mm512_set1_epi32(pair));
                }
                let mscale = _mm512_mul_ps(dmin, _mm512_set1_ps(-ad));
                acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(imin), mscale, acc[c]);
            }
        }
    }
    for (o, v) in out.iter_mut().zip(acc) {
        _mm512_storeu_ps(o.as_mut_ptr(), v);
    }
}

/// Adds `Σ stored · q` over the block's runs `runs` (4 bytes of each row per run; for
/// 4-bit values a run's low nibbles are values `4k..4k + 4` and its high nibbles values
/// `16 + 4k..`) to each activation row's sums.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
unsafe fn block_dots<K: Kind, const NA: usize>(
    qp: *const u8,
    ap: &[*const i8; NA],
    sums: &mut [__m512i; NA],
    runs: std::ops::Range<usize>,
) {
    let mask = _mm512_set1_epi8(0x0F);
    for k in runs {
        let x = _mm512_loadu_si512(qp.add(k * 64).cast());
        match K::S.nib() {
            true => {
                let lo = _mm512_and_si512(x, mask);
                let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(x), mask);
                for c in 0..NA {
                    sums[c] = _mm512_dpbusd_epi32(sums[c], lo, quad(ap[c], 4 * k));
                    sums[c] = _mm512_dpbusd_epi32(sums[c], hi, quad(ap[c], 16 + 4 * k));
                }
            }
            false => {
                for c in 0..NA {
                    sums[c] = _mm512_dpbusd_epi32(sums[c], x, quad(ap[c], 4 * k));
                }
            }
        }
    }
}

/// Activation bytes `at..at + 4`, broadcast to every lane.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
unsafe fn quad(p: *const i8, at: usize) -> __m512i {
    _mm512_set1_epi32(p.add(at).cast::<i32>().read_unaligned())
}
