//! OpenAPI schemas of the fields serde reads as a loose `serde_json::Value`: the forms the
//! handlers accept, written out (`#[schema(schema_with = ...)]`), so that the document served
//! at `/openapi.json` says more than "any value" where Ollama accepts a few shapes. Each
//! includes `null` where the field is an `Option` (null is "not set", as absent).

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;

fn of(ty: Type) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(ty)
}

fn null() -> ObjectBuilder {
    of(Type::Null)
}

fn strings() -> ArrayBuilder {
    ArrayBuilder::new().items(of(Type::String))
}

fn one_of(description: &str, items: impl IntoIterator<Item = RefOr<Schema>>) -> RefOr<Schema> {
    items
        .into_iter()
        .fold(OneOfBuilder::new(), OneOfBuilder::item)
        .description(Some(description))
        .into()
}

/// `keep_alive`: seconds as a number or a Go duration string.
pub fn keep_alive() -> RefOr<Schema> {
    one_of(
        "How long the model stays loaded after this request: seconds (a number; negative: \
         forever; 0: unload now) or a Go duration string such as \"10m\", \"1h30m\", \"-1m\" \
         (a string without a unit is a 400). Null or absent: the server's default.",
        [
            of(Type::Number).into(),
            of(Type::String)
                .examples(["5m", "1h30m", "-1m", "0"])
                .into(),
            null().into(),
        ],
    )
}

/// `think`: a bool or a level.
pub fn think() -> RefOr<Schema> {
    one_of(
        "Thinking: on or off, or a level. Null or absent: the model's default.",
        [
            of(Type::Boolean).into(),
            of(Type::String)
                .enum_values(Some(["low", "medium", "high", "max"]))
                .into(),
            null().into(),
        ],
    )
}

/// `format` of generate and chat.
pub fn format() -> RefOr<Schema> {
    one_of(
        "Structured output: \"json\", or a JSON Schema object the reply must match. \"\" or \
         null: free text. Any other value is Ollama's 500 \"invalid format\".",
        [
            of(Type::String).enum_values(Some(["", "json"])).into(),
            of(Type::Object).description(Some("A JSON Schema.")).into(),
            null().into(),
        ],
    )
}

/// `input` of `/api/embed`.
pub fn embed_input() -> RefOr<Schema> {
    one_of(
        "One text or a list of texts (\"\" and null embed nothing).",
        [of(Type::String).into(), strings().into(), null().into()],
    )
}

/// `input` of `/v1/embeddings`.
pub fn openai_embedding_input() -> RefOr<Schema> {
    one_of(
        "One text or a non-empty list of texts (token arrays are refused).",
        [of(Type::String).into(), strings().min_items(Some(1)).into()],
    )
}

/// `prompt` of `/v1/completions`.
pub fn openai_prompt() -> RefOr<Schema> {
    one_of(
        "The prompt: a string, or a list holding exactly one string (lists of prompts and \
         token arrays are refused).",
        [
            of(Type::String).into(),
            strings().min_items(Some(1)).max_items(Some(1)).into(),
        ],
    )
}

/// `content` of an OpenAI request message.
pub fn openai_content() -> RefOr<Schema> {
    let part = of(Type::Object)
        .property("type", of(Type::String).examples(["text"]))
        .property("text", of(Type::String))
        .required("type")
        .description(Some("A content part; only `text` parts are understood."));
    one_of(
        "A string, a list of content parts, or null (with `tool_calls`).",
        [
            of(Type::String).into(),
            ArrayBuilder::new().items(part).into(),
            null().into(),
        ],
    )
}

/// `stop` of `options`: one stop string or a list of them.
pub fn stop() -> RefOr<Schema> {
    one_of(
        "Stop sequences: a list of strings, or one string (empty strings are dropped).",
        [of(Type::String).into(), strings().into(), null().into()],
    )
}

/// `license` of `/api/create`.
pub fn license() -> RefOr<Schema> {
    one_of(
        "The license text, or a list of texts.",
        [of(Type::String).into(), strings().into(), null().into()],
    )
}

/// `encoding_format` of `/v1/embeddings`.
pub fn encoding_format() -> RefOr<Schema> {
    one_of(
        "`float` (default) or `base64` (little-endian f32 bytes).",
        [
            of(Type::String)
                .enum_values(Some(["float", "base64"]))
                .into(),
            null().into(),
        ],
    )
}

/// `embedding` of a `/v1/embeddings` reply.
pub fn openai_embedding() -> RefOr<Schema> {
    one_of(
        "The vector: a list of floats, or with `encoding_format: base64` the little-endian \
         f32 bytes in base64.",
        [
            ArrayBuilder::new().items(of(Type::Number)).into(),
            of(Type::String).into(),
        ],
    )
}
