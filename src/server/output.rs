//! What a chat request asks beyond text, and how the generated text is taken apart again:
//! reasoning (`think`), tool definitions and calls (`tools`, forced calls), and the split of
//! the stream into answer, reasoning and whole tool calls.

use rand::Rng;
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::generation::Run;
use crate::engine::{close_objects, Grammar, PromptModel};
use crate::text::{ThinkingParser, ThinkingSyntax, ToolCallParser, ToolOutput, ToolSyntax};

/// Reasoning asked of the model (`think`, `reasoning_effort`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Think {
    /// Not said: on for models that think (Ollama since 0.12.4), unless `format` is set.
    #[default]
    Default,
    Off,
    /// On, with an effort level (`low`, `medium`, `high`, `max`) or none (`true`).
    On(Option<&'static str>),
}

const LEVELS: [&str; 4] = ["low", "medium", "high", "max"];

impl Think {
    /// Ollama's `think`: a bool or a level.
    pub fn from_request(value: Option<&Value>) -> Result<Self, ApiError> {
        match value {
            None | Some(Value::Null) => Ok(Self::Default),
            Some(Value::Bool(false)) => Ok(Self::Off),
            Some(Value::Bool(true)) => Ok(Self::On(None)),
            Some(Value::String(s)) if s == "high" || s == "medium" || s == "low" || s == "max" => {
                Ok(Self::On(level(s)))
            }
            Some(other) => {
                let shown = match other {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                };
                Err(ApiError::BadRequest(format!(
                    "invalid think value: \"{shown}\" (must be \"high\", \"medium\", \"low\", \"max\", true, or false)"
                )))
            }
        }
    }

    /// OpenAI's `reasoning_effort` as Ollama maps it.
    pub fn from_effort(effort: Option<&str>) -> Result<Self, ApiError> {
        match effort {
            None => Ok(Self::Default),
            Some("none") => Ok(Self::Off),
            Some("minimal") => Ok(Self::On(Some("low"))),
            Some("xhigh" | "ultra") => Ok(Self::On(Some("max"))),
            Some(s) => match level(s) {
                Some(l) => Ok(Self::On(Some(l))),
                None => Err(ApiError::BadRequest(format!(
                    "invalid reasoning_effort: \"{s}\" (must be \"none\", \"minimal\", \"low\", \"medium\", \"high\", \"xhigh\" or \"max\")"
                ))),
            },
        }
    }
}

fn level(s: &str) -> Option<&'static str> {
    LEVELS.iter().copied().find(|l| *l == s)
}

/// OpenAI's `tool_choice`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolChoice {
    /// The model decides (`auto`, or not said).
    #[default]
    Auto,
    /// No tools: they are not shown to the model.
    None,
    /// At least one call, enforced by a grammar.
    Required,
    /// A call to this function, enforced by a grammar.
    Function(String),
}

/// What a chat asks of the model besides its messages, resolved against the model.
pub struct Asks {
    /// Template variables (`enable_thinking`, `reasoning_effort`).
    pub vars: Map<String, Value>,
    /// Tools for the template (`None` when there are none).
    pub tools: Option<Value>,
    /// A grammar forcing a call, when the tool choice asks for one.
    pub grammar: Option<Grammar>,
    /// Strings the output parsers must see even when they are control tokens.
    pub markers: Vec<String>,
    thinking: Option<ThinkingSyntax>,
    tool_syntax: Option<ToolSyntax>,
}

impl Asks {
    /// Checks `think` and `tools` against what the model's template supports (Ollama's
    /// 400s, which quote the model as requested or by `full_name`), and works out the
    /// template variables and parsers. With a `format`, the reasoning is free and the
    /// grammar applies to the answer, as Ollama does.
    pub fn resolve(prompt: &PromptModel, full_name: &str, run: &Run<'_>) -> Result<Self, ApiError> {
        let (name, think, choice) = (run.model, run.think, &run.tool_choice);
        let (parallel, format) = (run.parallel_tool_calls, run.grammar.is_some());
        let mut vars = Map::new();
        let mut markers = vec![];
        let thinking = match (&prompt.thinking, think) {
            (None, Think::On(_)) => {
                return Err(ApiError::BadRequest(format!(
                    "\"{name}\" does not support thinking"
                )))
            }
            (None, _) => None,
            (Some(syntax), think) => {
                let on = matches!(think, Think::On(_) | Think::Default);
                vars.insert("enable_thinking".into(), Value::Bool(on));
                if let Think::On(Some(level)) = think {
                    vars.insert("reasoning_effort".into(), json!(level));
                }
                markers.extend([syntax.open.clone(), syntax.close.clone()]);
                on.then(|| syntax.clone())
            }
        };
        let tools: Vec<Value> = match choice {
            ToolChoice::None => vec![],
            _ => run.tools.iter().map(with_parameters).collect(),
        };
        let mut asks = Self {
            vars,
            tools: None,
            grammar: None,
            markers,
            thinking,
            tool_syntax: None,
        };
        if tools.is_empty() {
            if matches!(choice, ToolChoice::Required | ToolChoice::Function(_)) {
                return Err(ApiError::BadRequest(
                    "tool_choice asks for a tool call but no tools were given".into(),
                ));
            }
            return Ok(asks);
        }
        let Some(syntax) = prompt.tools else {
            return Err(ApiError::BadRequest(format!(
                "registry.ollama.ai/library/{full_name} does not support tools"
            )));
        };
        asks.markers
            .extend(syntax.syntax_strings().iter().map(|s| s.to_string()));
        let only = match choice {
            ToolChoice::Function(f) => Some(f.as_str()),
            _ => None,
        };
        if let Some(f) = only {
            if !tools
                .iter()
                .any(|t| t.pointer("/function/name") == Some(&json!(f)))
            {
                return Err(ApiError::BadRequest(format!(
                    "tool_choice names '{f}', which is not among the tools"
                )));
            }
        }
        if matches!(choice, ToolChoice::Required | ToolChoice::Function(_)) {
            if format {
                return Err(ApiError::BadRequest(
                    "a forced tool call cannot be combined with response_format".into(),
                ));
            }
            let tokenizer = &prompt.tokenizer;
            let special = |s: &str| tokenizer.token_id(s).filter(|&id| tokenizer.is_control(id));
            // Arguments get only the listed keys, as a `format` schema's objects do.
            let mut closed = tools.clone();
            for tool in &mut closed {
                if let Some(p) = tool.pointer_mut("/function/parameters") {
                    close_objects(p);
                }
            }
            let lark = match parallel {
                true => syntax.forced_grammar(&closed, only, &special),
                false => syntax.forced_single_call(&closed, only, &special),
            }
            .map_err(ApiError::BadRequest)?;
            asks.grammar = Some(Grammar::Lark(lark));
        }
        asks.tools = Some(Value::Array(tools));
        asks.tool_syntax = Some(syntax);
        Ok(asks)
    }

    /// The reasoning tags when the model reasons in this request.
    pub fn reasoning(&self) -> Option<&ThinkingSyntax> {
        self.thinking.as_ref()
    }

    /// The parser of this request's output, given the prompt as rendered.
    pub fn parser(&self, rendered: &str) -> OutputParser {
        OutputParser {
            thinking: self
                .thinking
                .clone()
                .map(|s| ThinkingParser::new(s, rendered)),
            tools: self.tool_syntax.map(ToolCallParser::new),
            calls: 0,
        }
    }
}

/// A tool without `parameters` gets an empty object schema: templates (Hermes 3) read
/// `parameters.properties` of every tool.
fn with_parameters(tool: &Value) -> Value {
    let mut tool = tool.clone();
    if let Some(f) = tool.get_mut("function").and_then(Value::as_object_mut) {
        f.entry("parameters")
            .or_insert_with(|| json!({"type": "object", "properties": {}}));
    }
    tool
}

/// A call the model made.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// `call_` and 8 random `[a-z0-9]`, as Ollama.
    pub id: String,
    pub index: usize,
    pub name: String,
    /// Always a JSON object.
    pub arguments: Value,
}

impl ToolCall {
    /// Ollama's shape: `arguments` an object, `index` inside `function`.
    pub fn native(&self) -> Value {
        json!({"id": self.id, "function": {"index": self.index, "name": self.name,
            "arguments": self.arguments}})
    }

    /// OpenAI's shape: `arguments` a JSON string.
    pub fn openai(&self) -> Value {
        json!({"id": self.id, "index": self.index, "type": "function",
            "function": {"name": self.name, "arguments": self.arguments.to_string()}})
    }
}

fn call_id() -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let tail: String = (0..8)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect();
    format!("call_{tail}")
}

/// One part of the parsed output.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Content(String),
    Thinking(String),
    Call(ToolCall),
}

/// Generated text → answer, reasoning and whole tool calls, as it streams.
pub struct OutputParser {
    thinking: Option<ThinkingParser>,
    tools: Option<ToolCallParser>,
    calls: usize,
}

impl OutputParser {
    /// Parts released by `text`.
    pub fn push(&mut self, text: &str) -> Vec<Part> {
        let (thinking, content) = match &mut self.thinking {
            Some(p) => p.push(text),
            None => (String::new(), text.to_string()),
        };
        self.parts(thinking, content, false)
    }

    /// Everything still held back, at the end of the generation.
    pub fn finish(&mut self) -> Vec<Part> {
        let (thinking, content) = match &mut self.thinking {
            Some(p) => p.finish(),
            None => (String::new(), String::new()),
        };
        self.parts(thinking, content, true)
    }

    /// Whether the output held a tool call.
    pub fn called(&self) -> bool {
        self.calls > 0
    }

    fn parts(&mut self, thinking: String, content: String, end: bool) -> Vec<Part> {
        let mut parts = vec![];
        if !thinking.is_empty() {
            parts.push(Part::Thinking(thinking));
        }
        let Some(tools) = &mut self.tools else {
            if !content.is_empty() {
                parts.push(Part::Content(content));
            }
            return parts;
        };
        let mut outputs = tools.push(&content);
        if end {
            outputs.extend(tools.finish());
        }
        for output in outputs {
            match output {
                ToolOutput::Text(t) if t.is_empty() => {}
                ToolOutput::Text(t) => parts.push(Part::Content(t)),
                ToolOutput::Call(call) => {
                    parts.push(Part::Call(ToolCall {
                        id: call_id(),
                        index: self.calls,
                        name: call.name,
                        arguments: call.arguments,
                    }));
                    self.calls += 1;
                }
            }
        }
        parts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn think_values_and_efforts_map_as_ollama() {
        assert_eq!(Think::from_request(None).ok(), Some(Think::Default));
        assert_eq!(
            Think::from_request(Some(&json!(false))).ok(),
            Some(Think::Off)
        );
        assert_eq!(
            Think::from_request(Some(&json!(true))).ok(),
            Some(Think::On(None))
        );
        assert_eq!(
            Think::from_request(Some(&json!("max"))).ok(),
            Some(Think::On(Some("max")))
        );
        assert!(Think::from_request(Some(&json!("lots"))).is_err());
        assert!(Think::from_request(Some(&json!(1))).is_err());
        for (effort, think) in [
            ("none", Think::Off),
            ("minimal", Think::On(Some("low"))),
            ("medium", Think::On(Some("medium"))),
            ("xhigh", Think::On(Some("max"))),
            ("ultra", Think::On(Some("max"))),
        ] {
            assert_eq!(
                Think::from_effort(Some(effort)).ok(),
                Some(think),
                "{effort}"
            );
        }
        assert!(Think::from_effort(Some("extreme")).is_err());
    }

    #[test]
    fn tools_without_parameters_get_an_empty_schema() {
        let tool = with_parameters(&json!({"type": "function", "function": {"name": "ping"}}));
        assert_eq!(
            tool["function"]["parameters"],
            json!({"type": "object", "properties": {}})
        );
    }
}
