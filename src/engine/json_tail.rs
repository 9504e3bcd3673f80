//! [`JsonTail`]: where a JSON text being generated stands, fed byte by byte: inside a
//! string or not, how long the current run of number digits is, and which containers are
//! open. The grammar guarantees the text is a valid JSON prefix; this only reads it, to
//! bound number digits and to close a `format: "json"` reply cut short by its budget.

/// Digits allowed in a row in one part of a number (integer, fraction, exponent), as
/// llama.cpp's JSON-schema grammar allows (`[1-9][0-9]{0,15}`, `[0-9]{1,16}`): a grammar
/// lets a small model write digits forever.
pub const MAX_NUMBER_DIGITS: usize = 16;

#[derive(Debug, Default, Clone)]
pub struct JsonTail {
    /// Open `{` / `[`, innermost last.
    open: Vec<u8>,
    in_string: bool,
    escape: Escape,
    /// The string being written is an object key.
    in_key: bool,
    /// Digits in a row outside strings.
    digits: usize,
    /// What the last complete token outside strings was.
    last: Last,
    /// A literal (`tru`, `-1.`, `nul`) being written.
    literal: Vec<u8>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum Escape {
    #[default]
    None,
    /// Right after a backslash.
    Started,
    /// Inside `\uXXXX`, this many hex digits still to come.
    Hex(u8),
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum Last {
    /// Nothing yet.
    #[default]
    Start,
    /// `{` or `[`.
    Open,
    Comma,
    Colon,
    /// A whole key string.
    Key,
    /// A whole value (string, number, literal or closed container).
    Value,
}

impl JsonTail {
    pub fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.byte(b);
        }
    }

    /// Inside a string (the next byte is string content or its closing quote).
    pub fn in_string(&self) -> bool {
        self.in_string
    }

    /// Digits in a row at the end of a number being written.
    pub fn number_digits(&self) -> usize {
        self.digits
    }

    fn byte(&mut self, b: u8) {
        if self.in_string {
            return self.string_byte(b);
        }
        if b.is_ascii_digit() {
            self.digits += 1;
        } else {
            self.digits = 0;
        }
        let literal_byte = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.');
        if literal_byte {
            self.literal.push(b);
            return;
        }
        if !self.literal.is_empty() {
            self.literal.clear();
            self.last = Last::Value;
        }
        match b {
            b'"' => {
                self.in_string = true;
                self.in_key = self.open.last() == Some(&b'{')
                    && matches!(self.last, Last::Open | Last::Comma);
            }
            b'{' | b'[' => {
                self.open.push(b);
                self.last = Last::Open;
            }
            b'}' | b']' => {
                self.open.pop();
                self.last = Last::Value;
            }
            b',' => self.last = Last::Comma,
            b':' => self.last = Last::Colon,
            _ => {}
        }
    }

    fn string_byte(&mut self, b: u8) {
        match self.escape {
            Escape::Started => {
                self.escape = if b == b'u' {
                    Escape::Hex(4)
                } else {
                    Escape::None
                }
            }
            Escape::Hex(n) => {
                self.escape = if n > 1 {
                    Escape::Hex(n - 1)
                } else {
                    Escape::None
                }
            }
            Escape::None if b == b'\\' => self.escape = Escape::Started,
            Escape::None if b == b'"' => {
                self.in_string = false;
                self.last = if self.in_key { Last::Key } else { Last::Value };
            }
            Escape::None => {}
        }
    }

    /// The shortest text that makes what was written a whole JSON value: finish an escape,
    /// a string or a literal, give a pending key or value `null`, close the containers.
    pub fn closing(&self) -> String {
        let mut out = String::new();
        let mut last = self.last;
        if self.in_string {
            match self.escape {
                Escape::Started => out.push('n'),
                Escape::Hex(n) => out.extend(std::iter::repeat_n('0', n as usize)),
                Escape::None => {}
            }
            out.push('"');
            last = if self.in_key { Last::Key } else { Last::Value };
        } else if !self.literal.is_empty() {
            out.push_str(finish_literal(&self.literal));
            last = Last::Value;
        }
        let in_object = self.open.last() == Some(&b'{');
        match last {
            Last::Key => out.push_str(":null"),
            Last::Colon => out.push_str("null"),
            Last::Comma if in_object => out.push_str("\"\":null"),
            Last::Comma => out.push_str("null"),
            Last::Start => out.push_str("{}"),
            Last::Open | Last::Value => {}
        }
        for &open in self.open.iter().rev() {
            out.push(if open == b'{' { '}' } else { ']' });
        }
        out
    }
}

/// The rest of a literal cut short: `tr` → `ue`, `-` → `0`, `1.` → `0`, `2e` → `0`.
fn finish_literal(literal: &[u8]) -> &'static str {
    for word in ["true", "false", "null"] {
        if let Some(rest) = word.as_bytes().strip_prefix(literal) {
            return &word[word.len() - rest.len()..];
        }
    }
    match literal.last() {
        Some(b'-' | b'+' | b'.' | b'e' | b'E') => "0",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed(prefix: &str) -> String {
        let mut t = JsonTail::default();
        t.push(prefix.as_bytes());
        format!("{prefix}{}", t.closing())
    }

    #[test]
    fn every_prefix_of_a_json_text_closes_into_valid_json() {
        let text =
            r#"{"a": [1, -2.5e+3, true, null, {"k\"\u00e9y": "v\\al"}], "b": {"c": [], "d": fals"#;
        let whole = format!("{text}e}}}}");
        assert!(serde_json::from_str::<serde_json::Value>(&whole).is_ok());
        for end in 0..=text.len() {
            let Some(prefix) = text.get(..end) else {
                continue;
            };
            let json = closed(prefix);
            assert!(
                serde_json::from_str::<serde_json::Value>(&json).is_ok(),
                "{prefix:?} closed as {json:?}"
            );
        }
    }

    #[test]
    fn counts_number_digits_outside_strings_only() {
        let mut t = JsonTail::default();
        t.push(br#"{"id": "12345", "n": 12.3456"#);
        assert_eq!(t.number_digits(), 4);
        t.push(b"7");
        assert_eq!(t.number_digits(), 5);
        t.push(br#", "s": "99"#);
        assert_eq!(t.number_digits(), 0);
    }
}
