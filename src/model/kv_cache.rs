//! Per-sequence key/value cache, owned by the engine rather than the model so that any
//! mix of sequences can share one forward pass.

use candle_core::{DType, Device, Tensor};

use super::ModelError;

/// Capacity grows in steps of this many positions: decode writes in place and copies
/// the cache only once per step, not once per token.
const CHUNK: usize = 256;

/// Shape of the cache, copied from the model that created it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CacheLayout {
    pub layers: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub dtype: DType,
}

/// Keys and values of one layer: `[kv_heads, capacity, head_dim]`, filled up to `len`.
struct LayerKv {
    k: Tensor,
    v: Tensor,
}

/// Per-sequence attention cache (one K and V per layer). Lives outside the model.
///
/// Not `Clone`: buffers are written in place, so a shallow clone would alias them.
pub struct KvCache {
    layout: CacheLayout,
    device: Device,
    /// Positions stored; the next token fed is at this position.
    len: usize,
    /// Positions the buffers can hold (0 until the first forward pass allocates them).
    capacity: usize,
    layers: Vec<LayerKv>,
}

impl KvCache {
    pub(crate) fn new(layout: CacheLayout, device: Device) -> Self {
        Self {
            layout,
            device,
            len: 0,
            capacity: 0,
            layers: Vec::new(),
        }
    }

    /// Positions already stored: the next token fed is at this position.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forget every position from `len` on (prefix reuse keeps the rest).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// A new cache holding a copy of this one's first `len` positions (prefix reuse): the
    /// copy is independent, so both can grow on their own.
    pub fn fork(&self, len: usize) -> Result<KvCache, ModelError> {
        let len = len.min(self.len);
        let mut out = KvCache::new(self.layout.clone(), self.device.clone());
        if len == 0 {
            return Ok(out);
        }
        out.reserve(len)?;
        for (dst, src) in out.layers.iter().zip(&self.layers) {
            dst.k
                .slice_set(&src.k.narrow(1, 0, len)?.contiguous()?, 1, 0)?;
            dst.v
                .slice_set(&src.v.narrow(1, 0, len)?.contiguous()?, 1, 0)?;
        }
        out.len = len;
        Ok(out)
    }

    /// Bytes held by the buffers (capacity, not just `len`).
    pub fn allocated_bytes(&self) -> usize {
        let per_layer = 2
            * self.layout.kv_heads
            * self.capacity
            * self.layout.head_dim
            * self.layout.dtype.size_in_bytes();
        per_layer * self.layers.len()
    }

    pub(crate) fn check_layout(
        &self,
        layout: &CacheLayout,
        device: &Device,
    ) -> Result<(), ModelError> {
        if &self.layout != layout || !self.device.same_device(device) {
            return Err(ModelError::Format(
                "KV cache was created by a different model".into(),
            ));
        }
        Ok(())
    }

    /// Makes room for `extra` more positions, growing every layer by whole chunks.
    pub(crate) fn reserve(&mut self, extra: usize) -> Result<(), ModelError> {
        let needed = self.len + extra;
        if needed <= self.capacity {
            return Ok(());
        }
        let capacity = needed.div_ceil(CHUNK) * CHUNK;
        let l = &self.layout;
        let grow = (l.kv_heads, capacity - self.capacity, l.head_dim);
        if self.layers.is_empty() {
            for _ in 0..l.layers {
                self.layers.push(LayerKv {
                    k: Tensor::zeros(grow, l.dtype, &self.device)?,
                    v: Tensor::zeros(grow, l.dtype, &self.device)?,
                });
            }
        } else {
            let pad = Tensor::zeros(grow, l.dtype, &self.device)?;
            for layer in &mut self.layers {
                layer.k = Tensor::cat(&[&layer.k, &pad], 1)?;
                layer.v = Tensor::cat(&[&layer.v, &pad], 1)?;
            }
        }
        self.capacity = capacity;
        Ok(())
    }

    /// Writes `k`, `v` (`[kv_heads, n, head_dim]`, already rounded with [`f16_precision`]
    /// by the caller, once for the whole packed batch) of layer `layer` at position `len`, and
    /// returns that layer's keys and values for positions `from .. len + n`.
    ///
    /// `len` itself only advances in [`KvCache::advance`], once every layer has written.
    pub(crate) fn append(
        &mut self,
        layer: usize,
        k: &Tensor,
        v: &Tensor,
        from: usize,
    ) -> Result<(Tensor, Tensor), ModelError> {
        let n = k.dim(1)?;
        let end = self.len + n;
        let entry = self
            .layers
            .get(layer)
            .filter(|_| end <= self.capacity && from <= self.len)
            .ok_or_else(|| ModelError::Format("KV cache write out of range".into()))?;
        entry.k.slice_set(&k.contiguous()?, 1, self.len)?;
        entry.v.slice_set(&v.contiguous()?, 1, self.len)?;
        Ok((
            entry.k.narrow(1, from, end - from)?,
            entry.v.narrow(1, from, end - from)?,
        ))
    }

    /// Commits `n` positions written by [`KvCache::append`] in every layer.
    pub(crate) fn advance(&mut self, n: usize) {
        self.len += n;
    }
}

/// Rounds f32 values to f16 precision (and keeps them f32).
///
/// llama.cpp keeps its KV cache in f16 by default and converts the other operand of each
/// attention matmul to f16 as well; doing the same rounding keeps our logits within a
/// fraction of theirs (without it SmolLM2 drifts up to ~0.5 logits further away). Cheap:
/// only the new tokens' keys, values and queries pass through it.
pub(crate) fn f16_precision(t: &Tensor) -> Result<Tensor, ModelError> {
    match t.dtype() {
        DType::F32 => Ok(t.to_dtype(DType::F16)?.to_dtype(DType::F32)?),
        _ => Ok(t.clone()),
    }
}
