//! utoipa writes the schema of a `serde_json::Value` (any JSON value) as `{}`, or with only a
//! description, and its own types cannot read such a schema back: their `Object` needs a
//! `type`. The document would then be valid OpenAPI that utoipa-based tools refuse. This
//! lists the types instead (`"type": ["object", "array", ...]`): the same set of values,
//! in a form every reader takes.

use serde_json::{json, Map, Value};
use utoipa::openapi::OpenApi;
use utoipa::Modify;

pub struct AnyValueTyped;

impl Modify for AnyValueTyped {
    fn modify(&self, openapi: &mut OpenApi) {
        let Ok(mut doc) = serde_json::to_value(&*openapi) else {
            return;
        };
        for_each_schema(&mut doc, &mut typed);
        // Reading back can only fail if a schema is still one utoipa cannot read, and then
        // the document stays as built; tests/openapi.rs reads it back and would say so.
        if let Ok(fixed) = serde_json::from_value(doc) {
            *openapi = fixed;
        }
    }
}

/// The JSON types: together, any value.
fn any_type() -> Value {
    json!(["object", "array", "string", "number", "boolean", "null"])
}

/// Keywords that already say what a schema accepts.
const CONSTRAINING: [&str; 8] = [
    "type", "$ref", "oneOf", "allOf", "anyOf", "enum", "const", "not",
];

fn typed(schema: &mut Value) {
    let Value::Object(o) = schema else {
        return;
    };
    for key in ["oneOf", "allOf", "anyOf", "prefixItems"] {
        if let Some(Value::Array(items)) = o.get_mut(key) {
            items.iter_mut().for_each(typed);
        }
    }
    for key in ["items", "not", "additionalProperties", "contains"] {
        if let Some(sub @ Value::Object(_)) = o.get_mut(key) {
            typed(sub);
        }
    }
    if let Some(Value::Object(properties)) = o.get_mut("properties") {
        properties.values_mut().for_each(typed);
    }
    if !CONSTRAINING.iter().any(|k| o.contains_key(*k)) {
        o.insert("type".into(), any_type());
    }
}

/// Calls `f` on every schema the document holds at the top of a schema position: the
/// components, request bodies, responses and their headers, parameters.
fn for_each_schema(doc: &mut Value, f: &mut impl FnMut(&mut Value)) {
    if let Some(Value::Object(schemas)) = doc.pointer_mut("/components/schemas") {
        schemas.values_mut().for_each(&mut *f);
    }
    let Some(Value::Object(paths)) = doc.get_mut("paths") else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(Map::values_mut)
    {
        if let Some(Value::Object(content)) = operation.pointer_mut("/requestBody/content") {
            media_schemas(content, f);
        }
        if let Some(Value::Array(parameters)) = operation.get_mut("parameters") {
            parameters
                .iter_mut()
                .filter_map(|p| p.get_mut("schema"))
                .for_each(&mut *f);
        }
        let Some(Value::Object(responses)) = operation.get_mut("responses") else {
            continue;
        };
        for response in responses.values_mut() {
            if let Some(Value::Object(content)) = response.get_mut("content") {
                media_schemas(content, f);
            }
            if let Some(Value::Object(headers)) = response.get_mut("headers") {
                headers
                    .values_mut()
                    .filter_map(|h| h.get_mut("schema"))
                    .for_each(&mut *f);
            }
        }
    }
}

fn media_schemas(content: &mut Map<String, Value>, f: &mut impl FnMut(&mut Value)) {
    content
        .values_mut()
        .filter_map(|media| media.get_mut("schema"))
        .for_each(f);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_schemas_that_accept_anything_get_the_type_list() {
        let mut schema = json!({"type": "object", "properties": {
            "free": {}, "described": {"description": "anything"}, "typed": {"type": "string"},
            "choice": {"oneOf": [{"type": "null"}, {}]}, "ref": {"$ref": "#/x"},
            "list": {"type": "array", "items": {}},
            "map": {"type": "object", "additionalProperties": {}}}});
        typed(&mut schema);
        let p = &schema["properties"];
        assert_eq!(p["free"]["type"], any_type());
        assert_eq!(p["described"]["type"], any_type());
        assert_eq!(p["typed"]["type"], "string");
        assert_eq!(p["choice"]["oneOf"][1]["type"], any_type());
        assert!(p["choice"].get("type").is_none());
        assert!(p["ref"].get("type").is_none());
        assert_eq!(p["list"]["items"]["type"], any_type());
        assert_eq!(p["map"]["additionalProperties"]["type"], any_type());
        assert_eq!(schema["type"], "object");
    }
}
