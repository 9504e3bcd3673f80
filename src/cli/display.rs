//! How an answer is written as it streams: word-wrapped at the terminal's width as Ollama's
//! `displayResponse` does (a word that would cross the margin is moved to the next line),
//! and thinking framed by `Thinking...` / `...done thinking.`. Escape codes and colour are
//! written only to a terminal, so a redirected answer is the model's text, byte for byte.

use std::io::{IsTerminal, Write};

const GREY: &str = "\x1b[38;5;245m";
const BOLD: &str = "\x1b[1m";
const DEFAULT: &str = "\x1b[0m";

/// The stream's position on the current line (Go's `displayResponseState`).
pub struct Display {
    /// Columns to wrap at; `None`: no wrapping.
    width: Option<usize>,
    line_length: usize,
    word: String,
    tty: bool,
}

impl Display {
    /// Wraps when asked and stdout is a terminal (its width; 80 when it cannot be read).
    pub fn new(word_wrap: bool) -> Self {
        let tty = std::io::stdout().is_terminal();
        let width = match word_wrap && tty {
            true => Some(terminal_width()),
            false => None,
        };
        Self {
            width: width.filter(|w| *w >= 10),
            line_length: 0,
            word: String::new(),
            tty,
        }
    }

    /// Starts a fresh line state (after the thinking block, as Ollama does).
    pub fn reset(&mut self) {
        self.line_length = 0;
        self.word.clear();
    }

    /// Whether the last thing written left the cursor mid-line.
    pub fn mid_line(&self) -> bool {
        self.line_length > 0
    }

    pub fn write(&mut self, content: &str) {
        let text = match self.width {
            Some(width) => self.wrap(content, width),
            None => {
                self.line_length = match content.rfind('\n') {
                    Some(i) => content.len() - i - 1,
                    None => self.line_length + content.len(),
                };
                content.to_string()
            }
        };
        print_flush(&text);
    }

    /// Go's `displayResponse` with word wrap, rune by rune.
    fn wrap(&mut self, content: &str, width: usize) -> String {
        let mut out = String::new();
        for ch in content.chars() {
            if self.line_length + 1 > width - 5 {
                if text_width(&self.word) > width - 10 {
                    // A "word" longer than the line: break it where it is.
                    out.push_str(&self.word);
                    out.push(ch);
                    self.word.clear();
                    self.line_length = 0;
                    continue;
                }
                // Take the partial word back and write it again on the next line.
                let back = text_width(&self.word);
                if back > 0 {
                    out += &format!("\x1b[{back}D");
                }
                out += "\x1b[K\n";
                out.push_str(&self.word);
                out.push(ch);
                self.line_length = text_width(&self.word) + char_width(ch);
            } else {
                out.push(ch);
                self.line_length += char_width(ch);
                if char_width(ch) >= 2 {
                    self.word.clear();
                    continue;
                }
                match ch {
                    ' ' | '\t' => self.word.clear(),
                    '\n' | '\r' => {
                        self.line_length = 0;
                        self.word.clear();
                    }
                    _ => self.word.push(ch),
                }
            }
        }
        out
    }

    pub fn thinking_open(&mut self) {
        let text = "Thinking...\n";
        match self.tty {
            true => print_flush(&format!("{GREY}{BOLD}{text}{DEFAULT}{GREY}")),
            false => print_flush(text),
        }
        self.reset();
    }

    pub fn thinking_close(&mut self) {
        let text = "...done thinking.\n\n";
        match self.tty {
            true => print_flush(&format!("{GREY}{BOLD}{text}{DEFAULT}")),
            false => print_flush(text),
        }
        self.reset();
    }
}

pub fn print_flush(text: &str) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (a pipe whose reader left) is not worth failing the answer over.
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// The terminal's columns, read through the line editor (which knows how; 80 otherwise).
fn terminal_width() -> usize {
    rustyline::DefaultEditor::new()
        .ok()
        .and_then(|mut e| e.dimensions())
        .map(|(cols, _)| cols as usize)
        .filter(|c| *c > 0)
        .unwrap_or(80)
}

fn text_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// Columns a character takes: 2 for East Asian wide and emoji ranges, else 1 (what
/// `runewidth` gives for the text models write).
fn char_width(c: char) -> usize {
    let c = c as u32;
    let wide = matches!(c,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF
        | 0x20000..=0x3FFFD);
    match wide {
        true => 2,
        false => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapped(width: usize, chunks: &[&str]) -> String {
        let mut d = Display {
            width: Some(width),
            line_length: 0,
            word: String::new(),
            tty: true,
        };
        chunks.iter().map(|c| d.wrap(c, width)).collect()
    }

    #[test]
    fn a_word_crossing_the_margin_moves_to_the_next_line() {
        // Width 20: a line holds 15 columns before wrapping.
        let out = wrapped(20, &["hello there ", "wonderful"]);
        assert_eq!(out, "hello there won\x1b[3D\x1b[K\nwonderful");
    }

    #[test]
    fn newlines_start_a_fresh_line() {
        let out = wrapped(20, &["0123456789\n0123456789"]);
        assert_eq!(out, "0123456789\n0123456789");
    }
}
