//! Weights of a safetensors checkpoint, memory-mapped, and the two layers built from them
//! ([`Linear`], [`LayerNorm`]).
//!
//! Names are Hugging Face's (`encoder.layer.0.attention.self.query.weight`). Checkpoints
//! saved from a task model carry them under `bert.`; that prefix is found once and then
//! used for every name. Stored f16/bf16 is widened to f32 at load: all compute is f32.

use std::collections::HashSet;
use std::path::Path;

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};

use super::super::ModelError;

/// The checkpoint's tensors, read by name.
pub(super) struct Weights {
    files: MmapedSafetensors,
    names: HashSet<String>,
    /// `""` or `"bert."`, whichever the embedding table is stored under.
    prefix: &'static str,
    device: Device,
}

impl Weights {
    /// Maps every `*.safetensors` file of `dir`.
    pub fn open(dir: &Path, device: &Device) -> Result<Self, ModelError> {
        let files = crate::model::safetensors::map_dir(dir)?;
        let names: HashSet<String> = files.tensors().into_iter().map(|(name, _)| name).collect();
        let prefix = ["", "bert."]
            .into_iter()
            .find(|p| names.contains(&format!("{p}embeddings.word_embeddings.weight")))
            .ok_or_else(|| {
                ModelError::Format(format!(
                    "{}: no embeddings.word_embeddings.weight (nor under bert.)",
                    dir.display()
                ))
            })?;
        Ok(Self {
            files,
            names,
            prefix,
            device: device.clone(),
        })
    }

    /// Floating-point values stored in the files, including tensors the encoder does not
    /// use (BERT's pooler), as `transformers` counts them; integer buffers are left out.
    pub fn parameter_count(&self) -> u64 {
        self.files
            .tensors()
            .iter()
            .filter(|(_, view)| {
                matches!(
                    DType::try_from(view.dtype()),
                    Ok(DType::F32 | DType::F16 | DType::BF16)
                )
            })
            .map(|(_, view)| view.shape().iter().product::<usize>() as u64)
            .sum()
    }

    /// `name` as an f32 tensor of exactly `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor, ModelError> {
        let full = self.resolve(name)?;
        let tensor = self.files.load(&full, &self.device)?;
        if tensor.dims() != shape {
            return Err(ModelError::Format(format!(
                "tensor {full} has shape {:?}, expected {shape:?}",
                tensor.dims()
            )));
        }
        match tensor.dtype() {
            DType::F32 => Ok(tensor),
            DType::F16 | DType::BF16 => Ok(tensor.to_dtype(DType::F32)?),
            other => Err(ModelError::Unsupported(format!(
                "tensor {full} stored as {other:?}"
            ))),
        }
    }

    /// The stored name of `name`; LayerNorm's `weight`/`bias` may be the older
    /// `gamma`/`beta`.
    fn resolve(&self, name: &str) -> Result<String, ModelError> {
        let full = format!("{}{name}", self.prefix);
        if self.names.contains(&full) {
            return Ok(full);
        }
        let legacy = full
            .strip_suffix("LayerNorm.weight")
            .map(|p| format!("{p}LayerNorm.gamma"))
            .or_else(|| {
                full.strip_suffix("LayerNorm.bias")
                    .map(|p| format!("{p}LayerNorm.beta"))
            });
        match legacy {
            Some(legacy) if self.names.contains(&legacy) => Ok(legacy),
            _ => Err(ModelError::Format(format!("missing tensor {full}"))),
        }
    }

    pub fn linear(&self, prefix: &str, out: usize, inp: usize) -> Result<Linear, ModelError> {
        Linear::new(
            self.get(&format!("{prefix}.weight"), &[out, inp])?,
            self.get(&format!("{prefix}.bias"), &[out])?,
        )
    }

    pub fn layer_norm(&self, prefix: &str, size: usize, eps: f64) -> Result<LayerNorm, ModelError> {
        Ok(LayerNorm {
            weight: self.get(&format!("{prefix}.weight"), &[size])?,
            bias: self.get(&format!("{prefix}.bias"), &[size])?,
            eps: eps as f32,
        })
    }
}

/// `y = x·Wᵀ + b` over rows of `x` (`[n, in]` → `[n, out]`).
pub(super) struct Linear {
    /// `Wᵀ`, `[in, out]`, made contiguous at load: gemm then reads it in place, where the
    /// stored `[out, in]` (a transposed view) made it repack the weight on every call.
    weight_t: Tensor,
    pub bias: Tensor,
}

impl Linear {
    /// `weight`: `[out, in]`, as stored.
    pub fn new(weight: Tensor, bias: Tensor) -> Result<Self, ModelError> {
        Ok(Self {
            weight_t: weight.t()?.contiguous()?,
            bias,
        })
    }

    /// `x·Wᵀ`, without the bias.
    pub fn matmul(&self, xs: &Tensor) -> Result<Tensor, ModelError> {
        Ok(xs.matmul(&self.weight_t)?)
    }

    /// Several layers over the same input as one: outputs side by side.
    pub fn stack(parts: &[Linear]) -> Result<Linear, ModelError> {
        let weights: Vec<&Tensor> = parts.iter().map(|l| &l.weight_t).collect();
        let biases: Vec<&Tensor> = parts.iter().map(|l| &l.bias).collect();
        Ok(Linear {
            weight_t: Tensor::cat(&weights, 1)?,
            bias: Tensor::cat(&biases, 0)?,
        })
    }
}

/// LayerNorm over the last dimension, `eps` from the config.
pub(super) struct LayerNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub eps: f32,
}

impl LayerNorm {
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor, ModelError> {
        Ok(candle_nn::ops::layer_norm(
            xs,
            &self.weight,
            &self.bias,
            self.eps,
        )?)
    }
}
