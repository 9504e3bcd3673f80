//! Every route against a scripted fake engine: what each handler asks the engine, and how
//! it frames what comes back (whole replies, NDJSON and SSE streams, errors before and
//! after the first byte). No weights, no socket: milliseconds.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use serde_json::{json, Map, Value};
use tower::ServiceExt;

use rollama::api::{KeepAlive, ModelDetails};
use rollama::engine::{
    Counters, EmbedRequest, Embeddings, Engine, EngineError, Failure, FinishReason, Finished,
    GenerateRequest, GenerationMetrics, Grammar, Input, ModelDescription, ModelEntry, ModelInfo,
    Piece, Pieces, RunningModel, StatsSnapshot, TensorInfo, Think, TokenLogprob, TokenProb,
    ToolCall, ToolChoice,
};
use rollama::model::ModelError;
use rollama::server::{app, AppState};

/// What the fake was asked.
#[derive(Default)]
struct Seen {
    generate: Vec<GenerateRequest>,
    embed: Vec<EmbedRequest>,
    load: Vec<(String, Option<KeepAlive>)>,
    unload: Vec<String>,
}

/// Answers by model name: `missing` is not in the store, `busy` has a full queue, `broken`
/// fails to load (with a path in its error), `failing` fails midway, `caller` calls a
/// tool; anything else thinks, then says "Hello world".
#[derive(Default)]
struct Fake {
    seen: Mutex<Seen>,
}

fn refused(model: &str) -> Option<EngineError> {
    match model {
        "missing" => Some(EngineError::NotFound(format!("model '{model}' not found"))),
        "busy" => Some(EngineError::Busy),
        "broken" => Some(EngineError::Load {
            model: "broken:latest".into(),
            cause: Box::new(EngineError::Model(ModelError::Io(
                "/secret/models/broken.gguf".into(),
                std::io::Error::other("disk on fire"),
            ))),
        }),
        _ => None,
    }
}

fn logprob(text: &str) -> TokenLogprob {
    let prob = |t: &str, lp| TokenProb {
        text: t.into(),
        bytes: t.as_bytes().to_vec(),
        logprob: lp,
    };
    TokenLogprob {
        token: prob(text, -0.5),
        top: vec![prob(text, -0.5), prob("x", -2.0)],
    }
}

fn finished(reason: FinishReason, called: bool) -> Finished {
    Finished {
        reason,
        called,
        metrics: GenerationMetrics {
            total_duration: Duration::from_millis(30),
            load_duration: Duration::from_millis(5),
            prompt_eval_count: 7,
            prompt_eval_duration: Duration::from_millis(10),
            eval_count: 3,
            eval_duration: Duration::from_millis(15),
            prompt_tokens: 9,
        },
        context: vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
        logprobs: vec![],
    }
}

fn script(req: &GenerateRequest) -> Vec<Piece> {
    let lps = |t: &str| match req.logprobs {
        Some(_) => vec![logprob(t)],
        None => vec![],
    };
    let text = |t: &str| Piece::Text {
        text: t.into(),
        logprobs: lps(t),
    };
    match req.model.as_str() {
        "failing" => vec![text("partial"), Piece::Error(Failure::internal("boom"))],
        "refusing" => vec![
            text("{"),
            Piece::Error(Failure::by_request("the format could not be enforced")),
        ],
        "caller" => vec![
            Piece::Calls {
                calls: vec![ToolCall {
                    id: "call_abc12345".into(),
                    index: 0,
                    name: "get_weather".into(),
                    arguments: json!({"city": "Oslo"}),
                }],
                logprobs: vec![],
            },
            Piece::Done(finished(FinishReason::Stop, true)),
        ],
        _ => vec![
            Piece::Thinking {
                text: "hmm".into(),
                logprobs: lps("hmm"),
            },
            text("Hello"),
            text(" world"),
            Piece::Done(finished(FinishReason::Stop, false)),
        ],
    }
}

fn details() -> ModelDetails {
    ModelDetails {
        parent_model: String::new(),
        format: "gguf".into(),
        family: "llama".into(),
        families: vec!["llama".into()],
        parameter_size: "135M".into(),
        quantization_level: "Q4_1".into(),
    }
}

fn info() -> ModelInfo {
    ModelInfo {
        name: "tiny:latest".into(),
        modified: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        size: 1234,
        digest: "ab".repeat(32),
        details: details(),
    }
}

impl Engine for Fake {
    fn generate(&self, request: GenerateRequest) -> BoxFuture<'_, Result<Pieces, EngineError>> {
        let pieces = script(&request);
        let refusal = refused(&request.model);
        self.seen.lock().expect("lock").generate.push(request);
        async move {
            match refusal {
                Some(e) => Err(e),
                None => Ok(futures::stream::iter(pieces).boxed()),
            }
        }
        .boxed()
    }

    fn embed(&self, request: EmbedRequest) -> BoxFuture<'_, Result<Embeddings, EngineError>> {
        let refusal = refused(&request.model).map(|e| match e {
            EngineError::NotFound(_) => EngineError::NotFound(format!(
                "model \"{}\" not found, try pulling it first",
                request.model
            )),
            e => e,
        });
        let n = request.inputs.len();
        self.seen.lock().expect("lock").embed.push(request);
        async move {
            match refusal {
                Some(e) => Err(e),
                None => Ok(Embeddings {
                    vectors: (0..n).map(|i| vec![i as f32, 0.5]).collect(),
                    prompt_tokens: 4 * n,
                    load_duration: Duration::from_millis(1),
                    total_duration: Duration::from_millis(2),
                }),
            }
        }
        .boxed()
    }

    fn load(
        &self,
        model: String,
        keep_alive: Option<KeepAlive>,
    ) -> BoxFuture<'_, Result<(), EngineError>> {
        let refusal = refused(&model);
        self.seen
            .lock()
            .expect("lock")
            .load
            .push((model, keep_alive));
        async move { refusal.map_or(Ok(()), Err) }.boxed()
    }

    fn unload(&self, model: String) -> BoxFuture<'_, Result<(), EngineError>> {
        let refusal = refused(&model);
        self.seen.lock().expect("lock").unload.push(model);
        async move { refusal.map_or(Ok(()), Err) }.boxed()
    }

    fn models(&self) -> BoxFuture<'_, Result<Vec<ModelEntry>, EngineError>> {
        let i = info();
        async move {
            Ok(vec![ModelEntry {
                name: i.name,
                modified: i.modified,
            }])
        }
        .boxed()
    }

    fn model(&self, name: String) -> BoxFuture<'_, Result<ModelEntry, EngineError>> {
        async move {
            refused(&name).map_or(Ok(()), Err)?;
            Ok(ModelEntry {
                name: info().name,
                modified: info().modified,
            })
        }
        .boxed()
    }

    fn tags(&self) -> BoxFuture<'_, Result<Vec<ModelInfo>, EngineError>> {
        async { Ok(vec![info()]) }.boxed()
    }

    fn describe(
        &self,
        model: String,
        verbose: bool,
    ) -> BoxFuture<'_, Result<ModelDescription, EngineError>> {
        async move {
            refused(&model).map_or(Ok(()), Err)?;
            let mut model_info = Map::new();
            model_info.insert("general.architecture".into(), json!("llama"));
            Ok(ModelDescription {
                name: "tiny:latest".into(),
                location: "/models/tiny.gguf".into(),
                modified: info().modified,
                details: details(),
                model_info,
                template: "{{ messages }}".into(),
                template_layer: true,
                system: "Be brief.".into(),
                parameters: json!({"stop": ["<|im_end|>"], "temperature": 0.5})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                license: vec!["MIT".into()],
                messages: vec![],
                capabilities: vec!["completion".into(), "tools".into()],
                tensors: verbose.then(|| {
                    vec![TensorInfo {
                        name: "output.weight".into(),
                        kind: "Q4_1".into(),
                        shape: vec![576, 49152],
                    }]
                }),
            })
        }
        .boxed()
    }

    fn running(&self) -> BoxFuture<'_, Result<Vec<RunningModel>, EngineError>> {
        async {
            Ok(vec![RunningModel {
                info: info(),
                expires_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
                size: 2000,
                size_vram: 0,
                context_length: 2048,
            }])
        }
        .boxed()
    }

    fn counters(&self) -> Counters {
        Counters {
            models: vec![(
                "tiny:latest".into(),
                StatsSnapshot {
                    preparing: 1,
                    waiting: 2,
                    running: 3,
                    ..StatsSnapshot::default()
                },
            )],
            grammar_tokens: 10,
            grammar_masks: 1,
            ..Counters::default()
        }
    }
}

fn router(fake: &Arc<Fake>) -> Router {
    app(AppState {
        engine: Arc::clone(fake) as Arc<dyn Engine>,
        version: "0.12.6".into(),
        metrics: true,
        sse_keep_alive: Duration::from_secs(15),
        gateway: Default::default(),
    })
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn lines(&self) -> Vec<Value> {
        assert!(self.body.ends_with('\n'), "{}", self.body);
        self.body
            .lines()
            .map(|l| serde_json::from_str(l).expect("NDJSON line"))
            .collect()
    }

    /// The `data:` payloads of an SSE body, in order.
    fn events(&self) -> Vec<String> {
        self.body
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .map(str::to_string)
            .collect()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

async fn call(app: &Router, method: Method, path: &str, body: Option<Value>) -> Reply {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(match body {
            Some(b) => Body::from(b.to_string()),
            None => Body::empty(),
        })
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("body");
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(bytes.to_vec()).expect("utf-8"),
    }
}

async fn post(app: &Router, path: &str, body: Value) -> Reply {
    call(app, Method::POST, path, Some(body)).await
}

#[tokio::test]
async fn generate_whole_and_streamed() {
    let fake = Arc::new(Fake::default());
    let app = router(&fake);
    let r = post(
        &app,
        "/api/generate",
        json!({"model": "tiny", "prompt": "Hi", "stream": false, "system": "Be brief.",
            "format": "json", "think": "high", "keep_alive": "10m", "truncate": false,
            "options": {"temperature": 0.2, "num_predict": 9, "mirostat": 1}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["response"], "Hello world");
    assert_eq!(v["thinking"], "hmm");
    assert_eq!(
        (v["done"].clone(), v["done_reason"].clone()),
        (json!(true), json!("stop"))
    );
    assert_eq!(v["context"].as_array().map(Vec::len), Some(12));
    assert_eq!(v["eval_count"], 3);
    assert_eq!(v["prompt_eval_duration"], 10_000_000);
    assert!(v.get("logprobs").is_none());
    {
        let seen = fake.seen.lock().expect("lock");
        let req = &seen.generate[0];
        assert_eq!(req.model, "tiny");
        let Input::Prompt(p) = &req.input else {
            panic!("a prompt")
        };
        assert_eq!(
            (p.prompt.as_str(), p.system.as_deref()),
            ("Hi", Some("Be brief."))
        );
        assert_eq!(req.options.temperature, Some(0.2));
        assert_eq!(req.options.num_predict, Some(9));
        assert_eq!(req.format, Some(Grammar::Json));
        assert_eq!(req.think, Think::On(Some("high")));
        assert_eq!(
            req.keep_alive,
            Some(KeepAlive::For(Duration::from_secs(600)))
        );
        assert!(!req.truncate && req.shift);
    }

    let r = post(
        &app,
        "/api/generate",
        json!({"model": "tiny", "prompt": "Hi", "logprobs": true, "top_logprobs": 1}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "application/x-ndjson");
    let lines = r.lines();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[0]["thinking"], "hmm");
    assert_eq!(lines[1]["response"], "Hello");
    assert_eq!(lines[1]["logprobs"][0]["token"], "Hello");
    assert_eq!(lines[1]["logprobs"][0]["top_logprobs"][1]["token"], "x");
    assert!(lines[..3].iter().all(|l| l["done"] == false));
    let last = &lines[3];
    assert_eq!(
        (last["done"].clone(), last["done_reason"].clone()),
        (json!(true), json!("stop"))
    );
    assert_eq!(last["total_duration"], 30_000_000);
    assert!(last.get("logprobs").is_none(), "nothing held back: {last}");
    assert_eq!(
        fake.seen.lock().expect("lock").generate[1].logprobs,
        Some(1)
    );
}

#[tokio::test]
async fn generate_errors_before_and_after_the_first_byte() {
    let fake = Arc::new(Fake::default());
    let app = router(&fake);
    let cases = [
        (
            json!({"model": "", "prompt": "x"}),
            404,
            "model '' not found",
        ),
        (
            json!({"model": "missing", "prompt": "x"}),
            404,
            "model 'missing' not found",
        ),
        (
            json!({"model": "busy", "prompt": "x"}),
            503,
            "server busy, please try again.  maximum pending requests exceeded",
        ),
        (
            json!({"model": "tiny", "prompt": "x", "raw": true, "system": "s"}),
            400,
            "raw mode does not support template, system, or context",
        ),
        (
            json!({"model": "tiny", "prompt": "x", "keep_alive": "10"}),
            400,
            "time: missing unit in duration \"10\"",
        ),
        (
            json!({"model": "tiny", "prompt": "x", "images": ["aGk="]}),
            400,
            "tiny does not support vision",
        ),
        (
            json!({"model": "tiny", "prompt": "x", "top_logprobs": 21}),
            400,
            "top_logprobs must be between 0 and 20",
        ),
    ];
    for (body, status, message) in cases {
        let r = post(&app, "/api/generate", body.clone()).await;
        assert_eq!(
            (r.status.as_u16(), r.json()),
            (status, json!({"error": message})),
            "{body}"
        );
    }
    let r = post(
        &app,
        "/api/generate",
        json!({"model": "tiny", "prompt": "x", "format": 5}),
    )
    .await;
    assert_eq!(r.status, 500);
    assert!(r.json()["error"]
        .as_str()
        .expect("text")
        .starts_with("invalid format"));
    let r = post(
        &app,
        "/api/generate",
        json!({"model": "tiny", "think": "lots"}),
    )
    .await;
    assert_eq!(r.status, 400);

    // An internal failure: what failed and the request id, never the path.
    let r = post(
        &app,
        "/api/generate",
        json!({"model": "broken", "prompt": "x"}),
    )
    .await;
    assert_eq!(r.status, 500);
    let id = r.header("x-request-id").to_string();
    assert_eq!(id.len(), 16, "a fresh id");
    assert_eq!(
        r.json(),
        json!({"error": format!("failed to load model broken:latest: cannot read the model file (request {id})")})
    );
    assert!(!r.body.contains("/secret"), "{}", r.body);
    // A caller's own id is used and sent back.
    let request = Request::post("/api/generate")
        .header("x-request-id", "gateway-7")
        .body(Body::from(
            json!({"model": "broken", "prompt": "x"}).to_string(),
        ))
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.headers()["x-request-id"], "gateway-7");

    // After the first byte: the last NDJSON line is the error; no done line.
    let r = post(
        &app,
        "/api/generate",
        json!({"model": "failing", "prompt": "x"}),
    )
    .await;
    assert_eq!(r.status, 200);
    let lines = r.lines();
    assert_eq!(lines[0]["response"], "partial");
    assert_eq!(lines.last(), Some(&json!({"error": "boom"})));
    // Not streamed: the error is the status.
    let r = post(
        &app,
        "/api/generate",
        json!({"model": "failing", "prompt": "x", "stream": false}),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.json()),
        (500, json!({"error": "boom"}))
    );
}

#[tokio::test]
async fn an_empty_prompt_or_chat_loads_or_unloads() {
    let fake = Arc::new(Fake::default());
    let app = router(&fake);
    let r = post(
        &app,
        "/api/generate",
        json!({"model": "tiny", "keep_alive": -1}),
    )
    .await;
    assert_eq!(
        (r.json()["done"].clone(), r.json()["done_reason"].clone()),
        (json!(true), json!("load"))
    );
    let r = post(
        &app,
        "/api/chat",
        json!({"model": "tiny", "messages": [], "keep_alive": 0}),
    )
    .await;
    assert_eq!(r.json()["done_reason"], "unload");
    assert_eq!(
        r.json()["message"],
        json!({"role": "assistant", "content": ""})
    );
    let r = post(&app, "/api/generate", json!({"model": "missing"})).await;
    assert_eq!(r.status, 404);
    let seen = fake.seen.lock().expect("lock");
    assert_eq!(seen.load[0], ("tiny".to_string(), Some(KeepAlive::Forever)));
    assert_eq!(seen.unload, ["tiny"]);
    assert!(seen.generate.is_empty(), "nothing was generated");
}

#[tokio::test]
async fn chat_whole_streamed_and_with_calls() {
    let fake = Arc::new(Fake::default());
    let app = router(&fake);
    let tools = json!([{"type": "function", "function": {"name": "get_weather"}}]);
    let messages = json!([{"role": "SYSTEM", "content": "s"}, {"role": "user", "content": "Hi"}]);
    let r = post(
        &app,
        "/api/chat",
        json!({"model": "tiny", "messages": messages, "stream": false, "tools": tools,
            "think": false, "shift": false}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["message"]["role"], "assistant");
    assert_eq!(v["message"]["content"], "Hello world");
    assert_eq!(v["message"]["thinking"], "hmm");
    assert!(v.get("context").is_none(), "chat replies carry no context");
    {
        let seen = fake.seen.lock().expect("lock");
        let req = &seen.generate[0];
        let Input::Chat(m) = &req.input else {
            panic!("a chat")
        };
        assert_eq!((m.len(), m[1].content.as_str()), (2, "Hi"));
        assert_eq!(req.tools.len(), 1);
        assert_eq!((req.think, req.shift), (Think::Off, false));
    }

    let r = post(
        &app,
        "/api/chat",
        json!({"model": "caller", "messages": messages}),
    )
    .await;
    let lines = r.lines();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0]["message"]["tool_calls"],
        json!([{"id": "call_abc12345", "function": {"index": 0, "name": "get_weather",
            "arguments": {"city": "Oslo"}}}])
    );
    assert_eq!(lines[0]["message"]["content"], "");
    assert_eq!(lines[1]["done_reason"], "stop");

    let r = post(
        &app,
        "/api/chat",
        json!({"model": "", "messages": messages}),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.json()),
        (400, json!({"error": "model is required"}))
    );
    let r = post(
        &app,
        "/api/chat",
        json!({"model": "failing", "messages": messages}),
    )
    .await;
    assert_eq!(r.lines().last(), Some(&json!({"error": "boom"})));
    let r = call(&app, Method::POST, "/api/chat", None).await;
    assert_eq!(
        (r.status.as_u16(), r.json()),
        (400, json!({"error": "missing request body"}))
    );
}

#[tokio::test]
async fn openai_chat_whole_streamed_and_errors() {
    let fake = Arc::new(Fake::default());
    let app = router(&fake);
    let messages = json!([{"role": "developer", "content": "s"},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]);
    let r = post(
        &app,
        "/v1/chat/completions",
        json!({"model": "tiny", "messages": messages, "max_tokens": 5, "seed": 3,
            "stop": "x", "reasoning_effort": "minimal", "tool_choice": "none",
            "response_format": {"type": "json_object"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert!(v["id"].as_str().expect("id").starts_with("chatcmpl-"));
    assert_eq!(v["object"], "chat.completion");
    let choice = &v["choices"][0];
    assert_eq!(choice["message"]["content"], "Hello world");
    assert_eq!(choice["message"]["reasoning_content"], "hmm");
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12})
    );
    {
        let seen = fake.seen.lock().expect("lock");
        let req = &seen.generate[0];
        let o = &req.options;
        // OpenAI's defaults, typed: no JSON on the way.
        assert_eq!((o.temperature, o.top_p), (Some(1.0), Some(1.0)));
        assert_eq!((o.num_predict, o.seed), (Some(5), Some(3)));
        assert_eq!(o.stop, Some(vec!["x".to_string()]));
        let Input::Chat(m) = &req.input else {
            panic!("a chat")
        };
        let roles: Vec<&str> = m.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["system", "user", "user"], "parts become messages");
        assert_eq!(req.think, Think::On(Some("low")));
        assert_eq!(req.tool_choice, ToolChoice::None);
        assert_eq!(req.format, Some(Grammar::Json));
    }

    let body = json!({"model": "caller", "messages": messages, "stream": true,
        "stream_options": {"include_usage": true}});
    let r = post(&app, "/v1/chat/completions", body).await;
    assert_eq!(r.header("content-type"), "text/event-stream");
    let events = r.events();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).expect("json event"))
        .collect();
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    let call = &chunks[1]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(call["function"]["arguments"], "{\"city\":\"Oslo\"}");
    assert_eq!(call["type"], "function");
    assert_eq!(chunks[2]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(chunks[3]["choices"], json!([]));
    assert_eq!(chunks[3]["usage"]["total_tokens"], 12);

    let r = post(
        &app,
        "/v1/chat/completions",
        json!({"model": "missing", "messages": messages}),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        json!({"error": {"message": "model 'missing' not found", "type": "not_found_error",
            "param": null, "code": null}})
    );
    let r = post(
        &app,
        "/v1/chat/completions",
        json!({"model": "busy", "messages": messages}),
    )
    .await;
    assert_eq!((r.status.as_u16(), r.header("retry-after")), (503, "1"));
    let r = post(
        &app,
        "/v1/chat/completions",
        json!({"model": "tiny", "messages": []}),
    )
    .await;
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    let r = post(
        &app,
        "/v1/chat/completions",
        json!({"model": "tiny", "messages": messages, "n": 2}),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = post(
        &app,
        "/v1/chat/completions",
        json!({"model": "failing", "messages": messages, "stream": true}),
    )
    .await;
    let events = r.events();
    let last: Value = serde_json::from_str(events.last().expect("events")).expect("json");
    assert_eq!(last["error"]["message"], "boom");
    assert!(
        !events.iter().any(|e| e == "[DONE]"),
        "no [DONE] after a failure"
    );
}

#[tokio::test]
async fn openai_completions_are_raw_prompts() {
    let fake = Arc::new(Fake::default());
    let app = router(&fake);
    let r = post(
        &app,
        "/v1/completions",
        json!({"model": "tiny", "prompt": "Once", "logprobs": 1, "temperature": 0}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["choices"][0]["text"], "Hello world");
    assert_eq!(
        v["choices"][0]["logprobs"]["tokens"],
        json!(["hmm", "Hello", " world"])
    );
    assert_eq!(v["choices"][0]["logprobs"]["text_offset"], json!([0, 3, 8]));
    {
        let seen = fake.seen.lock().expect("lock");
        let Input::Prompt(p) = &seen.generate[0].input else {
            panic!("a prompt")
        };
        assert!(p.raw);
        assert_eq!(seen.generate[0].options.temperature, Some(0.0));
    }
    let r = post(
        &app,
        "/v1/completions",
        json!({"model": "tiny", "prompt": "Once", "stream": true}),
    )
    .await;
    let events = r.events();
    let texts: Vec<String> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str::<Value>(e).expect("json")["choices"][0]["text"].to_string())
        .collect();
    assert_eq!(texts, ["\"Hello\"", "\" world\"", "\"\""]);
    let r = post(
        &app,
        "/v1/completions",
        json!({"model": "tiny", "prompt": ["a", "b"]}),
    )
    .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn embeddings_native_legacy_and_openai() {
    let fake = Arc::new(Fake::default());
    let app = router(&fake);
    let r = post(
        &app,
        "/api/embed",
        json!({"model": "tiny", "input": ["a", "b"], "dimensions": 1}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["embeddings"], json!([[0.0, 0.5], [1.0, 0.5]]));
    assert_eq!(v["prompt_eval_count"], 8);
    let r = post(
        &app,
        "/api/embeddings",
        json!({"model": "tiny", "prompt": "a"}),
    )
    .await;
    assert_eq!(r.json(), json!({"embedding": [0.0, 0.5]}));
    {
        let seen = fake.seen.lock().expect("lock");
        assert_eq!(seen.embed[0].dimensions, Some(1));
        assert!(seen.embed[0].normalize);
        assert!(
            !seen.embed[1].normalize,
            "legacy vectors are not normalized"
        );
    }
    for (body, status) in [
        (json!({"model": "tiny", "input": 5}), 400),
        (
            json!({"model": "tiny", "input": "a", "dimensions": -1}),
            400,
        ),
        (json!({"model": "", "input": "a"}), 404),
    ] {
        assert_eq!(post(&app, "/api/embed", body).await.status.as_u16(), status);
    }
    let r = post(
        &app,
        "/api/embed",
        json!({"model": "missing", "input": "a"}),
    )
    .await;
    assert_eq!(
        r.json(),
        json!({"error": "model \"missing\" not found, try pulling it first"})
    );

    let r = post(
        &app,
        "/v1/embeddings",
        json!({"model": "tiny", "input": "a", "encoding_format": "base64"}),
    )
    .await;
    let v = r.json();
    assert_eq!(
        v["data"][0]["embedding"], "AAAAAAAAAD8=",
        "[0.0, 0.5] as little-endian f32"
    );
    assert_eq!(v["usage"], json!({"prompt_tokens": 4, "total_tokens": 4}));
    let r = post(
        &app,
        "/v1/embeddings",
        json!({"model": "tiny", "input": "a", "encoding_format": "hex"}),
    )
    .await;
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn model_routes() {
    let fake = Arc::new(Fake::default());
    let app = router(&fake);
    let v = call(&app, Method::GET, "/api/tags", None).await.json();
    let m = &v["models"][0];
    assert_eq!(
        (m["name"].clone(), m["model"].clone()),
        (json!("tiny:latest"), json!("tiny:latest"))
    );
    assert_eq!(m["digest"].as_str().map(str::len), Some(64));
    assert_eq!(m["details"]["quantization_level"], "Q4_1");
    assert!(m["modified_at"]
        .as_str()
        .expect("time")
        .starts_with("2023-11-1"));

    let r = post(&app, "/api/show", json!({"name": "tiny", "verbose": true})).await;
    let v = r.json();
    assert_eq!(v["capabilities"], json!(["completion", "tools"]));
    assert_eq!(v["template"], "{{ messages }}");
    assert!(v["modelfile"]
        .as_str()
        .expect("modelfile")
        .contains("FROM /models/tiny.gguf"));
    // The layers as Ollama shows them: parameters `%-30s %#v`, one line per stop.
    assert_eq!(
        v["parameters"],
        format!("{:<30} \"<|im_end|>\"\n{:<30} 0.5", "stop", "temperature")
    );
    assert_eq!(
        (v["system"].as_str(), v["license"].as_str()),
        (Some("Be brief."), Some("MIT"))
    );
    let modelfile = v["modelfile"].as_str().expect("modelfile");
    for line in [
        "SYSTEM Be brief.",
        "PARAMETER stop <|im_end|>",
        "PARAMETER temperature 0.5",
        "LICENSE MIT",
    ] {
        assert!(
            modelfile.lines().any(|l| l == line),
            "{line:?} in {modelfile}"
        );
    }
    let r = post(
        &app,
        "/api/show",
        json!({"model": "tiny", "system": "Other."}),
    )
    .await;
    assert_eq!(r.json()["system"], "Other.");
    assert_eq!(
        v["tensors"][0],
        json!({"name": "output.weight", "type": "Q4_1", "shape": [576, 49152]})
    );
    let r = post(&app, "/api/show", json!({"model": "tiny"})).await;
    assert!(r.json().get("tensors").is_none());
    assert_eq!(post(&app, "/api/show", json!({})).await.status, 400);
    assert_eq!(
        post(&app, "/api/show", json!({"model": "missing"}))
            .await
            .status,
        404
    );

    let v = call(&app, Method::GET, "/api/ps", None).await.json();
    assert_eq!(v["models"][0]["size"], 2000);
    assert_eq!(v["models"][0]["context_length"], 2048);

    let v = call(&app, Method::GET, "/v1/models", None).await.json();
    assert_eq!(
        v["data"][0],
        json!({"id": "tiny:latest", "object": "model", "created": 1_700_000_000, "owned_by": "library"})
    );
    let v = call(&app, Method::GET, "/v1/models/library/tiny", None)
        .await
        .json();
    assert_eq!(v["id"], "library/tiny");
    let r = call(&app, Method::GET, "/v1/models/missing", None).await;
    assert_eq!(
        (r.status.as_u16(), r.json()["error"]["type"].clone()),
        (404, json!("not_found_error"))
    );
}

#[tokio::test]
async fn meta_metrics_and_unknown_routes() {
    let fake = Arc::new(Fake::default());
    let app = router(&fake);
    let r = call(&app, Method::GET, "/", None).await;
    assert_eq!(
        (r.status.as_u16(), r.body.as_str()),
        (200, "Ollama is running")
    );
    let r = call(&app, Method::GET, "/api/version", None).await;
    assert_eq!(r.json(), json!({"version": "0.12.6"}));
    let r = call(&app, Method::GET, "/metrics", None).await;
    assert!(r
        .header(header::CONTENT_TYPE.as_str())
        .starts_with("text/plain"));
    for line in [
        "rollama_requests_preparing{model=\"tiny:latest\"} 1",
        "rollama_requests_waiting{model=\"tiny:latest\"} 2",
        "rollama_sequences_running{model=\"tiny:latest\"} 3",
        "rollama_grammar_masks_total 1",
    ] {
        assert!(r.body.lines().any(|l| l == line), "{line} in\n{}", r.body);
    }
    let r = call(&app, Method::GET, "/nope", None).await;
    assert_eq!(
        (r.status.as_u16(), r.body.as_str()),
        (404, "404 page not found")
    );
    let r = call(&app, Method::GET, "/api/chat", None).await;
    assert_eq!(r.status, 405);
    let r = post(&app, "/api/pull", json!({"model": "tiny"})).await;
    assert_eq!(r.status, 501);
    let r = post(&app, "/v1/responses", json!({})).await;
    assert_eq!(r.status, 501);
    assert!(r.json()["error"]["message"].is_string());
}
