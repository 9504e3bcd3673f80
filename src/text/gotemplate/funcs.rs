//! The functions a template may call: Go's `text/template` builtins and the four Ollama
//! registers (`json`, `currentDate`, `yesterdayDate`, `toTypeScriptType`). `and` and `or`
//! short-circuit, so the executor evaluates them itself.

use super::gojson;
use super::print::sprint;
use super::values::{ListKind, StructKind, Val};

/// Every function name the parser accepts (Go rejects unknown names at parse time).
pub(crate) const NAMES: &[&str] = &[
    "and",
    "call",
    "html",
    "index",
    "slice",
    "js",
    "len",
    "not",
    "or",
    "print",
    "printf",
    "println",
    "urlquery",
    "eq",
    "ge",
    "gt",
    "le",
    "lt",
    "ne",
    "json",
    "currentDate",
    "yesterdayDate",
    "toTypeScriptType",
];

type R = Result<Val, String>;

pub(crate) fn call(name: &str, args: &[Val]) -> R {
    match name {
        "not" => {
            let [a] = args else {
                return Err(arity(name, 1, args.len()));
            };
            Ok(Val::Bool(!a.truthy()))
        }
        "len" => {
            let [a] = args else {
                return Err(arity(name, 1, args.len()));
            };
            len(a).map(|n| Val::Int(n as i64))
        }
        "index" => index(args),
        "slice" => slice(args),
        "eq" => eq_any(args).map(Val::Bool),
        "ne" => match args {
            [a, b] => eq(a, b).map(|t| Val::Bool(!t)),
            _ => Err(arity(name, 2, args.len())),
        },
        "lt" | "le" | "gt" | "ge" => match args {
            [a, b] => compare(name, a, b).map(Val::Bool),
            _ => Err(arity(name, 2, args.len())),
        },
        "print" => Ok(Val::str(&sprint_args(args, false))),
        "println" => Ok(Val::str(&sprint_args(args, true))),
        "printf" => match args.split_first() {
            Some((Val::Str(f), rest)) => Ok(Val::str(&super::printf::sprintf(f, rest))),
            _ => Err("printf needs a format string".into()),
        },
        "html" => Ok(Val::str(&html(&string_arg(args)))),
        "js" => Ok(Val::str(&js(&string_arg(args)))),
        "urlquery" => Ok(Val::str(&urlquery(&string_arg(args)))),
        "json" => {
            let [a] = args else {
                return Err(arity(name, 1, args.len()));
            };
            Ok(Val::str(&gojson::marshal(a)))
        }
        // The format argument is accepted and ignored, as in Ollama.
        "currentDate" => Ok(Val::str(&date(0))),
        "yesterdayDate" => Ok(Val::str(&date(1))),
        "toTypeScriptType" => match args {
            [Val::Struct(s)] if s.kind == StructKind::ToolProperty => {
                Ok(Val::str(&ts_type(&Val::Struct(s.clone()))))
            }
            [_] => Ok(Val::str("any")),
            _ => Err(arity(name, 1, args.len())),
        },
        "call" => Err("call: templates here hold no function values".into()),
        _ => Err(format!("function {name:?} not defined")),
    }
}

fn arity(name: &str, want: usize, got: usize) -> String {
    format!("wrong number of args for {name}: want {want} got {got}")
}

fn date(days_back: i64) -> String {
    let day = chrono::Local::now() - chrono::Duration::days(days_back);
    day.format("%Y-%m-%d").to_string()
}

fn len(v: &Val) -> Result<usize, String> {
    match v {
        Val::Str(s) => Ok(s.len()),
        Val::List(l) => Ok(l.items.len()),
        Val::Map(m) => Ok(m.entries.len()),
        other => Err(format!("len of type {}", other.type_name())),
    }
}

fn int_arg(v: &Val) -> Result<i64, String> {
    match v {
        Val::Int(i) => Ok(*i),
        other => Err(format!(
            "cannot index slice/array with type {}",
            other.type_name()
        )),
    }
}

fn index(args: &[Val]) -> R {
    let Some((first, keys)) = args.split_first() else {
        return Err(arity("index", 1, 0));
    };
    let mut cur = first.clone();
    for k in keys {
        cur = match (&cur, k) {
            (Val::List(l), _) => {
                let i = int_arg(k)?;
                usize::try_from(i)
                    .ok()
                    .and_then(|i| l.items.get(i).cloned())
                    .ok_or_else(|| format!("error calling index: index out of range: {i}"))?
            }
            (Val::Str(s), _) => {
                let i = int_arg(k)?;
                let b = usize::try_from(i)
                    .ok()
                    .and_then(|i| s.as_bytes().get(i).copied())
                    .ok_or_else(|| format!("error calling index: index out of range: {i}"))?;
                Val::Int(i64::from(b))
            }
            // A missing key yields the element type's zero value: nil for `any`.
            (Val::Map(m), Val::Str(key)) => m
                .entries
                .iter()
                .find(|(name, _)| name.as_str() == &**key)
                .map(|(_, v)| v.clone())
                .unwrap_or(Val::Nil),
            (Val::Nil, _) => return Err("error calling index: index of untyped nil".into()),
            (c, _) => return Err(format!("can't index item of type {}", c.type_name())),
        };
    }
    Ok(cur)
}

fn slice(args: &[Val]) -> R {
    let Some((first, idx)) = args.split_first() else {
        return Err(arity("slice", 1, 0));
    };
    if idx.len() > 3 {
        return Err(format!("too many slice indexes: {}", idx.len()));
    }
    let n = len(first).map_err(|_| format!("can't slice item of type {}", first.type_name()))?;
    let mut bounds = Vec::with_capacity(idx.len());
    for v in idx {
        let i = int_arg(v)?;
        let i = usize::try_from(i).map_err(|_| format!("index out of range: {i}"))?;
        if i > n {
            return Err(format!("index out of range: {i}"));
        }
        bounds.push(i);
    }
    let lo = bounds.first().copied().unwrap_or(0);
    let hi = bounds.get(1).copied().unwrap_or(n);
    if lo > hi {
        return Err(format!("invalid slice index: {lo} > {hi}"));
    }
    match first {
        Val::Str(s) => {
            if idx.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            s.get(lo..hi)
                .map(Val::str)
                .ok_or_else(|| "slice of a string splits a character".into())
        }
        Val::List(l) => Ok(Val::list(l.items[lo..hi].to_vec(), l.kind, false)),
        other => Err(format!("can't slice item of type {}", other.type_name())),
    }
}

/// Go's `eq arg1 arg2...`: true when arg1 equals any of the others.
fn eq_any(args: &[Val]) -> Result<bool, String> {
    let Some((first, rest)) = args.split_first() else {
        return Err("missing argument for comparison".into());
    };
    if rest.is_empty() {
        return Err("missing argument for comparison".into());
    }
    for a in rest {
        if eq(first, a)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn eq(a: &Val, b: &Val) -> Result<bool, String> {
    Ok(match (a, b) {
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Int(x), Val::Int(y)) => x == y,
        (Val::Float(x), Val::Float(y)) => x == y,
        (Val::Str(x), Val::Str(y)) => x == y,
        (Val::Nil, Val::Nil) => true,
        // Comparing with a nil (missing) value is false, not an error.
        (Val::Nil, _) | (_, Val::Nil) => false,
        (Val::List(_) | Val::Map(_), _) | (_, Val::List(_) | Val::Map(_)) => {
            return Err(format!(
                "non-comparable types {} and {}",
                a.type_name(),
                b.type_name()
            ))
        }
        (Val::Struct(x), Val::Struct(y)) => std::rc::Rc::ptr_eq(x, y),
        _ => return Err("incompatible types for comparison".into()),
    })
}

fn compare(op: &str, a: &Val, b: &Val) -> Result<bool, String> {
    let ord = match (a, b) {
        (Val::Int(x), Val::Int(y)) => x.partial_cmp(y),
        (Val::Float(x), Val::Float(y)) => x.partial_cmp(y),
        (Val::Str(x), Val::Str(y)) => x.partial_cmp(y),
        _ => return Err("incompatible types for comparison".into()),
    };
    let Some(ord) = ord else {
        return Ok(false);
    };
    use std::cmp::Ordering::*;
    Ok(match op {
        "lt" => ord == Less,
        "le" => ord != Greater,
        "gt" => ord == Greater,
        _ => ord != Less,
    })
}

/// `fmt.Sprint` (spaces only between two non-strings) or `fmt.Sprintln` (always, plus `\n`).
pub(crate) fn sprint_args(args: &[Val], ln: bool) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            let both_non_str = !matches!(a, Val::Str(_)) && !matches!(args[i - 1], Val::Str(_));
            if ln || both_non_str {
                out.push(' ');
            }
        }
        sprint(a, &mut out);
    }
    if ln {
        out.push('\n');
    }
    out
}

/// `evalArgs` of Go's html/js/urlquery: a lone string as is, otherwise `fmt.Sprint`.
fn string_arg(args: &[Val]) -> String {
    match args {
        [Val::Str(s)] => s.to_string(),
        _ => sprint_args(args, false),
    }
}

fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn js(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn urlquery(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `api.ToolProperty.ToTypeScriptType`.
fn ts_type(p: &Val) -> String {
    let Val::Struct(s) = p else {
        return "any".into();
    };
    if let Some(Val::List(any_of)) = Val::struct_field(s, "AnyOf") {
        if !any_of.items.is_empty() {
            let parts: Vec<String> = any_of.items.iter().map(ts_type).collect();
            return parts.join(" | ");
        }
    }
    let types: Vec<String> = match Val::struct_field(s, "Type") {
        Some(Val::List(l)) if l.kind == ListKind::PropType => l
            .items
            .iter()
            .map(|t| match t {
                Val::Str(t) => ts_one(t).to_string(),
                _ => "any".to_string(),
            })
            .collect(),
        _ => Vec::new(),
    };
    if types.is_empty() {
        "any".into()
    } else {
        types.join(" | ")
    }
}

fn ts_one(t: &str) -> &'static str {
    match t {
        "string" => "string",
        "number" | "integer" => "number",
        "boolean" => "boolean",
        "array" => "any[]",
        "object" => "Record<string, any>",
        "null" => "null",
        _ => "any",
    }
}
