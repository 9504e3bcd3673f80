//! Tensor names and layouts: Hugging Face checkpoint ↔ GGUF, with the transforms llama.cpp's
//! `convert_hf_to_gguf.py` applies on the way to GGUF (and their inverses for export).
//!
//! - `llama` (Llama, Mistral): Q and K rows (weights and biases) are permuted per head so that
//!   llama.cpp's interleaved RoPE, which rotates adjacent pairs, computes what HF's half-split
//!   RoPE computes. `LlamaModel.permute`: rows `[heads, 2, half, ...]` → `[heads, half, 2, ...]`.
//! - `gemma3`: HF's RMSNorm multiplies by `1 + w`; GGUF stores `1 + w` (every `*norm.weight`).
//! - `phi3`: no transform; the fused `qkv_proj` is GGUF's `attn_qkv` and the fused
//!   `gate_up_proj` (gate rows first) is GGUF's `ffn_up`.
//! - `qwen2`, `qwen3`: names only.

use candle_core::{DType, Tensor};

/// Per-layer parts: GGUF `blk.N.{gguf}` ↔ HF `model.layers.N.{hf}`, same suffix.
fn layer_parts(arch: &str) -> Vec<(&'static str, &'static str)> {
    let mut parts = vec![
        ("attn_norm", "input_layernorm"),
        ("attn_q", "self_attn.q_proj"),
        ("attn_k", "self_attn.k_proj"),
        ("attn_v", "self_attn.v_proj"),
        ("attn_output", "self_attn.o_proj"),
        ("attn_q_norm", "self_attn.q_norm"),
        ("attn_k_norm", "self_attn.k_norm"),
        ("ffn_gate", "mlp.gate_proj"),
        ("ffn_down", "mlp.down_proj"),
    ];
    match arch {
        "gemma3" => parts.extend([
            ("ffn_up", "mlp.up_proj"),
            ("ffn_norm", "pre_feedforward_layernorm"),
            ("post_attention_norm", "post_attention_layernorm"),
            ("post_ffw_norm", "post_feedforward_layernorm"),
        ]),
        "phi3" => parts.extend([
            ("attn_qkv", "self_attn.qkv_proj"),
            ("ffn_up", "mlp.gate_up_proj"),
            ("ffn_norm", "post_attention_layernorm"),
        ]),
        _ => parts.extend([
            ("ffn_up", "mlp.up_proj"),
            ("ffn_norm", "post_attention_layernorm"),
        ]),
    }
    parts
}

const GLOBAL: [(&str, &str); 3] = [
    ("token_embd.weight", "model.embed_tokens.weight"),
    ("output_norm.weight", "model.norm.weight"),
    ("output.weight", "lm_head.weight"),
];

/// The HF name of GGUF tensor `name`, or `None` when the checkpoint has no such tensor
/// (e.g. `rope_freqs.weight`, which llama.cpp computes from `rope_scaling`).
pub fn gguf_to_hf(arch: &str, name: &str) -> Option<String> {
    if let Some((_, hf)) = GLOBAL.iter().find(|(g, _)| *g == name) {
        return Some(hf.to_string());
    }
    let rest = name.strip_prefix("blk.")?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (part, suffix) = rest.rsplit_once('.')?;
    let (_, hf) = layer_parts(arch).into_iter().find(|(g, _)| *g == part)?;
    Some(format!("model.layers.{layer}.{hf}.{suffix}"))
}

/// The GGUF name of HF tensor `name`, or `None` for tensors the decoder does not use.
pub fn hf_to_gguf(arch: &str, name: &str) -> Option<String> {
    if let Some((g, _)) = GLOBAL.iter().find(|(_, hf)| *hf == name) {
        return Some(g.to_string());
    }
    let rest = name.strip_prefix("model.layers.")?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (part, suffix) = rest.rsplit_once('.')?;
    let (g, _) = layer_parts(arch).into_iter().find(|(_, hf)| *hf == part)?;
    Some(format!("blk.{layer}.{g}.{suffix}"))
}

/// How a tensor's GGUF form differs from its HF form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    None,
    /// llama's RoPE row permutation over this many heads.
    PermuteHeads(usize),
    /// Gemma's norm: GGUF = HF + 1.
    NormPlusOne,
}

/// The transform of GGUF tensor `name` in a model with `heads`/`kv_heads` attention heads.
pub fn transform(arch: &str, name: &str, heads: usize, kv_heads: usize) -> Transform {
    let part = name.rsplit('.').nth(1).unwrap_or_default();
    match arch {
        "llama" if part == "attn_q" => Transform::PermuteHeads(heads),
        "llama" if part == "attn_k" => Transform::PermuteHeads(kv_heads),
        "gemma3" if name.ends_with("norm.weight") => Transform::NormPlusOne,
        _ => Transform::None,
    }
}

impl Transform {
    /// HF layout → GGUF layout. Norms come back as f32.
    pub fn to_gguf(self, t: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::None => Ok(t.clone()),
            Self::PermuteHeads(heads) => permute_rows(t, heads, false),
            Self::NormPlusOne => t.to_dtype(DType::F32)? + 1.0,
        }
    }

    /// GGUF layout → HF layout. Norms come back as f32.
    pub fn to_hf(self, t: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::None => Ok(t.clone()),
            Self::PermuteHeads(heads) => permute_rows(t, heads, true),
            Self::NormPlusOne => t.to_dtype(DType::F32)? - 1.0,
        }
    }
}

/// Rows `[heads, 2, half, cols]` ↔ `[heads, half, 2, cols]` (`inverse` goes back).
fn permute_rows(t: &Tensor, heads: usize, inverse: bool) -> candle_core::Result<Tensor> {
    let dims = t.dims().to_vec();
    let rows = dims[0];
    let cols: usize = dims[1..].iter().product();
    if heads == 0 || !rows.is_multiple_of(2 * heads) {
        candle_core::bail!("cannot permute {rows} rows over {heads} heads");
    }
    let half = rows / heads / 2;
    let split = match inverse {
        false => (heads, 2, half, cols),
        true => (heads, half, 2, cols),
    };
    t.reshape(split)?
        .transpose(1, 2)?
        .contiguous()?
        .reshape(dims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for arch in ["llama", "qwen2", "qwen3", "gemma3", "phi3"] {
            for g in [
                "token_embd.weight",
                "output.weight",
                "blk.3.attn_q.bias",
                "blk.0.ffn_up.weight",
                "blk.11.ffn_norm.weight",
            ] {
                let hf = gguf_to_hf(arch, g).expect("mapped");
                assert_eq!(hf_to_gguf(arch, &hf).as_deref(), Some(g), "{arch} {hf}");
            }
        }
        assert_eq!(
            gguf_to_hf("phi3", "blk.2.ffn_up.weight").as_deref(),
            Some("model.layers.2.mlp.gate_up_proj.weight")
        );
        assert_eq!(
            gguf_to_hf("gemma3", "blk.2.ffn_norm.weight").as_deref(),
            Some("model.layers.2.pre_feedforward_layernorm.weight")
        );
        assert_eq!(hf_to_gguf("llama", "model.rotary_emb.inv_freq"), None);
    }

    #[test]
    fn permutation_inverts() -> candle_core::Result<()> {
        let t = Tensor::arange(0f32, 48.0, &candle_core::Device::Cpu)?.reshape((8, 6))?;
        let p = Transform::PermuteHeads(2);
        let g = p.to_gguf(&t)?;
        // Head 0's rows 0..4 = [x0, x1, y0, y1] (halves) → interleaved [x0, y0, x1, y1].
        assert_eq!(g.get(1)?.to_vec1::<f32>()?, t.get(2)?.to_vec1::<f32>()?);
        let back = p.to_hf(&g)?;
        assert_eq!(back.to_vec2::<f32>()?, t.to_vec2::<f32>()?);
        Ok(())
    }
}
