//! GGUF quantized blocks → the kernels' layout.
//!
//! Every supported type is re-encoded at load, losslessly, as 32-value blocks of small
//! integers (kept 4-bit packed where they have 4 bits). The 32-value types get an f32
//! scale per block and, when asymmetric, an f32 min: `value = scale · q + min`. K-quants
//! keep their structure: integer sub-block scales (and mins) per 32 values (per 16 for
//! Q6_K) under an f32 `d` (and `dmin`) per 256, so the kernels can sum a whole super-block
//! in integers and scale it once, as llama.cpp does. Together with activations quantized
//! the way llama.cpp quantizes them for each type ([`ActQuant`]), the integer sums are
//! llama.cpp's; only float rounding order differs.

use candle_core::quantized::GgmlDType;
use half::f16;

/// Values per block of the packed layout.
pub(crate) const BLOCK: usize = 32;
/// Values per K-quant super-block.
const SUPER: usize = 256;

/// How a weight's block values are stored and multiplied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// Nibbles 0..15 meaning `q - 8`, no min (Q4_0).
    Nibble8,
    /// Nibbles 0..15 with a min (Q4_1, Q4_K).
    NibbleMin,
    /// Signed bytes, no min (Q5_0 as `q - 16`, Q8_0, Q6_K as `q - 32`).
    Byte,
    /// Unsigned bytes 0..31 with a min (Q5_1).
    ByteMin,
    /// Q4_K: nibbles 0..15, 6-bit scale and min per 32, `d` and `dmin` per 256.
    KNibble,
    /// Q5_K: unsigned bytes 0..31, 6-bit scale and min per 32, `d` and `dmin` per 256.
    KByte,
    /// Q6_K: signed bytes −32..31, 8-bit signed scale per 16, `d` per 256.
    KByte16,
}

impl Scheme {
    /// Bytes of values per block: 4-bit values stay packed two per byte (value `j` in the
    /// low nibble of byte `j`, value `j + 16` in its high nibble).
    pub fn block_bytes(self) -> usize {
        match self {
            Scheme::Nibble8 | Scheme::NibbleMin | Scheme::KNibble => BLOCK / 2,
            Scheme::Byte | Scheme::ByteMin | Scheme::KByte | Scheme::KByte16 => BLOCK,
        }
    }

    /// Whether values are stored unsigned with a (negative) min.
    pub fn has_min(self) -> bool {
        matches!(
            self,
            Scheme::NibbleMin | Scheme::ByteMin | Scheme::KNibble | Scheme::KByte
        )
    }

    /// K-quant: integer sub-scales under a per-256 `d`.
    pub fn is_k(self) -> bool {
        matches!(self, Scheme::KNibble | Scheme::KByte | Scheme::KByte16)
    }

    /// Integer sub-scales per 32-value block (K-quants).
    pub fn sub_scales(self) -> usize {
        match self {
            Scheme::KByte16 => 2,
            Scheme::KNibble | Scheme::KByte => 1,
            _ => 0,
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

/// A quantized `[rows, cols]` matrix in the kernels' layout, rows one after another.
#[derive(Debug)]
pub(crate) struct PackedWeight {
    pub rows: usize,
    pub cols: usize,
    pub scheme: Scheme,
    pub act: ActQuant,
    /// `rows × blocks × scheme.block_bytes()`.
    pub qs: Vec<u8>,
    /// 32-value types: the scale of each block (`rows × blocks`). K-quants: `d` of each
    /// super-block (`rows × blocks / 8`).
    pub scales: Vec<f32>,
    /// Like `scales`, for the min (32-value types) or `dmin` (K-quants); empty without.
    pub mins: Vec<f32>,
    /// K-quants: integer scale per block (two per block for Q6_K), `rows × blocks × n`.
    pub sub_scales: Vec<i8>,
    /// Q4_K/Q5_K: integer min per block, `rows × blocks`.
    pub sub_mins: Vec<u8>,
}

/// The GGUF types the kernels cover.
pub(crate) fn supports(dtype: GgmlDType) -> bool {
    layout_of(dtype).is_some()
}

/// (scheme, activation quantization, GGUF block values, GGUF block bytes).
fn layout_of(dtype: GgmlDType) -> Option<(Scheme, ActQuant, usize, usize)> {
    Some(match dtype {
        GgmlDType::Q4_0 => (Scheme::Nibble8, ActQuant::Q8_0, 32, 18),
        GgmlDType::Q4_1 => (Scheme::NibbleMin, ActQuant::Q8_1, 32, 20),
        GgmlDType::Q5_0 => (Scheme::Byte, ActQuant::Q8_0, 32, 22),
        GgmlDType::Q5_1 => (Scheme::ByteMin, ActQuant::Q8_1, 32, 24),
        GgmlDType::Q8_0 => (Scheme::Byte, ActQuant::Q8_0, 32, 34),
        GgmlDType::Q4K => (Scheme::KNibble, ActQuant::Q8K, SUPER, 144),
        GgmlDType::Q5K => (Scheme::KByte, ActQuant::Q8K, SUPER, 176),
        GgmlDType::Q6K => (Scheme::KByte16, ActQuant::Q8K, SUPER, 210),
        _ => return None,
    })
}

/// One GGUF block decoded: integer values (signed ones as `i8` bit patterns), and either
/// f32 scale/min (32-value types, index 0) or integer sub-scales/mins under `d`/`dmin`.
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
                let lo = (q & 0xF) | ((((qh >> j) << 4) & 0x10) as u8);
                let hi = (q >> 4) | (((qh >> (j + 12)) & 0x10) as u8);
                let bias = if asym { 0 } else { 16 };
                out.q[j] = (lo as i8 - bias) as u8;
                out.q[j + 16] = (hi as i8 - bias) as u8;
            }
        }
        GgmlDType::Q8_0 => {
            out.scale = h(b, 0);
            out.q[..32].copy_from_slice(&b[2..34]);
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
                out.q[e] = ((low | (high << 4)) as i8 - 32) as u8;
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
        let (blocks, gguf_blocks) = (rows * cols / BLOCK, rows * cols / block_values);
        let mut packed = Self {
            rows,
            cols,
            scheme,
            act,
            qs: Vec::with_capacity(blocks * scheme.block_bytes()),
            scales: Vec::with_capacity(gguf_blocks),
            mins: Vec::with_capacity(gguf_blocks),
            sub_scales: Vec::with_capacity(blocks * scheme.sub_scales()),
            sub_mins: Vec::with_capacity(blocks),
        };
        let mut dec = Decoded {
            q: [0; SUPER],
            scale: 0.0,
            min: 0.0,
            sub_scales: [0; SUPER / 16],
            sub_mins: [0; SUPER / BLOCK],
        };
        for block in data.chunks_exact(block_bytes) {
            decode(dtype, block, &mut dec);
            packed.scales.push(dec.scale);
            if scheme.has_min() {
                packed.mins.push(dec.min);
            }
            let subs = block_values / BLOCK;
            let per = scheme.sub_scales();
            packed
                .sub_scales
                .extend_from_slice(&dec.sub_scales[..subs * per]);
            if scheme.is_k() && scheme.has_min() {
                packed.sub_mins.extend_from_slice(&dec.sub_mins[..subs]);
            }
            for q in dec.q[..block_values].chunks_exact(BLOCK) {
                match scheme.block_bytes() {
                    BLOCK => packed.qs.extend_from_slice(q),
                    _ => packed.qs.extend((0..16).map(|j| q[j] | (q[j + 16] << 4))),
                }
            }
        }
        Ok(Some(packed))
    }

    /// The rows of several weights of one kind over the same input, stacked: one matmul
    /// instead of several (Q/K/V, gate/up). `None` when their layouts differ.
    pub fn stack(parts: &[&PackedWeight]) -> Option<PackedWeight> {
        let first = parts.first()?;
        let same = |p: &&PackedWeight| {
            p.cols == first.cols && p.scheme == first.scheme && p.act == first.act
        };
        if !parts.iter().all(same) {
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
            + self.sub_mins.len()
    }

    /// Integer value `j` of block `b` of `row`, as the kernels multiply it.
    pub fn value(&self, row: usize, b: usize, j: usize) -> i32 {
        let bb = self.scheme.block_bytes();
        let base = (row * self.blocks() + b) * bb;
        match self.scheme {
            Scheme::Nibble8 | Scheme::NibbleMin | Scheme::KNibble => {
                let byte = self.qs[base + j % 16];
                let nib = if j < 16 { byte & 0xF } else { byte >> 4 } as i32;
                if self.scheme == Scheme::Nibble8 {
                    nib - 8
                } else {
                    nib
                }
            }
            Scheme::Byte | Scheme::KByte16 => self.qs[base + j] as i8 as i32,
            Scheme::ByteMin | Scheme::KByte => self.qs[base + j] as i32,
        }
    }

    /// The f32 scale and min of value `j` of block `b` of `row`: `value · scale + min`,
    /// computed as llama.cpp's dequantization does.
    fn scale_min(&self, row: usize, b: usize, j: usize) -> (f32, f32) {
        let idx = row * self.blocks() + b;
        if !self.scheme.is_k() {
            return (self.scales[idx], self.mins.get(idx).copied().unwrap_or(0.0));
        }
        let sb = idx / (SUPER / BLOCK);
        let per = self.scheme.sub_scales();
        let sc = self.sub_scales[idx * per + (j / 16) * (per - 1)] as f32;
        match self.scheme.has_min() {
            true => (
                self.scales[sb] * sc,
                -(self.mins[sb] * self.sub_mins[idx] as f32),
            ),
            false => (self.scales[sb] * sc, 0.0),
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
