//! `config.json` → the `{arch}.*` GGUF keys llama.cpp's converter would write.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;
use serde_json::Value as Json;

use crate::model::config::Family;
use crate::model::ModelError;

/// GGUF architecture of an HF `architectures[0]` entry.
pub fn gguf_arch(hf: &str) -> Result<&'static str, ModelError> {
    Family::from_hf_class(hf).map(Family::arch)
}

/// Typed reads of `config.json` with errors that name the field.
pub(super) struct Config<'a>(pub &'a Json);

impl Config<'_> {
    pub fn opt_usize(&self, key: &str) -> Result<Option<usize>, ModelError> {
        match self.0.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| ModelError::Format(format!("config.json: {key} is not a count"))),
        }
    }

    pub fn usize(&self, key: &str) -> Result<usize, ModelError> {
        self.opt_usize(key)?
            .ok_or_else(|| ModelError::Format(format!("config.json: missing {key}")))
    }

    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>, ModelError> {
        match self.0.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| ModelError::Format(format!("config.json: {key} is not a number"))),
        }
    }

    /// `rope_scaling`, or the newer `rope_parameters` (which also carries `rope_theta`).
    fn rope_scaling(&self) -> Option<&Json> {
        ["rope_scaling", "rope_parameters"]
            .iter()
            .filter_map(|k| self.0.get(*k))
            .find(|v| v.is_object())
    }

    pub fn rope_theta(&self) -> Result<Option<f64>, ModelError> {
        if let Some(theta) = self.opt_f64("rope_theta")? {
            return Ok(Some(theta));
        }
        Ok(self
            .rope_scaling()
            .and_then(|r| r.get("rope_theta"))
            .and_then(Json::as_f64))
    }
}

/// How RoPE is scaled, as far as our decoder supports it.
pub(super) enum RopeScaling {
    None,
    Linear(f64),
    /// Llama 3.1's per-frequency factors (llama.cpp writes them as `rope_freqs.weight`).
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_context: f64,
    },
}

pub(super) fn rope_scaling(cfg: &Config<'_>) -> Result<RopeScaling, ModelError> {
    let Some(r) = cfg.rope_scaling() else {
        return Ok(RopeScaling::None);
    };
    let kind = r
        .get("rope_type")
        .or_else(|| r.get("type"))
        .and_then(Json::as_str)
        .unwrap_or("default");
    let num = |k: &str, default: f64| r.get(k).and_then(Json::as_f64).unwrap_or(default);
    match kind {
        "default" | "none" => Ok(RopeScaling::None),
        "linear" => Ok(RopeScaling::Linear(num("factor", 1.0))),
        "llama3" => Ok(RopeScaling::Llama3 {
            factor: num("factor", 8.0),
            low_freq_factor: num("low_freq_factor", 1.0),
            high_freq_factor: num("high_freq_factor", 4.0),
            original_context: num("original_max_position_embeddings", 8192.0),
        }),
        other => Err(ModelError::Unsupported(format!("rope scaling {other}"))),
    }
}

/// llama.cpp's `rope_freqs` for Llama 3 scaling: one divisor per rotated pair.
pub(super) fn llama3_rope_factors(scaling: &RopeScaling, base: f64, dims: usize) -> Vec<f32> {
    let RopeScaling::Llama3 {
        factor,
        low_freq_factor,
        high_freq_factor,
        original_context,
    } = *scaling
    else {
        return Vec::new();
    };
    let low_wavelen = original_context / low_freq_factor;
    let high_wavelen = original_context / high_freq_factor;
    (0..dims / 2)
        .map(|i| {
            let freq = 1.0 / base.powf(2.0 * i as f64 / dims as f64);
            let wavelen = 2.0 * std::f64::consts::PI / freq;
            let f = if wavelen < high_wavelen {
                1.0
            } else if wavelen > low_wavelen {
                factor
            } else {
                let smooth = (original_context / wavelen - low_freq_factor)
                    / (high_freq_factor - low_freq_factor);
                1.0 / ((1.0 - smooth) / factor + smooth)
            };
            f as f32
        })
        .collect()
}

/// The `{arch}.*` keys for a decoder `config.json`.
pub(super) fn hparams(
    arch: &str,
    cfg: &Config<'_>,
    meta: &mut HashMap<String, Value>,
) -> Result<(), ModelError> {
    let mut put = |k: &str, v: Value| {
        meta.insert(format!("{arch}.{k}"), v);
    };
    let u = |n: usize| Value::U32(n as u32);
    let hidden = cfg.usize("hidden_size")?;
    let heads = cfg.usize("num_attention_heads")?;
    put("context_length", u(cfg.usize("max_position_embeddings")?));
    put("embedding_length", u(hidden));
    put("block_count", u(cfg.usize("num_hidden_layers")?));
    put("feed_forward_length", u(cfg.usize("intermediate_size")?));
    put("attention.head_count", u(heads));
    put(
        "attention.head_count_kv",
        u(cfg.opt_usize("num_key_value_heads")?.unwrap_or(heads)),
    );
    if let Some(head_dim) = cfg.opt_usize("head_dim")? {
        put("attention.key_length", u(head_dim));
        put("attention.value_length", u(head_dim));
    }
    let eps = cfg.opt_f64("rms_norm_eps")?.unwrap_or(1e-6);
    put("attention.layer_norm_rms_epsilon", Value::F32(eps as f32));
    if let Some(theta) = cfg.rope_theta()? {
        put("rope.freq_base", Value::F32(theta as f32));
    }
    match rope_scaling(cfg)? {
        RopeScaling::Linear(factor) => {
            put("rope.scaling.type", Value::String("linear".into()));
            put("rope.scaling.factor", Value::F32(factor as f32));
        }
        RopeScaling::None | RopeScaling::Llama3 { .. } => {}
    }
    match arch {
        "gemma3" => {
            if let Some(window) = cfg.opt_usize("sliding_window")? {
                put("attention.sliding_window", u(window));
            }
            // `layer_types` (newer transformers) names each layer; else a period.
            if let Some(Json::Array(types)) = cfg.0.get("layer_types") {
                let flags = types
                    .iter()
                    .map(|t| Value::Bool(t.as_str() == Some("sliding_attention")))
                    .collect();
                put("attention.sliding_window_pattern", Value::Array(flags));
            } else if let Some(period) = cfg.opt_usize("sliding_window_pattern")? {
                put("attention.sliding_window_pattern", u(period));
            }
            let local = cfg.opt_f64("rope_local_base_freq")?.unwrap_or(10_000.0);
            put("rope.freq_base_swa", Value::F32(local as f32));
            if let Some(cap) = cfg.opt_f64("final_logit_softcapping")? {
                put("final_logit_softcapping", Value::F32(cap as f32));
            }
        }
        "phi3" => {
            // llama.cpp ignores Phi-3's sliding window (it disables SWA for this
            // architecture), and so do we; partial rotary (Phi-4-mini) shrinks the rope.
            if let Some(p) = cfg.opt_f64("partial_rotary_factor")? {
                put(
                    "rope.dimension_count",
                    u((p * hidden as f64) as usize / heads),
                );
            }
        }
        _ => {}
    }
    Ok(())
}
