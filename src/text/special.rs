//! Special token ids and the end-of-generation set, following llama.cpp's `llama_vocab::load`.
//!
//! GGUF files name BOS/EOS (and sometimes EOT/EOM) by id, but chat models end their turns
//! with tokens the metadata often does not mention (`<|im_end|>`, `<end_of_turn>`, …).
//! llama.cpp recognises those by their text; we use the same lists so that generation stops
//! where llama.cpp (and Ollama) stop. Tokens found this way are forced to CONTROL type, as
//! llama.cpp does, which also keeps them out of decoded text.

use std::collections::{BTreeSet, HashMap};

use super::meta::{Meta, TokenType};
use super::tokenizer::VocabKind;
use super::TextError;

/// Ids with a fixed meaning.
#[derive(Debug, Clone, Default)]
pub struct SpecialIds {
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub eot: Option<u32>,
    pub eom: Option<u32>,
    pub unk: Option<u32>,
    pub pad: Option<u32>,
    fim_pad: Option<u32>,
    fim_rep: Option<u32>,
    fim_sep: Option<u32>,
}

const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];
const EOM_TEXTS: &[&str] = &["<|eom_id|>"];
const FIM_PRE_TEXTS: &[&str] = &[
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<｜fim▁begin｜>",
    "<PRE>",
    "▁<PRE>",
    "<|code_prefix|>",
    "<|prefix|>",
];
const FIM_SUF_TEXTS: &[&str] = &[
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<｜fim▁hole｜>",
    "<SUF>",
    "▁<SUF>",
    "<|code_suffix|>",
    "<|suffix|>",
];
const FIM_MID_TEXTS: &[&str] = &[
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<｜fim▁end｜>",
    "<MID>",
    "▁<MID>",
    "<|code_middle|>",
    "<|middle|>",
];
const FIM_PAD_TEXTS: &[&str] = &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
const FIM_REP_TEXTS: &[&str] = &[
    "<|fim_repo|>",
    "<|repo_name|>",
    "<fim-repo>",
    "<REPO>",
    "<reponame>",
];
const FIM_SEP_TEXTS: &[&str] = &["<|file_sep|>"];

/// llama.cpp's end-of-generation texts (`special_eog_ids`).
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];

/// The id given by `key`, else the first vocabulary entry whose text is in `texts`
/// (which is then forced to CONTROL).
fn by_key_or_text(
    meta: &Meta<'_>,
    key: &str,
    texts: &[&str],
    vocab: &HashMap<String, u32>,
    types: &mut [TokenType],
) -> Result<Option<u32>, TextError> {
    if let Some(id) = meta.token_id(key, types.len())? {
        return Ok(Some(id));
    }
    let found = texts.iter().filter_map(|t| vocab.get(*t).copied()).min();
    if let Some(id) = found {
        types[id as usize] = TokenType::Control;
    }
    Ok(found)
}

/// Reads the special ids (with llama.cpp's SentencePiece defaults: BOS 1, EOS 2, UNK 0)
/// and applies llama.cpp's text-based detection of EOT, EOM and FIM tokens.
pub fn special_ids(
    meta: &Meta<'_>,
    kind: VocabKind,
    tokens: &[String],
    vocab: &HashMap<String, u32>,
    types: &mut [TokenType],
) -> Result<SpecialIds, TextError> {
    let n = tokens.len();
    let default = |id: u32| match kind {
        VocabKind::SentencePiece => Some(id).filter(|&id| (id as usize) < n),
        // llama.cpp defaults BPE's BOS/EOS to 11 (a GPT-2 relic); we prefer "none".
        VocabKind::BytePairs => None,
    };
    let mut ids = SpecialIds {
        bos: meta
            .token_id("tokenizer.ggml.bos_token_id", n)?
            .or(default(1)),
        eos: meta
            .token_id("tokenizer.ggml.eos_token_id", n)?
            .or(default(2)),
        unk: meta
            .token_id("tokenizer.ggml.unknown_token_id", n)?
            .or(default(0)),
        pad: meta.token_id("tokenizer.ggml.padding_token_id", n)?,
        ..SpecialIds::default()
    };
    ids.eot = by_key_or_text(meta, "tokenizer.ggml.eot_token_id", EOT_TEXTS, vocab, types)?;
    ids.eom = by_key_or_text(meta, "tokenizer.ggml.eom_token_id", EOM_TEXTS, vocab, types)?;
    for (key, texts) in [
        ("tokenizer.ggml.fim_pre_token_id", FIM_PRE_TEXTS),
        ("tokenizer.ggml.fim_suf_token_id", FIM_SUF_TEXTS),
        ("tokenizer.ggml.fim_mid_token_id", FIM_MID_TEXTS),
    ] {
        by_key_or_text(meta, key, texts, vocab, types)?;
    }
    ids.fim_pad = by_key_or_text(
        meta,
        "tokenizer.ggml.fim_pad_token_id",
        FIM_PAD_TEXTS,
        vocab,
        types,
    )?;
    ids.fim_rep = by_key_or_text(
        meta,
        "tokenizer.ggml.fim_rep_token_id",
        FIM_REP_TEXTS,
        vocab,
        types,
    )?;
    ids.fim_sep = by_key_or_text(
        meta,
        "tokenizer.ggml.fim_sep_token_id",
        FIM_SEP_TEXTS,
        vocab,
        types,
    )?;
    Ok(ids)
}

/// llama.cpp's EOG set plus `extra` (ids a Hugging Face `generation_config.json` lists as
/// `eos_token_id`, carried as `tokenizer.ggml.eog_token_ids`), sorted. Also applies its two workarounds: `<|end|>` is not a stop
/// token when the vocabulary has harmony's `<|return|>`/`<|call|>` (or solar-open's
/// `<|calls|>`/`<|flush|>`), and `</s>` is not one next to Gemma 4's `<|tool_response>`.
pub fn end_of_generation(
    tokens: &[String],
    vocab: &HashMap<String, u32>,
    ids: &SpecialIds,
    types: &mut [TokenType],
    extra: &[u32],
) -> Vec<u32> {
    let mut eog: BTreeSet<u32> = [ids.fim_pad, ids.fim_rep, ids.fim_sep]
        .into_iter()
        .flatten()
        .collect();
    for text in EOG_TEXTS {
        if let Some(&id) = vocab.get(*text) {
            eog.insert(id);
            types[id as usize] = TokenType::Control;
        }
    }
    eog.extend([ids.eos, ids.eot, ids.eom].into_iter().flatten());
    eog.extend(extra.iter().filter(|&&id| (id as usize) < tokens.len()));

    let has = |t: &str| vocab.get(t).is_some_and(|id| eog.contains(id));
    let drop_end = has("<|end|>")
        && ((has("<|return|>") && has("<|call|>")) || (has("<|calls|>") && has("<|flush|>")));
    let drop_s = has("</s>") && has("<|tool_response>");
    if drop_end {
        if let Some(&end) = vocab.get("<|end|>") {
            eog.remove(&end);
            types[end as usize] = TokenType::UserDefined;
        }
    }
    if drop_s {
        if let Some(&s) = vocab.get("</s>") {
            eog.remove(&s);
            types[s as usize] = TokenType::Normal;
        }
    }
    debug_assert!(eog.iter().all(|&id| (id as usize) < tokens.len()));
    eog.into_iter().collect()
}
