//! KV of finished sequences, kept so that a later request starting with the same tokens
//! (a chat resending its history, a shared system prompt) skips recomputing them.
//!
//! One cache per model, shared by all slots: any request can reuse any earlier one's
//! prefix. Bounded in positions and evicted least recently used first.

use crate::model::{KvCache, ModelError};

/// Shorter matches are not worth the copy.
const MIN_REUSE: usize = 4;

struct Entry {
    tokens: Vec<u32>,
    cache: KvCache,
    last_used: u64,
}

pub struct PrefixCache {
    entries: Vec<Entry>,
    /// Positions held by all entries together at most; 0 disables the cache.
    max_tokens: usize,
    clock: u64,
}

/// A prefix found for a prompt: a private copy of the KV of its first `len` tokens.
pub struct Reuse {
    pub cache: KvCache,
    pub len: usize,
}

impl PrefixCache {
    pub fn new(max_tokens: usize) -> Self {
        Self {
            entries: Vec::new(),
            max_tokens,
            clock: 0,
        }
    }

    /// Positions held now.
    pub fn tokens(&self) -> usize {
        self.entries.iter().map(|e| e.tokens.len()).sum()
    }

    /// Bytes of KV held now.
    pub fn allocated_bytes(&self) -> usize {
        self.entries.iter().map(|e| e.cache.allocated_bytes()).sum()
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Keeps `cache`, whose positions hold `tokens` (`tokens.len() == cache.len()`).
    pub fn insert(&mut self, mut tokens: Vec<u32>, cache: KvCache) {
        tokens.truncate(cache.len());
        if tokens.len() < MIN_REUSE || tokens.len() > self.max_tokens {
            return;
        }
        let now = self.tick();
        // An entry that already covers these tokens only gets fresher.
        if let Some(e) = self
            .entries
            .iter_mut()
            .find(|e| e.tokens.starts_with(&tokens))
        {
            e.last_used = now;
            return;
        }
        // Entries this one extends (the earlier turns of the same chat) are redundant.
        self.entries.retain(|e| !tokens.starts_with(&e.tokens));
        self.entries.push(Entry {
            tokens,
            cache,
            last_used: now,
        });
        while self.tokens() > self.max_tokens {
            let oldest = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(i, _)| i);
            match oldest {
                Some(i) => drop(self.entries.swap_remove(i)),
                None => break,
            }
        }
    }

    /// The longest cached prefix of `prompt`, leaving at least its last token to compute
    /// (its logits are needed to sample).
    pub fn lookup(&mut self, prompt: &[u32]) -> Result<Option<Reuse>, ModelError> {
        let limit = prompt.len().saturating_sub(1);
        let best = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (i, common_prefix(&e.tokens, prompt).min(limit)))
            .max_by_key(|&(_, len)| len);
        let Some((i, len)) = best.filter(|&(_, len)| len >= MIN_REUSE) else {
            return Ok(None);
        };
        let now = self.tick();
        let entry = &mut self.entries[i];
        entry.last_used = now;
        Ok(Some(Reuse {
            cache: entry.cache.fork(len)?,
            len,
        }))
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::common_prefix;

    #[test]
    fn common_prefix_lengths() {
        assert_eq!(common_prefix(&[1, 2, 3], &[1, 2, 4]), 2);
        assert_eq!(common_prefix(&[1, 2], &[1, 2, 3]), 2);
        assert_eq!(common_prefix(&[], &[1]), 0);
        assert_eq!(common_prefix(&[5], &[1]), 0);
    }
}
