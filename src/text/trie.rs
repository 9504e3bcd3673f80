//! [`tok_env`]: our tokenizer as llguidance sees it (a `toktrie` token trie).
//!
//! llguidance's own bridge (`toktrie_hf_tokenizers`) is built on `tokenizers` 0.21 and
//! cannot take our 0.23 tokenizer; the trait it needs is small, so we implement it over the
//! bytes each token prints as. Tokens that print nothing (control, unused) and the
//! end-of-generation tokens are entered as "special" (`0xFF` + their text): a grammar can
//! then never produce them out of ordinary characters, and the sampler decides about the
//! end of generation itself.

use std::sync::Arc;

use toktrie::{TokEnv, TokRxInfo, TokTrie, TokenId, TokenizerEnv};

use super::{TokenType, Tokenizer};

/// Builds the token trie of `tokenizer` (a few milliseconds for a 50k vocabulary).
pub fn tok_env(tokenizer: Arc<Tokenizer>) -> TokEnv {
    let vocab = tokenizer.vocab_size();
    let words: Vec<Vec<u8>> = (0..vocab as u32).map(|id| word(&tokenizer, id)).collect();
    let eos = tokenizer
        .eos_id()
        .or_else(|| tokenizer.stop_ids().first().copied())
        .unwrap_or(0);
    let mut info = TokRxInfo::new(vocab as u32, eos);
    info.tok_bos = tokenizer.bos_id();
    info.tok_pad = tokenizer.pad_id();
    info.tok_unk = tokenizer.unk_id();
    let trie = TokTrie::from(&info, &words);
    Arc::new(TrieEnv { tokenizer, trie })
}

/// The bytes token `id` stands for in the trie.
fn word(tokenizer: &Tokenizer, id: u32) -> Vec<u8> {
    let printable = matches!(
        tokenizer.token_type(id),
        TokenType::Normal | TokenType::Byte | TokenType::UserDefined
    );
    match tokenizer.piece(id, false) {
        Ok(piece) if printable && !piece.is_empty() && !tokenizer.is_stop(id) => piece.to_vec(),
        _ => {
            let mut w = vec![TokTrie::SPECIAL_TOKEN_MARKER];
            w.extend_from_slice(tokenizer.token_text(id).unwrap_or_default().as_bytes());
            w
        }
    }
}

struct TrieEnv {
    tokenizer: Arc<Tokenizer>,
    trie: TokTrie,
}

impl TokenizerEnv for TrieEnv {
    fn tok_trie(&self) -> &TokTrie {
        &self.trie
    }

    /// Our own tokenization where the bytes are text; the trie's greedy one otherwise.
    fn tokenize_bytes(&self, s: &[u8]) -> Vec<TokenId> {
        std::str::from_utf8(s)
            .ok()
            .and_then(|text| self.tokenizer.encode_plain(text).ok())
            .unwrap_or_else(|| self.trie.greedy_tokenize(s))
    }
}
