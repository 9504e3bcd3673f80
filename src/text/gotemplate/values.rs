//! The dynamic values a template sees: a small model of the Go values Ollama hands to
//! `text/template` (`map[string]any`, its `templateMessage`/`templateTool` structs, typed maps
//! and slices with `String()` methods), enough to reproduce Go's truthiness, field access and
//! printing.

use std::rc::Rc;

/// How a list prints and marshals: Go's element type decides which `String()` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListKind {
    /// `[]any`, `[]string`, `[]*templateMessage`…: fmt's `[a b c]`.
    Plain,
    /// Ollama's `templateTools`: `String()` is its JSON.
    Tools,
    /// `api.PropertyType`: one type prints bare, several as `[a b]`; marshals one as a string.
    PropType,
}

/// How a map prints: Go's `map[k:v]`, or the JSON of Ollama's `templateArgs`/`templateProperties`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MapKind {
    Plain,
    /// `String()` is its JSON (`{}` when nil).
    JsonString,
}

/// Which Go struct a [`Struct`] stands for: decides `String()` and pointer printing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StructKind {
    /// `*templateMessage` (a pointer: `&{…}`).
    Message,
    /// `templateTool` (has `String()`: its JSON).
    Tool,
    /// `api.ToolProperty` (what `toTypeScriptType` accepts).
    ToolProperty,
    /// Any other plain struct.
    Other,
}

#[derive(Debug, Clone)]
pub(crate) struct List {
    pub items: Vec<Val>,
    pub kind: ListKind,
    /// A nil slice: marshals as `null` (prints as `[]` like an empty one).
    pub nil: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Map {
    /// In Go's iteration order: sorted for Go maps, insertion order for Ollama's ordered maps.
    pub entries: Vec<(String, Val)>,
    pub kind: MapKind,
    pub nil: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Field {
    /// The Go field name templates use (`.Role`).
    pub name: &'static str,
    /// The JSON key (`json:"…"` tag, or the Go name when untagged).
    pub json: &'static str,
    pub omitempty: bool,
    pub val: Val,
}

#[derive(Debug, Clone)]
pub(crate) struct Struct {
    pub kind: StructKind,
    pub fields: Vec<Field>,
}

/// A Go value as the template engine sees it.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    /// A nil interface or a missing map key: `<no value>` when an action prints it, `<nil>`
    /// inside a printed composite, `null` in JSON.
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    List(Rc<List>),
    Map(Rc<Map>),
    Struct(Rc<Struct>),
}

impl Val {
    pub fn str(s: &str) -> Val {
        Val::Str(Rc::from(s))
    }

    pub fn list(items: Vec<Val>, kind: ListKind, nil: bool) -> Val {
        Val::List(Rc::new(List { items, kind, nil }))
    }

    /// A Go `map[string]…`: iteration and marshalling are in sorted key order.
    pub fn sorted_map(mut entries: Vec<(String, Val)>, kind: MapKind) -> Val {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Val::Map(Rc::new(Map {
            entries,
            kind,
            nil: false,
        }))
    }

    pub fn strct(kind: StructKind, fields: Vec<Field>) -> Val {
        Val::Struct(Rc::new(Struct { kind, fields }))
    }

    /// Go's `isTrue` for `if`, `with`, `and`, `or`, `not`: structs are always true.
    pub fn truthy(&self) -> bool {
        match self {
            Val::Nil => false,
            Val::Bool(b) => *b,
            Val::Int(i) => *i != 0,
            Val::Float(f) => *f != 0.0,
            Val::Str(s) => !s.is_empty(),
            Val::List(l) => !l.items.is_empty(),
            Val::Map(m) => !m.entries.is_empty(),
            Val::Struct(_) => true,
        }
    }

    /// Go's type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Val::Nil => "<nil>",
            Val::Bool(_) => "bool",
            Val::Int(_) => "int",
            Val::Float(_) => "float64",
            Val::Str(_) => "string",
            Val::List(_) => "slice",
            Val::Map(_) => "map",
            Val::Struct(s) => match s.kind {
                StructKind::Message => "*template.templateMessage",
                StructKind::Tool => "template.templateTool",
                StructKind::ToolProperty => "api.ToolProperty",
                StructKind::Other => "struct",
            },
        }
    }

    /// `omitempty`'s notion of empty.
    pub fn is_empty_value(&self) -> bool {
        match self {
            Val::Struct(_) => false,
            other => !other.truthy(),
        }
    }

    /// A struct field by its Go name.
    pub fn struct_field(s: &Struct, name: &str) -> Option<Val> {
        s.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.val.clone())
    }
}

/// A JSON value decoded into Go's `any`: objects become sorted `map[string]any`, numbers
/// `float64`.
pub(crate) fn from_json_any(v: &serde_json::Value) -> Val {
    match v {
        serde_json::Value::Null => Val::Nil,
        serde_json::Value::Bool(b) => Val::Bool(*b),
        // Go's json.Unmarshal into `any` always yields float64.
        serde_json::Value::Number(n) => Val::Float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Val::str(s),
        serde_json::Value::Array(a) => Val::list(
            a.iter().map(from_json_any).collect(),
            ListKind::Plain,
            false,
        ),
        serde_json::Value::Object(o) => Val::sorted_map(
            o.iter()
                .map(|(k, v)| (k.clone(), from_json_any(v)))
                .collect(),
            MapKind::Plain,
        ),
    }
}
