//! Constrained decoding: a grammar (JSON, a JSON schema, or Lark) compiled by llguidance
//! into a per-sequence [`Constraint`] that the sampler consults.
//!
//! The cheap path first: sample as usual, then ask the matcher whether that one token is
//! allowed. Only when it is not is the full vocabulary mask computed and the draw repeated
//! over the allowed tokens (mistral.rs's trick), so a model that already writes valid JSON
//! pays almost nothing per token.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use llguidance::api::{GrammarWithLexer, TopLevelGrammar};
use llguidance::{Matcher, ParserFactory};
use serde_json::{json, Value};

use super::json_tail::{JsonTail, MAX_NUMBER_DIGITS};
use super::sampling::Sampler;
use super::think_first::{ThinkFirst, Verdict};
use super::EngineError;
use crate::text::{tok_env, Tokenizer};

/// Tokens sampled under a grammar, and how many of them needed the full vocabulary mask
/// (the first draw was not allowed): the cost of structured output, for `/metrics` and
/// the benchmark.
static CHECKED: AtomicU64 = AtomicU64::new(0);
static MASKED: AtomicU64 = AtomicU64::new(0);

/// `(tokens sampled under a grammar, of which needed a full mask)` since start.
pub fn grammar_counters() -> (u64, u64) {
    (CHECKED.load(Relaxed), MASKED.load(Relaxed))
}

/// What a constrained generation must produce.
#[derive(Debug, Clone, PartialEq)]
pub enum Grammar {
    /// Ollama's `format: "json"`: a JSON object (Ollama's grammar root is an object too).
    Json,
    /// A JSON schema (`format: {...}`, `response_format: json_schema`).
    Schema(Value),
    /// An llguidance Lark grammar (forced tool calls).
    Lark(String),
}

/// Whitespace allowed between JSON tokens: Ollama's JSON grammar rule (`ws ::= | " " |
/// "\n" [ \t]{0,20}`). Unbounded whitespace lets a small model loop on newlines forever.
const JSON_WHITESPACE: &str = r"[ ]|\n[ \t]{0,20}";

impl Grammar {
    fn to_llguidance(&self) -> TopLevelGrammar {
        match self {
            Self::Json => json_grammar(json!({"type": "object"})),
            Self::Schema(schema) => json_grammar(schema.clone()),
            Self::Lark(lark) => TopLevelGrammar::from_lark(lark.clone()),
        }
    }
}

fn json_grammar(mut schema: Value) -> TopLevelGrammar {
    close_objects(&mut schema);
    if let Some(obj) = schema.as_object_mut() {
        obj.entry("x-guidance").or_insert_with(|| {
            json!({
                "whitespace_pattern": JSON_WHITESPACE,
                "item_separator": ",",
                "key_separator": ":",
            })
        });
    }
    TopLevelGrammar::from_grammar(GrammarWithLexer::from_json_schema(schema))
}

/// Objects that list `properties` and say nothing of others get no others, as llama.cpp's
/// schema grammar (Ollama's) does: JSON Schema would allow any extra key, and a small model
/// given that freedom invents nested keys until it runs out of tokens. The output still
/// validates against the schema as written. `allOf` branches, and objects with combinators
/// or a `$ref` beside their `properties`, are left open (closing would forbid the keys
/// those bring).
pub fn close_objects(schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    // Keys may also come from combinators or a `$ref` beside `properties`: leave those open.
    let combined = ["allOf", "anyOf", "oneOf", "$ref"]
        .iter()
        .any(|k| obj.contains_key(*k));
    if obj.contains_key("properties") && !obj.contains_key("additionalProperties") && !combined {
        obj.insert("additionalProperties".into(), Value::Bool(false));
    }
    for (key, value) in obj.iter_mut() {
        match key.as_str() {
            "properties" | "$defs" | "definitions" | "patternProperties" => {
                if let Some(children) = value.as_object_mut() {
                    children.values_mut().for_each(close_objects);
                }
            }
            "items" | "additionalItems" | "additionalProperties" => close_objects(value),
            "anyOf" | "oneOf" | "prefixItems" => {
                if let Some(children) = value.as_array_mut() {
                    children.iter_mut().for_each(close_objects);
                }
            }
            _ => {}
        }
    }
}

/// A model's grammar compiler. The token trie is built on first use: most models never
/// see a constrained request, and loading should not pay for it.
pub struct Grammars {
    tokenizer: Arc<Tokenizer>,
    factory: OnceLock<Result<ParserFactory, String>>,
}

impl Grammars {
    pub fn new(tokenizer: Arc<Tokenizer>) -> Self {
        Self {
            tokenizer,
            factory: OnceLock::new(),
        }
    }

    /// Compiles `grammar` for one sequence. A schema llguidance cannot enforce (an
    /// unknown keyword, a bad `$ref`, an unsatisfiable combination) is a `BadRequest`
    /// saying why; nothing is silently ignored.
    pub fn compile(&self, grammar: &Grammar) -> Result<Constraint, EngineError> {
        let factory = self
            .factory
            .get_or_init(|| {
                let env = tok_env(Arc::clone(&self.tokenizer));
                let mut factory = ParserFactory::new_simple(&env).map_err(|e| e.to_string())?;
                factory.quiet();
                Ok(factory)
            })
            .as_ref()
            .map_err(|e| EngineError::Failed(format!("grammar engine: {e}")))?;
        let parser = factory
            .create_parser(grammar.to_llguidance())
            .map_err(|e| EngineError::BadRequest(invalid(grammar, &e.to_string())))?;
        let mut matcher = Matcher::new(Ok(parser));
        // Some impossible schemas only show when the first mask is computed: find out here,
        // as a 400, rather than as a failure midway through the reply.
        if let Err(e) = matcher.compute_mask() {
            return Err(EngineError::BadRequest(invalid(grammar, &e.to_string())));
        }
        if let Some(e) = matcher.get_error() {
            return Err(EngineError::BadRequest(invalid(grammar, &e)));
        }
        let json = !matches!(grammar, Grammar::Lark(_));
        Ok(Constraint {
            matcher,
            json: json.then(JsonTail::default),
            closes: matches!(grammar, Grammar::Json),
            think_first: None,
            forced: VecDeque::new(),
        })
    }
}

fn invalid(grammar: &Grammar, reason: &str) -> String {
    match grammar {
        Grammar::Lark(_) => format!("invalid grammar: {reason}"),
        _ => format!("invalid JSON schema in format: {reason}"),
    }
}

/// One sequence's grammar state.
pub struct Constraint {
    matcher: Matcher,
    /// The JSON written so far, for JSON grammars.
    json: Option<JsonTail>,
    /// `format: "json"`: a reply cut short by its budget is closed so it still parses.
    closes: bool,
    /// The model reasons first, unconstrained (see [`ThinkFirst`]).
    think_first: Option<ThinkFirst>,
    /// Tokens written whatever the logits say: the close tag of reasoning the model wanted
    /// to end without an answer.
    forced: VecDeque<u32>,
}

/// What a constrained step produced.
pub enum Step {
    Token(u32),
    /// The grammar is complete: nothing more may follow.
    Complete,
    Failed(String),
}

impl Constraint {
    /// Samples one allowed token. `logits` are the model's (penalties not yet applied).
    /// End-of-generation tokens are allowed only where the grammar may end.
    pub fn sample(
        &mut self,
        sampler: &mut Sampler,
        logits: &mut [f32],
        history: &[u32],
        tokenizer: &Tokenizer,
    ) -> Step {
        if let Some(token) = self.forced.pop_front() {
            return Step::Token(token);
        }
        if self.matcher.is_stopped() {
            return self.stopped();
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
                Verdict::Close(missing) => {
                    self.think_first = None;
                    match tokenizer.encode(&missing, false) {
                        Ok(tokens) if !tokens.is_empty() => {
                            self.forced.extend(&tokens[1..]);
                            return Step::Token(tokens[0]);
                        }
                        Ok(_) => {}
                        Err(e) => return Step::Failed(format!("cannot write {missing:?}: {e}")),
                    }
                }
            }
        }
        // Digits already in a row, for JSON grammars: a token may not make the run longer
        // than MAX_NUMBER_DIGITS.
        let digits = self.json.as_ref().map(JsonTail::number_digits);
        let allowed = match self.allows(first, tokenizer) {
            Ok(ok) => Ok(ok && !too_many_digits(tokenizer, first, digits)),
            Err(e) => Err(e),
        };
        CHECKED.fetch_add(1, Relaxed);
        let token = match allowed {
            Ok(true) => first,
            Ok(false) => match self.mask(logits, tokenizer, digits) {
                Ok(true) => sampler.pick(logits),
                Ok(false) => return Step::Failed("the grammar allows no token here".into()),
                Err(e) => return Step::Failed(e),
            },
            Err(e) => return Step::Failed(e),
        };
        if tokenizer.is_stop(token) {
            return Step::Token(token);
        }
        if let Err(e) = self.matcher.consume_token(token) {
            return Step::Failed(format!("grammar: {e}"));
        }
        if let Some(json) = &mut self.json {
            json.push(tokenizer.piece(token, false).unwrap_or_default());
        }
        Step::Token(token)
    }

    /// What to append to a `format: "json"` reply cut short by `num_predict` or the
    /// context, so it still parses (open strings and containers closed). `None` for other
    /// grammars (a schema's required keys cannot be made up), and while still reasoning.
    pub fn closing(&self) -> Option<String> {
        if self.think_first.is_some() || !self.forced.is_empty() {
            return None;
        }
        self.json
            .as_ref()
            .filter(|_| self.closes)
            .map(JsonTail::closing)
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

    fn stopped(&self) -> Step {
        match self.matcher.get_error() {
            Some(e) => Step::Failed(format!("grammar: {e}")),
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
