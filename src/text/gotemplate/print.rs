//! Go's `fmt` `%v` for template values, honouring the `String()` methods Ollama's types
//! have (`templateTools`, `templateTool`, `templateArgs`, `templateProperties`,
//! `api.PropertyType`), and Go's float formats.

use super::gojson;
use super::values::{ListKind, MapKind, StructKind, Val};

/// Shortest round-trip digits and decimal exponent of a finite, non-zero `f`:
/// `f = 0.d1d2d3… × 10^dp`.
fn digits(f: f64) -> (String, i32) {
    // `{:e}` gives the shortest digits as `d.ddde±x`.
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let digs: String = mant.chars().filter(char::is_ascii_digit).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (digs, exp + 1)
}

/// `digits` laid out without an exponent (Go's `%f` with the shortest precision).
fn fixed(digs: &str, dp: i32) -> String {
    let n = digs.len() as i32;
    if dp <= 0 {
        format!("0.{}{}", "0".repeat((-dp) as usize), digs)
    } else if dp >= n {
        format!("{}{}", digs, "0".repeat((dp - n) as usize))
    } else {
        format!("{}.{}", &digs[..dp as usize], &digs[dp as usize..])
    }
}

/// `digits` as `d.ddde±xx` (`min_exp_digits` is 2 for `%v`, 1 for JSON).
fn exponent(digs: &str, dp: i32, min_exp_digits: usize) -> String {
    let e = dp - 1;
    let sign = if e < 0 { '-' } else { '+' };
    let mant = if digs.len() > 1 {
        format!("{}.{}", &digs[..1], &digs[1..])
    } else {
        digs.to_string()
    };
    format!(
        "{mant}e{sign}{:0>width$}",
        e.unsigned_abs(),
        width = min_exp_digits
    )
}

fn special(f: f64) -> Option<String> {
    if f.is_nan() {
        Some("NaN".into())
    } else if f.is_infinite() {
        Some(if f > 0.0 { "+Inf" } else { "-Inf" }.into())
    } else if f == 0.0 {
        Some(if f.is_sign_negative() { "-0" } else { "0" }.into())
    } else {
        None
    }
}

/// `strconv.FormatFloat(f, 'g', -1, 64)`, which `%v` uses.
pub(crate) fn go_float(f: f64) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    let (digs, dp) = digits(f);
    let sign = if f < 0.0 { "-" } else { "" };
    let e = dp - 1;
    // Shortest precision: %e when the exponent is < -4 or >= 6 (strconv's 'g' rule).
    let body = if !(-4..6).contains(&e) {
        exponent(&digs, dp, 2)
    } else {
        fixed(&digs, dp)
    };
    format!("{sign}{body}")
}

/// encoding/json's float64: `'f'` unless |f| < 1e-6 or >= 1e21, exponent without padding.
pub(crate) fn json_float(f: f64) -> String {
    if let Some(s) = special(f) {
        return if s == "-0" { "-0".into() } else { s };
    }
    let (digs, dp) = digits(f);
    let sign = if f < 0.0 { "-" } else { "" };
    let a = f.abs();
    let body = if !(1e-6..1e21).contains(&a) {
        exponent(&digs, dp, 1)
    } else {
        fixed(&digs, dp)
    };
    format!("{sign}{body}")
}

/// `fmt.Sprint(v)` at the top level (an action's output, `print`, `%v`).
pub(crate) fn sprint(v: &Val, out: &mut String) {
    write_v(v, out);
}

fn write_v(v: &Val, out: &mut String) {
    match v {
        Val::Nil => out.push_str("<nil>"),
        Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Val::Int(i) => out.push_str(&i.to_string()),
        Val::Float(f) => out.push_str(&go_float(*f)),
        Val::Str(s) => out.push_str(s),
        Val::List(l) => match l.kind {
            ListKind::Tools => out.push_str(&gojson::marshal(v)),
            ListKind::PropType if l.items.len() == 1 => write_v(&l.items[0], out),
            ListKind::PropType if l.items.is_empty() => {}
            _ => {
                out.push('[');
                for (i, item) in l.items.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    write_v(item, out);
                }
                out.push(']');
            }
        },
        Val::Map(m) => match m.kind {
            MapKind::JsonString if m.nil => out.push_str("{}"),
            MapKind::JsonString => out.push_str(&gojson::marshal(v)),
            MapKind::Plain => {
                out.push_str("map[");
                for (i, (k, item)) in m.entries.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    write_v(item, out);
                }
                out.push(']');
            }
        },
        Val::Struct(s) => {
            if s.kind == StructKind::Tool {
                out.push_str(&gojson::marshal(v));
                return;
            }
            // A pointer prints as `&{…}` at the top (Go prints an address deeper down; we do not).
            if s.kind == StructKind::Message {
                out.push('&');
            }
            out.push('{');
            for (i, f) in s.fields.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_v(&f.val, out);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_go() {
        assert_eq!(go_float(5.0), "5");
        assert_eq!(go_float(0.5), "0.5");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(123456789.0), "1.23456789e+08");
        assert_eq!(go_float(123456.0), "123456");
        assert_eq!(json_float(5.0), "5");
        assert_eq!(json_float(1e21), "1e+21");
        assert_eq!(json_float(1e-7), "1e-7");
        assert_eq!(json_float(-2.5), "-2.5");
    }
}
