//! `POST /v1/chat/completions`.

use std::time::Instant;

use axum::extract::State;
use axum::response::Response;
use futures::{stream, Stream, StreamExt};
use serde_json::{json, Value};

use super::{error_event, options, usage, Head};
use crate::api::openai::{
    Beyond, ChatChoice, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChatMessage,
    ChoiceLogprobs, ChunkChoice, Delta, ResponseMessage, Usage,
};
use crate::engine::Grammar;
use crate::server::generation::{collect, logprobs, run, wire_logprobs, Input, Piece, Run};
use crate::server::json::ok_json;
use crate::server::openai::{OpenAiError, OpenAiJson};
use crate::server::output::{Think, ToolCall, ToolChoice};
use crate::server::sse::{sse_response, SseItem};
use crate::server::AppState;

pub async fn chat_completions(
    State(state): State<AppState>,
    OpenAiJson(req): OpenAiJson<ChatCompletionRequest>,
) -> Result<Response, OpenAiError> {
    let started = Instant::now();
    if req.model.is_empty() {
        return Err(OpenAiError::bad_request("model is required"));
    }
    if req.messages.is_empty() {
        return Err(OpenAiError::bad_request("[] is too short - 'messages'"));
    }
    let grammar = response_format(req.response_format.as_ref())?;
    if req.top_logprobs.is_some() && req.logprobs != Some(true) {
        return Err(OpenAiError::bad_request(
            "top_logprobs requires logprobs to be true",
        ));
    }
    let top_logprobs = logprobs(req.logprobs, req.top_logprobs)?;
    let max_tokens = req.max_completion_tokens.or(req.sampling.max_tokens);
    let options = options(&req.sampling, max_tokens)?;
    let messages = req
        .messages
        .iter()
        .map(|m| native_messages(m, &req.model))
        .collect::<Result<Vec<_>, _>>()?
        .concat();

    let effort = req.reasoning_effort.clone().or_else(|| {
        req.reasoning
            .as_ref()?
            .get("effort")?
            .as_str()
            .map(String::from)
    });
    let think = Think::from_effort(effort.as_deref())?;
    let tool_choice = tool_choice(req.tool_choice.as_ref())?;
    let lease = state.registry.acquire(&req.model, None).await?;
    lease.model.decoder("chat", &req.model)?;
    let job = Run {
        logprobs: top_logprobs,
        grammar,
        think,
        tools: req.tools.clone().unwrap_or_default(),
        tool_choice,
        // Forced calls are one call unless asked for several: a small model made to call
        // repeats the call until its budget runs out.
        parallel_tool_calls: req.parallel_tool_calls == Some(true),
        ..Run::new(&req.model, Input::Chat(messages), Some(&options))
    };
    let pieces = run(&state, lease, job, started).await?;
    let head = Head::new("chatcmpl", &req.model, top_logprobs.is_some());
    if !req.stream {
        let all = collect(pieces).await?;
        let reply = ChatCompletion {
            id: head.id,
            object: "chat.completion".into(),
            created: head.created,
            model: head.model,
            system_fingerprint: "fp_ollama".into(),
            choices: vec![ChatChoice {
                index: 0,
                message: ResponseMessage {
                    role: "assistant".into(),
                    content: all.text,
                    extra: Beyond {
                        tool_calls: openai_calls(&all.calls),
                        ..Beyond::reasoning(all.thinking)
                    },
                },
                logprobs: wire_logprobs(head.logprobs, &all.logprobs)
                    .map(|content| ChoiceLogprobs { content }),
                finish_reason: finish_reason(all.reason, !all.calls.is_empty()).into(),
            }],
            usage: usage(&all.metrics, &all.context),
        };
        return Ok(ok_json(&reply));
    }
    let usage = req.stream_options.is_some_and(|o| o.include_usage);
    Ok(sse_response(
        chunks(head, pieces, usage),
        state.sse_keep_alive,
    ))
}

impl Head {
    fn chunk(&self, choices: Vec<ChunkChoice>, usage: Option<Usage>) -> SseItem {
        SseItem::json(&ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.model.clone(),
            system_fingerprint: "fp_ollama".into(),
            choices,
            usage,
        })
    }

    fn delta(
        &self,
        delta: Delta,
        logprobs: Option<ChoiceLogprobs>,
        finish: Option<&str>,
    ) -> SseItem {
        let choice = ChunkChoice {
            index: 0,
            delta,
            logprobs,
            finish_reason: finish.map(str::to_string),
        };
        self.chunk(vec![choice], None)
    }

    fn logprobs(&self, lps: &[crate::engine::TokenLogprob]) -> Option<ChoiceLogprobs> {
        wire_logprobs(self.logprobs, lps).map(|content| ChoiceLogprobs { content })
    }
}

/// The role chunk at once, a content delta per piece, then the finish chunk, the usage
/// chunk when asked, and `[DONE]`. An error ends the stream with an error event, no `[DONE]`.
fn chunks(
    head: Head,
    pieces: impl Stream<Item = Piece> + Send + 'static,
    include_usage: bool,
) -> impl Stream<Item = SseItem> + Send + 'static {
    let role = Delta {
        role: Some("assistant".into()),
        content: Some(String::new()),
        ..Delta::default()
    };
    let first = head.delta(role, None, None);
    let rest = pieces.flat_map(move |piece| {
        let items = match piece {
            Piece::Text { text, logprobs } => {
                let delta = Delta {
                    content: Some(text),
                    ..Delta::default()
                };
                vec![head.delta(delta, head.logprobs(&logprobs), None)]
            }
            Piece::Thinking { text, logprobs } => {
                let delta = Delta {
                    extra: Beyond::reasoning(text),
                    ..Delta::default()
                };
                vec![head.delta(delta, head.logprobs(&logprobs), None)]
            }
            Piece::Calls { calls, logprobs } => {
                let delta = Delta {
                    content: Some(String::new()),
                    extra: Beyond {
                        tool_calls: openai_calls(&calls),
                        ..Beyond::default()
                    },
                    ..Delta::default()
                };
                vec![head.delta(delta, head.logprobs(&logprobs), None)]
            }
            Piece::Done {
                reason,
                called,
                metrics,
                context,
                logprobs,
            } => {
                let mut items = vec![];
                if !logprobs.is_empty() && head.logprobs {
                    let delta = Delta {
                        content: Some(String::new()),
                        ..Delta::default()
                    };
                    items.push(head.delta(delta, head.logprobs(&logprobs), None));
                }
                let reason = finish_reason(reason, called);
                items.push(head.delta(Delta::default(), None, Some(reason)));
                if include_usage {
                    items.push(head.chunk(vec![], Some(usage(&metrics, &context))));
                }
                items.push(SseItem::Done);
                items
            }
            Piece::Error(e) => vec![error_event(e)],
        };
        stream::iter(items)
    });
    stream::once(async move { first }).chain(rest)
}

/// A reply that called tools and stopped on its own ends with `tool_calls`, as in OpenAI.
fn finish_reason(reason: &'static str, called: bool) -> &'static str {
    if called && reason == "stop" {
        "tool_calls"
    } else {
        reason
    }
}

/// Calls in OpenAI's shape; `None` when there are none.
fn openai_calls(calls: &[ToolCall]) -> Option<Vec<Value>> {
    (!calls.is_empty()).then(|| calls.iter().map(ToolCall::openai).collect())
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
fn native_messages(m: &ChatMessage, model: &str) -> Result<Vec<Value>, OpenAiError> {
    // OpenAI's newer name for the system prompt; chat templates know only `system`.
    let role = match m.role.to_lowercase() {
        r if r == "developer" => "system".to_string(),
        r => r,
    };
    let mut base = json!({ "role": role, "content": "" });
    if let Some(calls) = &m.tool_calls {
        let calls = calls
            .iter()
            .map(native_tool_call)
            .collect::<Result<Vec<_>, _>>()?;
        base["tool_calls"] = Value::Array(calls);
    }
    if let Some(thinking) = m.reasoning.as_ref().or(m.reasoning_content.as_ref()) {
        base["thinking"] = json!(thinking);
    }
    if let Some(id) = &m.tool_call_id {
        base["tool_call_id"] = json!(id);
    }
    if role == "tool" {
        if let Some(name) = &m.name {
            base["tool_name"] = json!(name);
        }
    }
    let with = |content: &str| {
        let mut msg = base.clone();
        msg["content"] = json!(content);
        msg
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
