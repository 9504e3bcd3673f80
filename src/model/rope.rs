//! Rotary position embeddings for packed tokens that each sit at their own position.

use candle_core::{DType, Device, Tensor};

use super::config::RopeStyle;

/// One RoPE flavour (a model has one, Gemma 3 two: local and global layers).
pub(crate) struct Rope {
    /// Angle per position of each rotated pair, already divided by any frequency factors
    /// and multiplied by the linear position scale.
    inv_freq: Vec<f64>,
    style: RopeStyle,
    /// Leading dimensions of the head that rotate; the rest pass through.
    dims: usize,
}

/// cos/sin rows gathered for the positions of one packed batch: `[tokens, 1, dims/2]`,
/// the batched layout `candle_nn::rotary_emb` accepts with one token per "batch".
pub(crate) struct RopeTables {
    cos: Tensor,
    sin: Tensor,
}

impl Rope {
    /// `freq_factors`: llama3-style per-pair divisors (`rope_freqs.weight`), if any.
    pub fn new(
        base: f64,
        dims: usize,
        freq_scale: f64,
        freq_factors: Option<&[f32]>,
        style: RopeStyle,
    ) -> Self {
        let inv_freq = (0..dims / 2)
            .map(|i| {
                let factor = freq_factors
                    .and_then(|f| f.get(i))
                    .map_or(1.0, |&f| f as f64);
                freq_scale / (base.powf(2.0 * i as f64 / dims as f64) * factor)
            })
            .collect();
        Self {
            inv_freq,
            style,
            dims,
        }
    }

    /// Tables for `positions`, computed on the host in f64/f32 (low-precision angles break
    /// long contexts), then moved to the device in the activation dtype.
    pub fn tables(
        &self,
        positions: &[usize],
        device: &Device,
        dtype: DType,
    ) -> candle_core::Result<RopeTables> {
        let half = self.inv_freq.len();
        let mut cos = Vec::with_capacity(positions.len() * half);
        let mut sin = Vec::with_capacity(positions.len() * half);
        for &p in positions {
            for &f in &self.inv_freq {
                let angle = p as f64 * f;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        let shape = (positions.len(), 1, half);
        Ok(RopeTables {
            cos: Tensor::from_vec(cos, shape, device)?.to_dtype(dtype)?,
            sin: Tensor::from_vec(sin, shape, device)?.to_dtype(dtype)?,
        })
    }

    /// Rotates `x`: `[tokens, heads, head_dim]`, token `i` by `tables` row `i`.
    pub fn apply(&self, x: &Tensor, tables: &RopeTables) -> candle_core::Result<Tensor> {
        let (tokens, heads, head_dim) = x.dims3()?;
        let rotated = x.narrow(2, 0, self.dims)?.contiguous()?;
        // [tokens, heads, 1, d]: each token is its own batch row of length 1.
        let rotated = rotated.reshape((tokens, heads, 1, self.dims))?;
        let rotated = match self.style {
            RopeStyle::Interleaved => {
                candle_nn::rotary_emb::rope_i(&rotated, &tables.cos, &tables.sin)?
            }
            RopeStyle::Neox => candle_nn::rotary_emb::rope(&rotated, &tables.cos, &tables.sin)?,
        };
        let rotated = rotated.reshape((tokens, heads, self.dims))?;
        if self.dims == head_dim {
            return Ok(rotated);
        }
        let rest = x.narrow(2, self.dims, head_dim - self.dims)?;
        Tensor::cat(&[&rotated, &rest], 2)
    }
}
