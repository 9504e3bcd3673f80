//! Our messages and tool definitions as the values Ollama gives its templates
//! (`convertMessagesForTemplate`, `convertToolsForTemplate` in template.go; `api.Tool`,
//! `api.ToolProperty` and `api.ToolCall` in api/types.go).

use serde_json::Value as Json;

use super::values::{from_json_any, Field, ListKind, Map, MapKind, StructKind, Val};
use super::GoMessage;
use std::rc::Rc;

fn field(name: &'static str, json: &'static str, omitempty: bool, val: Val) -> Field {
    Field {
        name,
        json,
        omitempty,
        val,
    }
}

fn json_str(v: Option<&Json>) -> Val {
    Val::str(v.and_then(Json::as_str).unwrap_or(""))
}

/// An `any` field: absent and `null` are both Go's nil.
fn json_any(v: Option<&Json>) -> Val {
    v.map(from_json_any).unwrap_or(Val::Nil)
}

/// `[]string` (nil when absent).
fn strings(v: Option<&Json>) -> Val {
    match v.and_then(Json::as_array) {
        Some(a) => Val::list(
            a.iter().filter_map(Json::as_str).map(Val::str).collect(),
            ListKind::Plain,
            false,
        ),
        None => Val::list(Vec::new(), ListKind::Plain, true),
    }
}

/// `api.PropertyType`: a string or a list of strings.
fn prop_type(v: Option<&Json>) -> Val {
    let items = match v {
        Some(Json::String(s)) => vec![Val::str(s)],
        Some(Json::Array(a)) => a.iter().filter_map(Json::as_str).map(Val::str).collect(),
        _ => Vec::new(),
    };
    let nil = items.is_empty();
    Val::list(items, ListKind::PropType, nil)
}

/// `api.ToolProperty`, with only the fields Ollama's struct keeps.
fn tool_property(v: &Json) -> Val {
    let any_of = match v.get("anyOf").and_then(Json::as_array) {
        Some(a) => Val::list(
            a.iter().map(tool_property).collect(),
            ListKind::Plain,
            false,
        ),
        None => Val::list(Vec::new(), ListKind::Plain, true),
    };
    let enum_ = match v.get("enum").and_then(Json::as_array) {
        Some(a) => Val::list(
            a.iter().map(from_json_any).collect(),
            ListKind::Plain,
            false,
        ),
        None => Val::list(Vec::new(), ListKind::Plain, true),
    };
    // `*ToolPropertiesMap`: ordered (insertion order), nil pointer when absent.
    let props = match v.get("properties").and_then(Json::as_object) {
        Some(o) => Val::Map(Rc::new(Map {
            entries: o
                .iter()
                .map(|(k, p)| (k.clone(), tool_property(p)))
                .collect(),
            kind: MapKind::Plain,
            nil: false,
        })),
        None => Val::Nil,
    };
    Val::strct(
        StructKind::ToolProperty,
        vec![
            field("AnyOf", "anyOf", true, any_of),
            field("Type", "type", true, prop_type(v.get("type"))),
            field("Items", "items", true, json_any(v.get("items"))),
            field(
                "Description",
                "description",
                true,
                json_str(v.get("description")),
            ),
            field("Enum", "enum", true, enum_),
            field("Properties", "properties", true, props),
            field("Required", "required", true, strings(v.get("required"))),
        ],
    )
}

/// One `templateTool`.
fn tool(t: &Json) -> Val {
    let func = t.get("function");
    let params = func.and_then(|f| f.get("parameters"));
    // `templateProperties`: a Go map (sorted), printing as JSON; nil when absent.
    let properties = match params
        .and_then(|p| p.get("properties"))
        .and_then(Json::as_object)
    {
        Some(o) => Val::sorted_map(
            o.iter()
                .map(|(k, p)| (k.clone(), tool_property(p)))
                .collect(),
            MapKind::JsonString,
        ),
        None => nil_json_map(),
    };
    let parameters = Val::strct(
        StructKind::Other,
        vec![
            field(
                "Type",
                "type",
                false,
                json_str(params.and_then(|p| p.get("type"))),
            ),
            field(
                "Defs",
                "$defs",
                true,
                json_any(params.and_then(|p| p.get("$defs"))),
            ),
            field(
                "Items",
                "items",
                true,
                json_any(params.and_then(|p| p.get("items"))),
            ),
            field(
                "Required",
                "required",
                true,
                strings(params.and_then(|p| p.get("required"))),
            ),
            field("Properties", "properties", false, properties),
        ],
    );
    let function = Val::strct(
        StructKind::Other,
        vec![
            field(
                "Name",
                "name",
                false,
                json_str(func.and_then(|f| f.get("name"))),
            ),
            field(
                "Description",
                "description",
                false,
                json_str(func.and_then(|f| f.get("description"))),
            ),
            field("Parameters", "parameters", false, parameters),
        ],
    );
    Val::strct(
        StructKind::Tool,
        vec![
            field("Type", "type", false, json_str(t.get("type"))),
            field("Items", "items", true, json_any(t.get("items"))),
            field("Function", "function", false, function),
        ],
    )
}

/// `templateTools` (nil when there are none, as Ollama's `Tools` is then nil).
pub(crate) fn tools(tools: &[Json]) -> Val {
    Val::list(
        tools.iter().map(tool).collect(),
        ListKind::Tools,
        tools.is_empty(),
    )
}

/// A tool call's arguments: an object, or (OpenAI style) a string holding one.
fn arguments(v: Option<&Json>) -> Val {
    let parsed;
    let obj = match v {
        Some(Json::Object(o)) => Some(o),
        Some(Json::String(s)) => {
            parsed = serde_json::from_str::<Json>(s).ok();
            parsed.as_ref().and_then(Json::as_object)
        }
        _ => None,
    };
    match obj {
        Some(o) => Val::sorted_map(
            o.iter()
                .map(|(k, v)| (k.clone(), from_json_any(v)))
                .collect(),
            MapKind::JsonString,
        ),
        None => nil_json_map(),
    }
}

/// One `templateToolCall` (untagged structs: JSON keys are the Go names).
fn tool_call(c: &Json) -> Val {
    let func = c.get("function");
    let index = func
        .and_then(|f| f.get("index"))
        .and_then(Json::as_i64)
        .unwrap_or(0);
    let function = Val::strct(
        StructKind::Other,
        vec![
            field("Index", "Index", false, Val::Int(index)),
            field(
                "Name",
                "Name",
                false,
                json_str(func.and_then(|f| f.get("name"))),
            ),
            field(
                "Arguments",
                "Arguments",
                false,
                arguments(func.and_then(|f| f.get("arguments"))),
            ),
        ],
    );
    Val::strct(
        StructKind::Other,
        vec![
            field("ID", "ID", false, json_str(c.get("id"))),
            field("Function", "Function", false, function),
        ],
    )
}

/// One `*templateMessage`.
pub(crate) fn message(m: &GoMessage) -> Val {
    // Only the count of images is known; each stands in as an empty `api.ImageData`.
    let images = Val::list(
        (0..m.images).map(|_| Val::str("")).collect(),
        ListKind::Plain,
        m.images == 0,
    );
    let calls = Val::list(
        m.tool_calls.iter().map(tool_call).collect(),
        ListKind::Plain,
        m.tool_calls.is_empty(),
    );
    Val::strct(
        StructKind::Message,
        vec![
            field("Role", "Role", false, Val::str(&m.role)),
            field("Content", "Content", false, Val::str(&m.content)),
            field("Thinking", "Thinking", false, Val::str(&m.thinking)),
            field("Images", "Images", false, images),
            field("ToolCalls", "ToolCalls", false, calls),
            field("ToolName", "ToolName", false, Val::str(&m.tool_name)),
            field("ToolCallID", "ToolCallID", false, Val::str(&m.tool_call_id)),
        ],
    )
}

/// A nil Go map of JSON-printing kind (what Ollama's templates see for an absent object).
fn nil_json_map() -> Val {
    Val::Map(Rc::new(Map {
        entries: Vec::new(),
        kind: MapKind::JsonString,
        nil: true,
    }))
}
