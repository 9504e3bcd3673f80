//! [`HfCheckpoint`]: a Hugging Face decoder directory presented as a GGUF file would be.
//!
//! `config.json` and the tokenizer files become GGUF metadata (`config.rs`, `vocab.rs`);
//! the safetensors shards are memory-mapped and their tensors served under GGUF names with
//! llama.cpp's conversion transforms applied as they are read (`names.rs`). Nothing else in
//! the model or text code knows the checkpoint was not a GGUF file.

mod config;
pub mod names;
mod vocab;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};
use serde_json::Value as Json;

pub use config::gguf_arch;

use self::config::{Config, RopeScaling};
use self::names::Transform;
use super::ModelError;

/// Where a GGUF-named tensor comes from.
enum Source {
    /// A checkpoint tensor, transformed on the way out.
    Stored {
        hf_name: String,
        transform: Transform,
        shape: Vec<usize>,
        dtype: DType,
    },
    /// Computed from `config.json` (llama 3's `rope_freqs.weight`).
    Computed(Tensor),
}

/// A Hugging Face decoder checkpoint directory, opened.
pub struct HfCheckpoint {
    dir: PathBuf,
    metadata: HashMap<String, Value>,
    weights: MmapedSafetensors,
    /// GGUF name → source, sorted for stable listings.
    tensors: BTreeMap<String, Source>,
}

fn read_json(path: &Path) -> Result<Json, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::Io(path.to_path_buf(), e))?;
    serde_json::from_str(&text).map_err(|e| ModelError::Format(format!("{}: {e}", path.display())))
}

fn read_json_opt(path: &Path) -> Result<Json, ModelError> {
    match path.exists() {
        true => read_json(path),
        false => Ok(Json::Null),
    }
}

impl HfCheckpoint {
    pub fn open(dir: &Path) -> Result<Self, ModelError> {
        let model_config = read_json(&dir.join("config.json"))?;
        let hf_arch = model_config["architectures"]
            .get(0)
            .and_then(Json::as_str)
            .ok_or_else(|| ModelError::Format("config.json: no architectures".into()))?;
        let arch = gguf_arch(hf_arch)?;
        let cfg = Config(&model_config);
        let mut metadata = HashMap::new();
        metadata.insert("general.architecture".into(), Value::String(arch.into()));
        if let Some(name) = dir.file_name().and_then(|n| n.to_str()) {
            metadata.insert("general.name".into(), Value::String(name.into()));
        }
        config::hparams(arch, &cfg, &mut metadata)?;

        let weights = super::safetensors::map_dir(dir)?;
        let heads = cfg.usize("num_attention_heads")?;
        let kv_heads = cfg.opt_usize("num_key_value_heads")?.unwrap_or(heads);
        let tied = model_config["tie_word_embeddings"]
            .as_bool()
            .unwrap_or(false);
        let mut tensors = BTreeMap::new();
        for (hf_name, view) in weights.tensors() {
            let Some(name) = names::hf_to_gguf(arch, &hf_name) else {
                continue;
            };
            if tied && name == "output.weight" {
                continue;
            }
            let dtype = DType::try_from(view.dtype())?;
            let transform = names::transform(arch, &name, heads, kv_heads);
            tensors.insert(
                name,
                Source::Stored {
                    hf_name,
                    transform,
                    shape: view.shape().to_vec(),
                    dtype,
                },
            );
        }
        let scaling = config::rope_scaling(&cfg)?;
        if matches!(scaling, RopeScaling::Llama3 { .. }) {
            let hidden = cfg.usize("hidden_size")?;
            let head_dim = cfg.opt_usize("head_dim")?.unwrap_or(hidden / heads);
            let base = cfg.rope_theta()?.unwrap_or(10_000.0);
            let factors = config::llama3_rope_factors(&scaling, base, head_dim);
            let n = factors.len();
            tensors.insert(
                "rope_freqs.weight".into(),
                Source::Computed(Tensor::from_vec(factors, n, &Device::Cpu)?),
            );
        }

        let tokenizer_path = dir.join("tokenizer.json");
        if tokenizer_path.exists() {
            let files = vocab::TokenizerFiles {
                tokenizer: read_json(&tokenizer_path)?,
                config: read_json_opt(&dir.join("tokenizer_config.json"))?,
                generation: read_json_opt(&dir.join("generation_config.json"))?,
                template_file: std::fs::read_to_string(dir.join("chat_template.jinja")).ok(),
            };
            let vocab_size = match tensors.get("token_embd.weight") {
                Some(Source::Stored { shape, .. }) => shape.first().copied(),
                _ => None,
            };
            vocab::tokenizer_metadata(&files, &model_config, vocab_size, &mut metadata)?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            metadata,
            weights,
            tensors,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// GGUF-style metadata synthesized from the JSON files.
    pub fn metadata(&self) -> &HashMap<String, Value> {
        &self.metadata
    }

    pub fn contains_tensor(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    pub fn tensor_shape(&self, name: &str) -> Option<Vec<usize>> {
        match self.tensors.get(name)? {
            Source::Stored { shape, .. } => Some(shape.clone()),
            Source::Computed(t) => Some(t.dims().to_vec()),
        }
    }

    /// GGUF names of every tensor served.
    pub fn tensor_names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// (GGUF name, dtype, shape) of every tensor served.
    pub fn tensor_list(&self) -> Vec<(String, String, Vec<usize>)> {
        self.tensors
            .iter()
            .map(|(name, s)| match s {
                Source::Stored { shape, dtype, .. } => (
                    name.clone(),
                    format!("{dtype:?}").to_uppercase(),
                    shape.clone(),
                ),
                Source::Computed(t) => (name.clone(), "F32".into(), t.dims().to_vec()),
            })
            .collect()
    }

    pub fn parameter_count(&self) -> u64 {
        self.tensors
            .values()
            .map(|s| match s {
                Source::Stored { shape, .. } => shape.iter().product::<usize>() as u64,
                Source::Computed(_) => 0,
            })
            .sum()
    }

    /// dtype of the matmul weights (the first 2-D tensor): `F32`, `F16` or `BF16`.
    pub fn quantization_level(&self) -> String {
        let dtype = self.tensors.values().find_map(|s| match s {
            Source::Stored { shape, dtype, .. } if shape.len() == 2 => Some(*dtype),
            _ => None,
        });
        match dtype {
            Some(DType::F16) => "F16",
            Some(DType::BF16) => "BF16",
            Some(DType::F32) => "F32",
            _ => "unknown",
        }
        .to_string()
    }

    /// Tensor `name` (GGUF naming, GGUF layout) on `device`, in its stored dtype (norms that
    /// the conversion changes come back as f32).
    pub fn tensor(&self, name: &str, device: &Device) -> Result<Tensor, ModelError> {
        let source = self
            .tensors
            .get(name)
            .ok_or_else(|| ModelError::Format(format!("missing tensor {name}")))?;
        let t = match source {
            Source::Stored {
                hf_name, transform, ..
            } => {
                let t = self.weights.load(hf_name, &Device::Cpu)?;
                transform
                    .to_gguf(&t)
                    .map_err(|e| ModelError::Format(format!("tensor {hf_name}: {e}")))?
            }
            Source::Computed(t) => t.clone(),
        };
        Ok(t.to_device(device)?)
    }

    /// The tensor wrapped as a `QTensor` of its own float type (F32/F16/BF16), so that the
    /// weight reader hands it to the same `Linear` path as a GGUF tensor.
    pub fn qtensor(&self, name: &str, device: &Device) -> Result<QTensor, ModelError> {
        let t = self.tensor(name, device)?;
        let ggml = match t.dtype() {
            DType::F16 => GgmlDType::F16,
            DType::BF16 => GgmlDType::BF16,
            DType::F32 => GgmlDType::F32,
            other => {
                return Err(ModelError::Unsupported(format!(
                    "tensor {name} of dtype {other:?}"
                )))
            }
        };
        Ok(QTensor::quantize(&t, ggml)?)
    }
}
