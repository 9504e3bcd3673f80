//! Conversion of a GGUF vocabulary into a `tokenizers::Tokenizer` model pipeline.
//!
//! Two families are supported, each reproducing llama.cpp's tokenizer:
//!
//! - `gpt2`: byte-level BPE. GGUF merges in rank order, llama.cpp's split regexes per `pre`
//!   profile, then the GPT-2 byte-to-char mapping.
//! - `llama`: SentencePiece as llama.cpp runs it (`llm_tokenizer_spm`): start from single
//!   characters and repeatedly merge the adjacent pair whose concatenation is the
//!   highest-scoring vocabulary entry; characters that never form a token fall back to
//!   `<0xXX>` byte tokens. That is a BPE whose merge ranks are derived from the scores (every
//!   split `a + b` of every token, ranked by the token's score, as HF's `SpmConverter` does)
//!   with byte fallback, no pre-tokenizer split, and spaces replaced by `▁`.
//!
//! Special-token matching is *not* left to `tokenizers`: [`super::Tokenizer`] splits special
//! tokens out first, exactly as llama.cpp's `tokenizer_st_partition` does, and only hands the
//! plain text in between to this pipeline.

use std::collections::HashMap;

use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::{Prepend, Replace, Sequence as NormalizerSequence};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{
    AddedToken, DecoderWrapper, NormalizerWrapper, PreTokenizerWrapper, SplitDelimiterBehavior,
};

use super::meta::TokenType;
use super::pretokenize::PreProfile;
use super::TextError;

/// SentencePiece's visible space.
pub const SPM_SPACE: &str = "\u{2581}";

fn tok_err(e: impl std::fmt::Display) -> TextError {
    TextError::Tokenizer(e.to_string())
}

/// Text → id, refusing duplicates as llama.cpp does (a duplicate makes ids ambiguous).
pub fn vocab_map(tokens: &[String]) -> Result<HashMap<String, u32>, TextError> {
    let mut map = HashMap::with_capacity(tokens.len());
    for (id, text) in tokens.iter().enumerate() {
        let id = u32::try_from(id).map_err(tok_err)?;
        if let Some(prev) = map.insert(text.clone(), id) {
            return Err(TextError::Metadata(format!(
                "duplicate token in vocabulary: {text:?} has ids {prev} and {id}"
            )));
        }
    }
    Ok(map)
}

/// Byte-level BPE (`tokenizer.ggml.model = gpt2`).
///
/// Merges whose parts or result are missing from the vocabulary are dropped: `tokenizers`
/// refuses them, and in llama.cpp such a merge can only produce a symbol that is then
/// spelled out byte by byte, which never happens with a consistent vocabulary.
pub fn byte_level_bpe(
    vocab: &HashMap<String, u32>,
    merges: &[String],
    profile: PreProfile,
) -> Result<tokenizers::Tokenizer, TextError> {
    let merges: Vec<(String, String)> = merges
        .iter()
        .filter_map(|m| {
            // llama.cpp splits at the first space after the first byte.
            let pos = m.as_bytes().iter().skip(1).position(|&b| b == b' ')? + 1;
            let (a, b) = (&m[..pos], &m[pos + 1..]);
            let joined = format!("{a}{b}");
            (vocab.contains_key(a) && vocab.contains_key(b) && vocab.contains_key(&joined))
                .then(|| (a.to_string(), b.to_string()))
        })
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(bpe_vocab(vocab), merges)
        .ignore_merges(profile.ignore_merges)
        .build()
        .map_err(tok_err)?;
    let mut tokenizer = tokenizers::Tokenizer::new(bpe);

    let mut steps: Vec<PreTokenizerWrapper> = Vec::with_capacity(profile.regexes.len() + 1);
    for re in profile.regexes {
        let split = Split::new(
            SplitPattern::Regex((*re).to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(tok_err)?;
        steps.push(split.into());
    }
    steps.push(ByteLevel::new(false, true, false).into());
    tokenizer.with_pre_tokenizer(Some(PreSequence::new(steps)));
    tokenizer.with_decoder(Some(ByteLevelDecoder::new(false, true, false)));
    Ok(tokenizer)
}

/// SentencePiece vocabulary run the llama.cpp way (`tokenizer.ggml.model = llama`).
pub fn sentencepiece_bpe(
    tokens: &[String],
    vocab: &HashMap<String, u32>,
    scores: &[f32],
    unk: Option<&str>,
    add_space_prefix: bool,
) -> Result<tokenizers::Tokenizer, TextError> {
    // Every way to build each token from two tokens, ranked by the token's score (highest
    // first, as llama.cpp's work queue pops it); ties keep vocabulary order.
    let mut ranked: Vec<(f32, u32, usize)> = Vec::new();
    for (id, text) in tokens.iter().enumerate() {
        let score = scores.get(id).copied().unwrap_or(0.0);
        for (pos, _) in text.char_indices().skip(1) {
            if vocab.contains_key(&text[..pos]) && vocab.contains_key(&text[pos..]) {
                ranked.push((score, u32::try_from(id).map_err(tok_err)?, pos));
            }
        }
    }
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let merges: Vec<(String, String)> = ranked
        .into_iter()
        .map(|(_, id, pos)| {
            let text = &tokens[id as usize];
            (text[..pos].to_string(), text[pos..].to_string())
        })
        .collect();

    let mut builder = BPE::builder()
        .vocab_and_merges(bpe_vocab(vocab), merges)
        .byte_fallback(true);
    if let Some(unk) = unk {
        builder = builder.unk_token(unk.to_string());
    }
    let bpe = builder.build().map_err(tok_err)?;
    let mut tokenizer = tokenizers::Tokenizer::new(bpe);

    let mut norm: Vec<NormalizerWrapper> = Vec::new();
    if add_space_prefix {
        norm.push(Prepend::new(SPM_SPACE.to_string()).into());
    }
    norm.push(Replace::new(" ", SPM_SPACE).map_err(tok_err)?.into());
    tokenizer
        .with_normalizer(Some(NormalizerSequence::new(norm)))
        .map_err(tok_err)?;

    let mut dec: Vec<DecoderWrapper> = vec![
        Replace::new(SPM_SPACE, " ").map_err(tok_err)?.into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if add_space_prefix {
        dec.push(Strip::new(' ', 1, 0).into());
    }
    tokenizer.with_decoder(Some(DecoderSequence::new(dec)));
    Ok(tokenizer)
}

/// Registers the tokens llama.cpp treats as special, so that the wrapped
/// `tokenizers::Tokenizer` (handed to other libraries) agrees with us: control and unknown
/// tokens as special, user-defined ones as plain added tokens. Matched on raw text.
pub fn register_added_tokens(
    tokenizer: &mut tokenizers::Tokenizer,
    tokens: &[String],
    types: &[TokenType],
) -> Result<(), TextError> {
    let mut special = Vec::new();
    let mut user = Vec::new();
    for (text, ty) in tokens.iter().zip(types) {
        match ty {
            TokenType::Control | TokenType::Unknown => {
                special.push(AddedToken::from(text.clone(), true).normalized(false));
            }
            TokenType::UserDefined => {
                user.push(AddedToken::from(text.clone(), false).normalized(false));
            }
            _ => {}
        }
    }
    tokenizer.add_special_tokens(special).map_err(tok_err)?;
    tokenizer.add_tokens(user).map_err(tok_err)?;
    Ok(())
}

/// GPT-2's reversible byte → printable char table, inverted: char → byte.
pub fn byte_level_decoder_table() -> HashMap<char, u8> {
    let mut table = HashMap::with_capacity(256);
    let mut extra = 0u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        let c = if printable {
            char::from(b)
        } else {
            let c = char::from_u32(256 + extra).unwrap_or(char::REPLACEMENT_CHARACTER);
            extra += 1;
            c
        };
        table.insert(c, b);
    }
    table
}

/// The map type `tokenizers`' BPE builder wants.
fn bpe_vocab(vocab: &HashMap<String, u32>) -> tokenizers::models::bpe::Vocab {
    vocab.iter().map(|(k, &v)| (k.clone(), v)).collect()
}
