//! Hermes / Qwen: `<tool_call>{json}</tool_call>` blocks anywhere in the output.

use super::json::calls_from_sequence;
use super::{State, Step, ToolCallParser};

const OPEN: &str = "<tool_call>";
const CLOSE: &str = "</tool_call>";

impl ToolCallParser {
    /// One step of the Hermes machine: text until `<tool_call>`, then a block until
    /// `</tool_call>` (or the end of the output) whose body must be JSON call objects.
    pub(super) fn hermes_step(&mut self, at_end: bool) -> Step {
        match self.state {
            State::Call => self.hermes_block(at_end),
            _ => self.text_step(OPEN, at_end),
        }
    }

    /// Inside a block: gives up as soon as the body cannot be JSON (so prose that mentions
    /// the tag is not held), else waits for the closing tag.
    fn hermes_block(&mut self, at_end: bool) -> Step {
        let body_start = self.buf.trim_start();
        match body_start.chars().next() {
            Some('{') | Some('[') => {}
            Some(_) => {
                self.release_marker(OPEN, 0);
                return Step::Progress;
            }
            None if at_end => {
                let all = self.buf.len();
                self.release_marker(OPEN, all);
                return Step::Wait;
            }
            None => return Step::Wait,
        }
        let (body_end, consumed) = match self.buf.find(CLOSE) {
            Some(at) => (at, at + CLOSE.len()),
            None if at_end => (self.buf.len(), self.buf.len()),
            None => return Step::Wait,
        };
        match calls_from_sequence(&self.buf[..body_end], false) {
            Some(calls) => {
                self.emit_calls(calls, consumed);
                self.state = State::Text;
            }
            None => self.release_marker(OPEN, consumed),
        }
        Step::Progress
    }
}
