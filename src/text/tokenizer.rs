//! [`Tokenizer`]: a GGUF vocabulary that encodes and decodes the way llama.cpp does.
//!
//! Encoding = llama.cpp's special-token partition (ours, so its exact matching order is kept)
//! followed by the `tokenizers` pipeline from [`super::convert`] on the text in between.
//! Decoding = llama.cpp's `token_to_piece` per token, concatenated as bytes, so that the
//! streaming decoder can hold back incomplete UTF-8 and still agree byte for byte.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;

use super::convert::{self, SPM_SPACE};
use super::meta::{Meta, TokenType};
use super::pretokenize::pre_profile;
use super::special::{self, SpecialIds};
use super::TextError;

/// Which llama.cpp tokenizer algorithm the vocabulary uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VocabKind {
    /// `gpt2`: byte-level BPE.
    BytePairs,
    /// `llama`: SentencePiece (score-driven merges, byte fallback).
    SentencePiece,
}

/// A tokenizer converted from the vocabulary inside a GGUF file.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    kind: VocabKind,
    tokens: Vec<String>,
    /// Token types after llama.cpp's adjustments (end-of-turn look-alikes become control).
    types: Vec<TokenType>,
    /// What each token prints as (llama.cpp `token_to_piece` with `special = false`).
    pieces: Vec<Vec<u8>>,
    /// Tokens matched in input text, longest text first (llama.cpp `cache_special_tokens`).
    parse_special: Vec<u32>,
    vocab: HashMap<String, u32>,
    ids: SpecialIds,
    add_bos: bool,
    add_eos: bool,
    add_space_prefix: bool,
    stop_ids: Vec<u32>,
}

/// One piece of input after the special-token partition.
enum Fragment<'a> {
    Text(&'a str),
    Token(u32),
}

impl Tokenizer {
    /// Builds the tokenizer from `tokenizer.ggml.*` metadata. Unknown models or `pre`
    /// profiles are refused with [`TextError::Unsupported`], never guessed.
    pub fn from_gguf(metadata: &HashMap<String, Value>) -> Result<Self, TextError> {
        let meta = Meta(metadata);
        let model = meta
            .string("tokenizer.ggml.model")?
            .ok_or_else(|| TextError::Metadata("missing tokenizer.ggml.model".into()))?;
        let mut tokens = meta
            .strings("tokenizer.ggml.tokens")?
            .ok_or_else(|| TextError::Metadata("missing tokenizer.ggml.tokens".into()))?;
        let n = tokens.len();
        for (i, t) in tokens.iter_mut().enumerate() {
            if t.is_empty() {
                // llama.cpp's placeholder, so the text → id map stays unambiguous.
                *t = format!("[EMPTY_{i}]");
            }
        }
        let mut types = match meta.token_types("tokenizer.ggml.token_type")? {
            Some(t) if t.len() >= n => t[..n].to_vec(),
            Some(t) => {
                return Err(TextError::Metadata(format!(
                    "tokenizer.ggml.token_type has {} entries for {n} tokens",
                    t.len()
                )))
            }
            None => vec![TokenType::Normal; n],
        };
        let vocab = convert::vocab_map(&tokens)?;

        let pre = meta.string("tokenizer.ggml.pre")?;
        let (kind, mut inner, default_add_bos, default_prefix) = match model.as_str() {
            "gpt2" => {
                let pre = pre.ok_or_else(|| {
                    TextError::Unsupported("pre-tokenizer missing (tokenizer.ggml.pre)".into())
                })?;
                let profile = pre_profile(&pre)
                    .ok_or_else(|| TextError::Unsupported(format!("pre-tokenizer '{pre}'")))?;
                let merges = meta
                    .strings("tokenizer.ggml.merges")?
                    .ok_or_else(|| TextError::Metadata("missing tokenizer.ggml.merges".into()))?;
                let inner = convert::byte_level_bpe(&vocab, &merges, profile)?;
                (VocabKind::BytePairs, inner, profile.add_bos, false)
            }
            "llama" => {
                let prefix = meta
                    .bool("tokenizer.ggml.add_space_prefix")?
                    .unwrap_or(true);
                let scores = meta
                    .floats("tokenizer.ggml.scores")?
                    .unwrap_or_else(|| vec![0.0; n]);
                if scores.len() < n {
                    return Err(TextError::Metadata(format!(
                        "tokenizer.ggml.scores has {} entries for {n} tokens",
                        scores.len()
                    )));
                }
                let unk = meta
                    .token_id("tokenizer.ggml.unknown_token_id", n)?
                    .or(Some(0).filter(|_| n > 0))
                    .map(|id| tokens[id as usize].as_str());
                let inner = convert::sentencepiece_bpe(&tokens, &vocab, &scores, unk, prefix)?;
                (VocabKind::SentencePiece, inner, true, prefix)
            }
            other => return Err(TextError::Unsupported(format!("tokenizer model '{other}'"))),
        };

        let ids = special::special_ids(&meta, kind, &tokens, &vocab, &mut types)?;
        let extra_stops = meta
            .token_ids("tokenizer.ggml.eog_token_ids")?
            .unwrap_or_default();
        let stop_ids = special::end_of_generation(&tokens, &vocab, &ids, &mut types, &extra_stops);
        convert::register_added_tokens(&mut inner, &tokens, &types)?;

        let add_bos = meta
            .bool("tokenizer.ggml.add_bos_token")?
            .unwrap_or(default_add_bos);
        let add_eos = meta.bool("tokenizer.ggml.add_eos_token")?.unwrap_or(false);
        let add_space_prefix = meta
            .bool("tokenizer.ggml.add_space_prefix")?
            .unwrap_or(default_prefix);
        if add_bos && ids.bos.is_none() {
            return Err(TextError::Metadata(
                "add_bos_token is true, but bos_token_id is not set".into(),
            ));
        }
        if add_eos && ids.eos.is_none() {
            return Err(TextError::Metadata(
                "add_eos_token is true, but eos_token_id is not set".into(),
            ));
        }

        let pieces = token_pieces(kind, &tokens, &types);
        let mut parse_special: Vec<u32> = (0..n as u32)
            .filter(|&id| {
                matches!(
                    types[id as usize],
                    TokenType::Control | TokenType::UserDefined | TokenType::Unknown
                )
            })
            .collect();
        parse_special.sort_by_key(|&id| std::cmp::Reverse(tokens[id as usize].len()));

        Ok(Self {
            inner,
            kind,
            tokens,
            types,
            pieces,
            parse_special,
            vocab,
            ids,
            add_bos,
            add_eos,
            add_space_prefix,
            stop_ids,
        })
    }

    /// Token ids of `text`. Special-token text (`<|im_start|>`) becomes its special id, as
    /// llama.cpp does with `parse_special`. `add_bos` is llama.cpp's `add_special`: it adds
    /// BOS (and EOS) only where the model asks for them (`add_bos_token`/`add_eos_token`).
    pub fn encode(&self, text: &str, add_bos: bool) -> Result<Vec<u32>, TextError> {
        let mut out = Vec::new();
        if add_bos && self.add_bos {
            out.extend(self.ids.bos);
        }
        for fragment in self.partition(text) {
            match fragment {
                Fragment::Token(id) => out.push(id),
                Fragment::Text(t) => out.extend(self.encode_plain(t)?),
            }
        }
        if add_bos && self.add_eos {
            out.extend(self.ids.eos);
        }
        Ok(out)
    }

    /// Splits out every occurrence of every special token, longest token first, as
    /// llama.cpp's `tokenizer_st_partition` does.
    fn partition<'t>(&self, text: &'t str) -> Vec<Fragment<'t>> {
        let mut fragments = Vec::new();
        if text.is_empty() {
            return fragments;
        }
        fragments.push(Fragment::Text(text));
        // Gemma has ~6,400 special tokens: skip, cheaply, those whose first two bytes never
        // occur in the text (fragments are substrings of it).
        let present = BytePairs::of(text.as_bytes());
        for &id in &self.parse_special {
            let needle = self.tokens[id as usize].as_str();
            if !present.may_contain(needle.as_bytes()) {
                continue;
            }
            if !fragments
                .iter()
                .any(|f| matches!(f, Fragment::Text(t) if t.contains(needle)))
            {
                continue;
            }
            let mut next = Vec::with_capacity(fragments.len() + 2);
            for fragment in fragments {
                let Fragment::Text(mut rest) = fragment else {
                    next.push(fragment);
                    continue;
                };
                while let Some(at) = rest.find(needle) {
                    if at > 0 {
                        next.push(Fragment::Text(&rest[..at]));
                    }
                    next.push(Fragment::Token(id));
                    rest = &rest[at + needle.len()..];
                }
                if !rest.is_empty() {
                    next.push(Fragment::Text(rest));
                }
            }
            fragments = next;
        }
        fragments
    }

    /// Text of `ids`, control tokens left out (llama.cpp `detokenize` with
    /// `remove_special = false, unparse_special = false`, without its `clean_spaces` pass).
    pub fn decode(&self, ids: &[u32]) -> Result<String, TextError> {
        let mut bytes = Vec::new();
        for (i, &id) in ids.iter().enumerate() {
            bytes.extend_from_slice(self.piece(id, i == 0)?);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The bytes token `id` prints as. `first`: it starts the decoded text, so the space
    /// SentencePiece put in front of the first word (`add_space_prefix`) is dropped.
    pub fn piece(&self, id: u32, first: bool) -> Result<&[u8], TextError> {
        let piece = self
            .pieces
            .get(id as usize)
            .ok_or_else(|| TextError::Tokenizer(format!("token id {id} out of range")))?;
        if first && self.add_space_prefix && piece.first() == Some(&b' ') {
            return Ok(&piece[1..]);
        }
        Ok(piece)
    }

    /// Whether the model expects BOS in front of a prompt (`tokenizer.ggml.add_bos_token`).
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// Whether the model wants EOS after a prompt (`tokenizer.ggml.add_eos_token`).
    pub fn add_eos(&self) -> bool {
        self.add_eos
    }

    /// BOS token text, for chat templates, if the model has one.
    pub fn bos_token(&self) -> Option<&str> {
        self.ids.bos.map(|id| self.tokens[id as usize].as_str())
    }

    /// EOS token text, for chat templates, if the model has one.
    pub fn eos_token(&self) -> Option<&str> {
        self.ids.eos.map(|id| self.tokens[id as usize].as_str())
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.ids.bos
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.ids.eos
    }

    pub fn unk_id(&self) -> Option<u32> {
        self.ids.unk
    }

    pub fn pad_id(&self) -> Option<u32> {
        self.ids.pad
    }

    /// Tokens that end generation (llama.cpp's EOG set): EOS, EOT, EOM and the end-of-turn
    /// control tokens recognised by their text. Sorted.
    pub fn stop_ids(&self) -> &[u32] {
        &self.stop_ids
    }

    pub fn is_stop(&self, id: u32) -> bool {
        self.stop_ids.binary_search(&id).is_ok()
    }

    /// Control tokens print as nothing; the server may still want to know one was produced.
    pub fn is_control(&self, id: u32) -> bool {
        matches!(self.types.get(id as usize), Some(TokenType::Control))
    }

    /// The type of `id` (after llama.cpp's adjustments); `Undefined` when out of range.
    pub fn token_type(&self, id: u32) -> TokenType {
        self.types
            .get(id as usize)
            .copied()
            .unwrap_or(TokenType::Undefined)
    }

    /// Plain text encoding: special-token text stays text (for grammar engines, which
    /// must never see a control token appear from ordinary characters).
    pub fn encode_plain(&self, text: &str) -> Result<Vec<u32>, TextError> {
        let enc = self
            .inner
            .encode_fast(text, false)
            .map_err(|e| TextError::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// The vocabulary entry of `id`, as stored in the GGUF (`Ġ`/`▁` spellings included).
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// The id of a vocabulary entry, e.g. `<|im_end|>`.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.vocab.get(text).copied()
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    pub fn kind(&self) -> VocabKind {
        self.kind
    }

    /// The converted `tokenizers` pipeline, for libraries that want one (e.g. grammar
    /// engines). It has the special tokens registered as added tokens, but its own
    /// special-token matching is leftmost-longest rather than llama.cpp's order.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

/// Which bytes and adjacent byte pairs occur in a text: a prefilter for substring search.
struct BytePairs {
    singles: [u64; 4],
    pairs: Vec<u64>,
}

impl BytePairs {
    fn of(bytes: &[u8]) -> Self {
        let mut set = Self {
            singles: [0; 4],
            pairs: vec![0; 1024],
        };
        for &b in bytes {
            set.singles[usize::from(b) >> 6] |= 1 << (b & 63);
        }
        for w in bytes.windows(2) {
            let i = usize::from(w[0]) << 8 | usize::from(w[1]);
            set.pairs[i >> 6] |= 1 << (i & 63);
        }
        set
    }

    fn may_contain(&self, needle: &[u8]) -> bool {
        match needle {
            [] => false,
            [b] => self.singles[usize::from(*b) >> 6] & (1 << (b & 63)) != 0,
            [a, b, ..] => {
                let i = usize::from(*a) << 8 | usize::from(*b);
                self.pairs[i >> 6] & (1 << (i & 63)) != 0
            }
        }
    }
}

/// llama.cpp `token_to_piece(.., special = false)` for every token.
fn token_pieces(kind: VocabKind, tokens: &[String], types: &[TokenType]) -> Vec<Vec<u8>> {
    let byte_table = convert::byte_level_decoder_table();
    tokens
        .iter()
        .zip(types)
        .map(|(text, ty)| match ty {
            TokenType::UserDefined => text.as_bytes().to_vec(),
            TokenType::Normal => match kind {
                VocabKind::SentencePiece => text.replace(SPM_SPACE, " ").into_bytes(),
                VocabKind::BytePairs => {
                    let mut out = Vec::with_capacity(text.len());
                    for c in text.chars() {
                        match byte_table.get(&c) {
                            Some(&b) => out.push(b),
                            None => {
                                let mut buf = [0u8; 4];
                                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                            }
                        }
                    }
                    out
                }
            },
            TokenType::Byte => parse_byte_token(text)
                .map(|b| vec![b])
                .unwrap_or_else(|| text.as_bytes().to_vec()),
            TokenType::Control | TokenType::Unknown | TokenType::Unused | TokenType::Undefined => {
                Vec::new()
            }
        })
        .collect()
}

/// `<0xE6>` → 0xE6.
fn parse_byte_token(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    u8::from_str_radix(hex, 16).ok()
}
