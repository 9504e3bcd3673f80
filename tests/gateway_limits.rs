//! The operator's limits, each off unless set: the body cap (413 as a JSON error of the
//! route family, blobs exempt), the prompt and `num_ctx` caps (400), the generation
//! deadline (the stream's last line or event is the error; 504 before any byte) and
//! `OLLAMA_LOAD_TIMEOUT` (Ollama's error text). Real models for all but the body cap.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

use common::{ndjson_reply, post, TestServer};
use rollama::engine::{Caps, EngineConfig, RegistryConfig, Service};
use rollama::server::gateway::limits::Limits;
use rollama::server::gateway::Gateway;
use rollama::server::{app, AppState};
use rollama::store::ModelStore;

const CAP: u64 = 1024;

/// A server on an empty store with a body cap of [`CAP`] bytes.
fn capped() -> (AppState, std::path::PathBuf) {
    let store = common::temp_store(&[]);
    let engine = Service::new(
        ModelStore::new(store.clone()),
        RegistryConfig {
            default_keep_alive: None,
            max_loaded: 1,
            memory_budget: None,
            load_wait: None,
            default_num_ctx: 2048,
            caps: Caps::default(),
            engine: EngineConfig::default(),
            device: candle_core::Device::Cpu,
            load: Default::default(),
        },
    );
    let state = AppState {
        engine: Arc::new(engine),
        version: "0.12.6".into(),
        metrics: false,
        sse_keep_alive: rollama::server::SSE_KEEP_ALIVE,
        gateway: gateway(Limits {
            max_body_bytes: Some(CAP),
            ..Limits::default()
        }),
    };
    (state, store)
}

fn gateway(limits: Limits) -> Gateway {
    Gateway {
        limits,
        ..Gateway::default()
    }
}

/// A server with these engine caps over the named models.
async fn spawn(caps: Caps, models: &[&str]) -> String {
    TestServer {
        gateway: gateway(Limits {
            engine: caps,
            ..Limits::default()
        }),
        ..TestServer::default()
    }
    .spawn(models)
    .await
}

/// `POST path` with `body`; `sized`: with Content-Length (else streamed, chunked).
async fn send(state: &AppState, path: &str, body: Vec<u8>, sized: bool) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json");
    let body = match sized {
        true => {
            req = req.header(header::CONTENT_LENGTH, body.len());
            Body::from(body)
        }
        false => {
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                body.chunks(100).map(|c| Ok(c.to_vec())).collect();
            Body::from_stream(futures::stream::iter(chunks))
        }
    };
    let response = app(state.clone())
        .oneshot(req.body(body).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}

/// A chat body of about `len` bytes.
fn chat_body(len: usize) -> Vec<u8> {
    let padding = "x".repeat(len.saturating_sub(80));
    serde_json::to_vec(&json!({
        "model": "nowhere",
        "messages": [{"role": "user", "content": padding}],
        "options": {"num_predict": 1},
    }))
    .expect("json")
}

#[tokio::test]
async fn bodies_over_the_cap_get_413_in_the_family_shape() {
    let (state, _) = capped();
    for sized in [true, false] {
        let (status, body) = send(&state, "/api/chat", chat_body(4 * CAP as usize), sized).await;
        assert_eq!(
            status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "sized {sized}: {body}"
        );
        let message = body["error"].as_str().expect("native error string");
        assert!(
            message.contains(&format!("at most {CAP} bytes")),
            "{message}"
        );

        let (status, body) = send(
            &state,
            "/v1/chat/completions",
            chat_body(4 * CAP as usize),
            sized,
        )
        .await;
        assert_eq!(
            status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "sized {sized}: {body}"
        );
        assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
        assert!(body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("at most {CAP} bytes"))));
    }
    // Under the cap the route runs (and finds no such model).
    for sized in [true, false] {
        let (status, body) = send(&state, "/api/chat", chat_body(CAP as usize / 2), sized).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let (status, _) = send(
            &state,
            "/v1/chat/completions",
            chat_body(CAP as usize / 2),
            sized,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn blob_uploads_are_not_capped() {
    let (state, store) = capped();
    let bytes = vec![7u8; 8 * CAP as usize];
    let digest = common::sha256_hex(&bytes);
    for sized in [true, false] {
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("/api/blobs/sha256:{digest}"));
        let (req, body) = match sized {
            true => (
                req.header(header::CONTENT_LENGTH, bytes.len()),
                Body::from(bytes.clone()),
            ),
            false => (
                req,
                Body::from_stream(futures::stream::iter(
                    bytes
                        .chunks(512)
                        .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                        .collect::<Vec<_>>(),
                )),
            ),
        };
        let response = app(state.clone())
            .oneshot(req.body(body).expect("request"))
            .await
            .expect("infallible");
        assert!(response.status().is_success(), "{}", response.status());
    }
    let stored = store.join("blobs").join(format!("sha256-{digest}"));
    assert_eq!(
        std::fs::metadata(stored).expect("stored").len(),
        bytes.len() as u64
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prompt_over_the_cap_is_refused_in_both_families() {
    let caps = Caps {
        max_prompt_tokens: Some(64),
        ..Caps::default()
    };
    let base = spawn(caps, &["smollm2", "all-minilm"]).await;
    let long = "Tell me everything about the history of the city of Rome. ".repeat(20);
    let r = post(
        &format!("{base}/api/chat"),
        json!({"model": "smollm2", "messages": [{"role": "user", "content": long}],
               "stream": false, "options": {"num_predict": 4}}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    let message = body["error"].as_str().expect("error");
    assert!(
        message.contains("more than the server's limit of 64"),
        "{message}"
    );

    let r = post(
        &format!("{base}/v1/chat/completions"),
        json!({"model": "smollm2", "messages": [{"role": "user", "content": long}], "max_tokens": 4}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("limit of 64")));

    let r = post(
        &format!("{base}/api/embed"),
        json!({"model": "all-minilm", "input": [long.clone(), long]}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|m| m.contains("the input is")),
        "{body}"
    );

    // A short one is served.
    let r = post(
        &format!("{base}/api/chat"),
        json!({"model": "smollm2", "messages": [{"role": "user", "content": "Hi."}],
               "stream": false, "options": {"num_predict": 4}}),
    )
    .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn num_ctx_over_the_cap_is_refused() {
    let caps = Caps {
        max_num_ctx: Some(1024),
        ..Caps::default()
    };
    let base = spawn(caps, &["smollm2"]).await;
    let ask = |num_ctx: u64| {
        json!({"model": "smollm2", "prompt": "Hello", "stream": false,
               "options": {"num_ctx": num_ctx, "num_predict": 4}})
    };
    let r = post(&format!("{base}/api/generate"), ask(4096)).await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body["error"],
        "num_ctx 4096 exceeds the server's limit of 1024"
    );
    let r = post(&format!("{base}/api/generate"), ask(1024)).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["done"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_generation_past_the_deadline_ends_with_the_error() {
    let caps = Caps {
        request_timeout: Some(Duration::from_millis(1)),
        ..Caps::default()
    };
    let base = spawn(caps, &["smollm2"]).await;
    let expected = "generation exceeded the server's deadline of 1ms";
    let chat = |stream: bool| {
        json!({"model": "smollm2", "messages": [{"role": "user", "content": "Count to fifty."}],
               "stream": stream, "options": {"num_predict": 64}})
    };
    // Streamed: headers were sent, so the last line says it.
    let lines = ndjson_reply(post(&format!("{base}/api/chat"), chat(true)).await).await;
    let last = lines.last().expect("a line");
    assert_eq!(last["error"], expected, "{lines:?}");
    assert!(lines.iter().all(|l| l["done"] != true), "{lines:?}");
    // Not streamed: nothing was sent yet, a 504.
    let r = post(&format!("{base}/api/chat"), chat(false)).await;
    assert_eq!(r.status(), 504);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"], expected);
    // SSE: an error event, and no [DONE].
    let r = post(
        &format!("{base}/v1/chat/completions"),
        json!({"model": "smollm2", "messages": [{"role": "user", "content": "Count to fifty."}],
               "stream": true, "max_tokens": 64}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.expect("body");
    let last = text.trim_end().rsplit("\n\n").next().expect("an event");
    let event: Value =
        serde_json::from_str(last.strip_prefix("data: ").expect("data event")).expect("json");
    assert_eq!(event["error"]["message"], expected, "{text}");
    assert!(!text.contains("[DONE]"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_load_past_the_load_timeout_fails_with_ollamas_words() {
    let caps = Caps {
        load_timeout: Some(Duration::from_millis(1)),
        ..Caps::default()
    };
    let base = spawn(caps, &["smollm2"]).await;
    let r = post(
        &format!("{base}/api/generate"),
        json!({"model": "smollm2", "prompt": "Hello", "stream": false, "options": {"num_predict": 4}}),
    )
    .await;
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.expect("json");
    let message = body["error"].as_str().expect("error");
    assert!(
        message.starts_with("timed out waiting for llama runner to start"),
        "{message}"
    );
    assert!(message.contains("OLLAMA_LOAD_TIMEOUT (1ms)"), "{message}");
}
