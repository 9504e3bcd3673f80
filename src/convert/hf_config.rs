//! `config.json` and `generation_config.json` of an exported checkpoint: the fields
//! `transformers` needs to build the model class (and that our own loader reads back).

use serde_json::{json, Value};

use super::{ConvertError, WeightDtype};
use crate::model::config::Family;
use crate::model::{Checkpoint, ModelConfig};
use crate::text::Tokenizer;

/// GGUF stores these as f32: write the shortest decimal that is that f32 (`1e-5`, not
/// `9.999999747378752e-6`).
fn f32_json(x: f64) -> Value {
    let short = format!("{}", x as f32);
    json!(short.parse::<f64>().unwrap_or(x))
}

/// Which `transformers` version the files are written for.
const TRANSFORMERS_VERSION: &str = "4.56.0";

pub fn config_json(
    checkpoint: &Checkpoint,
    c: &ModelConfig,
    tied: bool,
    dtype: WeightDtype,
    tokenizer: Option<&Tokenizer>,
) -> Result<Value, ConvertError> {
    let (architecture, model_type) = (c.family.hf_class(), c.family.hf_model_type());
    let rope_scaling = match c.rope_freq_scale {
        s if (s - 1.0).abs() < 1e-12 => Value::Null,
        s => json!({ "rope_type": "linear", "type": "linear", "factor": f32_json(1.0 / s) }),
    };
    let bias = checkpoint.contains_tensor("blk.0.attn_q.bias");
    let mut cfg = json!({
        "architectures": [architecture],
        "model_type": model_type,
        "vocab_size": c.vocab_size,
        "hidden_size": c.embedding_length,
        "intermediate_size": c.feed_forward_length,
        "num_hidden_layers": c.block_count,
        "num_attention_heads": c.head_count,
        "num_key_value_heads": c.head_count_kv,
        "head_dim": c.head_dim,
        "max_position_embeddings": c.context_length,
        "rms_norm_eps": f32_json(c.rms_eps),
        "rope_theta": f32_json(c.rope_base),
        "rope_scaling": rope_scaling,
        "hidden_act": "silu",
        "tie_word_embeddings": tied,
        "attention_bias": bias,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "use_cache": true,
        "torch_dtype": dtype.torch_name(),
        "transformers_version": TRANSFORMERS_VERSION,
    });
    let obj = cfg
        .as_object_mut()
        .expect("json! of an object literal is an object");
    if let Some(tok) = tokenizer {
        obj.insert("bos_token_id".into(), json!(tok.bos_id()));
        obj.insert("eos_token_id".into(), json!(tok.eos_id()));
        if let Some(pad) = tok.pad_id() {
            obj.insert("pad_token_id".into(), json!(pad));
        }
    }
    match c.family {
        Family::Llama => {
            obj.insert("mlp_bias".into(), json!(false));
            obj.insert("pretraining_tp".into(), json!(1));
        }
        Family::Qwen2 | Family::Qwen3 => {
            obj.insert("use_sliding_window".into(), json!(false));
            obj.insert("sliding_window".into(), Value::Null);
            obj.insert("max_window_layers".into(), json!(c.block_count));
            if c.family == Family::Qwen2 {
                // Qwen2 always has Q/K/V biases; the field does not exist there.
                obj.remove("attention_bias");
            }
        }
        Family::Gemma3 => {
            obj.remove("hidden_act");
            obj.insert("hidden_activation".into(), json!("gelu_pytorch_tanh"));
            // HF scales queries by query_pre_attn_scalar^-1/2; we by `attention_scale`.
            let scalar = (1.0 / (c.attention_scale * c.attention_scale)).round();
            obj.insert("query_pre_attn_scalar".into(), json!(scalar as u64));
            obj.insert("sliding_window".into(), json!(c.sliding_window));
            let types: Vec<&str> = c
                .layer_is_local
                .iter()
                .map(|&l| match l {
                    true => "sliding_attention",
                    false => "full_attention",
                })
                .collect();
            obj.insert("layer_types".into(), json!(types));
            if let Some(period) = regular_period(&c.layer_is_local) {
                obj.insert("sliding_window_pattern".into(), json!(period));
            }
            obj.insert("rope_local_base_freq".into(), f32_json(c.rope_base_local));
            obj.insert(
                "final_logit_softcapping".into(),
                json!(c.final_logit_softcap),
            );
            obj.insert("attn_logit_softcapping".into(), Value::Null);
        }
        Family::Phi3 => {
            let original = checkpoint
                .arch_u64("rope.scaling.original_context_length")
                .unwrap_or(c.context_length as u64);
            obj.insert("original_max_position_embeddings".into(), json!(original));
            if c.rope_dims != c.head_dim {
                let factor = (c.rope_dims * c.head_count) as f64 / c.embedding_length as f64;
                obj.insert("partial_rotary_factor".into(), json!(factor));
            }
            obj.insert("sliding_window".into(), Value::Null);
            obj.insert("resid_pdrop".into(), json!(0.0));
            obj.insert("embd_pdrop".into(), json!(0.0));
        }
    }
    Ok(cfg)
}

/// The `n` with "every n-th layer is global" when the pattern is that regular.
fn regular_period(local: &[bool]) -> Option<usize> {
    let first_global = local.iter().position(|&l| !l)?;
    let period = first_global + 1;
    local
        .iter()
        .enumerate()
        .all(|(i, &l)| l == (i % period < period - 1))
        .then_some(period)
}

/// `eos_token_id` lists every end-of-generation token (EOS first), as Llama 3 and Qwen do.
pub fn generation_config(tokenizer: Option<&Tokenizer>) -> Value {
    let Some(tok) = tokenizer else {
        return json!({ "transformers_version": TRANSFORMERS_VERSION });
    };
    let mut stops: Vec<u32> = tok.eos_id().into_iter().collect();
    stops.extend(
        tok.stop_ids()
            .iter()
            .filter(|&&id| Some(id) != tok.eos_id()),
    );
    let eos = match stops.len() {
        1 => json!(stops[0]),
        _ => json!(stops),
    };
    let mut cfg = json!({
        "bos_token_id": tok.bos_id(),
        "eos_token_id": eos,
        "transformers_version": TRANSFORMERS_VERSION,
    });
    if let Some(pad) = tok.pad_id() {
        cfg["pad_token_id"] = json!(pad);
    }
    cfg
}
