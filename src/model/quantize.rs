//! Quantizing an F32/F16/BF16 GGUF to Q8_0, Q4_K_S or Q4_K_M (`/api/create`'s
//! `quantize`). Which tensor gets which type follows Ollama's port of llama.cpp's
//! `llama_tensor_get_type`: norms, biases and other 1-D tensors stay as they are; the
//! output (or the tied embedding) and some `attn_v` / `ffn_down` tensors get more bits.

use std::fs::File;
use std::io::{BufReader, Seek, Write};
use std::path::Path;

use candle_core::quantized::gguf_file::{self, Content, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::Device;

use super::ModelError;
use crate::text::value_as_u64;

/// Ollama's error for an input that is already quantized (or of no known type).
pub const ONLY_FLOAT: &str = "quantization is only supported for F16, BF16 and F32 models";

/// A quantization `/api/create` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Q8_0,
    Q4KS,
    Q4KM,
}

impl Target {
    /// Case-insensitive, as Ollama upper-cases the request's value.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "Q8_0" => Some(Self::Q8_0),
            "Q4_K_S" => Some(Self::Q4KS),
            "Q4_K_M" => Some(Self::Q4KM),
            _ => None,
        }
    }

    /// The name `/api/show` reports as `quantization_level`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Q8_0 => "Q8_0",
            Self::Q4KS => "Q4_K_S",
            Self::Q4KM => "Q4_K_M",
        }
    }

    /// llama.cpp's `llama_ftype`, stored as `general.file_type`.
    pub fn file_type(self) -> u32 {
        match self {
            Self::Q8_0 => 7,
            Self::Q4KS => 14,
            Self::Q4KM => 15,
        }
    }

    /// The type of a quantized tensor that no rule adjusts.
    fn base(self) -> GgmlDType {
        match self {
            Self::Q8_0 => GgmlDType::Q8_0,
            Self::Q4KS | Self::Q4KM => GgmlDType::Q4K,
        }
    }
}

/// `F32`, `F16` or `BF16` when the GGUF can be quantized (`general.file_type`, or, when
/// a file lacks it, its tensors' types); `None` when it is quantized already.
pub fn source_type(content: &Content) -> Option<&'static str> {
    if let Some(ft) = content.metadata.get("general.file_type") {
        return match value_as_u64(ft)? {
            0 => Some("F32"),
            1 => Some("F16"),
            32 => Some("BF16"),
            _ => None,
        };
    }
    let dtypes: Vec<GgmlDType> = content
        .tensor_infos
        .values()
        .map(|t| t.ggml_dtype)
        .collect();
    let has = |d| dtypes.contains(&d);
    if !dtypes
        .iter()
        .all(|d| matches!(d, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16))
    {
        return None;
    }
    Some(match (has(GgmlDType::F16), has(GgmlDType::BF16)) {
        (true, _) => "F16",
        (false, true) => "BF16",
        (false, false) => "F32",
    })
}

/// Reads the GGUF at `input`, writes it quantized to `target` into `output`, calling
/// `progress(done, total)` (bytes of source tensors) after each tensor. The caller
/// checks [`source_type`] first; a quantized tensor in the input is copied as it is.
pub fn quantize_gguf(
    input: &Path,
    output: &mut (impl Write + Seek),
    target: Target,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), ModelError> {
    let file = File::open(input).map_err(|e| ModelError::Io(input.to_path_buf(), e))?;
    let mut reader = BufReader::new(file);
    let content = Content::read(&mut reader)
        .map_err(|e| ModelError::Format(format!("{}: {e}", input.display())))?;
    // File order: the per-layer counters of the rules count tensors as llama.cpp does.
    let mut infos: Vec<_> = content.tensor_infos.iter().collect();
    infos.sort_by_key(|(_, info)| info.offset);
    let size = |info: &gguf_file::TensorInfo| {
        let d = info.ggml_dtype;
        (info.shape.elem_count() / d.block_size() * d.type_size()) as u64
    };
    let total: u64 = infos.iter().map(|(_, info)| size(info)).sum();
    let mut plan = Plan::new(
        infos.iter().map(|(name, _)| name.as_str()),
        expert_count(&content),
    );
    let mut tensors = Vec::with_capacity(infos.len());
    let mut done = 0;
    for (name, info) in infos {
        let tensor = content.tensor(&mut reader, name, &Device::Cpu)?;
        let want = plan.tensor_type(name, info.shape.dims(), info.ggml_dtype, target);
        let tensor = match want == tensor.dtype() || is_quantized(tensor.dtype()) {
            true => tensor,
            false => QTensor::quantize(&tensor.dequantize(&Device::Cpu)?, want)?,
        };
        tensors.push((name.as_str(), tensor));
        done += size(info);
        progress(done, total);
    }
    let mut metadata = content.metadata.clone();
    metadata.insert("general.file_type".into(), Value::U32(target.file_type()));
    // What llama-quantize writes: the version of the quantized block layouts.
    metadata.insert("general.quantization_version".into(), Value::U32(2));
    // Sorted, so the same input gives the same bytes (and blob digest).
    let mut meta: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    meta.sort_by_key(|(k, _)| *k);
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();
    gguf_file::write(output, &meta, &refs)?;
    Ok(())
}

fn expert_count(content: &Content) -> u64 {
    let arch = match content.metadata.get("general.architecture") {
        Some(Value::String(a)) => a.as_str(),
        _ => "",
    };
    content
        .metadata
        .get(&format!("{arch}.expert_count"))
        .and_then(value_as_u64)
        .unwrap_or(0)
        .max(1)
}

fn is_quantized(d: GgmlDType) -> bool {
    !matches!(d, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16)
}

/// The counters of `llama_tensor_get_type`: how many `attn_v` / `ffn_down` tensors
/// there are and how many were seen, whether the output has its own tensor.
#[derive(Debug)]
pub struct Plan {
    n_attn_v: usize,
    n_ffn_down: usize,
    i_attn_v: usize,
    i_ffn_down: usize,
    has_output: bool,
    n_experts: u64,
}

impl Plan {
    pub fn new<'a>(names: impl Iterator<Item = &'a str>, n_experts: u64) -> Self {
        let mut plan = Self {
            n_attn_v: 0,
            n_ffn_down: 0,
            i_attn_v: 0,
            i_ffn_down: 0,
            has_output: false,
            n_experts,
        };
        let mut blocks = std::collections::BTreeSet::new();
        for name in names {
            if ["attn_v.weight", "attn_qkv.weight", "attn_kv_b.weight"]
                .iter()
                .any(|s| name.contains(s))
            {
                plan.n_attn_v += 1;
            } else if name == "output.weight" {
                plan.has_output = true;
            }
            if let Some(rest) = name.strip_prefix("blk.") {
                blocks.insert(rest.split('.').next().unwrap_or_default().to_string());
            }
        }
        // Ollama counts `ffn_down` tensors as the number of layers.
        plan.n_ffn_down = blocks.len();
        plan
    }

    /// The type tensor `name` (candle dims, the last the row length) gets, called once
    /// per tensor in file order.
    pub fn tensor_type(
        &mut self,
        name: &str,
        dims: &[usize],
        current: GgmlDType,
        target: Target,
    ) -> GgmlDType {
        if !quantizable(name, dims) || is_quantized(current) {
            return current;
        }
        let nx = dims.last().copied().unwrap_or(0);
        let mut t = self.adjusted(name, nx, target);
        // A row that does not split into whole blocks falls back to a type it does.
        if !nx.is_multiple_of(t.block_size()) {
            t = match t {
                GgmlDType::Q4K => GgmlDType::Q5_0,
                GgmlDType::Q5K => GgmlDType::Q5_1,
                GgmlDType::Q6K => GgmlDType::Q8_0,
                t => t,
            };
            if !nx.is_multiple_of(t.block_size()) {
                t = GgmlDType::F16;
            }
        }
        t
    }

    fn adjusted(&mut self, name: &str, nx: usize, target: Target) -> GgmlDType {
        use GgmlDType::{Q5K, Q6K, Q8_0};
        let mut t = target.base();
        let q4k = matches!(target, Target::Q4KS | Target::Q4KM);
        if name == "output.weight" || (!self.has_output && name == "token_embd.weight") {
            if !nx.is_multiple_of(t.block_size()) {
                t = Q8_0;
            } else if t != Q8_0 {
                t = Q6K;
            }
        } else if name.contains("attn_v.weight") {
            if t != Q8_0 && target == Target::Q4KM && use_more_bits(self.i_attn_v, self.n_attn_v) {
                t = Q6K;
            } else if t != Q8_0 && target == Target::Q4KS && self.i_attn_v < 4 {
                t = Q5K;
            }
            if self.n_experts == 8 {
                t = Q8_0;
            }
            self.i_attn_v += 1;
        } else if name.contains("attn_k.weight") {
            if self.n_experts == 8 {
                t = Q8_0;
            }
        } else if [
            "attn_k_b.weight",
            "attn_v_b.weight",
            "attn_kv_a_mqa.weight",
            "attn_q_a.weight",
            "attn_q_b.weight",
        ]
        .iter()
        .any(|s| name.contains(s))
        {
            // Multi-head latent attention loses quality below 8 bits.
            t = Q8_0;
        } else if name.contains("ffn_down") {
            // An expert `ffn_down_exps` follows its layer's dense `ffn_down` (names sort
            // that way) and shares its layer index.
            let i = if name.contains("_exps") {
                self.i_ffn_down.saturating_sub(1)
            } else {
                self.i_ffn_down += 1;
                self.i_ffn_down - 1
            };
            if t != Q8_0 && target == Target::Q4KM {
                if use_more_bits(i, self.n_ffn_down) {
                    t = Q6K;
                }
            } else if t != Q8_0 && target == Target::Q4KS && i < self.n_ffn_down / 8 {
                t = Q5K;
            }
        } else if name.contains("attn_output.weight") {
            if t != Q8_0 && self.n_experts == 8 && q4k {
                t = Q5K;
            }
        } else if name.contains("attn_qkv.weight") && t != Q8_0 && target == Target::Q4KM {
            t = Q5K;
        }
        t
    }
}

/// llama.cpp's `use_more_bits`: the first and last eighth of the layers, and every third
/// in between.
fn use_more_bits(i: usize, n: usize) -> bool {
    let (i, n) = (i as i64, n as i64);
    i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
}

/// Only weight matrices (and expert stacks) are quantized: not norms, biases, gates of
/// experts, positional embeddings or the small special-purpose weights Ollama lists.
fn quantizable(name: &str, dims: &[usize]) -> bool {
    const KEEP: [&str; 12] = [
        "_norm.weight",
        "ffn_gate_inp.weight",
        "ffn_gate_inp_shexp.weight",
        "ssm_conv1d.weight",
        "shortconv.conv.weight",
        "time_mix_first.weight",
        "time_mix_w1.weight",
        "time_mix_w2.weight",
        "time_mix_decay_w1.weight",
        "time_mix_decay_w2.weight",
        "time_mix_lerp_fused.weight",
        "attn_rel_b.weight",
    ];
    name.ends_with("weight")
        && dims.len() >= 2
        // Vision and audio encoders stay as they are.
        && !name.starts_with("v.")
        && !name.starts_with("a.")
        && !name.contains("mm.")
        && name != "position_embd.weight"
        && name != "token_types.weight"
        && !name.contains("per_layer_token_embd.weight")
        && !KEEP.iter().any(|k| name.contains(k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use GgmlDType::*;

    #[test]
    fn targets_parse_case_insensitively() {
        assert_eq!(Target::parse("q4_K_M"), Some(Target::Q4KM));
        assert_eq!(Target::parse("Q4_K_S"), Some(Target::Q4KS));
        assert_eq!(Target::parse("q8_0"), Some(Target::Q8_0));
        for bad in ["", "q4_0", "Q5_K_M", "f16", "q8"] {
            assert_eq!(Target::parse(bad), None, "{bad}");
        }
        assert_eq!(Target::Q4KM.file_type(), 15);
        assert_eq!(Target::Q4KS.file_type(), 14);
        assert_eq!(Target::Q8_0.file_type(), 7);
        assert_eq!(Target::Q4KM.name(), "Q4_K_M");
    }

    /// The tensors of an 8-layer llama, in file order.
    fn names(tied: bool) -> Vec<String> {
        let mut names = vec!["token_embd.weight".to_string()];
        if !tied {
            names.push("output.weight".into());
        }
        for l in 0..8 {
            for t in [
                "attn_q",
                "attn_k",
                "attn_v",
                "attn_output",
                "ffn_down",
                "attn_norm",
            ] {
                names.push(format!("blk.{l}.{t}.weight"));
            }
        }
        names
    }

    fn types(target: Target, tied: bool, dims: &[usize]) -> Vec<(String, GgmlDType)> {
        let names = names(tied);
        let mut plan = Plan::new(names.iter().map(String::as_str), 1);
        names
            .iter()
            .map(|n| {
                let d: &[usize] = if n.contains("norm") { &dims[1..] } else { dims };
                (n.clone(), plan.tensor_type(n, d, F16, target))
            })
            .collect()
    }

    fn of(types: &[(String, GgmlDType)], name: &str) -> GgmlDType {
        types
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| *t)
            .expect(name)
    }

    #[test]
    fn q4_k_m_gives_some_tensors_more_bits() {
        let t = types(Target::Q4KM, false, &[512, 256]);
        assert_eq!(of(&t, "output.weight"), Q6K);
        assert_eq!(of(&t, "token_embd.weight"), Q4K);
        assert_eq!(of(&t, "blk.0.attn_q.weight"), Q4K);
        assert_eq!(of(&t, "blk.0.attn_norm.weight"), F16, "1-D stays");
        // use_more_bits(i, 8): layers 0 and 7, and 1 + 3k from the second on.
        let more: Vec<usize> = (0..8)
            .filter(|l| of(&t, &format!("blk.{l}.attn_v.weight")) == Q6K)
            .collect();
        assert_eq!(more, vec![0, 3, 6, 7]);
        let more: Vec<usize> = (0..8)
            .filter(|l| of(&t, &format!("blk.{l}.ffn_down.weight")) == Q6K)
            .collect();
        assert_eq!(more, vec![0, 3, 6, 7]);
        // Tied: the embedding is the output and gets its bits.
        let t = types(Target::Q4KM, true, &[512, 256]);
        assert_eq!(of(&t, "token_embd.weight"), Q6K);
    }

    #[test]
    fn q4_k_s_and_q8_0() {
        let t = types(Target::Q4KS, false, &[512, 256]);
        assert_eq!(of(&t, "blk.3.attn_v.weight"), Q5K);
        assert_eq!(of(&t, "blk.4.attn_v.weight"), Q4K);
        assert_eq!(of(&t, "blk.0.ffn_down.weight"), Q5K);
        assert_eq!(of(&t, "blk.1.ffn_down.weight"), Q4K);
        let t = types(Target::Q8_0, false, &[512, 256]);
        assert!(t
            .iter()
            .all(|(n, ty)| *ty == if n.contains("norm") { F16 } else { Q8_0 }));
    }

    #[test]
    fn rows_that_do_not_fit_whole_blocks_fall_back() {
        // 64 wide: no K-quant block fits, Q5_0 / Q8_0 (32 wide) do.
        let t = types(Target::Q4KM, false, &[128, 64]);
        assert_eq!(of(&t, "blk.1.attn_q.weight"), Q5_0);
        assert_eq!(of(&t, "blk.0.attn_v.weight"), Q8_0);
        assert_eq!(of(&t, "output.weight"), Q8_0);
        // 48 wide: nothing but F16.
        let t = types(Target::Q8_0, false, &[128, 48]);
        assert_eq!(of(&t, "blk.1.attn_q.weight"), F16);
    }
}
