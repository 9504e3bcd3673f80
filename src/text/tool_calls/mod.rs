//! Tool calls in a model's own syntax: which syntax a chat template uses ([`ToolSyntax`]),
//! a streaming splitter of generated text into plain text and whole calls ([`ToolCallParser`]),
//! and an llguidance grammar that forces a call ([`ToolSyntax::forced_grammar`]).
//!
//! Pure text: no tokenizer, engine or server types. One file per syntax (`hermes.rs`,
//! `llama3.rs`, `mistral.rs`), JSON scanning in `json.rs`, grammars in `grammar.rs`.
//!
//! Whitespace rule: whitespace that touches a call is dropped, never returned as Text. That is
//! the whitespace between the text before a call and its marker, between calls, and right after
//! a call (the answer that follows starts at its first non-blank character). Whitespace not next
//! to a call is kept as-is. A malformed call gives back everything, that whitespace included.

mod grammar;
mod hermes;
mod json;
mod llama3;
mod mistral;
#[cfg(test)]
mod tests;

/// A model's native tool-call syntax, detected from its chat template source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolSyntax {
    /// Hermes / Qwen 2.5 / Qwen 3: `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`,
    /// one block per call (a block holding several objects or an array is accepted too).
    Hermes,
    /// Llama 3.1/3.2/3.3: a bare JSON object `{"name": ..., "parameters": {...}}` (or
    /// `"arguments"`) at the start of the output, optionally after `<|python_tag|>`; several
    /// calls separated by `;`, `,` or newlines, or given as one JSON array.
    Llama3,
    /// Mistral: `[TOOL_CALLS] [{"name": ..., "arguments": {...}}, ...]` (v3 / Nemo), and the
    /// v11 forms `[TOOL_CALLS]name[ARGS]{...}`, `[TOOL_CALLS]name[CALL_ID]id[ARGS]{...}` (also
    /// `[TOOL_CALLS]name{...}`, which is what a decoder that skips control tokens prints).
    Mistral,
}

impl ToolSyntax {
    /// The syntax a chat template renders tools with; `None` when it never references `tools`.
    ///
    /// Order as mistral.rs's `template_tool_call_format` for the markers we share:
    /// `<|python_tag|>` (Llama 3.1), then `[TOOL_CALLS]`, then `<tool_call>`. Llama 3.2/3.3
    /// templates have no tag for custom tools, only the instruction to answer with
    /// `{"name": ..., "parameters": ...}`, so that JSON key comes after the tags (Hermes 3 on
    /// Llama 3.1 mentions `"parameters"` too, inside its `<tool_call>` instructions).
    ///
    /// A template that uses `tools` with none of these gets [`ToolSyntax::Hermes`]: it is the
    /// convention most fine-tunes are trained on (Qwen, Hermes, many "function calling" tunes),
    /// and since it only fires on an explicit `<tool_call>` tag, a model that uses something
    /// else loses nothing: its text comes through unchanged.
    pub fn detect(template: &str) -> Option<ToolSyntax> {
        if !references_word(template, "tools") {
            return None;
        }
        let syntax = if template.contains("<|python_tag|>") {
            ToolSyntax::Llama3
        } else if template.contains("[TOOL_CALLS]") {
            ToolSyntax::Mistral
        } else if template.contains("<tool_call>") {
            ToolSyntax::Hermes
        } else if template.contains("\"parameters\"") {
            ToolSyntax::Llama3
        } else {
            ToolSyntax::Hermes
        };
        Some(syntax)
    }

    /// Marker strings that start a call. The engine makes sure these are printed even when
    /// they are control tokens (`{` is listed for Llama 3 because its calls are bare JSON).
    pub fn markers(&self) -> &'static [&'static str] {
        match self {
            ToolSyntax::Hermes => &["<tool_call>"],
            ToolSyntax::Llama3 => &["<|python_tag|>", "{"],
            ToolSyntax::Mistral => &["[TOOL_CALLS]"],
        }
    }

    /// Every piece of the syntax that may be a control token in the vocabulary and must be
    /// printed for the parser to see it: the start markers plus closing tags and separators
    /// (Qwen's `</tool_call>` and Mistral's `[ARGS]` / `[CALL_ID]` are special tokens).
    pub fn syntax_strings(&self) -> &'static [&'static str] {
        match self {
            ToolSyntax::Hermes => &["<tool_call>", "</tool_call>"],
            ToolSyntax::Llama3 => &["<|python_tag|>"],
            ToolSyntax::Mistral => &["[TOOL_CALLS]", "[ARGS]", "[CALL_ID]"],
        }
    }

    /// An llguidance Lark grammar forcing at least one call in this syntax (OpenAI
    /// `tool_choice: "required"` or a named function). See `grammar.rs`.
    pub fn forced_grammar(
        &self,
        tools: &[serde_json::Value],
        only: Option<&str>,
        special: &dyn Fn(&str) -> Option<u32>,
    ) -> Result<String, String> {
        grammar::forced(*self, tools, only, special, true)
    }

    /// [`forced_grammar`](Self::forced_grammar) for exactly one call: a small model
    /// forced to call tends to repeat the call until its budget runs out.
    pub fn forced_single_call(
        &self,
        tools: &[serde_json::Value],
        only: Option<&str>,
        special: &dyn Fn(&str) -> Option<u32>,
    ) -> Result<String, String> {
        grammar::forced(*self, tools, only, special, false)
    }
}

/// Whether `word` occurs in `text` as a whole identifier (not inside `tool_calls` or `my_tools`).
pub(super) fn references_word(text: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// One call as the model wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedToolCall {
    pub name: String,
    /// Always a JSON object.
    pub arguments: serde_json::Value,
}

/// A piece of the generation: text for the user, or one whole call.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolOutput {
    Text(String),
    Call(ParsedToolCall),
}

/// Where the parser is in the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Llama 3 only: nothing decided yet; the output may still open with a call.
    Start,
    /// Ordinary text; Hermes and Mistral look for their marker here.
    Text,
    /// Hermes and Mistral: a marker was consumed; `buf` holds what follows it.
    Call,
    /// Llama 3 after a call: more calls may follow, separated by `;`, `,` or whitespace.
    AfterCall,
    /// Llama 3 once the output is known to be text: everything passes through.
    Plain,
}

/// Whether a step consumed input (call again) or needs more of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Progress,
    Wait,
}

/// Splits a streamed generation into plain text and whole tool calls. Text that could still be
/// the start of a call (a prefix of a marker, an open call) is held back; nothing returned as
/// Text is ever retracted. A call that turns out malformed is released as Text.
pub struct ToolCallParser {
    syntax: ToolSyntax,
    state: State,
    /// Input not yet released: a possible marker prefix, an open call, or trailing whitespace
    /// that would be dropped if a call followed.
    buf: String,
    /// Set after a call: leading whitespace of what follows is dropped.
    skip_ws: bool,
    /// Whitespace dropped before the current marker, given back if the call is malformed.
    lead_ws: String,
    /// Outputs of the current `push`/`finish`, consecutive Text merged.
    out: Vec<ToolOutput>,
}

impl ToolCallParser {
    pub fn new(syntax: ToolSyntax) -> Self {
        let state = match syntax {
            ToolSyntax::Llama3 => State::Start,
            ToolSyntax::Hermes | ToolSyntax::Mistral => State::Text,
        };
        Self {
            syntax,
            state,
            buf: String::new(),
            skip_ws: false,
            lead_ws: String::new(),
            out: Vec::new(),
        }
    }

    /// Feeds the next piece of generated text; returns what can be released now.
    pub fn push(&mut self, delta: &str) -> Vec<ToolOutput> {
        self.buf.push_str(delta);
        self.drive(false);
        std::mem::take(&mut self.out)
    }

    /// End of generation: a call still open counts if what was held parses as a whole call
    /// (Hermes without `</tool_call>`, a Llama 3 object); anything else is released as text.
    pub fn finish(&mut self) -> Vec<ToolOutput> {
        self.drive(true);
        let rest = std::mem::take(&mut self.buf);
        self.emit_text(&rest);
        std::mem::take(&mut self.out)
    }

    /// Runs the syntax's state machine until it needs more input.
    fn drive(&mut self, at_end: bool) {
        loop {
            if self.skip_ws {
                let trimmed = self.buf.len() - self.buf.trim_start().len();
                self.consume(trimmed);
                if self.buf.is_empty() {
                    return;
                }
                self.skip_ws = false;
            }
            let step = match self.syntax {
                ToolSyntax::Hermes => self.hermes_step(at_end),
                ToolSyntax::Llama3 => self.llama3_step(at_end),
                ToolSyntax::Mistral => self.mistral_step(at_end),
            };
            // At the end every state must get its say, even on an empty buffer (a marker
            // with nothing after it is given back as text).
            if step == Step::Wait || (self.buf.is_empty() && !at_end) {
                return;
            }
        }
    }

    /// Text state shared by the marker syntaxes: releases text up to `marker` (without the
    /// whitespace before it) and switches to [`State::Call`], or releases what cannot be the
    /// start of a marker, holding a possible marker prefix and the whitespace before it.
    fn text_step(&mut self, marker: &str, at_end: bool) -> Step {
        if let Some(at) = self.buf.find(marker) {
            let text_end = self.buf[..at].trim_end().len();
            let text = self.buf[..text_end].to_string();
            self.lead_ws = self.buf[text_end..at].to_string();
            self.emit_text(&text);
            self.consume(at + marker.len());
            self.state = State::Call;
            return Step::Progress;
        }
        if at_end {
            let rest = std::mem::take(&mut self.buf);
            self.emit_text(&rest);
            return Step::Wait;
        }
        let held = marker_prefix_len(&self.buf, marker);
        let safe = self.buf[..self.buf.len() - held].trim_end().len();
        let text = self.buf[..safe].to_string();
        self.emit_text(&text);
        self.consume(safe);
        Step::Wait
    }

    /// Gives back a marker that did not start a valid call, with the whitespace before it and
    /// `consumed` bytes of what followed, and returns to text.
    fn release_marker(&mut self, marker: &str, consumed: usize) {
        let text = format!("{}{marker}{}", self.lead_ws, &self.buf[..consumed]);
        self.lead_ws.clear();
        self.emit_text(&text);
        self.consume(consumed);
        self.state = State::Text;
    }

    /// Emits whole calls; whitespace around them is dropped.
    fn emit_calls(&mut self, calls: Vec<ParsedToolCall>, consumed: usize) {
        self.out.extend(calls.into_iter().map(ToolOutput::Call));
        self.consume(consumed);
        self.lead_ws.clear();
        self.skip_ws = true;
    }

    /// Appends text, merged into a preceding Text; empty text is not an output.
    fn emit_text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        match self.out.last_mut() {
            Some(ToolOutput::Text(prev)) => prev.push_str(text),
            _ => self.out.push(ToolOutput::Text(text.to_string())),
        }
    }

    fn consume(&mut self, n: usize) {
        self.buf.drain(..n);
    }
}

/// Length of the longest suffix of `text` that is a proper prefix of `marker` (a marker cut
/// by the stream). Markers are ASCII, so the cut is a char boundary.
pub(super) fn marker_prefix_len(text: &str, marker: &str) -> usize {
    (1..marker.len().min(text.len() + 1))
        .rev()
        .find(|&n| text.is_char_boundary(text.len() - n) && text.ends_with(&marker[..n]))
        .unwrap_or(0)
}
