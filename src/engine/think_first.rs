//! [`ThinkFirst`]: a structured reply from a model that reasons first. As Ollama does, the
//! reasoning is free and the grammar applies from the answer on: after the close tag, or at
//! once when the model does not open its reasoning at all.

/// Where a reply that should think before its constrained answer stands.
#[derive(Debug, Clone)]
pub struct ThinkFirst {
    open: Vec<u8>,
    close: Vec<u8>,
    phase: Phase,
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// The prompt did not open the reasoning: the reply may still begin with the open tag.
    Start(Vec<u8>),
    /// Inside the reasoning; the tail of what was written, to find the close tag.
    Thinking(Vec<u8>),
}

/// What a freely sampled token means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Still reasoning (or opening it): keep the token, stay free.
    Free,
    /// The token closed the reasoning: keep it; the grammar applies from the next one.
    Answer,
    /// The reply does not reason: drop the token, draw this step under the grammar.
    Constrain,
    /// The model wants to end inside its reasoning: drop the token, write the close tag,
    /// and go on to the answer (under the grammar), which is still owed.
    Close,
}

impl ThinkFirst {
    /// `opened`: the rendered prompt already ends inside the reasoning (its open tag).
    pub fn new(open: &str, close: &str, opened: bool) -> Self {
        let phase = match opened {
            true => Phase::Thinking(vec![]),
            false => Phase::Start(vec![]),
        };
        Self {
            open: open.as_bytes().to_vec(),
            close: close.as_bytes().to_vec(),
            phase,
        }
    }

    /// The tag that ends the reasoning.
    pub fn close(&self) -> &str {
        std::str::from_utf8(&self.close).unwrap_or_default()
    }

    /// Judges the next token, given the bytes it prints (`None` for an end-of-generation
    /// token).
    pub fn judge(&mut self, bytes: Option<&[u8]>) -> Verdict {
        let Some(bytes) = bytes else {
            // Ending before any answer: the answer is still owed.
            return match self.phase {
                Phase::Thinking(_) => Verdict::Close,
                Phase::Start(_) => Verdict::Constrain,
            };
        };
        match &mut self.phase {
            Phase::Start(seen) => {
                let mut text = seen.clone();
                text.extend_from_slice(bytes);
                let start = text
                    .iter()
                    .position(|b| !b.is_ascii_whitespace())
                    .unwrap_or(text.len());
                let trimmed = &text[start..];
                if let Some(rest) = trimmed.strip_prefix(self.open.as_slice()) {
                    self.phase = Phase::Thinking(rest.to_vec());
                    return self.closed();
                }
                if self.open.starts_with(trimmed) {
                    *seen = text;
                    return Verdict::Free;
                }
                Verdict::Constrain
            }
            Phase::Thinking(tail) => {
                tail.extend_from_slice(bytes);
                self.closed()
            }
        }
    }

    /// After new bytes in the reasoning: did the close tag appear? Keeps only the tail
    /// that could still hold a partial tag.
    fn closed(&mut self) -> Verdict {
        let Phase::Thinking(tail) = &mut self.phase else {
            return Verdict::Free;
        };
        if tail
            .windows(self.close.len())
            .any(|w| w == self.close.as_slice())
        {
            return Verdict::Answer;
        }
        let keep = self.close.len().saturating_sub(1);
        if tail.len() > keep {
            tail.drain(..tail.len() - keep);
        }
        Verdict::Free
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(opened: bool, pieces: &[&str]) -> Vec<Verdict> {
        let mut t = ThinkFirst::new("<think>", "</think>", opened);
        pieces.iter().map(|p| t.judge(Some(p.as_bytes()))).collect()
    }

    #[test]
    fn reasoning_is_free_until_the_close_tag_even_split_across_tokens() {
        use Verdict::*;
        assert_eq!(
            run(true, &["Let", " me", " see", "</", "think", ">"]),
            [Free, Free, Free, Free, Free, Answer]
        );
        assert_eq!(
            run(false, &["\n", "<", "think", ">", "hmm", "</think>"]),
            [Free, Free, Free, Free, Free, Answer]
        );
    }

    #[test]
    fn a_reply_that_does_not_open_its_reasoning_is_constrained_at_once() {
        assert_eq!(run(false, &["{"]), [Verdict::Constrain]);
        assert_eq!(
            run(false, &[" ", "<th", "ink!"]).last(),
            Some(&Verdict::Constrain)
        );
        let mut t = ThinkFirst::new("<think>", "</think>", false);
        assert_eq!(t.judge(None), Verdict::Constrain);
        let mut t = ThinkFirst::new("<think>", "</think>", true);
        assert_eq!(t.judge(None), Verdict::Close);
    }
}
