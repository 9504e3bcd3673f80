//! The way out of a grammar: from where a constrained reply stands, a short token sequence
//! that completes it (closes the open strings and containers, writes the required keys with
//! their smallest values), checked by the grammar itself. Budgeted replies steer onto it
//! when their remaining budget comes down to its length, so they always end valid.
//!
//! Found greedily, a byte at a time, trying the bytes that most often end a JSON value
//! first (closers, then the shortest values); the bytes are then tokenized as the model
//! would write them, and that tokenization is used when the grammar accepts it.

use llguidance::Matcher;

use super::json_tail::JsonTail;
use crate::text::{TokenType, Tokenizer};

/// The longest way out looked for: a schema that needs more (or one that can never be
/// closed) is not steered, and replies cut by their budget end as they were cut.
pub const MAX_EXIT_BYTES: usize = 1024;

/// Bytes tried first outside strings, cheapest way out first: closers, a quote (writes an
/// empty string), the one-digit numbers, separators, then the starts of `null`, `true`,
/// `false` and of nested values.
const PREFERRED: &[u8] = b"}]\"10,:ntf{[-.e";

/// Inside a string: the closing quote, else content, letters and digits first.
const IN_STRING: &[u8] = b"\"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.";

/// Then any other printable byte, letters and digits before punctuation.
const FALLBACK: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ23456789_ !#$%&'()*+/;<=>?@\\^`|~\"}],:{[";

/// The vocabulary's single-byte tokens: what a path is walked with.
pub struct ByteTokens {
    by_byte: [Option<u32>; 256],
}

impl ByteTokens {
    /// Prefers an ordinary token over a byte-fallback one (`<0x22>`) for the same byte.
    pub fn new(tokenizer: &Tokenizer) -> Self {
        let mut found: [Option<(u32, bool)>; 256] = [None; 256];
        for id in 0..tokenizer.vocab_size() as u32 {
            let ordinary = match tokenizer.token_type(id) {
                TokenType::Normal | TokenType::UserDefined => true,
                TokenType::Byte => false,
                _ => continue,
            };
            if tokenizer.is_stop(id) {
                continue;
            }
            let Ok(&[b]) = tokenizer.piece(id, false) else {
                continue;
            };
            let slot = &mut found[b as usize];
            if slot.is_none_or(|(_, was_ordinary)| ordinary && !was_ordinary) {
                *slot = Some((id, ordinary));
            }
        }
        Self {
            by_byte: found.map(|f| f.map(|(id, _)| id)),
        }
    }

    fn get(&self, b: u8) -> Option<u32> {
        self.by_byte[b as usize]
    }
}

/// A token sequence that completes the grammar from the matcher's state (its end is
/// accepting), at most `cap` tokens; `None` when none is found that short. `tail` is where
/// the text written so far stands (inside a string or not). The matcher is left as it was.
pub fn exit_path(
    matcher: &mut Matcher,
    bytes: &ByteTokens,
    tokenizer: &Tokenizer,
    tail: &JsonTail,
    cap: usize,
) -> Option<Vec<u32>> {
    // Bytes outnumber the tokens they make: the walk may be longer than `cap`.
    let walked = walk(matcher, bytes, tail, MAX_EXIT_BYTES)?;
    // Fewer tokens when the bytes are tokenized as the model writes them, if the grammar
    // takes that tokenization.
    let text: Vec<u8> = walked
        .iter()
        .filter_map(|&t| tokenizer.piece(t, false).ok())
        .flatten()
        .copied()
        .collect();
    if let Some(tokens) = std::str::from_utf8(&text)
        .ok()
        .and_then(|s| tokenizer.encode_plain(s).ok())
        .filter(|t| t.len() < walked.len() && completes(matcher, t))
    {
        return (tokens.len() <= cap).then_some(tokens);
    }
    (walked.len() <= cap).then_some(walked)
}

/// Whether `tokens` take the matcher from its state to an accepting one.
pub fn completes(matcher: &mut Matcher, tokens: &[u32]) -> bool {
    let taken = matcher.try_consume_tokens(tokens).unwrap_or(0);
    let accepting = taken == tokens.len() && matcher.is_accepting().unwrap_or(false);
    let _ = matcher.rollback(taken);
    accepting
}

/// The greedy byte walk: single-byte tokens up to an accepting state.
fn walk(
    matcher: &mut Matcher,
    bytes: &ByteTokens,
    tail: &JsonTail,
    cap: usize,
) -> Option<Vec<u32>> {
    let mut tail = tail.clone();
    let mut path = vec![];
    let done = loop {
        if matcher.is_accepting().unwrap_or(false) {
            break true;
        }
        if path.len() >= cap {
            break false;
        }
        let first = match tail.in_string() {
            true => IN_STRING,
            false => PREFERRED,
        };
        let next = first
            .iter()
            .chain(FALLBACK)
            .filter_map(|&b| Some((b, bytes.get(b)?)))
            .find(|&(_, t)| matcher.validate_tokens(&[t]).is_ok_and(|n| n == 1));
        let Some((byte, token)) = next else {
            break false;
        };
        if matcher.consume_token(token).is_err() {
            break false;
        }
        tail.push(&[byte]);
        path.push(token);
    };
    let _ = matcher.rollback(path.len());
    done.then_some(path)
}
