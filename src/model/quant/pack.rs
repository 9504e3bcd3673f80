//! GGUF quantized blocks → the kernels' layout.
//!
//! Every supported type is re-encoded at load, losslessly, as 32-value blocks of small
//! unsigned integers (kept 4-bit packed where they have 4 bits). A signed type stores its
//! values plus an offset (Q4_0 `+8`, Q5_0 `+16`, Q8_0 `+128`, Q6_K `+32`); the kernels take
//! the offset back out exactly, in integers, from the activations' block sums. The 32-value
//! types get an f32 scale per block and, when asymmetric, an f32 min:
//! `value = scale · q + min`. K-quants keep their structure: integer sub-block scales (and
//! mins) per 32 values (per 16 for Q6_K) under an f32 `d` (and `dmin`) per 256, so the
//! kernels sum a whole super-block in integers and scale it once, as llama.cpp does.
//!
//! Rows are interleaved in groups of [`GROUP`]: for each block, the group's values lie
//! 4 bytes of a row after 4 bytes of the next, so one 512-bit register holds 4 values of
//! each of 16 rows and one `vpdpbusd` lane accumulates one row's block. Scales, mins and
//! sub-scales are interleaved the same way (16 rows' values of a block side by side). A
//! matrix whose row count is not a multiple of 16 gets zero rows at the end.
//!
//! Together with activations quantized the way llama.cpp quantizes them for each type
//! ([`ActQuant`]), the integer sums are llama.cpp's; only float rounding order differs.

use candle_core::quantized::GgmlDType;
use half::f16;

/// Values per block of the packed layout.
pub(crate) const BLOCK: usize = 32;
/// Values per K-quant super-block.
pub(crate) const SUPER: usize = 256;
/// Weight rows interleaved together.
pub(crate) const GROUP: usize = 16;
/// Bytes of one row's values that lie together in a group.
const RUN: usize = 4;

/// The GGUF type a weight came from: how its blocks are stored and multiplied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q4K,
    Q5K,
    Q6K,
}

impl Scheme {
    /// Values kept 4-bit, two per byte: value `j` in the low nibble of a row's byte `j`,
    /// value `j + 16` in its high nibble.
    pub const fn nib(self) -> bool {
        matches!(self, Scheme::Q4_0 | Scheme::Q4_1 | Scheme::Q4K)
    }

    /// Bytes of one row's block.
    pub const fn block_bytes(self) -> usize {
        match self.nib() {
            true => BLOCK / 2,
            false => BLOCK,
        }
    }

    /// What was added to the signed values to store them unsigned.
    pub const fn offset(self) -> i32 {
        match self {
            Scheme::Q4_0 => 8,
            Scheme::Q5_0 => 16,
            Scheme::Q8_0 => 128,
            Scheme::Q6K => 32,
            _ => 0,
        }
    }

    /// An f32 min per 32-value block (Q4_1, Q5_1).
    pub const fn float_min(self) -> bool {
        matches!(self, Scheme::Q4_1 | Scheme::Q5_1)
    }

    /// K-quant: integer sub-scales under a per-256 `d`.
    pub const fn is_k(self) -> bool {
        matches!(self, Scheme::Q4K | Scheme::Q5K | Scheme::Q6K)
    }

    /// K-quant with integer mins under a per-256 `dmin` (Q4_K, Q5_K).
    pub const fn k_min(self) -> bool {
        matches!(self, Scheme::Q4K | Scheme::Q5K)
    }

    /// A sub-scale per 16 values (Q6_K) rather than per 32.
    pub const fn per16(self) -> bool {
        matches!(self, Scheme::Q6K)
    }

    /// Integer sub-scales per 32-value block (K-quants).
    pub const fn sub_scales(self) -> usize {
        match self {
            Scheme::Q6K => 2,
            Scheme::Q4K | Scheme::Q5K => 1,
            _ => 0,
        }
    }

    /// The activations' offset corrections per 32-value block: one per sub-scale for
    /// Q6_K, one for the other offset types, none without an offset.
    pub const fn corrections(self) -> usize {
        match (self.per16(), self.offset()) {
            (true, _) => 2,
            (false, 0) => 0,
            (false, _) => 1,
        }
    }
}

/// How activations are quantized against a weight type: llama.cpp's `vec_dot_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ActQuant {
    /// Per 32 values, f16 scale (Q4_0, Q5_0, Q8_0).
    Q8_0,
    /// Per 32 values, f16 scale and f16 `scale · Σq` (Q4_1, Q5_1).
    Q8_1,
    /// Per 256 values, f32 scale, exact per-block sums (K-quants).
    Q8K,
}

/// A quantized `[rows, cols]` matrix in the kernels' layout: groups of [`GROUP`] rows,
/// each group's blocks one after another. Indices below are `g` group, `b` block (`sb`
/// super-block) of the row, `r` row within the group.
#[derive(Debug)]
pub(crate) struct PackedWeight {
    pub rows: usize,
    pub cols: usize,
    pub scheme: Scheme,
    pub act: ActQuant,
    /// Values, `[g][b][run][r][RUN bytes]` (a run is 4 consecutive bytes of a row's block).
    pub qs: Vec<u8>,
    /// 32-value types: the scale of each block, `[g][b][r]`. K-quants: `d`, `[g][sb][r]`.
    pub scales: Vec<f32>,
    /// Like `scales`, for the min (Q4_1, Q5_1) or `dmin` (Q4_K, Q5_K); empty without.
    pub mins: Vec<f32>,
    /// K-quants: integer scale per block (two per block for Q6_K), `[g][b][s][r]`.
    pub sub_scales: Vec<i8>,
    /// Q4_K/Q5_K: integer min per block as 16-bit pairs of blocks, `[g][b / 2][r][b % 2]`.
    pub sub_mins: Vec<i16>,
}

/// The GGUF types the kernels cover.
pub(crate) fn supports(dtype: GgmlDType) -> bool {
    layout_of(dtype).is_some()
}

/// (scheme, activation quantization, GGUF block values, GGUF block bytes).
fn layout_of(dtype: GgmlDType) -> Option<(Scheme, ActQuant, usize, usize)> {
    Some(match dtype {
        GgmlDType::Q4_0 => (Scheme::Q4_0, ActQuant::Q8_0, 32, 18),
        GgmlDType::Q4_1 => (Scheme::Q4_1, ActQuant::Q8_1, 32, 20),
        GgmlDType::Q5_0 => (Scheme::Q5_0, ActQuant::Q8_0, 32, 22),
        GgmlDType::Q5_1 => (Scheme::Q5_1, ActQuant::Q8_1, 32, 24),
        GgmlDType::Q8_0 => (Scheme::Q8_0, ActQuant::Q8_0, 32, 34),
        GgmlDType::Q4K => (Scheme::Q4K, ActQuant::Q8K, SUPER, 144),
        GgmlDType::Q5K => (Scheme::Q5K, ActQuant::Q8K, SUPER, 176),
        GgmlDType::Q6K => (Scheme::Q6K, ActQuant::Q8K, SUPER, 210),
        _ => return None,
    })
}

/// One GGUF block decoded: unsigned stored values, and either f32 scale/min (32-value
/// types) or integer sub-scales/mins under `d`/`dmin`.
struct Decoded {
    q: [u8; SUPER],
    scale: f32,
    min: f32,
    sub_scales: [i8; SUPER / 16],
    sub_mins: [u8; SUPER / BLOCK],
}

fn h(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

/// K-quant 6-bit scale and min `j` (llama.cpp `get_scale_min_k4`).
fn scale_min_k4(j: usize, s: &[u8]) -> (u8, u8) {
    match j < 4 {
        true => (s[j] & 63, s[j + 4] & 63),
        false => (
            (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        ),
    }
}

fn decode(dtype: GgmlDType, b: &[u8], out: &mut Decoded) {
    match dtype {
        GgmlDType::Q4_0 | GgmlDType::Q4_1 => {
            let off = if dtype == GgmlDType::Q4_0 { 2 } else { 4 };
            out.scale = h(b, 0);
            out.min = if dtype == GgmlDType::Q4_1 {
                h(b, 2)
            } else {
                0.0
            };
            for j in 0..16 {
                out.q[j] = b[off + j] & 0xF;
                out.q[j + 16] = b[off + j] >> 4;
            }
        }
        GgmlDType::Q5_0 | GgmlDType::Q5_1 => {
            let asym = dtype == GgmlDType::Q5_1;
            let off = if asym { 4 } else { 2 };
            out.scale = h(b, 0);
            out.min = if asym { h(b, 2) } else { 0.0 };
            let qh = u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]]);
            let qs = &b[off + 4..off + 20];
            for (j, &q) in qs.iter().enumerate() {
                out.q[j] = (q & 0xF) | ((((qh >> j) << 4) & 0x10) as u8);
                out.q[j + 16] = (q >> 4) | (((qh >> (j + 12)) & 0x10) as u8);
            }
        }
        GgmlDType::Q8_0 => {
            out.scale = h(b, 0);
            for (q, &v) in out.q[..32].iter_mut().zip(&b[2..34]) {
                *q = v ^ 0x80;
            }
        }
        GgmlDType::Q4K | GgmlDType::Q5K => {
            (out.scale, out.min) = (h(b, 0), h(b, 2));
            let scales = &b[4..16];
            let five = dtype == GgmlDType::Q5K;
            let (qh, qs) = match five {
                true => (&b[16..48], &b[48..176]),
                false => (&b[0..0], &b[16..144]),
            };
            for s in 0..SUPER / BLOCK {
                let (sc, m) = scale_min_k4(s, scales);
                out.sub_scales[s] = sc as i8;
                out.sub_mins[s] = m;
                let bytes = &qs[32 * (s / 2)..32 * (s / 2) + 32];
                for l in 0..32 {
                    let nib = if s % 2 == 0 {
                        bytes[l] & 0xF
                    } else {
                        bytes[l] >> 4
                    };
                    let high = match five {
                        true => ((qh[l] >> s) & 1) << 4,
                        false => 0,
                    };
                    out.q[s * 32 + l] = nib | high;
                }
            }
        }
        GgmlDType::Q6K => {
            let (ql, qh) = (&b[0..128], &b[128..192]);
            out.scale = h(b, 208);
            for (s, &sc) in b[192..208].iter().enumerate() {
                out.sub_scales[s] = sc as i8;
            }
            for e in 0..SUPER {
                let (half, quarter, l) = (e / 128, (e % 128) / 32, e % 32);
                let byte = ql[64 * half + l + 32 * (quarter & 1)];
                let low = if quarter < 2 { byte & 0xF } else { byte >> 4 };
                let high = (qh[32 * half + l] >> (2 * quarter)) & 3;
                out.q[e] = low | (high << 4);
            }
        }
        _ => {}
    }
}

impl PackedWeight {
    /// Re-encodes GGUF block data of a `[rows, cols]` matrix; `None` for types the kernels
    /// do not cover. Errors when the data does not have the size the shape implies.
    pub fn from_gguf(
        dtype: GgmlDType,
        data: &[u8],
        rows: usize,
        cols: usize,
    ) -> Result<Option<Self>, String> {
        let Some((scheme, act, block_values, block_bytes)) = layout_of(dtype) else {
            return Ok(None);
        };
        if !cols.is_multiple_of(block_values) {
            return Err(format!("{dtype:?} row of {cols} values"));
        }
        let gguf_row = cols / block_values * block_bytes;
        if data.len() != rows * gguf_row {
            return Err(format!(
                "{dtype:?} [{rows}, {cols}] needs {} bytes, got {}",
                rows * gguf_row,
                data.len()
            ));
        }
        let groups = rows.div_ceil(GROUP);
        let blocks = cols / BLOCK;
        let slots = groups * GROUP * blocks;
        let per_scale = match scheme.is_k() {
            true => slots / 8,
            false => slots,
        };
        let min_slots = match scheme.float_min() || scheme.k_min() {
            true => per_scale,
            false => 0,
        };
        let mut packed = Self {
            rows,
            cols,
            scheme,
            act,
            qs: vec![0; slots * scheme.block_bytes()],
            scales: vec![0.0; per_scale],
            mins: vec![0.0; min_slots],
            sub_scales: vec![0; slots * scheme.sub_scales()],
            sub_mins: vec![0; if scheme.k_min() { slots } else { 0 }],
        };
        let mut dec = Decoded {
            q: [0; SUPER],
            scale: 0.0,
            min: 0.0,
            sub_scales: [0; SUPER / 16],
            sub_mins: [0; SUPER / BLOCK],
        };
        let subs = block_values / BLOCK;
        for (row, gguf) in data.chunks_exact(gguf_row).enumerate() {
            for (gb, block) in gguf.chunks_exact(block_bytes).enumerate() {
                decode(dtype, block, &mut dec);
                let at = packed.scale_index(row, gb * subs);
                packed.scales[at] = dec.scale;
                if let Some(m) = packed.mins.get_mut(at) {
                    *m = dec.min;
                }
                for s in 0..subs {
                    packed.put_block(row, gb * subs + s, &dec, s);
                }
            }
        }
        Ok(Some(packed))
    }

    /// Stores sub-block `s` of a decoded GGUF block as block `b` of `row`.
    fn put_block(&mut self, row: usize, b: usize, dec: &Decoded, s: usize) {
        let q = &dec.q[s * BLOCK..(s + 1) * BLOCK];
        let bytes: [u8; BLOCK] = match self.scheme.nib() {
            true => std::array::from_fn(|j| if j < 16 { q[j] | (q[j + 16] << 4) } else { 0 }),
            false => std::array::from_fn(|j| q[j]),
        };
        for (j, &v) in bytes[..self.scheme.block_bytes()].iter().enumerate() {
            let at = self.byte_index(row, b, j);
            self.qs[at] = v;
        }
        let per = self.scheme.sub_scales();
        for h in 0..per {
            let at = self.sub_index(row, b, h);
            self.sub_scales[at] = dec.sub_scales[s * per + h];
        }
        if self.scheme.k_min() {
            let at = self.min_index(row, b);
            self.sub_mins[at] = dec.sub_mins[s] as i16;
        }
    }

    /// Where byte `j` of block `b` of `row` is in `qs`.
    fn byte_index(&self, row: usize, b: usize, j: usize) -> usize {
        let (g, r) = (row / GROUP, row % GROUP);
        let block = (g * self.blocks() + b) * GROUP * self.scheme.block_bytes();
        block + (j / RUN) * GROUP * RUN + r * RUN + j % RUN
    }

    /// Where the scale (and min) of block `b` of `row` is: per block, or per super-block
    /// for K-quants.
    fn scale_index(&self, row: usize, b: usize) -> usize {
        let (g, r) = (row / GROUP, row % GROUP);
        match self.scheme.is_k() {
            true => (g * self.blocks() / 8 + b / 8) * GROUP + r,
            false => (g * self.blocks() + b) * GROUP + r,
        }
    }

    /// Where sub-scale `h` of block `b` of `row` is.
    fn sub_index(&self, row: usize, b: usize, h: usize) -> usize {
        let (g, r) = (row / GROUP, row % GROUP);
        let per = self.scheme.sub_scales();
        ((g * self.blocks() + b) * per + h) * GROUP + r
    }

    /// Where the integer min of block `b` of `row` is.
    fn min_index(&self, row: usize, b: usize) -> usize {
        let (g, r) = (row / GROUP, row % GROUP);
        ((g * self.blocks() / 2 + b / 2) * GROUP + r) * 2 + b % 2
    }

    /// The rows of several weights of one kind over the same input, stacked: one matmul
    /// instead of several (Q/K/V, gate/up). `None` when their layouts differ or a part
    /// (but the last) ends in a partial group.
    pub fn stack(parts: &[&PackedWeight]) -> Option<PackedWeight> {
        let (first, last) = (parts.first()?, parts.len() - 1);
        let same = |(i, p): (usize, &&PackedWeight)| {
            p.cols == first.cols
                && p.scheme == first.scheme
                && p.act == first.act
                && (i == last || p.rows.is_multiple_of(GROUP))
        };
        if !parts.iter().enumerate().all(same) {
            return None;
        }
        let mut out = PackedWeight {
            rows: parts.iter().map(|p| p.rows).sum(),
            cols: first.cols,
            scheme: first.scheme,
            act: first.act,
            qs: Vec::new(),
            scales: Vec::new(),
            mins: Vec::new(),
            sub_scales: Vec::new(),
            sub_mins: Vec::new(),
        };
        for p in parts {
            out.qs.extend_from_slice(&p.qs);
            out.scales.extend_from_slice(&p.scales);
            out.mins.extend_from_slice(&p.mins);
            out.sub_scales.extend_from_slice(&p.sub_scales);
            out.sub_mins.extend_from_slice(&p.sub_mins);
        }
        Some(out)
    }

    pub fn blocks(&self) -> usize {
        self.cols / BLOCK
    }

    /// Bytes the packed matrix occupies.
    pub fn size_in_bytes(&self) -> usize {
        self.qs.len()
            + 4 * (self.scales.len() + self.mins.len())
            + self.sub_scales.len()
            + 2 * self.sub_mins.len()
    }

    /// Integer value `j` of block `b` of `row` (offset taken out), as the kernels multiply
    /// it.
    pub fn value(&self, row: usize, b: usize, j: usize) -> i32 {
        let q = match self.scheme.nib() {
            true => {
                let byte = self.qs[self.byte_index(row, b, j % 16)];
                if j < 16 {
                    byte & 0xF
                } else {
                    byte >> 4
                }
            }
            false => self.qs[self.byte_index(row, b, j)],
        };
        q as i32 - self.scheme.offset()
    }

    /// The f32 scale of block `b` of `row` (32-value types) or `d` of its super-block.
    pub fn scale(&self, row: usize, b: usize) -> f32 {
        self.scales[self.scale_index(row, b)]
    }

    /// The f32 min of block `b` (Q4_1, Q5_1) or `dmin` of its super-block (Q4_K, Q5_K).
    pub fn min(&self, row: usize, b: usize) -> f32 {
        self.mins[self.scale_index(row, b)]
    }

    /// Integer sub-scale `h` of block `b` of `row` (K-quants).
    pub fn sub_scale(&self, row: usize, b: usize, h: usize) -> i32 {
        self.sub_scales[self.sub_index(row, b, h)] as i32
    }

    /// Integer min of block `b` of `row` (Q4_K, Q5_K).
    pub fn sub_min(&self, row: usize, b: usize) -> i32 {
        self.sub_mins[self.min_index(row, b)] as i32
    }

    /// The f32 scale and min of value `j` of block `b` of `row`: `value · scale + min`,
    /// computed as llama.cpp's dequantization does.
    fn scale_min(&self, row: usize, b: usize, j: usize) -> (f32, f32) {
        let s = self.scheme;
        if !s.is_k() {
            let min = if s.float_min() { self.min(row, b) } else { 0.0 };
            return (self.scale(row, b), min);
        }
        let sc = self.sub_scale(row, b, (j / 16) * (s.sub_scales() - 1)) as f32;
        match s.k_min() {
            true => (
                self.scale(row, b) * sc,
                -(self.min(row, b) * self.sub_min(row, b) as f32),
            ),
            false => (self.scale(row, b) * sc, 0.0),
        }
    }

    /// Row `row` as f32 (embedding lookups, tests).
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) {
        for b in 0..self.blocks() {
            for j in 0..BLOCK {
                let (scale, min) = self.scale_min(row, b, j);
                out[b * BLOCK + j] = scale * self.value(row, b, j) as f32 + min;
            }
        }
    }
}
