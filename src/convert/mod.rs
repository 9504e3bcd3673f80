//! `rollama convert MODEL.gguf OUT_DIR`: a GGUF decoder written out as a Hugging Face
//! checkpoint (`config.json`, `generation_config.json`, `tokenizer.json`,
//! `tokenizer_config.json`, `model.safetensors` or shards with their index).
//!
//! Every tensor is dequantized and put back in HF layout with the inverse of llama.cpp's
//! conversion transforms (`model::hf::names`). Families: llama, qwen2, qwen3, gemma3, phi3.
//! Uses the model and text layers; nothing here runs on the request path.

mod hf_config;
mod tokenizer;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::model::hf::names::{self, Transform};
use crate::model::{Checkpoint, GgufFile, ModelConfig, ModelError};
use crate::text::{TextError, Tokenizer};

/// `rollama convert` flags.
#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// The GGUF file to convert.
    pub model: PathBuf,
    /// Output directory (created; existing files with the same names are replaced).
    pub out: PathBuf,
    /// Weight dtype of the safetensors files.
    #[arg(long, value_enum, default_value_t = WeightDtype::F16)]
    pub dtype: WeightDtype,
    /// Largest shard in MiB; a bigger model is split into shards plus an index.
    #[arg(long, default_value_t = 5000)]
    pub shard_size_mb: u64,
}

/// Weight dtypes a checkpoint can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WeightDtype {
    F32,
    F16,
    Bf16,
}

impl WeightDtype {
    fn dtype(self) -> DType {
        match self {
            Self::F32 => DType::F32,
            Self::F16 => DType::F16,
            Self::Bf16 => DType::BF16,
        }
    }

    /// `torch_dtype` in `config.json`.
    fn torch_name(self) -> &'static str {
        match self {
            Self::F32 => "float32",
            Self::F16 => "float16",
            Self::Bf16 => "bfloat16",
        }
    }
}

/// How to write the checkpoint.
#[derive(Debug, Clone, Copy)]
pub struct ConvertOptions {
    pub dtype: WeightDtype,
    /// Largest shard in bytes.
    pub shard_bytes: u64,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        Self {
            dtype: WeightDtype::F16,
            shard_bytes: 5000 << 20,
        }
    }
}

/// What was written.
#[derive(Debug)]
pub struct ConvertSummary {
    pub architecture: String,
    /// Files written, in the order they were written.
    pub files: Vec<PathBuf>,
    pub tensors: usize,
    /// Bytes of tensor data over all shards.
    pub weight_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Text(#[from] TextError),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error("cannot write {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("cannot write {0}: {1}")]
    Safetensors(PathBuf, safetensors::SafeTensorError),
    #[error("cannot convert: {0}")]
    Unsupported(String),
}

/// The CLI entry point: converts and prints what was written.
pub fn run(args: ConvertArgs) -> Result<(), ConvertError> {
    let options = ConvertOptions {
        dtype: args.dtype,
        shard_bytes: args.shard_size_mb.max(1) << 20,
    };
    let summary = convert(&args.model, &args.out, &options)?;
    println!(
        "{} → {}: {} ({} tensors, {:.1} MiB of weights)",
        args.model.display(),
        args.out.display(),
        summary.architecture,
        summary.tensors,
        summary.weight_bytes as f64 / (1 << 20) as f64
    );
    for f in &summary.files {
        println!("  {}", f.display());
    }
    Ok(())
}

/// Converts the GGUF decoder at `src` into a Hugging Face checkpoint in `out`.
pub fn convert(
    src: &Path,
    out: &Path,
    options: &ConvertOptions,
) -> Result<ConvertSummary, ConvertError> {
    let checkpoint = Checkpoint::Gguf(GgufFile::open(src)?);
    let config = ModelConfig::from_checkpoint(&checkpoint)?;
    let Checkpoint::Gguf(file) = &checkpoint else {
        unreachable!("opened as GGUF above")
    };
    let arch = config.architecture.clone();
    for refused in ["rope_freqs.weight", "rope_factors_long.weight"] {
        if checkpoint.contains_tensor(refused) {
            return Err(ConvertError::Unsupported(format!(
                "{refused} (per-frequency rope factors have no config.json form we write)"
            )));
        }
    }
    std::fs::create_dir_all(out).map_err(|e| ConvertError::Io(out.to_path_buf(), e))?;

    // GGUF name → HF name, every tensor accounted for.
    let mut plan: BTreeMap<String, String> = BTreeMap::new();
    for name in file.content.tensor_infos.keys() {
        let hf = names::gguf_to_hf(&arch, name).ok_or_else(|| {
            ConvertError::Unsupported(format!("tensor {name} has no Hugging Face name"))
        })?;
        plan.insert(hf, name.clone());
    }
    let tied = !plan.values().any(|g| g == "output.weight");

    let tokenizer = match checkpoint.get_str("tokenizer.ggml.model") {
        Some(_) => Some(Tokenizer::from_gguf(checkpoint.metadata())?),
        None => None,
    };
    let mut files = Vec::new();
    let (shard_files, weight_bytes) = write_weights(file, &config, &plan, out, options)?;
    files.extend(shard_files);

    let mut write = |name: &str, text: String| -> Result<(), ConvertError> {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|e| ConvertError::Io(path.clone(), e))?;
        files.push(path);
        Ok(())
    };
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default() + "\n";
    let model_config = hf_config::config_json(
        &checkpoint,
        &config,
        tied,
        options.dtype,
        tokenizer.as_ref(),
    )?;
    write("config.json", pretty(&model_config))?;
    write(
        "generation_config.json",
        pretty(&hf_config::generation_config(tokenizer.as_ref())),
    )?;
    if let Some(tok) = &tokenizer {
        let template = crate::text::TemplateChoice::for_model(
            checkpoint.get_str("tokenizer.chat_template"),
            &arch,
        )
        .chat_format();
        write("tokenizer.json", tokenizer::tokenizer_json(tok)?)?;
        write(
            "tokenizer_config.json",
            pretty(&tokenizer::tokenizer_config(
                tok,
                template,
                config.context_length,
            )),
        )?;
    }
    Ok(ConvertSummary {
        architecture: arch,
        files,
        tensors: plan.len(),
        weight_bytes,
    })
}

/// Dequantizes, un-transforms and writes every tensor; shards when over the size limit.
fn write_weights(
    file: &GgufFile,
    config: &ModelConfig,
    plan: &BTreeMap<String, String>,
    out: &Path,
    options: &ConvertOptions,
) -> Result<(Vec<PathBuf>, u64), ConvertError> {
    let dtype = options.dtype.dtype();
    // Shards are planned from the shapes, then filled one at a time: only one shard's
    // tensors are ever in memory.
    let mut shards: Vec<Vec<(&String, &String)>> = vec![Vec::new()];
    let mut sizes = vec![0u64];
    for (hf, gguf) in plan {
        let info = &file.content.tensor_infos[gguf];
        let bytes = (info.shape.elem_count() * dtype.size_in_bytes()) as u64;
        let last = sizes.len() - 1;
        if sizes[last] > 0 && sizes[last] + bytes > options.shard_bytes {
            shards.push(Vec::new());
            sizes.push(0);
        }
        let last = sizes.len() - 1;
        shards[last].push((hf, gguf));
        sizes[last] += bytes;
    }
    let total: u64 = sizes.iter().sum();
    let n = shards.len();
    let shard_name = |i: usize| match n {
        1 => "model.safetensors".to_string(),
        _ => format!("model-{:05}-of-{n:05}.safetensors", i + 1),
    };

    let mut reader =
        BufReader::new(File::open(&file.path).map_err(|e| ModelError::Io(file.path.clone(), e))?);
    let header = Some(std::collections::HashMap::from([(
        "format".to_string(),
        "pt".to_string(),
    )]));
    let mut written = Vec::new();
    let mut weight_map = serde_json::Map::new();
    for (i, shard) in shards.iter().enumerate() {
        let mut tensors: Vec<(String, Tensor)> = Vec::with_capacity(shard.len());
        for (hf, gguf) in shard {
            let q = file
                .content
                .tensor(&mut reader, gguf, &Device::Cpu)
                .map_err(|e| ModelError::Format(format!("tensor {gguf}: {e}")))?;
            let dense = q.dequantize(&Device::Cpu)?;
            let transform = names::transform(
                &config.architecture,
                gguf,
                config.head_count,
                config.head_count_kv,
            );
            let dense = match transform {
                Transform::None => dense,
                t => t.to_hf(&dense)?,
            };
            tensors.push(((*hf).clone(), dense.to_dtype(dtype)?.contiguous()?));
            weight_map.insert((*hf).clone(), shard_name(i).into());
        }
        let path = out.join(shard_name(i));
        safetensors::serialize_to_file(tensors, header.clone(), &path)
            .map_err(|e| ConvertError::Safetensors(path.clone(), e))?;
        written.push(path);
    }
    if n > 1 {
        let index = serde_json::json!({
            "metadata": { "total_size": total },
            "weight_map": weight_map,
        });
        let path = out.join("model.safetensors.index.json");
        let text = serde_json::to_string_pretty(&index).unwrap_or_default();
        std::fs::write(&path, text + "\n").map_err(|e| ConvertError::Io(path.clone(), e))?;
        written.push(path);
    } else {
        // A stale index from an earlier sharded run would shadow the single file.
        let _ = std::fs::remove_file(out.join("model.safetensors.index.json"));
    }
    Ok((written, total))
}
