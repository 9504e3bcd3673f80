//! Property tests (proptest) of what a hostile or careless client controls:
//!
//! 1. request parsing: arbitrary bytes, arbitrary JSON, and the real request shapes with
//!    fields swapped for values of any type, POSTed to every operation of the OpenAPI
//!    document that takes a body, through the whole app over a fake engine that always
//!    succeeds: never a panic or a hang, never a 5xx but the two Ollama itself answers;
//! 2. chat templates: arbitrary conversations (roles, template-ish contents, tool calls,
//!    tools) through every real template of the fixtures, Jinja and Go: `Ok` or a
//!    `TextError`, never a panic or a hang;
//! 3. smollm2's tokenizer: any text encodes and decodes without a panic, streamed decoding
//!    equals whole decoding, and text without special-token markup whose bytes the
//!    vocabulary can spell comes back byte for byte.
//!
//! Cases per property: 64, or `PROPTEST_CASES`.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{Method, Request};
use axum::Router;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};
use tower::ServiceExt;

use rollama::api::{KeepAlive, ModelDetails};
use rollama::engine::{
    ByteStream, Counters, CreateRequest, DetokenizeRequest, Detokenized, EmbedRequest, Embeddings,
    Engine, EngineError, FinishReason, Finished, GenerateRequest, GenerationMetrics,
    ModelDescription, ModelEntry, ModelInfo, Piece, Pieces, Progress, ProgressStream, RunningModel,
    TokenizeRequest, Tokenized,
};
use rollama::model::Checkpoint;
use rollama::server::{app, AppState};
use rollama::text::{
    ChatTemplate, GoMessage, GoTemplate, GoValues, StreamDecoder, TokenType, Tokenizer,
};

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64);
    Config {
        cases,
        // A failure prints its minimal case; nothing is written into the checkout.
        failure_persistence: None,
        ..Config::default()
    }
}

/// A hang guard, far above any case's real time.
const HANG: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// 1. Request parsing
// ---------------------------------------------------------------------------------------

/// An engine that says yes to everything, so that any 5xx is the server's own.
struct Yes;

fn details() -> ModelDetails {
    ModelDetails {
        format: "gguf".into(),
        family: "llama".into(),
        families: vec!["llama".into()],
        parameter_size: "135M".into(),
        quantization_level: "Q4_1".into(),
        ..ModelDetails::default()
    }
}

fn info() -> ModelInfo {
    ModelInfo {
        name: "tiny:latest".into(),
        modified: SystemTime::UNIX_EPOCH,
        size: 1,
        digest: "ab".repeat(32),
        details: details(),
    }
}

fn ok<T: Send + 'static>(value: T) -> BoxFuture<'static, Result<T, EngineError>> {
    async move { Ok(value) }.boxed()
}

fn success() -> ProgressStream {
    futures::stream::iter([Ok(Progress::status("success"))]).boxed()
}

impl Engine for Yes {
    fn generate(&self, _: GenerateRequest) -> BoxFuture<'_, Result<Pieces, EngineError>> {
        let done = Finished {
            reason: FinishReason::Stop,
            called: false,
            metrics: GenerationMetrics::default(),
            context: vec![1, 2],
            logprobs: vec![],
        };
        let pieces: Pieces = futures::stream::iter([
            Piece::Text {
                text: "hi".into(),
                logprobs: vec![],
            },
            Piece::Done(done),
        ])
        .boxed();
        ok(pieces)
    }

    fn embed(&self, request: EmbedRequest) -> BoxFuture<'_, Result<Embeddings, EngineError>> {
        ok(Embeddings {
            vectors: request.inputs.iter().map(|_| vec![0.5, 0.5]).collect(),
            prompt_tokens: request.inputs.len(),
            load_duration: Duration::ZERO,
            total_duration: Duration::ZERO,
        })
    }

    fn load(&self, _: String, _: Option<KeepAlive>) -> BoxFuture<'_, Result<(), EngineError>> {
        ok(())
    }

    fn unload(&self, _: String) -> BoxFuture<'_, Result<(), EngineError>> {
        ok(())
    }

    fn models(&self) -> BoxFuture<'_, Result<Vec<ModelEntry>, EngineError>> {
        ok(vec![])
    }

    fn model(&self, name: String) -> BoxFuture<'_, Result<ModelEntry, EngineError>> {
        ok(ModelEntry {
            name,
            modified: SystemTime::UNIX_EPOCH,
        })
    }

    fn tags(&self) -> BoxFuture<'_, Result<Vec<ModelInfo>, EngineError>> {
        ok(vec![info()])
    }

    fn describe(
        &self,
        name: String,
        _: bool,
    ) -> BoxFuture<'_, Result<ModelDescription, EngineError>> {
        ok(ModelDescription {
            name,
            location: "/models/tiny.gguf".into(),
            modified: SystemTime::UNIX_EPOCH,
            details: details(),
            model_info: Map::new(),
            template: "{{ .Prompt }}".into(),
            template_layer: false,
            system: String::new(),
            parameters: Map::new(),
            license: vec![],
            messages: vec![],
            capabilities: vec!["completion".into()],
            tensors: None,
        })
    }

    fn running(&self) -> BoxFuture<'_, Result<Vec<RunningModel>, EngineError>> {
        ok(vec![])
    }

    fn counters(&self) -> Counters {
        Counters::default()
    }

    fn create(&self, _: CreateRequest) -> BoxFuture<'_, Result<ProgressStream, EngineError>> {
        ok(success())
    }

    fn pull(&self, _: String, _: bool) -> BoxFuture<'_, Result<ProgressStream, EngineError>> {
        ok(success())
    }

    fn copy(&self, _: String, _: String) -> BoxFuture<'_, Result<(), EngineError>> {
        ok(())
    }

    fn delete(&self, _: String) -> BoxFuture<'_, Result<(), EngineError>> {
        ok(())
    }

    fn has_blob(&self, _: String) -> BoxFuture<'_, Result<bool, EngineError>> {
        ok(false)
    }

    fn tokenize(&self, request: TokenizeRequest) -> BoxFuture<'_, Result<Tokenized, EngineError>> {
        ok(Tokenized {
            tokens: request.content.bytes().map(u32::from).collect(),
            ..Tokenized::default()
        })
    }

    fn detokenize(
        &self,
        request: DetokenizeRequest,
    ) -> BoxFuture<'_, Result<Detokenized, EngineError>> {
        ok(Detokenized {
            content: format!("{} tokens", request.tokens.len()),
            ..Detokenized::default()
        })
    }

    fn put_blob(&self, _: String, body: ByteStream) -> BoxFuture<'_, Result<bool, EngineError>> {
        async move {
            body.for_each(|_| async {}).await;
            Ok(true)
        }
        .boxed()
    }
}

fn router() -> Router {
    app(AppState {
        engine: Arc::new(Yes),
        version: "0.12.6".into(),
        metrics: true,
        sse_keep_alive: Duration::from_secs(15),
        gateway: Default::default(),
    })
}

/// `(method, path)` of every operation the document gives a request body, with path
/// parameters filled in.
fn operations_with_bodies() -> &'static [(Method, String)] {
    static OPS: OnceLock<Vec<(Method, String)>> = OnceLock::new();
    OPS.get_or_init(read_operations)
}

fn read_operations() -> Vec<(Method, String)> {
    let doc = serde_json::to_value(rollama::server::openapi::document()).expect("document");
    let mut out = vec![];
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if op.get("requestBody").is_none() {
                continue;
            }
            let path = path.replace("{digest}", &format!("sha256:{}", "0".repeat(64)));
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            out.push((method, path));
        }
    }
    assert!(out.len() >= 14, "{out:?}");
    out
}

/// What the server may answer with a 5xx when every engine call succeeds: Ollama's own
/// 500 for a `format` that is neither "json" nor a schema, and the 501 of a push
/// (`stream: false`), which rollama does not support.
fn sanctioned(path: &str, status: u16, body: &str) -> bool {
    let error = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_default();
    match (path, status) {
        ("/api/generate" | "/api/chat", 500) => error.starts_with("invalid format: "),
        ("/api/push", 501) => error.contains("not supported"),
        _ => false,
    }
}

struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

fn send(app: &Router, method: &Method, path: &str, body: Vec<u8>) -> Answer {
    let request = Request::builder()
        .method(method.clone())
        .uri(path)
        .body(Body::from(body))
        .expect("request");
    runtime().block_on(async {
        let call = async {
            let response = app.clone().oneshot(request).await.expect("infallible");
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("body");
            Answer {
                status: parts.status.as_u16(),
                content_type: parts
                    .headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string(),
                body: String::from_utf8_lossy(&bytes).into_owned(),
            }
        };
        tokio::time::timeout(HANG, call)
            .await
            .unwrap_or_else(|_| panic!("{method} {path}: no answer within {HANG:?}"))
    })
}

/// The answer is well formed: no unsanctioned 5xx, JSON bodies parse (NDJSON line by
/// line, SSE event by event), and JSON errors carry their message.
fn check(method: &Method, path: &str, body: &[u8], a: &Answer) -> Result<(), TestCaseError> {
    let shown = String::from_utf8_lossy(body);
    prop_assert!(
        a.status < 500 || sanctioned(path, a.status, &a.body),
        "{method} {path} {}: {}\nrequest: {shown}",
        a.status,
        a.body
    );
    let essence = a.content_type.split(';').next().unwrap_or_default();
    let json = |text: &str| serde_json::from_str::<Value>(text).map_err(|e| e.to_string());
    let values: Vec<Result<Value, String>> = match essence {
        "application/json" => vec![json(&a.body)],
        "application/x-ndjson" => a.body.lines().map(json).collect(),
        "text/event-stream" => a
            .body
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(json)
            .collect(),
        _ => vec![],
    };
    for v in &values {
        prop_assert!(
            v.is_ok(),
            "{method} {path}: {v:?} in {}\nrequest: {shown}",
            a.body
        );
    }
    if a.status >= 400 && essence == "application/json" {
        let error = values
            .first()
            .and_then(|v| v.as_ref().ok())
            .map(|v| &v["error"]);
        let message = match error {
            Some(Value::String(s)) => Some(s.as_str()),
            Some(Value::Object(o)) => o.get("message").and_then(Value::as_str),
            _ => None,
        };
        prop_assert!(
            message.is_some_and(|m| !m.is_empty()),
            "{method} {path} {}: error without a message: {}",
            a.status,
            a.body
        );
    }
    Ok(())
}

/// Any JSON value, nested a few levels, with keys that are often real field names.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            ".*",
            "[a-z{}%<>|]{0,12}",
            Just("json".to_string()),
            Just("10m".to_string())
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Every field name of the request types (and of their nested objects), and some noise.
const FIELDS: &[&str] = &[
    "model",
    "name",
    "prompt",
    "suffix",
    "system",
    "template",
    "context",
    "stream",
    "raw",
    "format",
    "images",
    "options",
    "keep_alive",
    "think",
    "truncate",
    "shift",
    "logprobs",
    "top_logprobs",
    "messages",
    "tools",
    "role",
    "content",
    "thinking",
    "tool_calls",
    "tool_name",
    "tool_call_id",
    "input",
    "dimensions",
    "verbose",
    "from",
    "files",
    "adapters",
    "license",
    "parameters",
    "quantize",
    "quantization",
    "insecure",
    "source",
    "destination",
    "stream_options",
    "include_usage",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "seed",
    "stop",
    "n",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "user",
    "response_format",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning_effort",
    "reasoning",
    "reasoning_content",
    "echo",
    "best_of",
    "encoding_format",
    "num_predict",
    "num_ctx",
    "num_keep",
    "repeat_penalty",
    "repeat_last_n",
    "typical_p",
    "num_thread",
    "num_batch",
    "num_gpu",
    "main_gpu",
    "use_mmap",
    "draft_num_predict",
    "function",
    "arguments",
    "type",
    "json_schema",
    "schema",
    "tokens",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(FIELDS).prop_map(str::to_string),
        1 => ".{0,8}",
    ]
}

/// A well-formed request for each route family, the starting point of type confusion.
fn base_request(path: &str) -> Value {
    let options = json!({"num_predict": 4, "temperature": 0, "stop": ["\n"]});
    let messages = json!([{"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi", "images": []},
        {"role": "assistant", "content": "", "tool_calls": [{"function":
            {"name": "f", "arguments": {"x": 1}}}]},
        {"role": "tool", "content": "1", "tool_name": "f"}]);
    let tools = json!([{"type": "function", "function": {"name": "f", "description": "d",
        "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}}}}]);
    match path {
        "/api/generate" => json!({"model": "tiny", "prompt": "Hi", "system": "s",
            "stream": false, "format": "json", "options": options, "keep_alive": "5m",
            "think": false, "logprobs": true, "top_logprobs": 2, "context": [1, 2]}),
        "/api/chat" => json!({"model": "tiny", "messages": messages, "tools": tools,
            "stream": true, "format": {"type": "object"}, "options": options,
            "keep_alive": 300, "think": "low"}),
        "/api/embed" => json!({"model": "tiny", "input": ["a", "b"], "truncate": true,
            "dimensions": 2, "options": options, "keep_alive": 0}),
        "/api/embeddings" => json!({"model": "tiny", "prompt": "a", "options": options}),
        "/api/show" => json!({"model": "tiny", "verbose": true, "system": "s"}),
        "/api/pull" => json!({"model": "tiny", "insecure": false, "stream": false}),
        // Streamed: a push is refused on its second line (`stream: false` is a 501).
        "/api/push" => json!({"model": "tiny", "insecure": false, "stream": true}),
        "/api/create" => json!({"model": "new", "from": "tiny", "system": "s",
            "parameters": {"temperature": 0.5}, "license": ["MIT"], "messages": [],
            "stream": false}),
        "/api/copy" => json!({"source": "tiny", "destination": "tiny2"}),
        "/api/delete" => json!({"model": "tiny2"}),
        "/api/tokenize" => json!({"model": "tiny", "content": "Hi"}),
        "/api/detokenize" => json!({"model": "tiny", "tokens": [1, 2]}),
        "/v1/chat/completions" => json!({"model": "tiny", "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
            "stream": true, "stream_options": {"include_usage": true}, "max_tokens": 4,
            "temperature": 0.5, "stop": "x", "tools": tools, "tool_choice": "auto",
            "response_format": {"type": "json_object"}, "logprobs": true, "top_logprobs": 1}),
        "/v1/completions" => json!({"model": "tiny", "prompt": "Hi", "max_tokens": 4,
            "stream": false, "logprobs": 1, "suffix": "!"}),
        "/v1/embeddings" => json!({"model": "tiny", "input": "a", "encoding_format": "base64"}),
        _ => json!({}),
    }
}

/// Puts `value` at a path of `keys` into `v`, creating objects on the way and descending
/// into arrays' first items: a type confusion anywhere in the request.
fn confuse(v: &mut Value, keys: &[String], value: Value) {
    let Some((first, rest)) = keys.split_first() else {
        *v = value;
        return;
    };
    match v {
        Value::Array(items) if !items.is_empty() => confuse(&mut items[0], keys, value),
        Value::Object(o) => confuse(o.entry(first.clone()).or_insert(Value::Null), rest, value),
        other => {
            *other = json!({});
            confuse(other, keys, value);
        }
    }
}

/// How a case's body is made.
#[derive(Debug, Clone)]
enum Plan {
    Bytes(Vec<u8>),
    Json(Value),
    /// Keys to a field of the route's well-formed request, its new value, and more fields
    /// set at the top level.
    Confused(Vec<String>, Value, Vec<(String, Value)>),
}

impl Plan {
    fn body(self, path: &str) -> Vec<u8> {
        match self {
            Self::Bytes(b) => b,
            Self::Json(v) => v.to_string().into_bytes(),
            Self::Confused(keys, value, more) => {
                let mut v = base_request(path);
                confuse(&mut v, &keys, value);
                for (k, x) in more {
                    confuse(&mut v, &[k], x);
                }
                v.to_string().into_bytes()
            }
        }
    }
}

/// An operation (by index) and how to make its body.
fn cases() -> impl Strategy<Value = (prop::sample::Index, Plan)> {
    let confused = (
        prop::collection::vec(key(), 1..4),
        any_json(),
        prop::collection::vec((key(), any_json()), 0..3),
    );
    let plan = prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..256).prop_map(Plan::Bytes),
        1 => any_json().prop_map(Plan::Json),
        4 => confused.prop_map(|(keys, value, more)| Plan::Confused(keys, value, more)),
    ];
    (any::<prop::sample::Index>(), plan)
}

#[test]
fn the_base_requests_are_accepted() {
    let app = router();
    for (method, path) in operations_with_bodies() {
        if path.starts_with("/api/blobs/") {
            continue;
        }
        let body = base_request(path).to_string().into_bytes();
        let a = send(&app, method, path, body);
        // tokenize/detokenize answer 404 until their route lands.
        assert!(
            a.status == 200 || a.body == "404 page not found",
            "{method} {path}: {} {}",
            a.status,
            a.body
        );
    }
}

#[test]
fn no_request_body_makes_the_server_fail() {
    let app = router();
    let ops = operations_with_bodies();
    // Not vacuous: some cases get through to the engine, some are refused.
    let (accepted, refused) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let mut runner = TestRunner::new(config());
    let result = runner.run(&cases(), |(index, plan)| {
        let (method, path) = index.get(ops);
        let body = plan.body(path);
        let answer = send(&app, method, path, body.clone());
        match answer.status {
            200..=299 => accepted.fetch_add(1, Ordering::Relaxed),
            _ => refused.fetch_add(1, Ordering::Relaxed),
        };
        check(method, path, &body, &answer)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let (accepted, refused) = (accepted.into_inner(), refused.into_inner());
    assert!(
        accepted > 0 && refused > 0,
        "{accepted} accepted, {refused} refused"
    );
}

#[test]
fn the_checks_would_see_a_server_failure() {
    let a = Answer {
        status: 500,
        content_type: "application/json".into(),
        body: r#"{"error":"boom"}"#.into(),
    };
    assert!(check(&Method::POST, "/api/chat", b"{}", &a).is_err());
    let a = Answer {
        status: 400,
        content_type: "application/json".into(),
        body: r#"{"nothing":1}"#.into(),
    };
    assert!(check(&Method::POST, "/api/chat", b"{}", &a).is_err());
    let ollamas = Answer {
        status: 500,
        content_type: "application/json".into(),
        body: r#"{"error":"invalid format: 3; expected \"json\" or a valid JSON Schema object"}"#
            .into(),
    };
    assert!(check(&Method::POST, "/api/chat", b"{}", &ollamas).is_ok());
}

// ---------------------------------------------------------------------------------------
// 2. Chat templates
// ---------------------------------------------------------------------------------------

fn fixtures(dir: &str, ext: &str) -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read template");
            (p.display().to_string(), text)
        })
        .collect();
    out.sort();
    out
}

/// Text that templates and tokenizers treat specially, mixed with anything.
fn tricky_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("{{".to_string()),
        Just("}}".to_string()),
        Just("{%".to_string()),
        Just("%}".to_string()),
        Just("{#".to_string()),
        Just("<|im_end|>".to_string()),
        Just("<|im_start|>".to_string()),
        Just("</s>".to_string()),
        Just("<tool_call>".to_string()),
        Just("[INST]".to_string()),
        Just("\n".to_string()),
        Just("\\".to_string()),
        Just("\"".to_string()),
        ".{0,6}",
    ];
    prop::collection::vec(piece, 0..6).prop_map(|p| p.concat())
}

#[derive(Debug, Clone)]
struct Turn {
    role: String,
    content: String,
    call: Option<(String, Value)>,
}

fn turns() -> impl Strategy<Value = Vec<Turn>> {
    let role = prop_oneof![
        3 => prop::sample::select(vec!["system", "user", "assistant", "tool"])
            .prop_map(str::to_string),
        1 => ".{0,6}",
    ];
    let call = prop::option::weighted(0.2, ("[a-z_]{1,8}", any_json()));
    prop::collection::vec(
        (role, tricky_text(), call).prop_map(|(role, content, call)| Turn {
            role,
            content,
            call,
        }),
        0..6,
    )
}

fn tools() -> impl Strategy<Value = Option<Vec<Value>>> {
    prop::option::weighted(
        0.3,
        prop::collection::vec(
            ("[a-z_]{1,8}", tricky_text(), any_json()).prop_map(|(name, description, params)| {
                json!({"type": "function", "function": {"name": name,
                    "description": description, "parameters": params}})
            }),
            0..3,
        ),
    )
}

/// Runs `f` on another thread: a hang becomes this test's failure, not CI's timeout.
fn guarded<T: Send + 'static>(what: String, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(HANG)
        .unwrap_or_else(|_| panic!("{what}: no result within {HANG:?} (a hang or a panic)"))
}

#[test]
fn chat_templates_render_any_conversation_or_refuse_it() {
    let jinja: Arc<Vec<(String, ChatTemplate)>> = Arc::new({
        let mut all: Vec<(String, ChatTemplate)> = fixtures("templates", "jinja")
            .into_iter()
            .map(|(name, src)| {
                let t = ChatTemplate::new(&src, "<s>", "</s>")
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                (name, t)
            })
            .collect();
        let gemma = ChatTemplate::builtin("gemma3").expect("gemma3 builtin");
        all.push((
            "builtin gemma3".into(),
            ChatTemplate::new(gemma, "<bos>", "<eos>").expect("compile gemma3"),
        ));
        all
    });
    let go: Arc<Vec<(String, GoTemplate)>> = Arc::new(
        fixtures("gotemplates", "gotmpl")
            .into_iter()
            .map(|(name, src)| {
                let t = GoTemplate::parse(&src).unwrap_or_else(|e| panic!("{name}: {e}"));
                (name, t)
            })
            .collect(),
    );
    assert!(
        jinja.len() >= 10 && go.len() >= 20,
        "{} {}",
        jinja.len(),
        go.len()
    );

    let mut runner = TestRunner::new(config());
    let result = runner.run(
        &(turns(), tools(), any::<bool>(), any::<bool>()),
        |(turns, tools, add_generation_prompt, think)| {
            let (jinja, go) = (Arc::clone(&jinja), Arc::clone(&go));
            let shown = format!("{turns:?} tools={tools:?}");
            let rendered = guarded(shown.clone(), move || {
                render_everywhere(&jinja, &go, &turns, tools, add_generation_prompt, think)
            });
            prop_assert!(rendered > 0, "no template rendered anything: {shown}");
            Ok(())
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Renders the conversation through every template; returns how many rendered (the others
/// refused it with a `TextError`, which is allowed).
fn render_everywhere(
    jinja: &[(String, ChatTemplate)],
    go: &[(String, GoTemplate)],
    turns: &[Turn],
    tools: Option<Vec<Value>>,
    add_generation_prompt: bool,
    think: bool,
) -> usize {
    let messages: Vec<Value> = turns
        .iter()
        .map(|t| {
            let mut m = json!({"role": t.role, "content": t.content});
            if let Some((name, args)) = &t.call {
                m["tool_calls"] = json!([{"type": "function",
                    "function": {"name": name, "arguments": args}}]);
            }
            m
        })
        .collect();
    let messages = Value::Array(messages);
    let tools_value = tools.clone().map(Value::Array);
    let mut rendered = 0;
    for (_, t) in jinja {
        if t.render(&messages, tools_value.as_ref(), add_generation_prompt)
            .is_ok()
        {
            rendered += 1;
        }
    }
    let values = GoValues {
        messages: turns
            .iter()
            .map(|t| GoMessage {
                role: t.role.clone(),
                content: t.content.clone(),
                tool_calls: t
                    .call
                    .iter()
                    .map(|(name, args)| json!({"function": {"name": name, "arguments": args}}))
                    .collect(),
                ..GoMessage::default()
            })
            .collect(),
        tools: tools.unwrap_or_default(),
        think,
        ..GoValues::default()
    };
    for (_, t) in go {
        if t.render(&values).is_ok() {
            rendered += 1;
        }
    }
    rendered
}

// ---------------------------------------------------------------------------------------
// 3. smollm2's tokenizer
// ---------------------------------------------------------------------------------------

fn smollm2() -> &'static Tokenizer {
    static TOK: OnceLock<Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| {
        let file = Checkpoint::open(&common::model_path("smollm2")).expect("open gguf");
        Tokenizer::from_gguf(file.metadata()).expect("tokenizer from gguf")
    })
}

/// The texts of smollm2's special tokens (control and user-defined ones), which encode as
/// those tokens and do not decode back.
fn special_texts() -> &'static [String] {
    static TEXTS: OnceLock<Vec<String>> = OnceLock::new();
    TEXTS.get_or_init(|| {
        let tok = smollm2();
        (0..tok.vocab_size() as u32)
            .filter(|&id| {
                matches!(
                    tok.token_type(id),
                    TokenType::Control | TokenType::UserDefined
                )
            })
            .filter_map(|id| tok.token_text(id).map(str::to_string))
            .filter(|t| !t.is_empty())
            .collect()
    })
}

/// The bytes smollm2's vocabulary has a token for (its byte-level symbol, GPT-2's
/// reversible byte → char table). A byte without one cannot be encoded at all: llama.cpp
/// drops it too (`llm_tokenizer_bpe_session`), so text holding one cannot come back.
fn encodable_bytes() -> &'static [bool; 256] {
    static BYTES: OnceLock<[bool; 256]> = OnceLock::new();
    BYTES.get_or_init(|| {
        let tok = smollm2();
        let mut out = [false; 256];
        let mut extra = 0u32;
        for b in 0..=255u8 {
            let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
            let c = match printable {
                true => char::from(b),
                false => {
                    extra += 1;
                    char::from_u32(256 + extra - 1).unwrap_or(char::REPLACEMENT_CHARACTER)
                }
            };
            out[b as usize] = tok.token_id(&c.to_string()).is_some();
        }
        out
    })
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        ".{0,40}",
        tricky_text(),
        "[ \\t\\n\\r]{0,6}[a-zA-Z0-9 ]{0,20}[\\u{80}-\\u{10FFFF}]{0,6}",
    ]
}

#[test]
fn the_tokenizer_round_trips_any_plain_text() {
    let tok = smollm2();
    let specials = special_texts();
    assert!(specials.iter().any(|s| s == "<|im_end|>"), "{specials:?}");
    let encodable = encodable_bytes();
    // Printable ASCII and the usual whitespace all have one; some control bytes do not
    // (0x04, 0x06, 0x13, ...: never seen in training).
    let usual = (0x20..0x7F).chain([b'\t', b'\n', b'\r']);
    assert!(
        usual.clone().all(|b| encodable[b as usize]),
        "{:?}",
        usual
            .filter(|&b| !encodable[b as usize])
            .collect::<Vec<_>>()
    );
    let mut runner = TestRunner::new(config());
    let result = runner.run(&any_text(), |text| {
        let ids = tok.encode(&text, false);
        prop_assert!(ids.is_ok(), "{text:?}: {ids:?}");
        let ids = ids.unwrap_or_default();
        let whole = tok.decode(&ids);
        prop_assert!(whole.is_ok(), "{text:?} {ids:?}: {whole:?}");
        let whole = whole.unwrap_or_default();
        let mut stream = StreamDecoder::new();
        let mut streamed = String::new();
        for &id in &ids {
            let delta = stream.push(tok, id);
            prop_assert!(delta.is_ok(), "{text:?} {id}: {delta:?}");
            streamed.push_str(&delta.unwrap_or_default());
        }
        streamed.push_str(&stream.flush());
        prop_assert_eq!(&streamed, &whole, "stream vs whole decode of {:?}", ids);
        let plain = !specials.iter().any(|s| text.contains(s.as_str()));
        if plain && text.bytes().all(|b| encodable[b as usize]) {
            prop_assert_eq!(&whole, &text, "{:?}", ids);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn the_tokenizer_decodes_any_ids_without_panicking() {
    let tok = smollm2();
    let vocab = tok.vocab_size() as u32;
    let mut runner = TestRunner::new(config());
    let ids = prop::collection::vec(
        prop_oneof![4 => 0..vocab, 1 => vocab..vocab + 1000, 1 => any::<u32>()],
        0..32,
    );
    let result = runner.run(&ids, |ids| {
        let decoded = tok.decode(&ids);
        let in_range = ids.iter().all(|&id| id < vocab);
        prop_assert!(decoded.is_ok() || !in_range, "{ids:?}: {decoded:?}");
        let mut stream = StreamDecoder::new();
        for &id in &ids {
            let _ = stream.push(tok, id);
        }
        let _ = stream.flush();
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
