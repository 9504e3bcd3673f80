//! [`HfTokenizer`]: a Hugging Face `tokenizer.json`, as shipped with sentence-transformers
//! and other safetensors model directories (WordPiece for BERT), used as-is.
//!
//! The file's own padding and truncation settings are switched off: batches are padded by
//! the model and inputs are truncated by the engine, which knows the model's limit
//! ([`HfTokenizer::encode_truncated`] applies the rule the Python libraries use).

use std::path::Path;

use tokenizers::TruncationDirection;

use super::TextError;

/// A `tokenizers` pipeline loaded from a `tokenizer.json` file.
pub struct HfTokenizer {
    inner: tokenizers::Tokenizer,
    /// Special tokens the post-processor adds around one sequence (2 for BERT's
    /// `[CLS] … [SEP]`): room that truncation must leave.
    added_tokens: usize,
}

impl HfTokenizer {
    /// Loads `tokenizer.json`, with its padding and truncation turned off.
    pub fn from_file(path: &Path) -> Result<Self, TextError> {
        let mut inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| TextError::Tokenizer(format!("{}: {e}", path.display())))?;
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| TextError::Tokenizer(e.to_string()))?;
        let added_tokens = inner
            .get_post_processor()
            .map_or(0, |p| tokenizers::PostProcessor::added_tokens(p, false));
        Ok(Self {
            inner,
            added_tokens,
        })
    }

    /// Token ids of `text` with the model's special tokens (`[CLS] … [SEP]` for BERT).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TextError> {
        let encoding = self
            .inner
            .encode(text, true)
            .map_err(|e| TextError::Tokenizer(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Like [`encode`](Self::encode), but at most `max_tokens` ids: the text's tokens are cut
    /// at the end and the special tokens are added after, so a BERT input keeps its final
    /// `[SEP]`. This is what `transformers` (and so sentence-transformers) does with
    /// `truncation=True, max_length=max_tokens`.
    pub fn encode_truncated(&self, text: &str, max_tokens: usize) -> Result<Vec<u32>, TextError> {
        let tokenizer_error = |e: tokenizers::Error| TextError::Tokenizer(e.to_string());
        let mut encoding = self.inner.encode(text, false).map_err(tokenizer_error)?;
        let room = max_tokens.saturating_sub(self.added_tokens);
        if encoding.len() > room {
            encoding.truncate(room, 0, TruncationDirection::Right);
        }
        let encoding = self
            .inner
            .post_process(encoding, None, true)
            .map_err(tokenizer_error)?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Text of `ids`, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TextError> {
        self.inner
            .decode(ids, true)
            .map_err(|e| TextError::Tokenizer(e.to_string()))
    }

    /// Token ids of `text`, with the model's special tokens only when `add_special`
    /// (`/api/tokenize`).
    pub fn encode_with(&self, text: &str, add_special: bool) -> Result<Vec<u32>, TextError> {
        let encoding = self
            .inner
            .encode(text, add_special)
            .map_err(|e| TextError::Tokenizer(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Text of `ids` with special tokens printed as their text (`/api/detokenize`).
    pub fn decode_with_special(&self, ids: &[u32]) -> Result<String, TextError> {
        self.inner
            .decode(ids, false)
            .map_err(|e| TextError::Tokenizer(e.to_string()))
    }

    /// Ids run from 0 to this, special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Number of ids [`encode`](Self::encode) gives for `text`.
    pub fn token_count(&self, text: &str) -> Result<usize, TextError> {
        Ok(self.encode(text)?.len())
    }
}
