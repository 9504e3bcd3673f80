//! What a request asks beyond text, and how the generated text is taken apart again:
//! reasoning (`think`), tool definitions and calls (`tools`, forced calls), and the split of
//! the stream into answer, reasoning and whole tool calls.

use rand::Rng;
use serde_json::{json, Map, Value};

use super::grammar::close_objects;
use super::prompt::PromptModel;
use super::request::{GenerateRequest, Input, Think, ToolCall, ToolChoice};
use super::{EngineError, Grammar};
use crate::text::{ThinkingParser, ThinkingSyntax, ToolCallParser, ToolOutput, ToolSyntax};

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
    /// grammar applies to the answer, as Ollama does. A raw prompt has no template to turn
    /// reasoning on or off: it gets none.
    pub fn resolve(
        prompt: &PromptModel,
        full_name: &str,
        req: &GenerateRequest,
    ) -> Result<Self, EngineError> {
        let raw = matches!(&req.input, Input::Prompt(p) if p.raw);
        let think = if raw { Think::Off } else { req.think };
        let (name, choice) = (req.model.as_str(), &req.tool_choice);
        let (parallel, format) = (req.parallel_tool_calls, req.format.is_some());
        let mut vars = Map::new();
        let mut markers = vec![];
        let thinking = match (&prompt.thinking, think) {
            (None, Think::On(_)) => {
                return Err(EngineError::BadRequest(format!(
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
            _ => req.tools.iter().map(with_parameters).collect(),
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
                return Err(EngineError::BadRequest(
                    "tool_choice asks for a tool call but no tools were given".into(),
                ));
            }
            return Ok(asks);
        }
        let Some(syntax) = prompt.tools else {
            return Err(EngineError::BadRequest(format!(
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
                return Err(EngineError::BadRequest(format!(
                    "tool_choice names '{f}', which is not among the tools"
                )));
            }
        }
        if matches!(choice, ToolChoice::Required | ToolChoice::Function(_)) {
            if format {
                return Err(EngineError::BadRequest(
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
            .map_err(EngineError::BadRequest)?;
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
    fn tools_without_parameters_get_an_empty_schema() {
        let tool = with_parameters(&json!({"type": "function", "function": {"name": "ping"}}));
        assert_eq!(
            tool["function"]["parameters"],
            json!({"type": "object", "properties": {}})
        );
    }
}
