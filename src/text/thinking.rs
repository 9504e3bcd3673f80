//! Reasoning ("thinking") in generated text: which tags a template uses ([`ThinkingSyntax`]) and
//! a streaming splitter of the output into reasoning and answer ([`ThinkingParser`]).
//!
//! Pure text, like the rest of `text/`. Whitespace handling follows Ollama's thinking parser:
//! the whitespace right after the open tag, right before the close tag and right after the
//! close tag belongs to neither part.

use super::tool_calls::{marker_prefix_len, references_word};

/// How a template marks reasoning, e.g. `<think>` … `</think>` (Qwen3, DeepSeek-R1, SmolLM3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThinkingSyntax {
    pub open: String,
    pub close: String,
}

impl ThinkingSyntax {
    /// `Some` when the template supports thinking: it contains a thinking tag (`<think>`, or
    /// Magistral's `[THINK]`) or references `enable_thinking`, `reasoning_effort` or
    /// `thinking`; those without a tag of their own get `<think>` … `</think>`.
    pub fn detect(template: &str) -> Option<ThinkingSyntax> {
        let syntax = |open: &str, close: &str| ThinkingSyntax {
            open: open.to_string(),
            close: close.to_string(),
        };
        if template.contains("[THINK]") {
            return Some(syntax("[THINK]", "[/THINK]"));
        }
        let knobs = ["enable_thinking", "reasoning_effort", "thinking"];
        if template.contains("<think>") || knobs.iter().any(|k| references_word(template, k)) {
            return Some(syntax("<think>", "</think>"));
        }
        None
    }
}

/// Where the parser is in the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing seen yet but whitespace: the output may still open with the tag.
    Start,
    /// Just inside the open tag: leading whitespace is dropped.
    AfterOpen,
    /// Reasoning, until the close tag.
    Thinking,
    /// Just past the close tag: leading whitespace is dropped.
    AfterClose,
    /// The answer: everything passes through.
    Content,
}

/// Splits streamed text into reasoning and answer. Tags never appear in either part; a tag cut
/// by the stream is held back until it is complete or proven not to be one.
pub struct ThinkingParser {
    syntax: ThinkingSyntax,
    phase: Phase,
    /// Input not yet released: leading whitespace, a possible tag prefix, or whitespace that
    /// may turn out to precede the close tag.
    buf: String,
}

impl ThinkingParser {
    /// `prompt` is the rendered prompt: when it ends (ignoring whitespace) with the open tag,
    /// the model starts inside its reasoning (DeepSeek-R1 and Qwen3-thinking templates).
    /// Otherwise the output may open with the tag; anything else first means no reasoning.
    pub fn new(syntax: ThinkingSyntax, prompt: &str) -> Self {
        let phase = if prompt.trim_end().ends_with(&syntax.open) {
            Phase::AfterOpen
        } else {
            Phase::Start
        };
        Self {
            syntax,
            phase,
            buf: String::new(),
        }
    }

    /// Returns the (thinking, content) text that `delta` releases.
    pub fn push(&mut self, delta: &str) -> (String, String) {
        self.buf.push_str(delta);
        self.drive(false)
    }

    /// End of generation: releases what is held (an unclosed reasoning stays reasoning).
    pub fn finish(&mut self) -> (String, String) {
        self.drive(true)
    }

    fn drive(&mut self, at_end: bool) -> (String, String) {
        let mut thinking = String::new();
        let mut content = String::new();
        while !self.buf.is_empty() && self.step(at_end, &mut thinking, &mut content) {}
        (thinking, content)
    }

    /// One transition; `false` when more input is needed.
    fn step(&mut self, at_end: bool, thinking: &mut String, content: &mut String) -> bool {
        match self.phase {
            Phase::Start => {
                let lead = self.buf.len() - self.buf.trim_start().len();
                let rest = &self.buf[lead..];
                if rest.starts_with(&self.syntax.open) {
                    self.buf.drain(..lead + self.syntax.open.len());
                    self.phase = Phase::AfterOpen;
                } else if self.syntax.open.starts_with(rest) && !at_end {
                    return false;
                } else {
                    self.phase = Phase::Content;
                }
                true
            }
            Phase::AfterOpen | Phase::AfterClose => {
                let lead = self.buf.len() - self.buf.trim_start().len();
                self.buf.drain(..lead);
                if self.buf.is_empty() {
                    return false;
                }
                self.phase = match self.phase {
                    Phase::AfterOpen => Phase::Thinking,
                    _ => Phase::Content,
                };
                true
            }
            Phase::Thinking => self.thinking_step(at_end, thinking),
            Phase::Content => {
                content.push_str(&std::mem::take(&mut self.buf));
                false
            }
        }
    }

    /// Releases reasoning up to the close tag, holding a possible tag prefix and the
    /// whitespace before it.
    fn thinking_step(&mut self, at_end: bool, thinking: &mut String) -> bool {
        if let Some(at) = self.buf.find(&self.syntax.close) {
            thinking.push_str(self.buf[..at].trim_end());
            self.buf.drain(..at + self.syntax.close.len());
            self.phase = Phase::AfterClose;
            return true;
        }
        if at_end {
            thinking.push_str(&std::mem::take(&mut self.buf));
            return false;
        }
        let held = marker_prefix_len(&self.buf, &self.syntax.close);
        let safe = self.buf[..self.buf.len() - held].trim_end().len();
        thinking.push_str(&self.buf[..safe]);
        self.buf.drain(..safe);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn think() -> ThinkingSyntax {
        ThinkingSyntax {
            open: "<think>".into(),
            close: "</think>".into(),
        }
    }

    /// Feeds `pieces` and concatenates (thinking, content).
    fn run(prompt: &str, pieces: &[&str]) -> (String, String) {
        let mut parser = ThinkingParser::new(think(), prompt);
        let (mut thinking, mut content) = (String::new(), String::new());
        for piece in pieces.iter().copied() {
            let (t, c) = parser.push(piece);
            assert!(!t.contains("<think>") && !t.contains("</think>"), "{t:?}");
            thinking.push_str(&t);
            content.push_str(&c);
        }
        let (t, c) = parser.finish();
        (thinking + &t, content + &c)
    }

    /// Whole and every two-piece and per-char split agree with `want`.
    fn check(prompt: &str, output: &str, want: (&str, &str)) {
        let want = (want.0.to_string(), want.1.to_string());
        assert_eq!(run(prompt, &[output]), want, "{output:?}");
        let chars: Vec<String> = output.chars().map(String::from).collect();
        let chars: Vec<&str> = chars.iter().map(String::as_str).collect();
        assert_eq!(run(prompt, &chars), want, "{output:?} by chars");
        for (at, _) in output.char_indices().skip(1) {
            let split = [&output[..at], &output[at..]];
            assert_eq!(run(prompt, &split), want, "{split:?}");
        }
    }

    /// Outputs from ggml-org/llama.cpp `tests/test-chat.cpp` (snapshot 1eeb523c), where the
    /// DeepSeek-R1 / Qwen3 / Hermes-2-Pro parsers split reasoning from content.
    #[test]
    fn recorded_outputs() {
        let open_prompt = "<｜User｜>Hi<｜Assistant｜><think>\n";
        check(
            "",
            "<think>I'm\nthinking</think>Hello, world!\nWhat's up?",
            ("I'm\nthinking", "Hello, world!\nWhat's up?"),
        );
        // QwQ / R1: the template opened the tag, the model only closes it.
        check(
            open_prompt,
            "I'm\nthinking</think>\n<tool_call>{\"name\": \"special_function\", \"arguments\": {\"arg1\": 1}}</tool_call>",
            (
                "I'm\nthinking",
                "<tool_call>{\"name\": \"special_function\", \"arguments\": {\"arg1\": 1}}</tool_call>",
            ),
        );
        check(
            "",
            "Hello, world!\nWhat's up?",
            ("", "Hello, world!\nWhat's up?"),
        );
        // An unclosed reasoning stays reasoning (generation cut by num_predict).
        check(open_prompt, "I'm\nthinking", ("I'm\nthinking", ""));
        check("", "<think>\n\n</think>\n\nHi ü", ("", "Hi ü"));
    }

    #[test]
    fn whitespace_and_late_tags() {
        // Whitespace before the open tag is not content; a tag later in an answer is content.
        check("", "\n <think> a b </think>  c", ("a b", "c"));
        check("", "c <think>x</think>", ("", "c <think>x</think>"));
        check("", " \n", ("", " \n"));
        check("", "<thi", ("", "<thi"));
        // Qwen3 with enable_thinking=false closes the tag in the prompt: all content.
        let closed = "<|im_start|>assistant\n<think>\n\n</think>\n\n";
        check(closed, "Answer", ("", "Answer"));
    }

    #[test]
    fn detect_on_real_templates() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/templates");
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect("template");
        assert_eq!(ThinkingSyntax::detect(&read("qwen3.jinja")), Some(think()));
        assert_eq!(
            ThinkingSyntax::detect(&read("deepseek-r1.jinja")),
            Some(think())
        );
        for plain in [
            "qwen2.5.jinja",
            "llama3.1.jinja",
            "smollm2.jinja",
            "mistral-nemo.jinja",
        ] {
            assert_eq!(ThinkingSyntax::detect(&read(plain)), None, "{plain}");
        }
        let magistral = "{%- if m.thinking %}[THINK]{{ m.thinking }}[/THINK]{% endif %}";
        assert_eq!(
            ThinkingSyntax::detect(magistral).map(|s| s.close),
            Some("[/THINK]".into())
        );
        assert!(ThinkingSyntax::detect("{% if reasoning_effort %}{% endif %}").is_some());
    }

    #[test]
    fn deepseek_prompt_starts_inside_reasoning() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/templates");
        let source = std::fs::read_to_string(dir.join("deepseek-r1.jinja")).expect("template");
        let template = crate::text::ChatTemplate::new(&source, "<｜begin▁of▁sentence｜>", "")
            .expect("compile");
        let messages = serde_json::json!([{"role": "user", "content": "Hi"}]);
        let prompt = template.render(&messages, None, true).expect("render");
        assert!(prompt.ends_with("<think>\n"), "{prompt:?}");
        assert_eq!(
            run(&prompt, &["Hmm.", "</think>", "Hello"]),
            ("Hmm.".into(), "Hello".into())
        );
    }
}
