//! Several models within limits, seen through HTTP: `OLLAMA_MAX_LOADED_MODELS` and the
//! memory budget unload idle models to let another in, a load that finds the room held by
//! a busy model waits (bounded) and then fails clearly while that model keeps serving, a
//! model larger than the whole budget fails at once, and `/api/ps` lists the resident
//! models in Ollama's order with the size the budget counts.
//!
//! Two distinct models of the same size: `smollm2` and a renamed copy of it (`other`).

mod common;

use std::time::Duration;

use common::{gguf_variant, temp_store, TestServer};
use futures::StreamExt;
use serde_json::{json, Value};

const A: &str = "smollm2:latest";
const B: &str = "other:latest";

/// A store with `smollm2` and `other` (smollm2's weights under another name).
fn two_model_store() -> std::path::PathBuf {
    let store = temp_store(&["smollm2"]);
    gguf_variant("smollm2", "renamed-other", &store, "other", |meta| {
        meta.insert(
            "general.name".into(),
            candle_core::quantized::gguf_file::Value::String("other".into()),
        );
    });
    store
}

async fn post(url: String, body: Value) -> (u16, Value) {
    let r = common::post(&url, body).await;
    let status = r.status().as_u16();
    (status, r.json().await.expect("json body"))
}

/// Loads `model` (a generate request with no prompt), keeping it `keep_alive`.
async fn load(base: &str, model: &str, keep_alive: Value) -> (u16, Value) {
    post(
        format!("{base}/api/generate"),
        json!({"model": model, "keep_alive": keep_alive}),
    )
    .await
}

async fn ps(base: &str) -> Vec<Value> {
    let v: Value = reqwest::get(format!("{base}/api/ps"))
        .await
        .expect("ps")
        .json()
        .await
        .expect("json");
    v["models"].as_array().expect("models").clone()
}

async fn ps_names(base: &str) -> Vec<String> {
    ps(base)
        .await
        .iter()
        .map(|m| m["name"].as_str().expect("name").to_string())
        .collect()
}

/// `/api/ps` `size` of one of the two models loaded alone with the test server's KV
/// settings: what the budget counts for each of them (they have the same tensors).
async fn footprint() -> u64 {
    static SIZE: tokio::sync::OnceCell<u64> = tokio::sync::OnceCell::const_new();
    *SIZE
        .get_or_init(|| async {
            let base = TestServer::default().spawn_store(two_model_store()).await;
            assert_eq!(load(&base, "smollm2", json!("5m")).await.0, 200);
            let rows = ps(&base).await;
            let size = rows[0]["size"].as_u64().expect("size");
            // Weights as loaded plus reserved KV: more than the file.
            assert!(size > 98_362_432, "{size}");
            size
        })
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn one_model_at_a_time_evicts_the_other() {
    let server = TestServer {
        max_loaded: 1,
        ..TestServer::default()
    };
    let base = server.spawn_store(two_model_store()).await;
    assert_eq!(load(&base, "smollm2", json!("5m")).await.0, 200);
    assert_eq!(ps_names(&base).await, vec![A]);
    let (status, v) = load(&base, "other", json!("5m")).await;
    assert_eq!((status, &v["done_reason"]), (200, &json!("load")));
    assert_eq!(ps_names(&base).await, vec![B]);
    // And back: the evicted one loads again, evicting the other.
    assert_eq!(load(&base, "smollm2", json!("5m")).await.0, 200);
    assert_eq!(ps_names(&base).await, vec![A]);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_resident_listed_latest_expiry_first() {
    let server = TestServer {
        max_loaded: 2,
        ..TestServer::default()
    };
    let base = server.spawn_store(two_model_store()).await;
    // Loaded first but kept longer: listed first, as Ollama sorts by expires_at.
    assert_eq!(load(&base, "smollm2", json!("1h")).await.0, 200);
    assert_eq!(load(&base, "other", json!("5m")).await.0, 200);
    let rows = ps(&base).await;
    let names: Vec<&str> = rows.iter().filter_map(|m| m["name"].as_str()).collect();
    assert_eq!(names, vec![A, B]);
    assert_eq!(rows[0]["size"], rows[1]["size"]);
    assert_eq!(rows[0]["size"], footprint().await);
    // Kept forever: ahead of any finite expiry.
    assert_eq!(load(&base, "other", json!(-1)).await.0, 200);
    assert_eq!(ps_names(&base).await, vec![B, A]);
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_budget_for_one_evicts_the_idle_model() {
    let size = footprint().await;
    let server = TestServer {
        memory_budget: Some(size + size / 2),
        ..TestServer::default()
    };
    let base = server.spawn_store(two_model_store()).await;
    assert_eq!(load(&base, "smollm2", json!("5m")).await.0, 200);
    assert_eq!(ps_names(&base).await, vec![A]);
    assert_eq!(load(&base, "other", json!("5m")).await.0, 200);
    let rows = ps(&base).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["name"], B);
    assert_eq!(rows[0]["size"], size);
}

type Body = std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// A streamed generation on `smollm2`; returns once its first chunk arrived.
async fn stream_on_a(base: &str) -> (Vec<u8>, Body) {
    let r = common::post(
        &format!("{base}/api/generate"),
        json!({"model": "smollm2", "prompt": "Count from one to fifty.", "stream": true,
            "options": {"num_predict": 48, "temperature": 0}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let mut body: Body = Box::pin(r.bytes_stream());
    let first = body.next().await.expect("a first chunk").expect("bytes");
    (first.to_vec(), body)
}

/// Reads the rest of a stream; its last line must be a normal end.
async fn finish(mut seen: Vec<u8>, mut body: Body) -> Value {
    while let Some(chunk) = body.next().await {
        seen.extend_from_slice(&chunk.expect("bytes"));
    }
    let lines = common::ndjson(&String::from_utf8(seen).expect("utf-8"));
    let last = lines.last().expect("a line").clone();
    assert_eq!(last["done"], true, "{last}");
    assert!(last.get("error").is_none(), "{last}");
    last
}

#[tokio::test(flavor = "multi_thread")]
async fn busy_model_holds_the_room_until_the_wait_runs_out() {
    let size = footprint().await;
    let server = TestServer {
        memory_budget: Some(size + size / 2),
        load_wait: Some(Duration::from_millis(300)),
        ..TestServer::default()
    };
    let (base, engine) = server.spawn_service(two_model_store()).await;
    assert_eq!(load(&base, "smollm2", json!("5m")).await.0, 200);
    // A request in flight on A, held from inside so A stays busy however fast the HTTP
    // stream below runs; and a real stream on A besides.
    let held = engine
        .registry()
        .acquire("smollm2", None)
        .await
        .expect("lease on A");
    let (first, body) = stream_on_a(&base).await;

    let (status, v) = load(&base, "other", json!("5m")).await;
    assert_eq!(status, 503, "{v}");
    let error = v["error"].as_str().expect("error");
    assert!(error.starts_with("server busy"), "{error}");
    assert!(error.contains(B), "{error}");
    assert!(error.contains(A), "{error}");
    assert!(error.contains("memory budget"), "{error}");

    // A kept serving: its stream ends normally and it is still the one loaded.
    let last = finish(first, body).await;
    assert_eq!(last["done_reason"], "length");
    assert_eq!(ps_names(&base).await, vec![A]);

    // Idle again, A makes way.
    drop(held);
    assert_eq!(load(&base, "other", json!("5m")).await.0, 200);
    assert_eq!(ps_names(&base).await, vec![B]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_load_goes_ahead_once_the_busy_model_is_idle() {
    let size = footprint().await;
    let server = TestServer {
        memory_budget: Some(size + size / 2),
        load_wait: None,
        ..TestServer::default()
    };
    let (base, engine) = server.spawn_service(two_model_store()).await;
    assert_eq!(load(&base, "smollm2", json!("5m")).await.0, 200);
    let held = engine
        .registry()
        .acquire("smollm2", None)
        .await
        .expect("lease on A");
    let waiting = tokio::spawn({
        let base = base.clone();
        async move { load(&base, "other", json!("5m")).await }
    });
    // A serves while B waits.
    let (first, body) = stream_on_a(&base).await;
    finish(first, body).await;
    drop(held);
    let (status, v) = waiting.await.expect("the waiting request");
    assert_eq!(status, 200, "{v}");
    assert_eq!(ps_names(&base).await, vec![B]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_larger_than_the_budget_fails_at_once() {
    let size = footprint().await;
    let server = TestServer {
        memory_budget: Some(size / 2),
        // Waiting without bound: an answer at all shows it did not wait.
        load_wait: None,
        ..TestServer::default()
    };
    let base = server.spawn_store(two_model_store()).await;
    let (status, v) = load(&base, "other", json!("5m")).await;
    assert_eq!(status, 500, "{v}");
    let error = v["error"].as_str().expect("error");
    assert!(
        error.starts_with("model requires more system memory (")
            && error.contains(") than is available ("),
        "{error}"
    );
    assert!(ps(&base).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_requests_load_a_model_once() {
    let server = TestServer {
        max_loaded: 1,
        ..TestServer::default()
    };
    let base = server.spawn_store(two_model_store()).await;
    let loads = (0..4).map(|_| load(&base, "smollm2", json!("5m")));
    for (status, v) in futures::future::join_all(loads).await {
        assert_eq!(status, 200, "{v}");
    }
    assert_eq!(ps_names(&base).await, vec![A]);
}
