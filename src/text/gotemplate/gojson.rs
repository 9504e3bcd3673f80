//! Go's `encoding/json.Marshal` for template values: the `json` template function and the
//! `String()` methods that return JSON. Byte-exact details that differ from serde_json:
//! `<`, `>`, `&`, U+2028 and U+2029 are escaped, floats use Go's format, struct fields honour
//! their tags' names and `omitempty`, nil slices and maps are `null`.

use super::print::json_float;
use super::values::{ListKind, Val};

pub(crate) fn marshal(v: &Val) -> String {
    let mut out = String::new();
    write(v, &mut out);
    out
}

fn write(v: &Val, out: &mut String) {
    match v {
        Val::Nil => out.push_str("null"),
        Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Val::Int(i) => out.push_str(&i.to_string()),
        Val::Float(f) => out.push_str(&json_float(*f)),
        Val::Str(s) => write_str(s, out),
        Val::List(l) => {
            if l.kind == ListKind::PropType && l.items.len() == 1 {
                // PropertyType.MarshalJSON: a single type is a bare string.
                write(&l.items[0], out);
            } else if l.nil {
                out.push_str("null");
            } else {
                out.push('[');
                for (i, item) in l.items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
        }
        Val::Map(m) => {
            if m.nil {
                out.push_str("null");
                return;
            }
            out.push('{');
            for (i, (k, item)) in m.entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(k, out);
                out.push(':');
                write(item, out);
            }
            out.push('}');
        }
        Val::Struct(s) => {
            out.push('{');
            let mut first = true;
            for f in &s.fields {
                if f.omitempty && f.val.is_empty_value() {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                write_str(f.json, out);
                out.push(':');
                write(&f.val, out);
            }
            out.push('}');
        }
    }
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_go() {
        assert_eq!(
            marshal(&Val::str("a<b>&\"\n")),
            r#""a\u003cb\u003e\u0026\"\n""#
        );
        assert_eq!(marshal(&Val::Float(3.0)), "3");
    }
}
