//! A subset of Go's `fmt.Sprintf` for the `printf` template function: the verbs templates
//! use (`%v %s %d %q %t %f %x %%`), with width and precision. Anything else is reported inline
//! as Go does (`%!z(...)`).

use super::print::{go_float, sprint};
use super::values::Val;

pub(crate) fn sprintf(format: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut minus = false;
        let mut zero = false;
        while let Some(&f) = chars.peek() {
            match f {
                '-' => minus = true,
                '0' => zero = true,
                '+' | ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut prec: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let s = one(verb, prec, arg);
        let w: usize = width.parse().unwrap_or(0);
        let pad = w.saturating_sub(s.chars().count());
        if minus {
            out.push_str(&s);
            out.push_str(&" ".repeat(pad));
        } else {
            out.push_str(&(if zero { "0" } else { " " }).repeat(pad));
            out.push_str(&s);
        }
    }
    let extra: Vec<&Val> = args.collect();
    if !extra.is_empty() {
        out.push_str("%!(EXTRA ");
        for (i, a) in extra.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(a.type_name());
            out.push('=');
            sprint(a, &mut out);
        }
        out.push(')');
    }
    out
}

fn one(verb: char, prec: Option<usize>, arg: &Val) -> String {
    let mut s = String::new();
    match (verb, arg) {
        ('v' | 's', Val::Str(v)) => match prec {
            Some(p) => s.extend(v.chars().take(p)),
            None => s.push_str(v),
        },
        ('v' | 's', _) => sprint(arg, &mut s),
        ('d', Val::Int(i)) => s = i.to_string(),
        ('t', Val::Bool(b)) => s = b.to_string(),
        ('q', Val::Str(v)) => s = quote(v),
        ('f' | 'F', Val::Float(f)) => s = format!("{:.*}", prec.unwrap_or(6), f),
        ('f' | 'F', Val::Int(i)) => s = format!("%!f(int={i})"),
        ('g', Val::Float(f)) => s = go_float(*f),
        ('x', Val::Int(i)) => s = format!("{i:x}"),
        ('x', Val::Str(v)) => v.bytes().for_each(|b| s.push_str(&format!("{b:02x}"))),
        _ => {
            s.push_str(&format!("%!{verb}({}=", arg.type_name()));
            sprint(arg, &mut s);
            s.push(')');
        }
    }
    s
}

/// `strconv.Quote`.
fn quote(v: &str) -> String {
    let mut s = String::from("\"");
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            '\u{7}' => s.push_str("\\a"),
            '\u{8}' => s.push_str("\\b"),
            '\u{c}' => s.push_str("\\f"),
            '\u{b}' => s.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                s.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}
