//! Hyper-parameters of a decoder, read from GGUF metadata (llama.cpp's key names; a
//! safetensors checkpoint synthesizes the same keys from its `config.json`).

use candle_core::quantized::gguf_file::Value;

use super::{Checkpoint, ModelError};
use crate::text::{value_as_f64, value_as_u64};

/// The architectures we implement. Each differs from `llama` in a handful of switches below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Llama,
    Qwen2,
    Qwen3,
    Gemma3,
    /// Fused `attn_qkv` and `ffn_up` (gate rows, then up rows).
    Phi3,
}

/// Each family: its GGUF architecture, the Hugging Face classes that load as it (the first
/// is what `rollama convert` writes) and its HF `model_type`. The one table, read both ways.
const FAMILIES: [(Family, &str, &[&str], &str); 5] = [
    (
        Family::Llama,
        "llama",
        &["LlamaForCausalLM", "MistralForCausalLM"],
        "llama",
    ),
    (Family::Qwen2, "qwen2", &["Qwen2ForCausalLM"], "qwen2"),
    (Family::Qwen3, "qwen3", &["Qwen3ForCausalLM"], "qwen3"),
    (
        Family::Gemma3,
        "gemma3",
        &["Gemma3ForCausalLM"],
        "gemma3_text",
    ),
    (Family::Phi3, "phi3", &["Phi3ForCausalLM"], "phi3"),
];

impl Family {
    /// The family of a GGUF `general.architecture`.
    pub fn from_arch(arch: &str) -> Result<Self, ModelError> {
        FAMILIES
            .iter()
            .find(|f| f.1 == arch)
            .map(|f| f.0)
            .ok_or_else(|| ModelError::Unsupported(format!("architecture {arch}")))
    }

    /// The family of a Hugging Face `architectures[0]` class.
    pub fn from_hf_class(class: &str) -> Result<Self, ModelError> {
        FAMILIES
            .iter()
            .find(|f| f.2.contains(&class))
            .map(|f| f.0)
            .ok_or_else(|| ModelError::Unsupported(format!("architecture {class}")))
    }

    fn row(self) -> &'static (Family, &'static str, &'static [&'static str], &'static str) {
        FAMILIES
            .iter()
            .find(|f| f.0 == self)
            .expect("every family has a row in FAMILIES")
    }

    /// GGUF's `general.architecture`.
    pub fn arch(self) -> &'static str {
        self.row().1
    }

    /// The Hugging Face class `rollama convert` writes.
    pub fn hf_class(self) -> &'static str {
        self.row().2[0]
    }

    /// The Hugging Face `model_type`.
    pub fn hf_model_type(self) -> &'static str {
        self.row().3
    }
}

/// How RoPE pairs up the dimensions of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// Adjacent pairs `(x[2i], x[2i+1])`: llama.cpp's "normal" rope. The GGUF converter
    /// permutes Llama's Q/K weights so that this is right for the `llama` architecture.
    Interleaved,
    /// Pairs `(x[i], x[i + d/2])`: GPT-NeoX style, used by Qwen and Gemma.
    Neox,
}

/// Hyper-parameters read from GGUF metadata.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub architecture: String,
    pub family: Family,
    pub context_length: usize,
    pub embedding_length: usize,
    pub block_count: usize,
    pub vocab_size: usize,
    pub feed_forward_length: usize,
    pub head_count: usize,
    pub head_count_kv: usize,
    /// Per-head width of Q, K and V (`attention.key_length`).
    pub head_dim: usize,
    pub rms_eps: f64,
    pub rope_style: RopeStyle,
    /// Leading dimensions of each head that RoPE rotates (`rope.dimension_count`).
    pub rope_dims: usize,
    /// RoPE base of global (full-attention) layers.
    pub rope_base: f64,
    /// RoPE base of sliding-window layers (Gemma 3 uses 10 000 there).
    pub rope_base_local: f64,
    /// Linear position scaling of global layers: positions are multiplied by this.
    pub rope_freq_scale: f64,
    /// Window of the sliding-window layers, in positions.
    pub sliding_window: Option<usize>,
    /// Per layer: true when the layer attends only to the last `sliding_window` positions.
    pub layer_is_local: Vec<bool>,
    /// Multiplier on Q before `QK^T` (usually `1/sqrt(head_dim)`).
    pub attention_scale: f64,
    /// Gemma multiplies token embeddings by `sqrt(embedding_length)`.
    pub embedding_scale: Option<f64>,
    /// `tanh` soft-cap on the final logits, when the model asks for it.
    pub final_logit_softcap: Option<f64>,
}

impl ModelConfig {
    pub fn from_checkpoint(file: &Checkpoint) -> Result<Self, ModelError> {
        let architecture = file.architecture()?.to_string();
        let family = Family::from_arch(&architecture)?;
        let meta = Meta {
            file,
            arch: &architecture,
        };

        let embedding_length = meta.usize("embedding_length")?;
        let block_count = meta.usize("block_count")?;
        let head_count = meta.usize("attention.head_count")?;
        let head_count_kv = meta.usize_or("attention.head_count_kv", head_count)?;
        if head_count == 0 || head_count_kv == 0 || head_count % head_count_kv != 0 {
            return Err(ModelError::Format(format!(
                "{head_count} attention heads cannot share {head_count_kv} key/value heads"
            )));
        }
        let head_dim = meta.usize_or("attention.key_length", embedding_length / head_count)?;
        let value_dim = meta.usize_or("attention.value_length", head_dim)?;
        if value_dim != head_dim || head_dim == 0 || head_dim % 2 != 0 {
            return Err(ModelError::Unsupported(format!(
                "key length {head_dim} with value length {value_dim}"
            )));
        }
        let rope_dims = meta.usize_or("rope.dimension_count", head_dim)?;
        if rope_dims == 0 || rope_dims > head_dim || rope_dims % 2 != 0 {
            return Err(ModelError::Format(format!(
                "rope.dimension_count {rope_dims} does not fit head size {head_dim}"
            )));
        }
        let rope_freq_scale = match file.get_str(&format!("{architecture}.rope.scaling.type")) {
            None | Some("none") => 1.0,
            Some("linear") => 1.0 / meta.f64_or("rope.scaling.factor", 1.0)?,
            Some(other) => {
                return Err(ModelError::Unsupported(format!("rope scaling {other}")));
            }
        };
        let vocab_size = match file.tensor_shape("token_embd.weight").as_deref() {
            Some(&[rows, _]) => rows,
            _ => {
                return Err(ModelError::Format(
                    "missing tensor token_embd.weight".into(),
                ))
            }
        };
        // Phi-3's 128k variants (longrope: two factor sets and an attention factor chosen
        // by context length) are not implemented.
        if family == Family::Phi3 && file.contains_tensor("rope_factors_long.weight") {
            return Err(ModelError::Unsupported(
                "phi3 longrope (rope_factors_long)".into(),
            ));
        }

        let gemma = family == Family::Gemma3;
        let sliding_window = match gemma {
            true => meta
                .opt_usize("attention.sliding_window")?
                .filter(|&w| w > 0),
            false => None,
        };
        let layer_is_local = match sliding_window {
            Some(_) => meta.swa_pattern(block_count)?,
            None => vec![false; block_count],
        };
        // llama.cpp: Gemma 3 27B scales by the model width per head, every other size by head_dim.
        let attention_scale = if gemma && block_count == 62 {
            1.0 / ((embedding_length / head_count) as f64).sqrt()
        } else {
            1.0 / (head_dim as f64).sqrt()
        };
        let final_logit_softcap = match gemma && sliding_window.is_none() {
            true => meta
                .opt_f64("final_logit_softcapping")?
                .filter(|&c| c > 0.0),
            false => None,
        };

        Ok(Self {
            family,
            context_length: meta.usize("context_length")?,
            embedding_length,
            block_count,
            vocab_size,
            feed_forward_length: meta.usize("feed_forward_length")?,
            head_count,
            head_count_kv,
            head_dim,
            rms_eps: meta.f64_or("attention.layer_norm_rms_epsilon", 1e-5)?,
            rope_style: match family {
                Family::Llama => RopeStyle::Interleaved,
                Family::Qwen2 | Family::Qwen3 | Family::Gemma3 | Family::Phi3 => RopeStyle::Neox,
            },
            rope_dims,
            rope_base: meta.f64_or("rope.freq_base", 10_000.0)?,
            rope_base_local: meta.f64_or("rope.freq_base_swa", 10_000.0)?,
            rope_freq_scale,
            sliding_window,
            layer_is_local,
            attention_scale,
            embedding_scale: gemma.then(|| (embedding_length as f64).sqrt()),
            final_logit_softcap,
            architecture,
        })
    }

    /// Query heads per key/value head (grouped-query attention).
    pub fn group_size(&self) -> usize {
        self.head_count / self.head_count_kv
    }
}

/// Typed access to `{arch}.*` keys with errors that name the key.
struct Meta<'a> {
    file: &'a Checkpoint,
    arch: &'a str,
}

impl Meta<'_> {
    fn get(&self, suffix: &str) -> Option<&Value> {
        self.file.get(&format!("{}.{suffix}", self.arch))
    }

    fn bad(&self, suffix: &str) -> ModelError {
        ModelError::Format(format!("{}.{suffix} has the wrong type", self.arch))
    }

    fn opt_usize(&self, suffix: &str) -> Result<Option<usize>, ModelError> {
        self.get(suffix)
            .map(|v| {
                value_as_u64(v)
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| self.bad(suffix))
            })
            .transpose()
    }

    fn usize(&self, suffix: &str) -> Result<usize, ModelError> {
        self.opt_usize(suffix)?
            .ok_or_else(|| ModelError::Format(format!("missing {}.{suffix}", self.arch)))
    }

    fn usize_or(&self, suffix: &str, default: usize) -> Result<usize, ModelError> {
        Ok(self.opt_usize(suffix)?.unwrap_or(default))
    }

    fn opt_f64(&self, suffix: &str) -> Result<Option<f64>, ModelError> {
        self.get(suffix)
            .map(|v| value_as_f64(v).ok_or_else(|| self.bad(suffix)))
            .transpose()
    }

    fn f64_or(&self, suffix: &str, default: f64) -> Result<f64, ModelError> {
        Ok(self.opt_f64(suffix)?.unwrap_or(default))
    }

    /// Which layers slide: an explicit per-layer bool array, or a period `n` where every
    /// `n`-th layer is global (llama.cpp `set_swa_pattern`, Gemma 3 default 6).
    fn swa_pattern(&self, block_count: usize) -> Result<Vec<bool>, ModelError> {
        let key = "attention.sliding_window_pattern";
        if let Some(Value::Array(items)) = self.get(key) {
            let flags = items
                .iter()
                .map(|v| match v {
                    Value::Bool(b) => Ok(*b),
                    other => value_as_u64(other)
                        .map(|n| n != 0)
                        .ok_or_else(|| self.bad(key)),
                })
                .collect::<Result<Vec<_>, _>>()?;
            if flags.len() < block_count {
                return Err(self.bad(key));
            }
            return Ok(flags[..block_count].to_vec());
        }
        let period = self.usize_or(key, 6)?;
        Ok((0..block_count)
            .map(|il| period == 0 || il % period < period - 1)
            .collect())
    }
}
