//! `tokenizer.json` and `tokenizer_config.json` of an exported checkpoint.
//!
//! `tokenizer.json` is our converted `tokenizers` pipeline itself (the one
//! `text::Tokenizer` runs between special tokens): byte-level BPE with llama.cpp's split
//! regexes per `pre` profile, or SentencePiece-as-BPE with byte fallback and merges ranked
//! by score. Control tokens are registered as special added tokens, user-defined ones as
//! plain added tokens, and BOS/EOS insertion becomes a `TemplateProcessing` post-processor,
//! so HF `tokenizers` encodes like llama.cpp (its added-token matching is
//! leftmost-longest rather than llama.cpp's order, which only matters for overlapping
//! special tokens).

use serde_json::{json, Value};
use tokenizers::processors::template::TemplateProcessing;

use super::ConvertError;
use crate::text::{TextError, Tokenizer};

fn tok_err(e: impl std::fmt::Display) -> ConvertError {
    ConvertError::Text(TextError::Tokenizer(e.to_string()))
}

pub fn tokenizer_json(tok: &Tokenizer) -> Result<String, ConvertError> {
    let mut inner = tok.inner().clone();
    let bos = tok.bos_id().zip(tok.bos_token()).filter(|_| tok.add_bos());
    let eos = tok.eos_id().zip(tok.eos_token()).filter(|_| tok.add_eos());
    if bos.is_some() || eos.is_some() {
        let mut single: Vec<String> = Vec::new();
        let mut pair: Vec<String> = Vec::new();
        let mut specials = Vec::new();
        if let Some((id, text)) = bos {
            specials.push((text.to_string(), id));
        }
        if let Some((id, text)) = eos {
            if bos.map(|b| b.0) != Some(id) {
                specials.push((text.to_string(), id));
            }
        }
        // `NAME:N` puts a special token in segment N; `$A`/`$B:1` are the two sequences.
        for (seq, segment, out) in [("$A", 0, &mut single), ("$B:1", 1, &mut pair)] {
            if let Some((_, text)) = bos {
                out.push(format!("{text}:{segment}"));
            }
            out.push(seq.to_string());
            if let Some((_, text)) = eos {
                out.push(format!("{text}:{segment}"));
            }
        }
        let pair: Vec<String> = single.iter().cloned().chain(pair).collect();
        let processor = TemplateProcessing::builder()
            .try_single(single)
            .map_err(tok_err)?
            .try_pair(pair)
            .map_err(tok_err)?
            .special_tokens(specials)
            .build()
            .map_err(tok_err)?;
        inner.with_post_processor(Some(processor));
    }
    inner.to_string(true).map_err(tok_err)
}

pub fn tokenizer_config(tok: &Tokenizer, chat_template: Option<&str>, context: usize) -> Value {
    let text = |id: Option<u32>| id.and_then(|id| tok.token_text(id)).map(str::to_string);
    let mut added = serde_json::Map::new();
    let mut decoder: Vec<_> = tok.inner().get_added_tokens_decoder().into_iter().collect();
    decoder.sort_by_key(|(id, _)| *id);
    for (i, token) in decoder {
        added.insert(
            i.to_string(),
            json!({
                "content": token.content,
                "lstrip": token.lstrip,
                "normalized": token.normalized,
                "rstrip": token.rstrip,
                "single_word": token.single_word,
                "special": token.special,
            }),
        );
    }
    let mut cfg = json!({
        "add_bos_token": tok.add_bos(),
        "add_eos_token": tok.add_eos(),
        "bos_token": text(tok.bos_id()),
        "eos_token": text(tok.eos_id()),
        "pad_token": text(tok.pad_id()),
        "unk_token": text(tok.unk_id()),
        "model_max_length": context,
        "clean_up_tokenization_spaces": false,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "added_tokens_decoder": added,
    });
    if let Some(t) = chat_template {
        cfg["chat_template"] = json!(t);
    }
    cfg
}
