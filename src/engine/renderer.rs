//! Which template turns a request into prompt text: the weights' Jinja chat template
//! (HF semantics), or a Go template (an Ollama model's template layer, or a request's
//! `template`), rendered with Ollama's data so the prompt is byte-identical to Ollama's.

use serde_json::{Map, Value};

use super::EngineError;
use crate::text::{ChatTemplate, GoMessage, GoTemplate, GoValues};

pub enum Renderer {
    Jinja(ChatTemplate),
    Go(GoTemplate),
}

impl Renderer {
    /// A chat's prompt, ready for the model's answer.
    pub fn chat(
        &self,
        messages: &[Value],
        tools: Option<&Value>,
        vars: &Map<String, Value>,
    ) -> Result<String, EngineError> {
        match self {
            Self::Jinja(t) => {
                Ok(t.render_with(&Value::Array(messages.to_vec()), tools, true, vars)?)
            }
            Self::Go(t) => go_chat(t, messages, tools, vars),
        }
    }

    /// `/api/generate`'s prompt with a suffix to fill in (Go templates using `.Suffix`).
    pub fn insert(
        &self,
        prompt: &str,
        suffix: &str,
        vars: &Map<String, Value>,
    ) -> Result<String, EngineError> {
        match self {
            Self::Go(t) => go_insert(t, prompt, suffix, vars),
            Self::Jinja(_) => Err(EngineError::BadRequest(
                "the model's template does not support insert".into(),
            )),
        }
    }

    /// Whether a prompt with a `suffix` can be rendered (the template reads `.Suffix`).
    pub fn inserts(&self) -> bool {
        matches!(self, Self::Go(t) if t.vars().iter().any(|v| v == "suffix"))
    }
}

pub fn go_chat(
    template: &GoTemplate,
    messages: &[Value],
    tools: Option<&Value>,
    vars: &Map<String, Value>,
) -> Result<String, EngineError> {
    Ok(template.render(&go_values(messages, tools, vars))?)
}

/// Ollama renders an insert from `.Prompt` and `.Suffix` alone.
pub fn go_insert(
    template: &GoTemplate,
    prompt: &str,
    suffix: &str,
    vars: &Map<String, Value>,
) -> Result<String, EngineError> {
    let mut values = go_values(&[], None, vars);
    values.prompt = prompt.to_string();
    values.suffix = suffix.to_string();
    Ok(template.render(&values)?)
}

/// Ollama's template values from our message and tool JSON: `think` on when asked,
/// its level the effort's name, `IsThinkSet` whenever the request said either way.
fn go_values(messages: &[Value], tools: Option<&Value>, vars: &Map<String, Value>) -> GoValues {
    let think = vars.get("enable_thinking").and_then(Value::as_bool);
    let level = vars
        .get("reasoning_effort")
        .and_then(Value::as_str)
        .unwrap_or_default();
    GoValues {
        messages: messages.iter().map(go_message).collect(),
        tools: tools.and_then(Value::as_array).cloned().unwrap_or_default(),
        think: think.unwrap_or(false),
        think_level: level.to_string(),
        is_think_set: think.is_some(),
        ..GoValues::default()
    }
}

fn go_message(m: &Value) -> GoMessage {
    let text = |k: &str| {
        m.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    GoMessage {
        role: text("role"),
        content: text("content"),
        thinking: text("thinking"),
        tool_calls: m
            .get("tool_calls")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        tool_name: text("tool_name"),
        tool_call_id: text("tool_call_id"),
        images: m
            .get("images")
            .and_then(Value::as_array)
            .map_or(0, Vec::len),
    }
}
