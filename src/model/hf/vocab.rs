//! `tokenizer.json` + `tokenizer_config.json` + `generation_config.json` → the
//! `tokenizer.*` GGUF keys, so that `text::Tokenizer::from_gguf` builds the tokenizer.
//!
//! - Byte-level BPE (a `ByteLevel` step anywhere) → `gpt2`: vocabulary, merges, and the
//!   `pre` profile whose split regexes equal the pre-tokenizer's (refused when none does).
//! - BPE with byte fallback → `llama` (SentencePiece as llama.cpp runs it). `tokenizer.json`
//!   has no scores, only merges ranked by them, so each token scores minus the rank of the
//!   first merge that builds it: the same merge order `text::convert` derives from scores.
//! - Added tokens: special → CONTROL, others → USER_DEFINED (llama.cpp's converter does the
//!   same); `<0xXX>` pieces of a byte-fallback vocabulary → BYTE; ids up to the model's
//!   vocabulary size that no token has → `[PADn]`, UNUSED.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;
use serde_json::Value as Json;

use crate::model::ModelError;
use crate::text::{pre_for_regexes, TokenType, GPT2_REGEX};

const NORMAL: i32 = TokenType::Normal.code();
const UNKNOWN: i32 = TokenType::Unknown.code();
const CONTROL: i32 = TokenType::Control.code();
const USER_DEFINED: i32 = TokenType::UserDefined.code();
const UNUSED: i32 = TokenType::Unused.code();
const BYTE: i32 = TokenType::Byte.code();

fn bad(msg: impl Into<String>) -> ModelError {
    ModelError::Format(format!("tokenizer.json: {}", msg.into()))
}

/// The tokenizer files of a checkpoint directory, parsed (absent ones are `Null`).
pub(super) struct TokenizerFiles {
    pub tokenizer: Json,
    pub config: Json,
    pub generation: Json,
    /// `chat_template.jinja`, the newer home of the template.
    pub template_file: Option<String>,
}

/// Writes the `tokenizer.*` keys. `model_config` is `config.json` (fallback special ids),
/// `vocab_size` the embedding rows (the vocabulary is padded up to it).
pub(super) fn tokenizer_metadata(
    files: &TokenizerFiles,
    model_config: &Json,
    vocab_size: Option<usize>,
    meta: &mut HashMap<String, Value>,
) -> Result<(), ModelError> {
    let tj = &files.tokenizer;
    let model = &tj["model"];
    if model["type"].as_str() != Some("BPE") {
        return Err(ModelError::Unsupported(format!(
            "tokenizer model {}",
            model["type"]
        )));
    }
    let byte_level =
        mentions(&tj["pre_tokenizer"], "ByteLevel") || mentions(&tj["decoder"], "ByteLevel");
    let byte_fallback = model["byte_fallback"].as_bool() == Some(true);
    if !byte_level && !byte_fallback {
        return Err(ModelError::Unsupported(
            "a BPE tokenizer that is neither byte-level nor byte-fallback".into(),
        ));
    }

    // Tokens by id: the model's vocabulary, then added tokens (which may extend it).
    let mut tokens: Vec<Option<String>> = Vec::new();
    let mut types: Vec<i32> = Vec::new();
    let set =
        |tokens: &mut Vec<Option<String>>, types: &mut Vec<i32>, id: usize, text: &str, ty: i32| {
            if tokens.len() <= id {
                tokens.resize(id + 1, None);
                types.resize(id + 1, UNUSED);
            }
            tokens[id] = Some(text.to_string());
            types[id] = ty;
        };
    let vocab = model["vocab"]
        .as_object()
        .ok_or_else(|| bad("model.vocab is not a map"))?;
    for (text, id) in vocab {
        let id = id
            .as_u64()
            .ok_or_else(|| bad("a vocabulary id is not a number"))? as usize;
        let ty = match byte_fallback && is_byte_piece(text) {
            true => BYTE,
            false => NORMAL,
        };
        set(&mut tokens, &mut types, id, text, ty);
    }
    if let Some(added) = tj["added_tokens"].as_array() {
        for a in added {
            let id = a["id"]
                .as_u64()
                .ok_or_else(|| bad("added token without id"))? as usize;
            let text = a["content"]
                .as_str()
                .ok_or_else(|| bad("added token without content"))?;
            let ty = match a["special"].as_bool() == Some(true) {
                true => CONTROL,
                false => USER_DEFINED,
            };
            set(&mut tokens, &mut types, id, text, ty);
        }
    }
    if let Some(n) = vocab_size {
        if tokens.len() < n {
            tokens.resize(n, None);
            types.resize(n, UNUSED);
        }
    }
    let tokens: Vec<String> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| t.unwrap_or_else(|| format!("[PAD{i}]")))
        .collect();
    let id_of: HashMap<&str, u32> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i as u32))
        .collect();
    if let Some(unk) = model["unk_token"].as_str().and_then(|t| id_of.get(t)) {
        types[*unk as usize] = UNKNOWN;
        meta.insert("tokenizer.ggml.unknown_token_id".into(), Value::U32(*unk));
    }

    let merges: Vec<String> = match model["merges"].as_array() {
        None => Vec::new(),
        Some(list) => list
            .iter()
            .map(|m| match m {
                Json::String(s) => Ok(s.clone()),
                Json::Array(pair) => match (
                    pair.first().and_then(Json::as_str),
                    pair.get(1).and_then(Json::as_str),
                ) {
                    (Some(a), Some(b)) => Ok(format!("{a} {b}")),
                    _ => Err(bad("a merge is not a pair of strings")),
                },
                _ => Err(bad("a merge is neither a string nor a pair")),
            })
            .collect::<Result<_, _>>()?,
    };

    let strings = |v: &[String]| Value::Array(v.iter().map(|s| Value::String(s.clone())).collect());
    if byte_level {
        let regexes = split_regexes(&tj["pre_tokenizer"])?;
        let ignore_merges = model["ignore_merges"].as_bool().unwrap_or(false);
        let pre = pre_for_regexes(&regexes, ignore_merges).ok_or_else(|| {
            ModelError::Unsupported(format!("pre-tokenizer with split regexes {regexes:?}"))
        })?;
        meta.insert("tokenizer.ggml.model".into(), Value::String("gpt2".into()));
        meta.insert("tokenizer.ggml.pre".into(), Value::String(pre.into()));
        meta.insert("tokenizer.ggml.merges".into(), strings(&merges));
    } else {
        let scores = spm_scores(&tokens, &merges);
        meta.insert("tokenizer.ggml.model".into(), Value::String("llama".into()));
        meta.insert("tokenizer.ggml.pre".into(), Value::String("default".into()));
        meta.insert(
            "tokenizer.ggml.scores".into(),
            Value::Array(scores.into_iter().map(Value::F32).collect()),
        );
        meta.insert(
            "tokenizer.ggml.add_space_prefix".into(),
            Value::Bool(prepends_space(tj)),
        );
    }
    meta.insert("tokenizer.ggml.tokens".into(), strings(&tokens));
    meta.insert(
        "tokenizer.ggml.token_type".into(),
        Value::Array(types.into_iter().map(Value::I32).collect()),
    );

    // Special ids: tokenizer_config names them, config.json numbers them.
    let cfg = &files.config;
    let named = |key: &str| -> Option<u32> {
        let v = &cfg[key];
        let text = v.as_str().or_else(|| v["content"].as_str())?;
        id_of.get(text).copied()
    };
    let numbered = |key: &str| -> Option<u32> {
        let v = &model_config[key];
        v.as_u64()
            .or_else(|| v.get(0).and_then(Json::as_u64))
            .map(|n| n as u32)
    };
    for (name, key) in [
        ("bos_token", "tokenizer.ggml.bos_token_id"),
        ("eos_token", "tokenizer.ggml.eos_token_id"),
        ("pad_token", "tokenizer.ggml.padding_token_id"),
    ] {
        let id = named(name).or_else(|| numbered(&format!("{name}_id")));
        if let Some(id) = id {
            meta.insert(key.into(), Value::U32(id));
        }
    }
    for (name, key) in [
        ("add_bos_token", "tokenizer.ggml.add_bos_token"),
        ("add_eos_token", "tokenizer.ggml.add_eos_token"),
    ] {
        if let Some(b) = cfg[name].as_bool() {
            meta.insert(key.into(), Value::Bool(b));
        }
    }
    if let Some(template) = chat_template(files) {
        meta.insert("tokenizer.chat_template".into(), Value::String(template));
    }
    let eos = &files.generation["eos_token_id"];
    let eog: Vec<u32> = match eos {
        Json::Array(ids) => ids
            .iter()
            .filter_map(Json::as_u64)
            .map(|n| n as u32)
            .collect(),
        other => other.as_u64().map(|n| vec![n as u32]).unwrap_or_default(),
    };
    if !eog.is_empty() {
        meta.entry("tokenizer.ggml.eos_token_id".into())
            .or_insert(Value::U32(eog[0]));
        meta.insert(
            "tokenizer.ggml.eog_token_ids".into(),
            Value::Array(eog.into_iter().map(Value::U32).collect()),
        );
    }
    Ok(())
}

/// `tokenizer_config.json`'s `chat_template` (a string, or a list of named templates), else
/// `chat_template.jinja`.
fn chat_template(files: &TokenizerFiles) -> Option<String> {
    match &files.config["chat_template"] {
        Json::String(s) => return Some(s.clone()),
        Json::Array(list) => {
            let default = list
                .iter()
                .find(|t| t["name"].as_str() == Some("default"))
                .or(list.first());
            if let Some(t) = default.and_then(|t| t["template"].as_str()) {
                return Some(t.to_string());
            }
        }
        _ => {}
    }
    files.template_file.clone()
}

/// Whether any node of a pre-tokenizer/decoder tree has `"type": kind`.
fn mentions(v: &Json, kind: &str) -> bool {
    match v {
        Json::Object(map) => {
            map.get("type").and_then(Json::as_str) == Some(kind)
                || map.values().any(|x| mentions(x, kind))
        }
        Json::Array(items) => items.iter().any(|x| mentions(x, kind)),
        _ => false,
    }
}

/// The split regexes a byte-level pre-tokenizer applies, in order.
fn split_regexes(pre: &Json) -> Result<Vec<String>, ModelError> {
    let mut out = Vec::new();
    collect_regexes(pre, &mut out)?;
    Ok(out)
}

fn collect_regexes(pre: &Json, out: &mut Vec<String>) -> Result<(), ModelError> {
    match pre["type"].as_str() {
        None => Ok(()),
        Some("Sequence") => {
            for p in pre["pretokenizers"].as_array().into_iter().flatten() {
                collect_regexes(p, out)?;
            }
            Ok(())
        }
        Some("Split") => {
            let pattern = pre["pattern"]["Regex"].as_str().ok_or_else(|| {
                ModelError::Unsupported("a Split pre-tokenizer without a regex".into())
            })?;
            out.push(pattern.to_string());
            Ok(())
        }
        Some("Digits") => {
            out.push(match pre["individual_digits"].as_bool() == Some(true) {
                true => r"\p{N}".into(),
                false => r"\p{N}+".into(),
            });
            Ok(())
        }
        Some("ByteLevel") => {
            if pre["use_regex"].as_bool() != Some(false) {
                out.push(GPT2_REGEX.into());
            }
            Ok(())
        }
        Some(other) => Err(ModelError::Unsupported(format!("pre-tokenizer {other}"))),
    }
}

/// Whether a SentencePiece-style pipeline puts `▁` in front of the text.
fn prepends_space(tj: &Json) -> bool {
    fn walk(v: &Json) -> bool {
        match v {
            Json::Object(map) => {
                let t = map.get("type").and_then(Json::as_str);
                (t == Some("Prepend")
                    && map.get("prepend").and_then(Json::as_str) == Some("\u{2581}"))
                    || (t == Some("Metaspace")
                        && map.get("prepend_scheme").and_then(Json::as_str) != Some("never")
                        && map.get("add_prefix_space").and_then(Json::as_bool) != Some(false))
                    || map.values().any(walk)
            }
            Json::Array(items) => items.iter().any(walk),
            _ => false,
        }
    }
    walk(&tj["normalizer"]) || walk(&tj["pre_tokenizer"])
}

/// Minus the rank of the first merge producing each token; tokens no merge produces rank
/// after all merges, in id order.
fn spm_scores(tokens: &[String], merges: &[String]) -> Vec<f32> {
    let mut first: HashMap<String, usize> = HashMap::with_capacity(merges.len());
    for (rank, m) in merges.iter().enumerate() {
        if let Some((a, b)) = m.split_once(' ') {
            first.entry(format!("{a}{b}")).or_insert(rank);
        }
    }
    tokens
        .iter()
        .enumerate()
        .map(|(id, t)| -(first.get(t).copied().unwrap_or(merges.len() + id) as f32))
        .collect()
}

/// `<0x41>`-style byte-fallback pieces.
fn is_byte_piece(t: &str) -> bool {
    t.len() == 6
        && t.starts_with("<0x")
        && t.ends_with('>')
        && u8::from_str_radix(&t[3..5], 16).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hf_pre_tokenizers_map_to_profiles() {
        // SmolLM2's own tokenizer.json: digits one by one, then GPT-2's byte-level regex.
        let smol = serde_json::json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
        ]});
        let regexes = split_regexes(&smol).expect("regexes");
        assert_eq!(pre_for_regexes(&regexes, false), Some("smollm"));
        // Llama 3: HF's case-insensitive contractions, ignore_merges.
        let llama3 = serde_json::json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}
        ]});
        let regexes = split_regexes(&llama3).expect("regexes");
        assert_eq!(pre_for_regexes(&regexes, true), Some("llama-bpe"));
        let unknown = serde_json::json!({"type": "Whitespace"});
        assert!(split_regexes(&unknown).is_err());
    }

    #[test]
    fn spm_scores_follow_first_merge_rank() {
        let tokens: Vec<String> = ["a", "b", "ab", "abb", "<0x0A>"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let merges = vec!["a b".to_string(), "ab b".to_string()];
        let scores = spm_scores(&tokens, &merges);
        assert_eq!(scores[2], 0.0);
        assert_eq!(scores[3], -1.0);
        assert!(scores[0] < scores[3] && scores[4] < scores[0]);
        assert!(is_byte_piece("<0x0A>") && !is_byte_piece("<0xZZ>"));
    }
}
