//! Reading tensors out of a GGUF file, and the two weight wrappers every layer uses.

use std::fs::File;
use std::io::BufReader;
use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor};

use super::{GgufFile, ModelError};

/// Reads named tensors from a GGUF file onto a device, with errors that name the tensor.
pub(crate) struct WeightReader<'a> {
    file: &'a GgufFile,
    reader: BufReader<File>,
    device: &'a Device,
    /// Activation dtype: what norms, biases and unquantized weights are converted to.
    dtype: DType,
}

impl<'a> WeightReader<'a> {
    pub fn open(file: &'a GgufFile, device: &'a Device, dtype: DType) -> Result<Self, ModelError> {
        let handle = File::open(&file.path).map_err(|e| ModelError::Io(file.path.clone(), e))?;
        Ok(Self {
            file,
            reader: BufReader::new(handle),
            device,
            dtype,
        })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.file.content.tensor_infos.contains_key(name)
    }

    /// The tensor as stored (quantized or not), shape checked against `dims` (row-major).
    pub fn qtensor(&mut self, name: &str, dims: &[usize]) -> Result<Arc<QTensor>, ModelError> {
        if !self.contains(name) {
            return Err(ModelError::Format(format!("missing tensor {name}")));
        }
        let tensor = self
            .file
            .content
            .tensor(&mut self.reader, name, self.device)
            .map_err(|e| ModelError::Format(format!("tensor {name}: {e}")))?;
        if tensor.shape().dims() != dims {
            return Err(ModelError::Format(format!(
                "tensor {name} has shape {:?}, expected {dims:?}",
                tensor.shape().dims()
            )));
        }
        Ok(Arc::new(tensor))
    }

    /// A dense tensor in the activation dtype (norm weights, biases, rope factors).
    pub fn dense(&mut self, name: &str, dims: &[usize]) -> Result<Tensor, ModelError> {
        let q = self.qtensor(name, dims)?;
        Ok(q.dequantize(self.device)?.to_dtype(self.dtype)?)
    }

    pub fn dense_opt(&mut self, name: &str, dims: &[usize]) -> Result<Option<Tensor>, ModelError> {
        match self.contains(name) {
            true => self.dense(name, dims).map(Some),
            false => Ok(None),
        }
    }

    /// A projection `[out, in]` with an optional `.bias` next to it.
    pub fn linear(&mut self, prefix: &str, out: usize, inp: usize) -> Result<Linear, ModelError> {
        let weight = self.qtensor(&format!("{prefix}.weight"), &[out, inp])?;
        let bias = self.dense_opt(&format!("{prefix}.bias"), &[out])?;
        Linear::new(weight, bias, self.dtype)
    }

    pub fn rms_norm(&mut self, name: &str, dim: usize, eps: f64) -> Result<RmsNorm, ModelError> {
        Ok(RmsNorm {
            weight: self.dense(name, &[dim])?,
            eps: eps as f32,
        })
    }

    pub fn rms_norm_opt(
        &mut self,
        name: &str,
        dim: usize,
        eps: f64,
    ) -> Result<Option<RmsNorm>, ModelError> {
        match self.contains(name) {
            true => self.rms_norm(name, dim, eps).map(Some),
            false => Ok(None),
        }
    }
}

/// `x W^T + b` with `W` kept in its GGUF quantization: the matmul kernels read it directly.
pub(crate) struct Linear {
    weight: QMatMul,
    bias: Option<Tensor>,
}

impl Linear {
    pub fn new(weight: Arc<QTensor>, bias: Option<Tensor>, dtype: DType) -> Result<Self, ModelError> {
        let weight = match QMatMul::from_arc(requantize_for_cpu(weight)?)? {
            // F32/F16/BF16 weights come back dequantized; match them to the activations.
            QMatMul::Tensor(w) | QMatMul::TensorF16(w) => QMatMul::Tensor(w.to_dtype(dtype)?),
            q => q,
        };
        Ok(Self { weight, bias })
    }

    /// `x`: `[tokens, in]` → `[tokens, out]`.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = self.weight.forward(&x.contiguous()?)?;
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

/// candle 0.11 has only scalar CPU dot products for Q4_1, Q5_0 and Q5_1 (several times
/// slower than its SIMD Q8_0 kernel, which also gets VNNI repacking). Such weights are
/// re-encoded as Q8_0 on CPU: same 32-wide blocks, 8-bit steps finer than the 4/5-bit
/// source, so the values barely move. Other devices have kernels for every type.
fn requantize_for_cpu(weight: Arc<QTensor>) -> Result<Arc<QTensor>, ModelError> {
    let device = weight.device();
    let slow = matches!(
        weight.dtype(),
        GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1
    );
    if !device.is_cpu() || !slow {
        return Ok(weight);
    }
    let dense = weight.dequantize(&device)?;
    Ok(Arc::new(QTensor::quantize(&dense, GgmlDType::Q8_0)?))
}

/// RMSNorm as llama.cpp computes it: `x / rms(x) * w`. Gemma's `1 + w` is already folded
/// into the GGUF weights by the converter, so every family uses the same formula.
pub(crate) struct RmsNorm {
    weight: Tensor,
    eps: f32,
}

impl RmsNorm {
    /// Normalizes over the last dimension of a contiguous tensor of any rank.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::rms_norm(&x.contiguous()?, &self.weight, self.eps)
    }
}
