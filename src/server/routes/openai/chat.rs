//! `POST /v1/chat/completions`: the request read into an engine generation.

use axum::extract::State;
use axum::response::Response;
use serde_json::Value;

use super::chat_reply::{chunks, completion};
use super::{options, Head};
use crate::api::openai::{ChatCompletionRequest, ChatMessage};
use crate::api::Message;
use crate::engine::{self, Grammar, Input, ToolChoice};
use crate::server::json::ok_json;
use crate::server::openai::{OpenAiError, OpenAiJson};
use crate::server::reply::collect;
use crate::server::sse::sse_response;
use crate::server::wire;
use crate::server::AppState;

pub async fn chat_completions(
    State(state): State<AppState>,
    OpenAiJson(req): OpenAiJson<ChatCompletionRequest>,
) -> Result<Response, OpenAiError> {
    let request = generation(&req)?;
    let head = Head::new("chatcmpl", &req.model, request.logprobs.is_some());
    let pieces = state.engine.generate(request).await?;
    if !req.stream {
        return Ok(ok_json(&completion(head, collect(pieces).await?)));
    }
    let usage = req.stream_options.is_some_and(|o| o.include_usage);
    Ok(sse_response(
        chunks(head, pieces, usage),
        state.sse_keep_alive,
    ))
}

/// What the request asks of the engine; every field checked as OpenAI (or Ollama) would.
fn generation(req: &ChatCompletionRequest) -> Result<engine::GenerateRequest, OpenAiError> {
    if req.model.is_empty() {
        return Err(OpenAiError::bad_request("model is required"));
    }
    if req.messages.is_empty() {
        return Err(OpenAiError::bad_request("[] is too short - 'messages'"));
    }
    let format = response_format(req.response_format.as_ref())?;
    if req.top_logprobs.is_some() && req.logprobs != Some(true) {
        return Err(OpenAiError::bad_request(
            "top_logprobs requires logprobs to be true",
        ));
    }
    let logprobs = wire::logprobs(req.logprobs, req.top_logprobs)?;
    let max_tokens = req.max_completion_tokens.or(req.sampling.max_tokens);
    let options = options(&req.sampling, max_tokens)?;
    let mut messages = vec![];
    for m in &req.messages {
        messages.extend(native_messages(m, &req.model)?);
    }
    let effort = req
        .reasoning_effort
        .as_deref()
        .or_else(|| req.reasoning.as_ref()?.get("effort")?.as_str());
    Ok(engine::GenerateRequest {
        options,
        logprobs,
        format,
        think: wire::effort(effort)?,
        tools: req.tools.clone().unwrap_or_default(),
        tool_choice: tool_choice(req.tool_choice.as_ref())?,
        // Forced calls are one call unless asked for several: a small model made to call
        // repeats the call until its budget runs out.
        parallel_tool_calls: req.parallel_tool_calls == Some(true),
        ..engine::GenerateRequest::new(req.model.clone(), Input::Chat(messages))
    })
}

/// `tool_choice`: `auto`, `none`, `required`, or `{"type": "function", "function":
/// {"name": ...}}`. Ollama ignores it; rollama enforces a forced choice with a grammar.
fn tool_choice(choice: Option<&Value>) -> Result<ToolChoice, OpenAiError> {
    match choice {
        None | Some(Value::Null) => Ok(ToolChoice::Auto),
        Some(Value::String(s)) if s == "auto" => Ok(ToolChoice::Auto),
        Some(Value::String(s)) if s == "none" => Ok(ToolChoice::None),
        Some(Value::String(s)) if s == "required" => Ok(ToolChoice::Required),
        Some(v) => match v.pointer("/function/name").and_then(Value::as_str) {
            Some(name) if v.get("type").is_none_or(|t| t == "function") => {
                Ok(ToolChoice::Function(name.to_string()))
            }
            _ => Err(OpenAiError::bad_request(format!(
                "invalid tool_choice: {v}; expected \"auto\", \"none\", \"required\" or {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}"
            ))),
        },
    }
}

/// `response_format`: `text`, `json_object` (Ollama's `format: "json"`) or `json_schema`
/// (its `schema`, always enforced: `strict` changes nothing).
fn response_format(format: Option<&Value>) -> Result<Option<Grammar>, OpenAiError> {
    let Some(format) = format.filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(Grammar::Json)),
        Some("json_schema") => match format.pointer("/json_schema/schema") {
            Some(Value::Object(schema)) => Ok(Some(Grammar::Schema(Value::Object(schema.clone())))),
            None | Some(Value::Null) => Ok(Some(Grammar::Json)),
            Some(other) => Err(OpenAiError::bad_request(format!(
                "invalid response_format.json_schema.schema: {other}; expected a JSON Schema object"
            ))),
        },
        _ => Err(OpenAiError::bad_request(format!(
            "invalid response_format: {format}; expected type \"text\", \"json_object\" or \"json_schema\""
        ))),
    }
}

/// One OpenAI message as native chat messages: a list of parts becomes one message per
/// part, as in Ollama; tool call arguments (JSON strings) become objects; `developer` is
/// `system`.
fn native_messages(m: &ChatMessage, model: &str) -> Result<Vec<Message>, OpenAiError> {
    // OpenAI's newer name for the system prompt; chat templates know only `system`.
    let role = match m.role.to_lowercase() {
        r if r == "developer" => "system".to_string(),
        r => r,
    };
    let tool_calls = match &m.tool_calls {
        Some(calls) => Some(
            calls
                .iter()
                .map(native_tool_call)
                .collect::<Result<_, _>>()?,
        ),
        None => None,
    };
    let base = Message {
        tool_name: m.name.clone().filter(|_| role == "tool"),
        role,
        tool_calls,
        thinking: m.reasoning.clone().or_else(|| m.reasoning_content.clone()),
        tool_call_id: m.tool_call_id.clone(),
        ..Message::default()
    };
    let with = |content: &str| Message {
        content: content.to_string(),
        ..base.clone()
    };
    match &m.content {
        Value::String(s) => Ok(vec![with(s)]),
        Value::Null if m.tool_calls.is_some() => Ok(vec![base.clone()]),
        Value::Array(parts) => parts
            .iter()
            .map(|part| match part.get("type").and_then(Value::as_str) {
                Some("text") => match part.get("text").and_then(Value::as_str) {
                    Some(text) => Ok(with(text)),
                    None => Err(OpenAiError::bad_request(
                        "a text part needs a string 'text'",
                    )),
                },
                Some("image_url" | "input_audio") => Err(OpenAiError::bad_request(format!(
                    "{model} does not support vision or audio input"
                ))),
                _ => Err(OpenAiError::bad_request(format!(
                    "invalid message content part: {part}"
                ))),
            })
            .collect(),
        other => Err(OpenAiError::bad_request(format!(
            "invalid message content: {other}; expected a string or a list of parts"
        ))),
    }
}

fn native_tool_call(call: &Value) -> Result<Value, OpenAiError> {
    let mut call = call.clone();
    if let Some(args) = call.pointer("/function/arguments").and_then(Value::as_str) {
        let parsed: Value = serde_json::from_str(args)
            .map_err(|_| OpenAiError::bad_request("invalid tool call arguments"))?;
        call["function"]["arguments"] = parsed;
    }
    Ok(call)
}
