//! Llama 3.x: the output *is* the call: a bare JSON object (or several, or an array) at the
//! very start, optionally after `<|python_tag|>`. JSON later in a text answer is text.

use super::json::{calls_from_sequence, scan_value, JsonEnd};
use super::{State, Step, ToolCallParser};

const TAG: &str = "<|python_tag|>";

impl ToolCallParser {
    /// One step of the Llama 3 machine.
    pub(super) fn llama3_step(&mut self, at_end: bool) -> Step {
        match self.state {
            State::Start => self.llama3_start(at_end),
            State::AfterCall => self.llama3_after_call(at_end),
            _ => {
                let rest = std::mem::take(&mut self.buf);
                self.emit_text(&rest);
                Step::Wait
            }
        }
    }

    /// Start of the output: whitespace and an optional tag, then a call or plain text. Nothing
    /// is consumed until it is decided, so plain text keeps its leading whitespace.
    fn llama3_start(&mut self, at_end: bool) -> Step {
        let lead = self.buf.len() - self.buf.trim_start().len();
        let rest = &self.buf[lead..];
        if let Some(after) = rest.strip_prefix(TAG) {
            let pos = lead + TAG.len() + (after.len() - after.trim_start().len());
            return self.llama3_call_at(pos, at_end);
        }
        if TAG.starts_with(rest) && !rest.is_empty() && !at_end {
            return Step::Wait;
        }
        self.llama3_call_at(lead, at_end)
    }

    /// Between calls: separators, whitespace (dropped by `skip_ws`) and repeated tags are
    /// skipped; another object is a candidate call; anything else ends the calls.
    fn llama3_after_call(&mut self, at_end: bool) -> Step {
        if self.buf.starts_with([';', ',']) {
            self.consume(1);
            self.skip_ws = true;
            return Step::Progress;
        }
        if self.buf.starts_with(TAG) {
            self.consume(TAG.len());
            self.skip_ws = true;
            return Step::Progress;
        }
        if TAG.starts_with(self.buf.as_str()) && !at_end {
            return Step::Wait;
        }
        self.llama3_call_at(0, at_end)
    }

    /// Tries a call starting at `pos`: waits while the JSON is open, emits the calls once it
    /// closes and parses, and otherwise turns everything held into plain text.
    fn llama3_call_at(&mut self, pos: usize, at_end: bool) -> Step {
        let rest = &self.buf[pos..];
        let end = match rest.chars().next() {
            Some('{') | Some('[') => scan_value(rest),
            Some(_) => JsonEnd::Invalid,
            None if at_end => JsonEnd::Invalid,
            None => return Step::Wait,
        };
        let calls = match end {
            JsonEnd::Incomplete if !at_end => return Step::Wait,
            JsonEnd::Complete(n) => calls_from_sequence(&rest[..n], true).map(|c| (c, n)),
            _ => None,
        };
        match calls {
            Some((calls, n)) => {
                self.emit_calls(calls, pos + n);
                self.state = State::AfterCall;
            }
            None => self.state = State::Plain,
        }
        Step::Progress
    }
}
