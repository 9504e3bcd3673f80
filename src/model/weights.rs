//! Reading tensors out of a checkpoint (GGUF, or safetensors served under GGUF names), and
//! the two weight wrappers every layer uses.

use std::fs::File;
use std::io::BufReader;
use std::sync::Arc;

use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor};

use super::cpu_layout::{self, Prepared};
use super::quant::{PackedMatMul, PackedWeight};
use super::{Checkpoint, ModelError};

/// Reads named tensors from a checkpoint onto a device, with errors that name the tensor.
///
/// Safetensors weights come back as `QTensor`s of their own float type; `Linear` turns
/// those into dense matmuls in the activation dtype (see [`Linear::from_prepared`]).
pub(crate) struct WeightReader<'a> {
    checkpoint: &'a Checkpoint,
    /// Open GGUF file (tensors are read from it one by one); `None` for safetensors.
    reader: Option<BufReader<File>>,
    device: &'a Device,
    /// Activation dtype: what norms, biases and unquantized weights are converted to.
    dtype: DType,
    /// Re-encode weights for candle's fast CPU kernels (see `cpu_layout`).
    requantize: bool,
}

impl<'a> WeightReader<'a> {
    pub fn open(
        checkpoint: &'a Checkpoint,
        device: &'a Device,
        dtype: DType,
        requantize: bool,
    ) -> Result<Self, ModelError> {
        let reader = match checkpoint {
            Checkpoint::Gguf(file) => {
                let handle =
                    File::open(&file.path).map_err(|e| ModelError::Io(file.path.clone(), e))?;
                Some(BufReader::new(handle))
            }
            Checkpoint::Safetensors(_) => None,
        };
        Ok(Self {
            checkpoint,
            reader,
            device,
            dtype,
            requantize,
        })
    }

    /// Whether weights are re-encoded for candle's fast CPU kernels.
    pub fn requantize(&self) -> bool {
        self.requantize
    }

    pub fn contains(&self, name: &str) -> bool {
        self.checkpoint.contains_tensor(name)
    }

    /// The tensor as stored (quantized or not), shape checked against `dims` (row-major).
    pub fn qtensor(&mut self, name: &str, dims: &[usize]) -> Result<Arc<QTensor>, ModelError> {
        if !self.contains(name) {
            return Err(ModelError::Format(format!("missing tensor {name}")));
        }
        let tensor = match (self.checkpoint, self.reader.as_mut()) {
            (Checkpoint::Gguf(file), Some(reader)) => file
                .content
                .tensor(reader, name, self.device)
                .map_err(|e| ModelError::Format(format!("tensor {name}: {e}")))?,
            (Checkpoint::Safetensors(hf), _) => hf.qtensor(name, self.device)?,
            (Checkpoint::Gguf(_), None) => {
                return Err(ModelError::Format("GGUF reader not open".into()))
            }
        };
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
        match self.pack(&weight, prefix)? {
            Some(packed) => Ok(Linear::packed(Arc::new(packed), bias)),
            None => {
                let prepared = cpu_layout::prepare(weight, self.requantize)?;
                Linear::from_prepared(prepared, bias, self.dtype)
            }
        }
    }

    /// The weight repacked for our CPU kernels, when it runs on the CPU, its type is
    /// covered and `--cpu-requantize` did not ask for candle's padded Q8_0 instead.
    pub fn pack(&self, weight: &QTensor, name: &str) -> Result<Option<PackedWeight>, ModelError> {
        if !self.device.is_cpu() || self.requantize || !super::quant::supports(weight.dtype()) {
            return Ok(None);
        }
        let (rows, cols) = weight.shape().dims2()?;
        PackedWeight::from_gguf(weight.dtype(), &weight.data()?, rows, cols)
            .map_err(|e| ModelError::Format(format!("tensor {name}: {e}")))
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

/// `x W^T + b` with `W` kept quantized: the matmul kernels read it directly.
pub(crate) struct Linear {
    weight: Weight,
    bias: Option<Tensor>,
    /// Zero columns [`cpu_layout`] appended to `W`; inputs are padded to match.
    pad_k: usize,
    /// Inputs with fewer rows are zero-padded (see [`Prepared::min_rows`]).
    min_rows: usize,
}

/// Projections of one input (Q/K/V, gate/up): one matmul over their stacked rows when all
/// are repacked alike, else one each. Outputs are the same either way.
pub(crate) enum Projections {
    Stacked { linear: Linear, widths: Vec<usize> },
    Separate(Vec<Linear>),
}

impl Projections {
    pub fn new(parts: Vec<Linear>) -> Result<Self, ModelError> {
        let packed: Option<Vec<&Arc<PackedWeight>>> = parts
            .iter()
            .map(|l| match &l.weight {
                Weight::Packed(w) => Some(w),
                Weight::Candle(_) => None,
            })
            .collect();
        let stacked = packed.and_then(|ws| {
            let refs: Vec<&PackedWeight> = ws.iter().map(|w| w.as_ref()).collect();
            PackedWeight::stack(&refs)
        });
        let Some(stacked) = stacked else {
            return Ok(Self::Separate(parts));
        };
        let widths = parts.iter().map(Linear::out_features).collect::<Vec<_>>();
        let bias = match parts.iter().any(|l| l.bias.is_some()) {
            true => {
                let biases = parts
                    .iter()
                    .zip(&widths)
                    .map(|(l, &n)| match &l.bias {
                        Some(b) => Ok(b.clone()),
                        None => Tensor::zeros(n, DType::F32, &candle_core::Device::Cpu),
                    })
                    .collect::<candle_core::Result<Vec<_>>>()?;
                Some(Tensor::cat(&biases, 0)?)
            }
            false => None,
        };
        Ok(Self::Stacked {
            linear: Linear::packed(Arc::new(stacked), bias),
            widths,
        })
    }

    /// A weight that already stacks several projections (Phi-3's `attn_qkv`, `ffn_up`):
    /// its output splits into parts of these widths.
    pub fn fused(linear: Linear, widths: Vec<usize>) -> Result<Self, ModelError> {
        let total: usize = widths.iter().sum();
        if linear.out_features() != total {
            return Err(ModelError::Format(format!(
                "fused projection has {} rows, expected {total}",
                linear.out_features()
            )));
        }
        Ok(Self::Stacked { linear, widths })
    }

    /// `x`: `[tokens, in]` → one `[tokens, out_i]` per projection; stacked ones are views
    /// into the one output (their consumers read rows with a stride or reshape them).
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Vec<Tensor>> {
        match self {
            Self::Separate(parts) => parts.iter().map(|l| l.forward(x)).collect(),
            Self::Stacked { linear, widths } => {
                let y = linear.forward(x)?;
                let mut start = 0;
                widths
                    .iter()
                    .map(|&n| {
                        let part = y.narrow(1, start, n);
                        start += n;
                        part
                    })
                    .collect()
            }
        }
    }
}

/// A matmul weight: repacked for our CPU kernels, or as candle multiplies it (GPU, dense
/// and uncovered types, `--cpu-requantize`).
enum Weight {
    Packed(Arc<PackedWeight>),
    Candle(QMatMul),
}

impl Linear {
    fn out_features(&self) -> usize {
        match &self.weight {
            Weight::Packed(w) => w.rows,
            Weight::Candle(w) => match w {
                QMatMul::QTensor(t) => t.shape().dims()[0],
                QMatMul::Tensor(t) | QMatMul::TensorF16(t) => t.dims()[0],
            },
        }
    }

    pub fn packed(weight: Arc<PackedWeight>, bias: Option<Tensor>) -> Self {
        Self {
            weight: Weight::Packed(weight),
            bias,
            pad_k: 0,
            min_rows: 1,
        }
    }

    pub fn from_prepared(
        prepared: Prepared,
        bias: Option<Tensor>,
        dtype: DType,
    ) -> Result<Self, ModelError> {
        let weight = match QMatMul::from_arc(prepared.weight)? {
            // F32/F16/BF16 weights come back dequantized; match them to the activations.
            QMatMul::Tensor(w) | QMatMul::TensorF16(w) => QMatMul::Tensor(w.to_dtype(dtype)?),
            q => q,
        };
        Ok(Self {
            weight: Weight::Candle(weight),
            bias,
            pad_k: prepared.pad_k,
            min_rows: prepared.min_rows,
        })
    }

    /// `x`: `[tokens, in]` → `[tokens, out]`.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = match &self.weight {
            Weight::Packed(w) => x.contiguous()?.apply_op1_no_bwd(&PackedMatMul(w))?,
            Weight::Candle(w) => {
                let rows = x.dim(0)?;
                let x = cpu_layout::pad_input(&x.contiguous()?, self.pad_k, self.min_rows)?;
                let y = w.forward(&x)?;
                match y.dim(0)? == rows {
                    true => y,
                    false => y.narrow(0, 0, rows)?,
                }
            }
        };
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

/// Token embedding lookup on the quantized table: only the looked-up rows are dequantized
/// (Gemma 3's 262144-row table would take 670 MB as f32).
pub(crate) enum Embedding {
    Candle {
        table: Arc<QTensor>,
        /// Model width; the table may carry zero padding columns beyond it.
        width: usize,
    },
    /// The table repacked for the output projection of a tied model, shared with it.
    Packed(Arc<PackedWeight>),
}

impl Embedding {
    pub fn new(table: Arc<QTensor>, width: usize) -> Self {
        Self::Candle { table, width }
    }

    /// `ids`: `[tokens]` u32 → `[tokens, width]` f32.
    pub fn forward(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        let (table, width) = match self {
            Self::Candle { table, width } => (table, *width),
            Self::Packed(table) => {
                let ids = ids.to_vec1::<u32>()?;
                let mut rows = vec![0f32; ids.len() * table.cols];
                for (&id, row) in ids.iter().zip(rows.chunks_exact_mut(table.cols)) {
                    if id as usize >= table.rows {
                        candle_core::bail!("token {id} outside the embedding table");
                    }
                    table.dequantize_row(id as usize, row);
                }
                return Tensor::from_vec(rows, (ids.len(), table.cols), &candle_core::Device::Cpu);
            }
        };
        let rows = table.embedding(ids)?;
        match rows.dim(1)? == width {
            true => Ok(rows),
            false => rows.narrow(1, 0, width),
        }
    }
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
