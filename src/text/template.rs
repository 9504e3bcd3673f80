//! [`ChatTemplate`]: HF-style Jinja chat templates rendered with minijinja.
//!
//! Templates are written for Python's jinja2 as `transformers` sets it up, so we reproduce
//! that environment: `trim_blocks` and `lstrip_blocks` on, Python string/dict methods
//! (`.strip()`, `.items()`, … via minijinja-contrib's pycompat), `raise_exception`,
//! `strftime_now`, and a `tojson` that behaves like `json.dumps(ensure_ascii=False)` (Python's
//! separators, `indent`, no HTML escaping) rather than minijinja's compact HTML-safe one.

use minijinja::value::{Kwargs, Value};
use minijinja::{context, Environment, Error, ErrorKind};

use super::TextError;

const NAME: &str = "chat";

/// Which chat template a model uses: its own, else ours for its family (a Gemma 3 GGUF
/// carries none), else plain prompt rendering. The one place this is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateChoice<'a> {
    /// The checkpoint's `tokenizer.chat_template`.
    Own(&'a str),
    /// Built into rollama for the architecture.
    Builtin(&'static str),
    /// No template anywhere: the messages' text as is (see `templates/plain.jinja`).
    Plain,
}

impl<'a> TemplateChoice<'a> {
    pub fn for_model(own: Option<&'a str>, architecture: &str) -> Self {
        match (own.filter(|t| !t.trim().is_empty()), architecture) {
            (Some(t), _) => Self::Own(t),
            (None, "gemma3") => Self::Builtin(include_str!("templates/gemma3.jinja")),
            (None, _) => Self::Plain,
        }
    }

    /// The Jinja source.
    pub fn source(&self) -> &'a str {
        match self {
            Self::Own(t) => t,
            Self::Builtin(t) => t,
            Self::Plain => include_str!("templates/plain.jinja"),
        }
    }

    /// A template that knows the model's chat format (not the plain fallback).
    pub fn chat_format(&self) -> Option<&'a str> {
        match self {
            Self::Plain => None,
            t => Some(t.source()),
        }
    }
}

/// A Jinja chat template (HF-compatible) rendered with minijinja.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

fn template_err(e: Error) -> TextError {
    let mut msg = e.to_string();
    if let Some(detail) = e.detail() {
        if !msg.contains(detail) {
            msg = format!("{msg}: {detail}");
        }
    }
    TextError::Template(msg)
}

impl ChatTemplate {
    /// Compiles `source` once; syntax errors come back as [`TextError::Template`].
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, TextError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_filter("tojson", tojson);
        env.add_template_owned(NAME, source.to_string())
            .map_err(template_err)?;
        Ok(Self {
            env,
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
        })
    }

    /// The template rollama carries for an architecture whose checkpoints carry none.
    pub fn builtin(architecture: &str) -> Option<&'static str> {
        match TemplateChoice::for_model(None, architecture) {
            TemplateChoice::Builtin(t) => Some(t),
            _ => None,
        }
    }

    /// Renders `messages` (a JSON array of `{role, content, ...}`), with optional `tools`.
    /// Like `transformers`, `tools` is passed as `none` when absent.
    pub fn render(
        &self,
        messages: &serde_json::Value,
        tools: Option<&serde_json::Value>,
        add_generation_prompt: bool,
    ) -> Result<String, TextError> {
        self.render_with(
            messages,
            tools,
            add_generation_prompt,
            &serde_json::Map::new(),
        )
    }

    /// [`render`](Self::render) with more variables (`enable_thinking`,
    /// `reasoning_effort`): what `apply_chat_template(**kwargs)` passes in transformers.
    pub fn render_with(
        &self,
        messages: &serde_json::Value,
        tools: Option<&serde_json::Value>,
        add_generation_prompt: bool,
        extra: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<String, TextError> {
        let template = self.env.get_template(NAME).map_err(template_err)?;
        let tools = tools.map_or(Value::from(()), Value::from_serialize);
        let base = context! {
            messages => Value::from_serialize(messages),
            tools => tools,
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos_token.as_str(),
            eos_token => self.eos_token.as_str(),
        };
        let ctx = context! { ..base, ..Value::from_serialize(extra) };
        template.render(ctx).map_err(template_err)
    }
}

/// `raise_exception(msg)`: how HF templates reject a conversation.
fn raise_exception(msg: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, msg))
}

/// `strftime_now(fmt)`: local time, Python `strftime` codes (chrono accepts the common ones).
fn strftime_now(fmt: String) -> Result<String, Error> {
    use std::fmt::Write;
    let mut out = String::new();
    write!(out, "{}", chrono::Local::now().format(&fmt)).map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("strftime_now: bad format {fmt:?}"),
        )
    })?;
    Ok(out)
}

/// `tojson(indent=None, separators=None, sort_keys=False)` as `json.dumps(..,
/// ensure_ascii=False)`: non-ASCII kept, `", "`/`": "` separators (`","` with an indent).
fn tojson(value: &Value, indent: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let indent = match kwargs.get::<Option<Value>>("indent")? {
        Some(v) => Some(v),
        None => indent,
    };
    let indent: Option<String> = match indent {
        None => None,
        Some(v) if v.is_none() || v.is_undefined() => None,
        Some(v) => match v.as_i64() {
            Some(n) => Some(" ".repeat(usize::try_from(n).unwrap_or(0))),
            None => match v.as_str() {
                Some(s) => Some(s.to_string()),
                None => {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        "tojson: indent must be an integer or a string",
                    ))
                }
            },
        },
    };
    let separators: Option<Vec<String>> = kwargs.get("separators")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;

    let (item_sep, key_sep) = match separators.as_deref() {
        Some([item, key]) => (item.clone(), key.clone()),
        Some(_) => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "tojson: separators must be a pair",
            ))
        }
        None if indent.is_some() => (",".to_string(), ": ".to_string()),
        None => (", ".to_string(), ": ".to_string()),
    };
    let json = serde_json::to_value(value)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("tojson: {e}")))?;
    let style = PyJson {
        indent,
        item_sep,
        key_sep,
        sort_keys: sort_keys.unwrap_or(false),
    };
    let mut out = String::new();
    style.write(&json, 0, &mut out);
    Ok(Value::from_safe_string(out))
}

/// Python `json.dumps` layout.
struct PyJson {
    indent: Option<String>,
    item_sep: String,
    key_sep: String,
    sort_keys: bool,
}

impl PyJson {
    fn newline(&self, level: usize, out: &mut String) {
        if let Some(indent) = &self.indent {
            out.push('\n');
            for _ in 0..level {
                out.push_str(indent);
            }
        }
    }

    fn write(&self, v: &serde_json::Value, level: usize, out: &mut String) {
        use serde_json::Value as J;
        match v {
            J::Array(items) if !items.is_empty() => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(&self.item_sep);
                    }
                    self.newline(level + 1, out);
                    self.write(item, level + 1, out);
                }
                self.newline(level, out);
                out.push(']');
            }
            J::Object(map) if !map.is_empty() => {
                let mut entries: Vec<_> = map.iter().collect();
                if self.sort_keys {
                    entries.sort_by(|a, b| a.0.cmp(b.0));
                }
                out.push('{');
                for (i, (k, item)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push_str(&self.item_sep);
                    }
                    self.newline(level + 1, out);
                    out.push_str(&serde_json::Value::from(k.as_str()).to_string());
                    out.push_str(&self.key_sep);
                    self.write(item, level + 1, out);
                }
                self.newline(level, out);
                out.push('}');
            }
            J::Array(_) => out.push_str("[]"),
            J::Object(_) => out.push_str("{}"),
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Number(n) => out.push_str(&n.to_string()),
            J::String(_) => out.push_str(&v.to_string()),
        }
    }
}
