//! Constrained decoding: a grammar (JSON, a JSON schema, or Lark) compiled by llguidance
//! into a per-sequence [`Constraint`] that the sampler consults.
//!
//! What a grammar may cost is bounded before llguidance sees it: its compile time grows
//! with the square of an object's optional properties (4,500 take seconds of a core) and
//! its recursion with their number (10,000 overflow a 2 MiB stack). Compiling runs on a
//! thread of its own with a large stack, never on a runtime thread.

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};

use llguidance::api::{GrammarWithLexer, TopLevelGrammar};
use llguidance::{Matcher, ParserFactory};
use serde_json::{json, Value};

use super::closing::{exit_path, ByteTokens, MAX_EXIT_BYTES};
use super::constraint::{Constraint, Exit};
use super::json_tail::JsonTail;
use super::EngineError;
use crate::text::{tok_env, Tokenizer};

/// Tokens sampled under a grammar, and how many of them needed the full vocabulary mask
/// (the first draw was not allowed): the cost of structured output, for `/metrics` and
/// the benchmark.
pub(super) static CHECKED: AtomicU64 = AtomicU64::new(0);
pub(super) static MASKED: AtomicU64 = AtomicU64::new(0);

/// Properties one object of a schema may list (beyond 500 optional ones, llguidance's
/// parser exceeds its 2,000 items per row at the object's first key), and sub-schemas a
/// schema may hold in all.
pub const MAX_PROPERTIES: usize = 500;
pub const MAX_SCHEMA_NODES: usize = 20_000;
/// Lark grammars (built by rollama for forced tool calls, from the tools' schemas).
const MAX_LARK_BYTES: usize = 1 << 20;

/// Stack of the compiling thread: llguidance recurses over a schema's structure.
const COMPILE_STACK: usize = 64 << 20;

/// Longest error text passed on from llguidance (its messages can carry parser state).
const MAX_REASON: usize = 200;

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
    factory: OnceLock<Result<Compiler, String>>,
}

/// What compiling needs, built once per model.
struct Compiler {
    factory: ParserFactory,
    bytes: Arc<ByteTokens>,
}

impl Grammars {
    pub fn new(tokenizer: Arc<Tokenizer>) -> Self {
        Self {
            tokenizer,
            factory: OnceLock::new(),
        }
    }

    /// Compiles `grammar` for one sequence. A schema llguidance cannot enforce (an
    /// unknown keyword, a bad `$ref`, an unsatisfiable combination) or one beyond what a
    /// grammar may cost is a `BadRequest` saying why; nothing is silently ignored.
    pub fn compile(&self, grammar: &Grammar) -> Result<Constraint, EngineError> {
        bound(grammar)?;
        let compiled = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("grammar".into())
                .stack_size(COMPILE_STACK)
                .spawn_scoped(scope, || self.compile_here(grammar))
                .map(|t| t.join())
        });
        match compiled {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(EngineError::Failed("the grammar compiler failed".into())),
            Err(e) => Err(EngineError::Failed(format!(
                "cannot start the grammar compiler: {e}"
            ))),
        }
    }

    fn compile_here(&self, grammar: &Grammar) -> Result<Constraint, EngineError> {
        let compiler = self
            .factory
            .get_or_init(|| {
                let env = tok_env(Arc::clone(&self.tokenizer));
                let mut factory = ParserFactory::new_simple(&env).map_err(|e| e.to_string())?;
                factory.quiet();
                // Short errors: the parser's state and grammar stay out of replies.
                factory.limits_mut().verbose_errors = false;
                let bytes = Arc::new(ByteTokens::new(&self.tokenizer));
                Ok(Compiler { factory, bytes })
            })
            .as_ref()
            .map_err(|e| EngineError::Failed(format!("grammar engine: {e}")))?;
        let parser = compiler
            .factory
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
        let tail = JsonTail::default();
        let path = exit_path(
            &mut matcher,
            &compiler.bytes,
            &self.tokenizer,
            &tail,
            MAX_EXIT_BYTES,
        );
        let exit = path.map(|path| Exit {
            bytes: Arc::clone(&compiler.bytes),
            path,
            taken: false,
            stale: false,
        });
        Ok(Constraint {
            matcher,
            tail,
            json: !matches!(grammar, Grammar::Lark(_)),
            closes: matches!(grammar, Grammar::Json),
            think_first: None,
            tag: VecDeque::new(),
            exit,
        })
    }
}

/// Refuses a grammar beyond what one may cost (see the module doc). Walks the schema
/// without recursing (its depth is bounded by the JSON parser, but not its width).
fn bound(grammar: &Grammar) -> Result<(), EngineError> {
    let schema = match grammar {
        Grammar::Json => return Ok(()),
        Grammar::Schema(schema) => schema,
        Grammar::Lark(lark) if lark.len() > MAX_LARK_BYTES => {
            return Err(EngineError::BadRequest(format!(
                "the tool definitions make a grammar of {} bytes; at most {MAX_LARK_BYTES} are allowed",
                lark.len()
            )))
        }
        Grammar::Lark(_) => return Ok(()),
    };
    let too_large = |what: String| {
        Err(EngineError::BadRequest(format!(
            "invalid JSON schema in format: too large to enforce ({what})"
        )))
    };
    let mut nodes = 0;
    let mut todo = vec![schema];
    while let Some(value) = todo.pop() {
        match value {
            Value::Object(map) => {
                nodes += 1;
                if let Some(Value::Object(props)) = map.get("properties") {
                    if props.len() > MAX_PROPERTIES {
                        return too_large(format!(
                            "an object lists {} properties; at most {MAX_PROPERTIES} are allowed",
                            props.len()
                        ));
                    }
                }
                todo.extend(map.values());
            }
            Value::Array(items) => todo.extend(items),
            _ => {}
        }
        if nodes > MAX_SCHEMA_NODES {
            return too_large(format!("more than {MAX_SCHEMA_NODES} sub-schemas"));
        }
    }
    ref_cycles(schema)
}

/// A `$ref` that leads, through nothing but more `$ref`s, back to itself names no value
/// at all (llguidance's own error for it says nothing a user can act on).
fn ref_cycles(schema: &Value) -> Result<(), EngineError> {
    let target = |node: &Value| -> Option<String> {
        node.get("$ref")?
            .as_str()?
            .strip_prefix('#')
            .map(str::to_string)
    };
    let mut todo = vec![schema];
    while let Some(value) = todo.pop() {
        match value {
            Value::Object(map) => todo.extend(map.values()),
            Value::Array(items) => todo.extend(items),
            _ => continue,
        }
        let mut seen = vec![];
        let mut node = value;
        // Chains are short in real schemas; a longer one is left to llguidance.
        while let Some(pointer) = target(node).filter(|_| seen.len() < 64) {
            if seen.contains(&pointer) {
                return Err(EngineError::BadRequest(format!(
                    "invalid JSON schema in format: $ref cycle through #{pointer}"
                )));
            }
            let Some(next) = schema.pointer(&pointer) else {
                break;
            };
            seen.push(pointer);
            node = next;
        }
    }
    Ok(())
}

fn invalid(grammar: &Grammar, reason: &str) -> String {
    let reason = short(&reason);
    match grammar {
        Grammar::Lark(_) => format!("invalid grammar: {reason}"),
        _ => format!("invalid JSON schema in format: {reason}"),
    }
}

/// The first line of an llguidance error, shortened: what follows it (parser state, the
/// grammar) is meant for its developers, not for a reply.
pub(super) fn short(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or_default();
    match line.chars().count() > MAX_REASON {
        true => line.chars().take(MAX_REASON).chain(['…']).collect(),
        false => line.to_string(),
    }
}
