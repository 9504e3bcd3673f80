//! [`StreamDecoder`]: generated ids → text deltas that are always whole UTF-8.
//!
//! Decoding one token at a time breaks characters that span tokens (byte-fallback pieces
//! such as `<0xE6>`, or byte-level BPE tokens holding half an emoji) into U+FFFD. We keep
//! the undecoded bytes and only emit the longest prefix that is valid UTF-8, so the deltas
//! concatenate to exactly [`Tokenizer::decode`] of all ids.

use super::{TextError, Tokenizer};

/// Turns generated ids into text deltas that are always whole UTF-8 and decode exactly as
/// the full sequence does.
#[derive(Debug, Default, Clone)]
pub struct StreamDecoder {
    pending: Vec<u8>,
    started: bool,
}

impl StreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one token; returns the new text that is now stable (possibly empty).
    pub fn push(&mut self, tokenizer: &Tokenizer, id: u32) -> Result<String, TextError> {
        let piece = tokenizer.piece(id, !self.started)?;
        self.started = true;
        self.pending.extend_from_slice(piece);
        Ok(self.take_stable())
    }

    /// Feeds a token that prints nothing by itself (a control token) as `text`.
    pub fn push_text(&mut self, text: &str) -> String {
        self.started = true;
        self.pending.extend_from_slice(text.as_bytes());
        self.take_stable()
    }

    /// Whatever is still held back (an incomplete character at the end of generation),
    /// with U+FFFD for the broken bytes, as a full decode would show them.
    pub fn flush(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }

    /// Bytes held back because they may still become a character.
    pub fn pending_bytes(&self) -> usize {
        self.pending.len()
    }

    fn take_stable(&mut self) -> String {
        let mut out = String::new();
        let mut start = 0;
        loop {
            match std::str::from_utf8(&self.pending[start..]) {
                Ok(s) => {
                    out.push_str(s);
                    start = self.pending.len();
                    break;
                }
                Err(e) => {
                    let valid = start + e.valid_up_to();
                    // `from_utf8` just checked these bytes.
                    out.push_str(&String::from_utf8_lossy(&self.pending[start..valid]));
                    match e.error_len() {
                        // Bytes that can never start a character: show them as
                        // `from_utf8_lossy` would, and go on.
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            start = valid + bad;
                        }
                        // An incomplete character at the end: wait for more bytes.
                        None => {
                            start = valid;
                            break;
                        }
                    }
                }
            }
        }
        self.pending.drain(..start);
        out
    }
}
