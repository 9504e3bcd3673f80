//! [`Constraint`]: one sequence's grammar state, consulted by the sampler at every step.
//!
//! The cheap path first: sample as usual, then ask the matcher whether that one token is
//! allowed. Only when it is not is the full vocabulary mask computed and the draw repeated
//! over the allowed tokens (mistral.rs's trick), so a model that already writes valid JSON
//! pays almost nothing per token.
//!
//! A reply with a budget (`num_predict`, or the window when it may not shift) keeps a way
//! out ([`closing`]): a token sequence that completes the grammar from where the reply
//! stands. Free tokens are taken while the way out after them still fits in what is left;
//! when it would not, the reply follows the way out, so it ends valid (`length`).

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use llguidance::Matcher;

use super::closing::{completes, exit_path, ByteTokens};
use super::grammar::{short, CHECKED, MASKED};
use super::json_tail::{JsonTail, MAX_NUMBER_DIGITS};
use super::sampling::Sampler;
use super::think_first::{ThinkFirst, Verdict};
use crate::text::Tokenizer;

/// One sequence's grammar state.
pub struct Constraint {
    pub(super) matcher: Matcher,
    /// Where the text written under the grammar stands (strings, containers, digits).
    pub(super) tail: JsonTail,
    /// A JSON grammar: number digits in a row are bounded.
    pub(super) json: bool,
    /// `format: "json"`: a reply cut short without a way out is closed so it still parses.
    pub(super) closes: bool,
    /// The model reasons first, unconstrained (see [`ThinkFirst`]).
    pub(super) think_first: Option<ThinkFirst>,
    /// The rest of a close tag of reasoning being written whatever the logits say (not
    /// the grammar's: reasoning is free).
    pub(super) tag: VecDeque<u32>,
    /// How to end valid within a budget; `None` when the grammar has no way out short
    /// enough to steer onto.
    pub(super) exit: Option<Exit>,
}

/// The way out of a constrained reply.
pub(super) struct Exit {
    pub(super) bytes: Arc<ByteTokens>,
    /// Completes the grammar from the current state; a bound on what ending costs.
    pub(super) path: Vec<u32>,
    /// The reply is following it (its budget ended it).
    pub(super) taken: bool,
    /// `path` was not brought up to date since the last token (far from the budget).
    pub(super) stale: bool,
}

/// Far from the end of the budget (more left than this many times the way out, plus
/// [`EXIT_SLACK`]), the way out is not recomputed at every token: it is brought up to date
/// once the budget comes near. A single token would have to lengthen the way out by more
/// than that margin to be caught short.
const EXIT_MARGIN: usize = 4;
const EXIT_SLACK: usize = 256;

/// What a constrained step produced.
pub enum Step {
    Token(u32),
    /// The grammar is complete: nothing more may follow.
    Complete,
    Failed(String),
}

impl Constraint {
    /// Samples one allowed token. `logits` are the model's (penalties not yet applied);
    /// `left` is how many tokens the reply may still have, this one included (`None`: no
    /// limit). End-of-generation tokens are allowed only where the grammar may end.
    pub fn sample(
        &mut self,
        sampler: &mut Sampler,
        logits: &mut [f32],
        history: &[u32],
        tokenizer: &Tokenizer,
        left: Option<usize>,
    ) -> Step {
        if let Some(token) = self.tag.pop_front() {
            return Step::Token(token);
        }
        if self.matcher.is_stopped() {
            return self.stopped();
        }
        if let Some(left) = left {
            if let Some(step) = self.steer(left, tokenizer) {
                return step;
            }
        }
        sampler.penalize(logits, history);
        let first = sampler.pick(logits);
        if let Some(think) = &mut self.think_first {
            let bytes = (!tokenizer.is_stop(first)).then(|| printed(tokenizer, first));
            match think.judge(bytes.as_deref()) {
                Verdict::Free => return Step::Token(first),
                Verdict::Answer => {
                    self.think_first = None;
                    return Step::Token(first);
                }
                Verdict::Constrain => self.think_first = None,
                Verdict::Close(missing) => return self.close_thinking(&missing, tokenizer),
            }
        }
        // Digits already in a row, for JSON grammars: a token may not make the run longer
        // than MAX_NUMBER_DIGITS.
        let digits = self.json.then(|| self.tail.number_digits());
        let allowed = match self.allows(first, tokenizer) {
            Ok(ok) => Ok(ok && !too_many_digits(tokenizer, first, digits)),
            Err(e) => Err(short(&e)),
        };
        CHECKED.fetch_add(1, Relaxed);
        let token = match allowed {
            Ok(true) => first,
            Ok(false) => match self.mask(logits, tokenizer, digits) {
                Ok(true) => sampler.pick(logits),
                Ok(false) => return Step::Failed("the grammar allows no token here".into()),
                Err(e) => return Step::Failed(short(&e)),
            },
            Err(e) => return Step::Failed(e),
        };
        if tokenizer.is_stop(token) {
            return Step::Token(token);
        }
        if let Err(e) = self.matcher.consume_token(token) {
            return Step::Failed(format!("grammar: {}", short(&e)));
        }
        match left {
            Some(left) => self.keep_exit(token, left.saturating_sub(1), tokenizer),
            None => {
                self.wrote(token, tokenizer);
                Step::Token(token)
            }
        }
    }

    /// What to append to a `format: "json"` reply cut short by `num_predict` or the
    /// context, so it still parses (open strings and containers closed): for replies that
    /// had no way out to steer onto. `None` for other grammars (a schema's required keys
    /// cannot be made up), and while still reasoning.
    pub fn closing(&self) -> Option<String> {
        if self.think_first.is_some() || !self.tag.is_empty() {
            return None;
        }
        self.closes.then(|| self.tail.closing())
    }

    /// Lets the model reason first, unconstrained, between `open` and `close`; the grammar
    /// applies to the answer. `opened`: the prompt already opened the reasoning.
    pub fn after_thinking(mut self, open: &str, close: &str, opened: bool) -> Self {
        self.think_first = Some(ThinkFirst::new(open, close, opened));
        self
    }

    /// After a token was consumed: may nothing but the end follow?
    pub fn is_complete(&self) -> bool {
        self.matcher.is_stopped()
    }

    /// The reply is following its way out: its budget, not the model, is ending it.
    pub fn steered(&self) -> bool {
        self.exit.as_ref().is_some_and(|e| e.taken)
    }

    /// The fewest tokens a whole reply needs (reasoning tags included when the model
    /// reasons first); `None` when unknown (no way out was found).
    pub fn shortest(&self, tokenizer: &Tokenizer) -> Option<usize> {
        let exit = self.exit.as_ref()?;
        let tags = self
            .think_first
            .as_ref()
            .map_or(0, |t| t.cost_to_close(&|s| cost(tokenizer, s)));
        Some(exit.path.len() + tags)
    }

    /// Before sampling: must this step follow the way out (or end the reasoning) to stay
    /// within `left`?
    fn steer(&mut self, left: usize, tokenizer: &Tokenizer) -> Option<Step> {
        let exit = self.exit.as_mut()?;
        if let Some(think) = &mut self.think_first {
            let answer = exit.path.len();
            return match think.over_budget(left, answer, &|s| cost(tokenizer, s))? {
                Verdict::Close(missing) => Some(self.close_thinking(&missing, tokenizer)),
                _ => {
                    // No room to reason first: the answer starts now.
                    self.think_first = None;
                    None
                }
            };
        }
        if exit.stale {
            exit.stale = false;
            match exit_path(
                &mut self.matcher,
                &exit.bytes,
                tokenizer,
                &self.tail,
                usize::MAX,
            ) {
                Some(path) => exit.path = path,
                None => {
                    // No way out any more (it only grows so far): end as cut replies do.
                    self.exit = None;
                    return None;
                }
            }
        }
        if !exit.taken && exit.path.len() < left {
            return None;
        }
        Some(self.follow_exit(tokenizer))
    }

    /// The next token of the way out; the reply follows it to the end.
    fn follow_exit(&mut self, tokenizer: &Tokenizer) -> Step {
        let Some(exit) = self.exit.as_mut() else {
            return Step::Failed("no way out of the grammar".into());
        };
        exit.taken = true;
        if exit.path.is_empty() {
            // The way out ends here: the grammar accepts what was written.
            return Step::Complete;
        }
        let token = exit.path.remove(0);
        if let Err(e) = self.matcher.consume_token(token) {
            return Step::Failed(format!("grammar: {}", short(&e)));
        }
        self.wrote(token, tokenizer);
        Step::Token(token)
    }

    /// After a free token was consumed with `left` tokens to come: keep it if the way out
    /// from here still fits, else take it back and follow the way out instead.
    fn keep_exit(&mut self, token: u32, left: usize, tokenizer: &Tokenizer) -> Step {
        let Some(exit) = self.exit.as_mut() else {
            self.wrote(token, tokenizer);
            return Step::Token(token);
        };
        if left > EXIT_MARGIN * exit.path.len() + EXIT_SLACK {
            exit.stale = true;
            self.wrote(token, tokenizer);
            return Step::Token(token);
        }
        // The old way out often still works (more text inside a string, more digits).
        let old = std::mem::take(&mut exit.path);
        let mut tail = self.tail.clone();
        tail.push(tokenizer.piece(token, false).unwrap_or_default());
        if old.len() <= left && completes(&mut self.matcher, &old) {
            exit.path = old;
            self.wrote(token, tokenizer);
            return Step::Token(token);
        }
        if let Some(path) = exit_path(&mut self.matcher, &exit.bytes, tokenizer, &tail, left) {
            exit.path = path;
            self.wrote(token, tokenizer);
            return Step::Token(token);
        }
        // This token would leave no way out in time: the one from before it is taken.
        if let Err(e) = self.matcher.rollback(1) {
            return Step::Failed(format!("grammar: {}", short(&e)));
        }
        exit.path = old;
        self.follow_exit(tokenizer)
    }

    /// Writes what the reasoning still needs of its close tag; the answer, under the
    /// grammar, follows.
    fn close_thinking(&mut self, missing: &str, tokenizer: &Tokenizer) -> Step {
        self.think_first = None;
        match tokenizer.encode(missing, false) {
            Ok(tokens) if !tokens.is_empty() => {
                self.tag.extend(&tokens[1..]);
                Step::Token(tokens[0])
            }
            Ok(_) => Step::Failed(format!("cannot write {missing:?}")),
            Err(e) => Step::Failed(format!("cannot write {missing:?}: {e}")),
        }
    }

    fn wrote(&mut self, token: u32, tokenizer: &Tokenizer) {
        self.tail
            .push(tokenizer.piece(token, false).unwrap_or_default());
    }

    fn stopped(&self) -> Step {
        match self.matcher.get_error() {
            Some(e) => Step::Failed(format!("grammar: {}", short(&e))),
            None => Step::Complete,
        }
    }

    fn allows(&mut self, token: u32, tokenizer: &Tokenizer) -> Result<bool, String> {
        if tokenizer.is_stop(token) {
            return self.matcher.is_accepting().map_err(|e| e.to_string());
        }
        if token as usize >= tokenizer.vocab_size() {
            return Ok(false);
        }
        let n = self
            .matcher
            .validate_tokens(&[token])
            .map_err(|e| e.to_string())?;
        Ok(n == 1)
    }

    /// Sets every token the grammar forbids to -inf, and tokens that would make a number
    /// longer than [`MAX_NUMBER_DIGITS`] (unless nothing else is allowed). `false` when
    /// nothing is left.
    fn mask(
        &mut self,
        logits: &mut [f32],
        tokenizer: &Tokenizer,
        digits: Option<usize>,
    ) -> Result<bool, String> {
        MASKED.fetch_add(1, Relaxed);
        let mask = self.matcher.compute_mask().map_err(|e| e.to_string())?;
        let accepting = self.matcher.is_accepting().map_err(|e| e.to_string())?;
        let vocab = tokenizer.vocab_size();
        let grammar_allows = |id: usize| {
            if tokenizer.is_stop(id as u32) {
                accepting
            } else {
                id < vocab && mask.is_allowed(id as u32)
            }
        };
        let too_long = |id: usize| too_many_digits(tokenizer, id as u32, digits);
        let cap = (0..logits.len()).any(|id| grammar_allows(id) && !too_long(id));
        let mut any = false;
        for (id, l) in logits.iter_mut().enumerate() {
            let allowed = grammar_allows(id) && !(cap && too_long(id));
            if allowed && l.is_finite() {
                any = true;
            } else {
                *l = f32::NEG_INFINITY;
            }
        }
        Ok(any)
    }
}

/// Tokens `text` takes.
fn cost(tokenizer: &Tokenizer, text: &str) -> usize {
    tokenizer
        .encode(text, false)
        .map_or(text.len(), |t| t.len())
}

/// Would `token` make the run of number digits longer than [`MAX_NUMBER_DIGITS`]?
/// `digits`: the run so far (`None`: not a JSON grammar).
fn too_many_digits(tokenizer: &Tokenizer, token: u32, digits: Option<usize>) -> bool {
    let Some(digits) = digits else {
        return false;
    };
    let leading = tokenizer
        .piece(token, false)
        .map(|p| p.iter().take_while(|b| b.is_ascii_digit()).count())
        .unwrap_or(0);
    leading > 0 && digits + leading > MAX_NUMBER_DIGITS
}

/// What a token prints, control tokens as their text (reasoning tags may be control tokens).
fn printed(tokenizer: &Tokenizer, token: u32) -> Vec<u8> {
    match tokenizer.piece(token, false) {
        Ok(p) if !p.is_empty() => p.to_vec(),
        _ => tokenizer
            .token_text(token)
            .unwrap_or_default()
            .as_bytes()
            .to_vec(),
    }
}
