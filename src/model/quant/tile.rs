//! What a SIMD kernel reads to multiply one group of [`GROUP`] weight rows by `NA`
//! activation rows, sliced (and so bounds-checked) once per tile, and the per-type markers
//! the kernels are compiled for.

use super::activations::Activations;
use super::out::Out;
use super::pack::{PackedWeight, Scheme, GROUP};

/// A weight type as a compile-time parameter: kernels are generic over it, so every test
/// of the scheme's properties folds away.
pub(crate) trait Kind {
    const S: Scheme;
}

macro_rules! kinds {
    ($($name:ident),*) => {$(
        #[allow(non_camel_case_types)]
        pub(crate) struct $name;
        impl Kind for $name {
            const S: Scheme = Scheme::$name;
        }
    )*};
}

kinds!(Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4K, Q5K, Q6K);

/// One group's weight data (see [`PackedWeight`] for the layouts) and `NA` activation
/// rows' data. Slices a scheme does not use are empty.
pub(crate) struct GroupTile<'a, const NA: usize> {
    pub blocks: usize,
    pub qs: &'a [u8],
    pub scales: &'a [f32],
    pub mins: &'a [f32],
    pub sub_scales: &'a [i8],
    pub sub_mins: &'a [i16],
    pub aq: [&'a [i8]; NA],
    pub ad: [&'a [f32]; NA],
    pub asum: [&'a [f32]; NA],
    pub bsum: [&'a [i16]; NA],
    pub corr: [&'a [i32]; NA],
}

impl<'a, const NA: usize> GroupTile<'a, NA> {
    /// Group `g` against activation rows `col0..col0 + NA`. Panics if they are out of
    /// range.
    pub fn new(w: &'a PackedWeight, a: &'a Activations, g: usize, col0: usize) -> Self {
        let s = w.scheme;
        let blocks = w.blocks();
        let slots = blocks * GROUP;
        let scale_slots = if s.is_k() { slots / 8 } else { slots };
        let part = |len: usize| g * len..(g + 1) * len;
        let act = |len: usize| std::array::from_fn(|c| (col0 + c) * len..(col0 + c + 1) * len);
        let bsum = match s.k_min() {
            true => act(blocks).map(|r| &a.bsum[r]),
            false => [&[][..]; NA],
        };
        Self {
            blocks,
            qs: &w.qs[part(slots * s.block_bytes())],
            scales: &w.scales[part(scale_slots)],
            mins: match s.float_min() || s.k_min() {
                true => &w.mins[part(scale_slots)],
                false => &[],
            },
            sub_scales: &w.sub_scales[part(slots * s.sub_scales())],
            sub_mins: &w.sub_mins[part(if s.k_min() { slots } else { 0 })],
            aq: act(blocks * super::pack::BLOCK).map(|r| &a.qs[r]),
            ad: act(blocks).map(|r| &a.d[r]),
            asum: match s.float_min() {
                true => act(blocks).map(|r| &a.s[r]),
                false => [&[][..]; NA],
            },
            bsum,
            corr: act(blocks * s.corrections()).map(|r| &a.corr[r]),
        }
    }
}

/// Writes a tile's results (`[activation row][row in group]`) for group `g`'s real rows
/// into its unit `out`.
pub(crate) fn store<const NA: usize>(
    sums: &[[f32; GROUP]; NA],
    out: &mut Out<'_>,
    g: usize,
    col0: usize,
) {
    let rows = out.rows();
    let from = g * GROUP - rows.start;
    let len = GROUP.min(rows.end - g * GROUP);
    for (c, lanes) in sums.iter().enumerate() {
        out.row_mut(col0 + c)[from..from + len].copy_from_slice(&lanes[..len]);
    }
}
