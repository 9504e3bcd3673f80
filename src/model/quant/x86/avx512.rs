//! AVX-512 VNNI kernels: the same integer sums and float operations as the AVX2 ones (and
//! [`super::super::portable`]), two 8-lane accumulators to a register.
//!
//! A 512-bit register holds two (weight row, activation row) pairs side by side, each in
//! AVX2's 8-lane arrangement, so every pair's lanes see exactly the operations the AVX2
//! kernel gives them. Prefill pairs two activation rows against one weight row (the weight
//! block is unpacked once into both halves); decode pairs two weight rows against the one
//! activation row. `vpdpbusd` multiplies unsigned by signed bytes and sums each 4 into a
//! 32-bit lane in one instruction; the offsets that make either side unsigned are
//! subtracted exactly, in integers, before the lanes become floats:
//! - Q4_0 (`q − 8`): `Σ q·a − 8·Σ a`, the second term from the activations;
//! - signed bytes (Q5_0, Q8_0, Q6_K): `Σ (a + 128)·w − 128·Σ w`, from the weights;
//! - unsigned values with a min (Q4_1, Q5_1, Q4_K, Q5_K): `Σ q·a` directly.
//!
//! K-quants multiply 16-bit pair sums by the sub-block scales with `vpdpwssd`, as the AVX2
//! kernel does with `madd` + `add`.

use std::arch::x86_64::*;

use super::super::activations::Activations;
use super::super::out::Out;
use super::super::pack::{PackedWeight, BLOCK};
use super::{hsum, prefetch};

/// Whether this CPU runs the kernels here.
pub(crate) fn available() -> bool {
    super::available()
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vnni")
}

/// The weight and activation data of a tile: `RW` weight rows, `RA` activation rows.
struct Tile<'a, const RW: usize, const RA: usize> {
    wq: [&'a [u8]; RW],
    /// The rows of the next tile down, prefetched while this one is multiplied.
    next: [&'a [u8]; RW],
    aq: [&'a [i8]; RA],
    blocks: usize,
}

impl<'a, const RW: usize, const RA: usize> Tile<'a, RW, RA> {
    fn new(w: &'a PackedWeight, a: &'a Activations, row0: usize, col0: usize) -> Self {
        let blocks = w.blocks();
        Self {
            wq: std::array::from_fn(|r| row(w, row0 + r)),
            next: std::array::from_fn(|r| row(w, row0 + RW + r)),
            aq: std::array::from_fn(|c| {
                &a.qs[(col0 + c) * blocks * BLOCK..(col0 + c + 1) * blocks * BLOCK]
            }),
            blocks,
        }
    }
}

/// Weight row `r`'s values; empty past the last row.
fn row(w: &PackedWeight, r: usize) -> &[u8] {
    let rb = w.blocks() * w.scheme.block_bytes();
    w.qs.get(r * rb..(r + 1) * rb).unwrap_or(&[])
}

/// The scales of a tile's rows: per block (32-value types) or per super-block (`d`,
/// `dmin`) with integer sub-scales and mins (K-quants), and the activations'.
struct Scales<'a> {
    w: &'a [f32],
    wm: &'a [f32],
    sc: &'a [i8],
    mn: &'a [u8],
    ad: &'a [f32],
    asum: &'a [f32],
    bsum: &'a [i32],
}

impl<'a> Scales<'a> {
    fn new(
        w: &'a PackedWeight,
        a: &'a Activations,
        rows: (usize, usize),
        cols: (usize, usize),
    ) -> Self {
        let blocks = w.blocks();
        let (wr, ar) = (
            rows.0 * blocks..rows.1 * blocks,
            cols.0 * blocks..cols.1 * blocks,
        );
        let (min, k) = (w.scheme.has_min(), w.scheme.is_k());
        let per = w.scheme.sub_scales();
        let ws = match k {
            true => rows.0 * blocks / 8..rows.1 * blocks / 8,
            false => wr.clone(),
        };
        Self {
            w: &w.scales[ws.clone()],
            wm: if min { &w.mins[ws] } else { &[][..] },
            sc: &w.sub_scales[wr.start * per..wr.end * per],
            mn: if min && k { &w.sub_mins[wr] } else { &[][..] },
            ad: &a.d[ar.clone()],
            asum: &a.s[ar.clone()],
            bsum: &a.bsum[ar],
        }
    }
}

/// Everything a prefill tile reads: `RW` weight rows and `CP` pairs of activation rows.
struct ColTile<'a, const RW: usize, const CP: usize> {
    t: Tile<'a, RW, 0>,
    aq: [[&'a [i8]; 2]; CP],
    s: Scales<'a>,
}

impl<'a, const RW: usize, const CP: usize> ColTile<'a, RW, CP> {
    fn new(w: &'a PackedWeight, a: &'a Activations, row0: usize, col0: usize) -> Self {
        let t = Tile::<RW, 0>::new(w, a, row0, col0);
        let span = t.blocks * BLOCK;
        Self {
            aq: std::array::from_fn(|p| {
                std::array::from_fn(|h| {
                    let c = col0 + 2 * p + h;
                    &a.qs[c * span..(c + 1) * span]
                })
            }),
            s: Scales::new(w, a, (row0, row0 + RW), (col0, col0 + 2 * CP)),
            t,
        }
    }
}

fn store_cols<const RW: usize, const CP: usize>(
    sums: [[[f32; 2]; CP]; RW],
    out: &mut Out<'_>,
    at: (usize, usize),
) {
    for (r, row) in sums.iter().enumerate() {
        for (p, pair) in row.iter().enumerate() {
            for (h, v) in pair.iter().enumerate() {
                out.set(at.0 + r, at.1 + 2 * p + h, *v);
            }
        }
    }
}

/// Everything a decode tile reads: `RP` pairs of weight rows and one activation row.
struct RowTile<'a, const RP: usize> {
    t: Tile<'a, 0, 1>,
    wq: PairRows<'a, RP>,
    s: Scales<'a>,
}

impl<'a, const RP: usize> RowTile<'a, RP> {
    fn new(w: &'a PackedWeight, a: &'a Activations, row0: usize, col: usize) -> Self {
        Self {
            t: Tile::<0, 1>::new(w, a, row0, col),
            wq: pair_rows::<RP>(w, row0),
            s: Scales::new(w, a, (row0, row0 + 2 * RP), (col, col + 1)),
        }
    }
}

/// Prefill tile of a 32-value type: `RW` weight rows × `CP` pairs of activation rows.
///
/// `NIB`: 4-bit values; `OFF8`: minus 8 (Q4_0); `MIN`: unsigned with a per-block min; none
/// of them: signed bytes. Must only be called when [`available`].
pub(crate) fn cols_32<
    const NIB: bool,
    const OFF8: bool,
    const MIN: bool,
    const RW: usize,
    const CP: usize,
>(
    w: &PackedWeight,
    a: &Activations,
    row0: usize,
    col0: usize,
    out: &mut Out<'_>,
) {
    let tile = ColTile::<RW, CP>::new(w, a, row0, col0);
    // SAFETY: `available()` was checked by the dispatcher; every row slice holds exactly
    // `blocks` blocks and the kernel reads blocks `0..blocks`.
    let sums = unsafe { cols_32_avx512::<NIB, OFF8, MIN, RW, CP>(&tile) };
    store_cols(sums, out, (row0, col0));
}

#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn cols_32_avx512<
    const NIB: bool,
    const OFF8: bool,
    const MIN: bool,
    const RW: usize,
    const CP: usize,
>(
    tile: &ColTile<'_, RW, CP>,
) -> [[[f32; 2]; CP]; RW] {
    let (t, aq, s) = (&tile.t, &tile.aq, &tile.s);
    let blocks = t.blocks;
    let bb = if NIB { BLOCK / 2 } else { BLOCK };
    let signed = !NIB && !MIN;
    let mut acc = [[_mm512_setzero_ps(); CP]; RW];
    let mut macc = [[[0f32; 2]; CP]; RW];
    for b in 0..blocks {
        let wv: [__m512i; RW] = std::array::from_fn(|r| {
            stream(t.next[r], b * bb, bb);
            both_halves::<NIB>(t.wq[r].as_ptr().add(b * bb))
        });
        let wcorr: [__m512i; RW] = std::array::from_fn(|r| match signed {
            true => neg_sums(_mm512_set1_epi8(-128), wv[r]),
            false => _mm512_setzero_si512(),
        });
        for p in 0..CP {
            let av = pair(
                aq[p][0].as_ptr().add(b * BLOCK),
                aq[p][1].as_ptr().add(b * BLOCK),
            );
            let (c0, c1) = ((2 * p) * blocks + b, (2 * p + 1) * blocks + b);
            let adv = pair_ps(s.ad[c0], s.ad[c1]);
            let init = match OFF8 {
                true => neg_sums(_mm512_set1_epi8(8), av),
                false => _mm512_setzero_si512(),
            };
            let au = _mm512_xor_si512(av, _mm512_set1_epi8(-128));
            for r in 0..RW {
                let lanes = match signed {
                    true => _mm512_dpbusd_epi32(wcorr[r], au, wv[r]),
                    false => _mm512_dpbusd_epi32(init, wv[r], av),
                };
                let scale = _mm512_mul_ps(_mm512_set1_ps(s.w[r * blocks + b]), adv);
                acc[r][p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(lanes), scale, acc[r][p]);
                if MIN {
                    let wm = s.wm[r * blocks + b];
                    macc[r][p][0] = wm.mul_add(s.asum[c0], macc[r][p][0]);
                    macc[r][p][1] = wm.mul_add(s.asum[c1], macc[r][p][1]);
                }
            }
        }
    }
    std::array::from_fn(|r| {
        std::array::from_fn(|p| {
            let (lo, hi) = halves(acc[r][p]);
            [hsum(lo) + macc[r][p][0], hsum(hi) + macc[r][p][1]]
        })
    })
}

/// Decode tile of a 32-value type (see [`cols_32`]): `RP` pairs of weight rows × one
/// activation row.
pub(crate) fn rows_32<const NIB: bool, const OFF8: bool, const MIN: bool, const RP: usize>(
    w: &PackedWeight,
    a: &Activations,
    row0: usize,
    col: usize,
    out: &mut Out<'_>,
) {
    let tile = RowTile::<RP>::new(w, a, row0, col);
    // SAFETY: as in `cols_32`.
    let sums = unsafe { rows_32_avx512::<NIB, OFF8, MIN, RP>(&tile) };
    store_rows(sums, out, (row0, col));
}

/// `RP` pairs of weight rows from `row0`, and the pairs after them (prefetched).
type PairRows<'a, const RP: usize> = ([[&'a [u8]; 2]; RP], [[&'a [u8]; 2]; RP]);

fn pair_rows<const RP: usize>(w: &PackedWeight, row0: usize) -> PairRows<'_, RP> {
    let at =
        |first: usize| std::array::from_fn(|p| std::array::from_fn(|h| row(w, first + 2 * p + h)));
    (at(row0), at(row0 + 2 * RP))
}

fn store_rows<const RP: usize>(sums: [[f32; 2]; RP], out: &mut Out<'_>, at: (usize, usize)) {
    for (p, pair) in sums.iter().enumerate() {
        for (h, v) in pair.iter().enumerate() {
            out.set(at.0 + 2 * p + h, at.1, *v);
        }
    }
}

#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn rows_32_avx512<const NIB: bool, const OFF8: bool, const MIN: bool, const RP: usize>(
    tile: &RowTile<'_, RP>,
) -> [[f32; 2]; RP] {
    let (t, wq, s) = (&tile.t, &tile.wq, &tile.s);
    let blocks = t.blocks;
    let bb = if NIB { BLOCK / 2 } else { BLOCK };
    let signed = !NIB && !MIN;
    let mut acc = [_mm512_setzero_ps(); RP];
    let mut macc = [[0f32; 2]; RP];
    for b in 0..blocks {
        let av = _mm512_broadcast_i64x4(_mm256_loadu_si256(t.aq[0].as_ptr().add(b * BLOCK).cast()));
        let au = _mm512_xor_si512(av, _mm512_set1_epi8(-128));
        let init = match OFF8 {
            true => neg_sums(_mm512_set1_epi8(8), av),
            false => _mm512_setzero_si512(),
        };
        let ad = _mm512_set1_ps(s.ad[b]);
        for p in 0..RP {
            let (p0, p1) = (wq.0[p][0], wq.0[p][1]);
            stream(wq.1[p][0], b * bb, bb);
            stream(wq.1[p][1], b * bb, bb);
            let wv = two_rows::<NIB>(p0.as_ptr().add(b * bb), p1.as_ptr().add(b * bb));
            let lanes = match signed {
                true => _mm512_dpbusd_epi32(neg_sums(_mm512_set1_epi8(-128), wv), au, wv),
                false => _mm512_dpbusd_epi32(init, wv, av),
            };
            let (w0, w1) = ((2 * p) * blocks + b, (2 * p + 1) * blocks + b);
            let scale = _mm512_mul_ps(pair_ps(s.w[w0], s.w[w1]), ad);
            acc[p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(lanes), scale, acc[p]);
            if MIN {
                macc[p][0] = s.wm[w0].mul_add(s.asum[b], macc[p][0]);
                macc[p][1] = s.wm[w1].mul_add(s.asum[b], macc[p][1]);
            }
        }
    }
    std::array::from_fn(|p| {
        let (lo, hi) = halves(acc[p]);
        [hsum(lo) + macc[p][0], hsum(hi) + macc[p][1]]
    })
}

/// Prefill tile of a K-quant (see [`cols_32`]): `NIB` Q4_K, `MIN` Q4_K/Q5_K, `PER16` Q6_K.
pub(crate) fn cols_k<
    const NIB: bool,
    const MIN: bool,
    const PER16: bool,
    const RW: usize,
    const CP: usize,
>(
    w: &PackedWeight,
    a: &Activations,
    row0: usize,
    col0: usize,
    out: &mut Out<'_>,
) {
    let tile = ColTile::<RW, CP>::new(w, a, row0, col0);
    // SAFETY: as in `cols_32`.
    let sums = unsafe { cols_k_avx512::<NIB, MIN, PER16, RW, CP>(&tile) };
    store_cols(sums, out, (row0, col0));
}

#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn cols_k_avx512<
    const NIB: bool,
    const MIN: bool,
    const PER16: bool,
    const RW: usize,
    const CP: usize,
>(
    tile: &ColTile<'_, RW, CP>,
) -> [[[f32; 2]; CP]; RW] {
    let (t, aq, s) = (&tile.t, &tile.aq, &tile.s);
    let blocks = t.blocks;
    let bb = if NIB { BLOCK / 2 } else { BLOCK };
    let per = if PER16 { 2 } else { 1 };
    let mut acc = [[_mm512_setzero_ps(); CP]; RW];
    let mut macc = [[[0f32; 2]; CP]; RW];
    for sb in 0..blocks / 8 {
        let mut isum = [[_mm512_setzero_si512(); CP]; RW];
        let mut imin = [[[0i32; 2]; CP]; RW];
        for b in sb * 8..sb * 8 + 8 {
            let wv: [__m512i; RW] = std::array::from_fn(|r| {
                stream(t.next[r], b * bb, bb);
                both_halves::<NIB>(t.wq[r].as_ptr().add(b * bb))
            });
            let scales: [__m512i; RW] = std::array::from_fn(|r| {
                let at = (r * blocks + b) * per;
                let one = scales16::<PER16>(s.sc[at], s.sc[at + per - 1]);
                _mm512_broadcast_i64x4(one)
            });
            // Q6_K's signed values: `128 · (w₀ + w₁)` per pair, subtracted below.
            let wcorr: [__m512i; RW] = std::array::from_fn(|r| match MIN {
                true => _mm512_setzero_si512(),
                false => _mm512_maddubs_epi16(_mm512_set1_epi8(-128), wv[r]),
            });
            for p in 0..CP {
                let av = pair(
                    aq[p][0].as_ptr().add(b * BLOCK),
                    aq[p][1].as_ptr().add(b * BLOCK),
                );
                let au = _mm512_xor_si512(av, _mm512_set1_epi8(-128));
                for r in 0..RW {
                    let pairs = match MIN {
                        true => _mm512_maddubs_epi16(wv[r], av),
                        false => _mm512_sub_epi16(_mm512_maddubs_epi16(au, wv[r]), wcorr[r]),
                    };
                    isum[r][p] = _mm512_dpwssd_epi32(isum[r][p], pairs, scales[r]);
                    if MIN {
                        let mn = s.mn[r * blocks + b] as i32;
                        imin[r][p][0] += mn * s.bsum[(2 * p) * blocks + b];
                        imin[r][p][1] += mn * s.bsum[(2 * p + 1) * blocks + b];
                    }
                }
            }
        }
        for p in 0..CP {
            let (a0, a1) = (
                s.ad[(2 * p) * blocks + sb * 8],
                s.ad[(2 * p + 1) * blocks + sb * 8],
            );
            let adv = pair_ps(a0, a1);
            for r in 0..RW {
                let wi = r * blocks / 8 + sb;
                let d = _mm512_mul_ps(_mm512_set1_ps(s.w[wi]), adv);
                acc[r][p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r][p]), d, acc[r][p]);
                if MIN {
                    let m = &mut macc[r][p];
                    m[0] = (-a0 * s.wm[wi]).mul_add(imin[r][p][0] as f32, m[0]);
                    m[1] = (-a1 * s.wm[wi]).mul_add(imin[r][p][1] as f32, m[1]);
                }
            }
        }
    }
    std::array::from_fn(|r| {
        std::array::from_fn(|p| {
            let (lo, hi) = halves(acc[r][p]);
            [hsum(lo) + macc[r][p][0], hsum(hi) + macc[r][p][1]]
        })
    })
}

/// Decode tile of a K-quant (see [`cols_k`]): `RP` pairs of weight rows × one activation
/// row.
pub(crate) fn rows_k<const NIB: bool, const MIN: bool, const PER16: bool, const RP: usize>(
    w: &PackedWeight,
    a: &Activations,
    row0: usize,
    col: usize,
    out: &mut Out<'_>,
) {
    let tile = RowTile::<RP>::new(w, a, row0, col);
    // SAFETY: as in `cols_32`.
    let sums = unsafe { rows_k_avx512::<NIB, MIN, PER16, RP>(&tile) };
    store_rows(sums, out, (row0, col));
}

#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn rows_k_avx512<const NIB: bool, const MIN: bool, const PER16: bool, const RP: usize>(
    tile: &RowTile<'_, RP>,
) -> [[f32; 2]; RP] {
    let (t, wq, s) = (&tile.t, &tile.wq, &tile.s);
    let blocks = t.blocks;
    let bb = if NIB { BLOCK / 2 } else { BLOCK };
    let per = if PER16 { 2 } else { 1 };
    let mut acc = [_mm512_setzero_ps(); RP];
    let mut macc = [[0f32; 2]; RP];
    for sb in 0..blocks / 8 {
        let mut isum = [_mm512_setzero_si512(); RP];
        let mut imin = [[0i32; 2]; RP];
        for b in sb * 8..sb * 8 + 8 {
            let av =
                _mm512_broadcast_i64x4(_mm256_loadu_si256(t.aq[0].as_ptr().add(b * BLOCK).cast()));
            let au = _mm512_xor_si512(av, _mm512_set1_epi8(-128));
            for p in 0..RP {
                let (p0, p1) = (wq.0[p][0], wq.0[p][1]);
                stream(wq.1[p][0], b * bb, bb);
                stream(wq.1[p][1], b * bb, bb);
                let wv = two_rows::<NIB>(p0.as_ptr().add(b * bb), p1.as_ptr().add(b * bb));
                let (w0, w1) = ((2 * p) * blocks + b, (2 * p + 1) * blocks + b);
                let scales = _mm512_inserti64x4::<1>(
                    _mm512_castsi256_si512(scales16::<PER16>(
                        s.sc[w0 * per],
                        s.sc[w0 * per + per - 1],
                    )),
                    scales16::<PER16>(s.sc[w1 * per], s.sc[w1 * per + per - 1]),
                );
                let pairs = match MIN {
                    true => _mm512_maddubs_epi16(wv, av),
                    false => _mm512_sub_epi16(
                        _mm512_maddubs_epi16(au, wv),
                        _mm512_maddubs_epi16(_mm512_set1_epi8(-128), wv),
                    ),
                };
                isum[p] = _mm512_dpwssd_epi32(isum[p], pairs, scales);
                if MIN {
                    imin[p][0] += s.mn[w0] as i32 * s.bsum[b];
                    imin[p][1] += s.mn[w1] as i32 * s.bsum[b];
                }
            }
        }
        let ad = s.ad[sb * 8];
        for p in 0..RP {
            let (w0, w1) = ((2 * p) * blocks / 8 + sb, (2 * p + 1) * blocks / 8 + sb);
            let d = _mm512_mul_ps(pair_ps(s.w[w0], s.w[w1]), _mm512_set1_ps(ad));
            acc[p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[p]), d, acc[p]);
            if MIN {
                macc[p][0] = (-ad * s.wm[w0]).mul_add(imin[p][0] as f32, macc[p][0]);
                macc[p][1] = (-ad * s.wm[w1]).mul_add(imin[p][1] as f32, macc[p][1]);
            }
        }
    }
    std::array::from_fn(|p| {
        let (lo, hi) = halves(acc[p]);
        [hsum(lo) + macc[p][0], hsum(hi) + macc[p][1]]
    })
}

/// Prefetches `row[at]` (the next tile's block at the position the tile is reading),
/// once per cache line.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
fn stream(row: &[u8], at: usize, bb: usize) {
    if at % 64 < bb {
        prefetch(row, at);
    }
}

/// `−(Σ u·v)` per lane of 4 (`u` unsigned): the exact offset terms of the module docs.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
fn neg_sums(u: __m512i, v: __m512i) -> __m512i {
    _mm512_sub_epi32(
        _mm512_setzero_si512(),
        _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, v),
    )
}

/// `[x; 8] ++ [y; 8]`.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
fn pair_ps(x: f32, y: f32) -> __m512 {
    join_ps(_mm256_set1_ps(x), _mm256_set1_ps(y))
}

/// Two 256-bit float halves as one register (`vinsertf32x8` needs AVX-512DQ).
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
fn join_ps(lo: __m256, hi: __m256) -> __m512 {
    _mm512_castpd_ps(_mm512_insertf64x4::<1>(
        _mm512_castpd256_pd512(_mm256_castps_pd(lo)),
        _mm256_castps_pd(hi),
    ))
}

/// The two 8-lane halves of an accumulator.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
fn halves(v: __m512) -> (__m256, __m256) {
    let d = _mm512_castps_pd(v);
    (
        _mm256_castpd_ps(_mm512_castpd512_pd256(d)),
        _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(d)),
    )
}

/// Two activation blocks side by side.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
unsafe fn pair(p0: *const i8, p1: *const i8) -> __m512i {
    _mm512_inserti64x4::<1>(
        _mm512_castsi256_si512(_mm256_loadu_si256(p0.cast())),
        _mm256_loadu_si256(p1.cast()),
    )
}

/// 16-bit sub-scales for one block of 32 values: one scale, or one per 16 (`PER16`).
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
fn scales16<const PER16: bool>(s0: i8, s1: i8) -> __m256i {
    match PER16 {
        true => _mm256_set_m128i(_mm_set1_epi16(s1 as i16), _mm_set1_epi16(s0 as i16)),
        false => _mm256_set1_epi16(s0 as i16),
    }
}

/// Shifts that put low nibbles in 128-bit lanes 0 and 2 and high nibbles in 1 and 3.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
fn nibble_shifts() -> __m512i {
    _mm512_broadcast_i64x4(_mm256_set_m128i(_mm_set1_epi16(4), _mm_set1_epi16(0)))
}

/// One weight block's 32 values as bytes, in both halves.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
unsafe fn both_halves<const NIB: bool>(p: *const u8) -> __m512i {
    match NIB {
        true => {
            let x = _mm512_broadcast_i32x4(_mm_loadu_si128(p.cast()));
            _mm512_and_si512(
                _mm512_srlv_epi16(x, nibble_shifts()),
                _mm512_set1_epi8(0x0F),
            )
        }
        false => _mm512_broadcast_i64x4(_mm256_loadu_si256(p.cast())),
    }
}

/// Blocks of two weight rows as bytes, side by side.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
unsafe fn two_rows<const NIB: bool>(p0: *const u8, p1: *const u8) -> __m512i {
    match NIB {
        true => {
            let lo = _mm256_broadcastsi128_si256(_mm_loadu_si128(p0.cast()));
            let hi = _mm256_broadcastsi128_si256(_mm_loadu_si128(p1.cast()));
            let x = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi);
            _mm512_and_si512(
                _mm512_srlv_epi16(x, nibble_shifts()),
                _mm512_set1_epi8(0x0F),
            )
        }
        false => _mm512_inserti64x4::<1>(
            _mm512_castsi256_si512(_mm256_loadu_si256(p0.cast())),
            _mm256_loadu_si256(p1.cast()),
        ),
    }
}
