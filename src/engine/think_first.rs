//! [`ThinkFirst`]: a structured reply from a model that reasons first. As Ollama does, the
//! reasoning is free and the grammar applies from the answer on: after the close tag, or at
//! once when the model does not open its reasoning at all.

/// Whitespace-only tokens let through before the reply shows whether it reasons; then the
/// grammar takes over (a small model can loop on newlines).
const MAX_LEADING_WHITESPACE: usize = 4;

/// Where a reply that should think before its constrained answer stands.
#[derive(Debug, Clone)]
pub struct ThinkFirst {
    open: Vec<u8>,
    close: Vec<u8>,
    phase: Phase,
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// The prompt did not open the reasoning; this many whitespace tokens came so far.
    Start(usize),
    /// Inside the reasoning; the tail of what was written, to find the close tag.
    Thinking(Vec<u8>),
}

/// What a freely sampled token means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Still reasoning (or opening it): keep the token, stay free.
    Free,
    /// The token closed the reasoning: keep it; the grammar applies from the next one.
    Answer,
    /// The reply does not reason: drop the token, draw this step under the grammar.
    Constrain,
    /// Drop the token and write this text, the rest of the close tag, then go on under the
    /// grammar: the model wanted to stop inside its reasoning (the answer is still owed), or
    /// its token would carry answer text past the tag, where the grammar could not see it.
    Close(String),
}

impl ThinkFirst {
    /// `opened`: the rendered prompt already ends inside the reasoning (its open tag).
    pub fn new(open: &str, close: &str, opened: bool) -> Self {
        let phase = match opened {
            true => Phase::Thinking(vec![]),
            false => Phase::Start(0),
        };
        Self {
            open: open.as_bytes().to_vec(),
            close: close.as_bytes().to_vec(),
            phase,
        }
    }

    /// Judges the next token, given the bytes it prints (`None` for an end-of-generation
    /// token).
    pub fn judge(&mut self, bytes: Option<&[u8]>) -> Verdict {
        let Some(bytes) = bytes else {
            return match self.phase {
                Phase::Thinking(_) => Verdict::Close(self.missing_close()),
                Phase::Start(_) => Verdict::Constrain,
            };
        };
        match &mut self.phase {
            // The open tag must come whole in one token (it is one token in the vocabularies
            // of thinking models): a part of it let out could not be taken back.
            Phase::Start(blanks) => {
                let start = bytes
                    .iter()
                    .position(|b| !b.is_ascii_whitespace())
                    .unwrap_or(bytes.len());
                if let Some(rest) = bytes[start..].strip_prefix(self.open.as_slice()) {
                    let rest = rest.to_vec();
                    self.phase = Phase::Thinking(vec![]);
                    return self.push(&rest);
                }
                if start == bytes.len() && *blanks < MAX_LEADING_WHITESPACE {
                    *blanks += 1;
                    return Verdict::Free;
                }
                Verdict::Constrain
            }
            Phase::Thinking(_) => self.push(bytes),
        }
    }

    /// With `left` tokens to come and an answer that needs `answer` of them, must the
    /// reasoning end now? `Close` with the rest of the tag once only the tag and the answer
    /// still fit; `Constrain` (do not start reasoning) when opening and closing it would
    /// not leave room for the answer. `cost` counts a text's tokens.
    pub fn over_budget(
        &self,
        left: usize,
        answer: usize,
        cost: &dyn Fn(&str) -> usize,
    ) -> Option<Verdict> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match &self.phase {
            Phase::Start(_) => {
                let tags = cost(&text(&self.open)) + cost(&text(&self.close));
                (left <= answer + tags).then_some(Verdict::Constrain)
            }
            Phase::Thinking(_) => {
                let missing = self.missing_close();
                (left <= answer + cost(&missing)).then_some(Verdict::Close(missing))
            }
        }
    }

    /// Tokens a reply must spend on reasoning tags before its answer: the rest of the
    /// close tag when the prompt opened the reasoning, none otherwise (it need not think).
    pub fn cost_to_close(&self, cost: &dyn Fn(&str) -> usize) -> usize {
        match &self.phase {
            Phase::Start(_) => 0,
            Phase::Thinking(_) => cost(&self.missing_close()),
        }
    }

    /// New reasoning bytes: did they close it, and with nothing but whitespace after?
    fn push(&mut self, bytes: &[u8]) -> Verdict {
        let missing = self.missing_close();
        let Phase::Thinking(tail) = &mut self.phase else {
            return Verdict::Free;
        };
        let before = tail.len();
        tail.extend_from_slice(bytes);
        let found = tail
            .windows(self.close.len())
            .position(|w| w == self.close.as_slice());
        if let Some(at) = found {
            let after = &tail[at + self.close.len()..];
            if after.iter().all(u8::is_ascii_whitespace) {
                return Verdict::Answer;
            }
            // The tag started before this token: write the part this token would have.
            if at < before {
                return Verdict::Close(missing);
            }
            return Verdict::Close(String::from_utf8_lossy(&self.close).into_owned());
        }
        let keep = self.close.len().saturating_sub(1);
        if tail.len() > keep {
            tail.drain(..tail.len() - keep);
        }
        Verdict::Free
    }

    /// What of the close tag is not written yet: all of it, or the rest of a partial tag at
    /// the end of the reasoning so far.
    fn missing_close(&self) -> String {
        let Phase::Thinking(tail) = &self.phase else {
            return String::from_utf8_lossy(&self.close).into_owned();
        };
        let written = (1..self.close.len())
            .rev()
            .find(|&k| tail.ends_with(&self.close[..k]))
            .unwrap_or(0);
        String::from_utf8_lossy(&self.close[written..]).into_owned()
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
            run(false, &["\n", "<think>", "hmm", "</think>\n"]),
            [Free, Free, Free, Answer]
        );
    }

    #[test]
    fn a_reply_that_does_not_open_its_reasoning_whole_is_constrained_at_once() {
        assert_eq!(run(false, &["{"]), [Verdict::Constrain]);
        assert_eq!(run(false, &["<"]), [Verdict::Constrain]);
        let blanks = run(false, &["\n"; 6]);
        assert_eq!(blanks[3], Verdict::Free);
        assert_eq!(blanks[4], Verdict::Constrain);
        let mut t = ThinkFirst::new("<think>", "</think>", false);
        assert_eq!(t.judge(None), Verdict::Constrain);
    }

    #[test]
    fn the_close_tag_is_written_when_the_model_would_stop_or_run_past_it() {
        let mut t = ThinkFirst::new("<think>", "</think>", true);
        assert_eq!(t.judge(None), Verdict::Close("</think>".into()));
        let mut t = ThinkFirst::new("<think>", "</think>", true);
        for piece in ["so", " 5", "</", "thi"] {
            assert_eq!(t.judge(Some(piece.as_bytes())), Verdict::Free);
        }
        assert_eq!(t.judge(None), Verdict::Close("nk>".into()));
        assert_eq!(
            run(true, &["ok", "</think>{"]).last(),
            Some(&Verdict::Close("</think>".into()))
        );
        assert_eq!(
            run(true, &["ok", "</", "think>{"]).last(),
            Some(&Verdict::Close("think>".into()))
        );
    }
}
