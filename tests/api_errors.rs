//! Routes, methods and error bodies, exactly as Ollama answers them.

mod common;

use common::TestServer;
use serde_json::{json, Value};

async fn post_raw(url: &str, body: &str, content_type: &str) -> (u16, String, String) {
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    (status, ct, r.text().await.expect("body"))
}

async fn post(url: &str, body: Value) -> (u16, Value) {
    let (status, _, text) = post_raw(url, &body.to_string(), "application/json").await;
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn meta_routes() {
    let base = TestServer::default().spawn(&["smollm2"]).await;
    let c = reqwest::Client::new();
    let r = c.get(&base).send().await.expect("get /");
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.expect("body"), "Ollama is running");
    let r = c.head(&base).send().await.expect("head /");
    assert_eq!(r.status(), 200);
    let r = c.get(format!("{base}/nope")).send().await.expect("404");
    assert_eq!(r.status(), 404);
    assert_eq!(r.text().await.expect("body"), "404 page not found");
    let r = c
        .get(format!("{base}/api/generate"))
        .send()
        .await
        .expect("405");
    assert_eq!(r.status(), 405);
    assert_eq!(r.text().await.expect("body"), "405 method not allowed");
    let v: Value = c
        .get(format!("{base}/api/version"))
        .send()
        .await
        .expect("version")
        .json()
        .await
        .expect("json");
    assert_eq!(v, json!({"version": "0.12.6"}));
    let r = c
        .head(format!("{base}/api/version"))
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_bodies_and_names() {
    let base = TestServer::default().spawn(&["smollm2"]).await;
    let gen = format!("{base}/api/generate");
    let chat = format!("{base}/api/chat");

    let (s, ct, body) = post_raw(&gen, "", "application/json").await;
    assert_eq!(
        (s, body.as_str()),
        (400, r#"{"error":"missing request body"}"#)
    );
    assert!(ct.starts_with("application/json"), "{ct}");
    let (s, _, body) = post_raw(&gen, "{not json", "application/json").await;
    assert_eq!(s, 400);
    assert!(serde_json::from_str::<Value>(&body).expect("json")["error"].is_string());
    let (s, _, body) = post_raw(&gen, r#"{"model": 5}"#, "application/json").await;
    assert_eq!(s, 400, "{body}");

    assert_eq!(
        post(&gen, json!({"model": "nope", "prompt": "hi"})).await,
        (404, json!({"error": "model 'nope' not found"}))
    );
    assert_eq!(
        post(&gen, json!({"model": "", "prompt": "hi"})).await,
        (404, json!({"error": "model '' not found"}))
    );
    assert_eq!(
        post(&chat, json!({"model": "", "messages": []})).await,
        (400, json!({"error": "model is required"}))
    );
    for hostile in [
        "../smollm2",
        "../../etc/passwd",
        "foo:",
        "/smollm2",
        "a b",
        "smollm2:../x",
    ] {
        assert_eq!(
            post(&gen, json!({"model": hostile, "prompt": "hi"})).await,
            (400, json!({"error": "invalid model name"})),
            "{hostile}"
        );
    }
    // An existing model under another namespace or tag is not ours.
    assert_eq!(
        post(&gen, json!({"model": "smollm2:7b", "prompt": "x"}))
            .await
            .0,
        404
    );
    // Case-insensitive match, and the Content-Type is not checked (curl -d).
    let (s, _, _) = post_raw(
        &gen,
        r#"{"model":"SmolLM2","prompt":"","stream":false}"#,
        "application/x-www-form-urlencoded",
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn options_and_unsupported_features() {
    let base = TestServer::default().spawn(&["smollm2"]).await;
    let gen = format!("{base}/api/generate");
    let chat = format!("{base}/api/chat");
    let msgs = json!([{"role": "user", "content": "hi"}]);

    assert_eq!(
        post(
            &gen,
            json!({"model": "smollm2", "prompt": "hi", "options": {"temperature": "hot"}})
        )
        .await,
        (
            500,
            json!({"error": "option \"temperature\" must be of type float"})
        )
    );
    // Legacy and unknown options are accepted.
    let (s, v) = post(&gen, json!({"model": "smollm2", "prompt": "hi", "stream": false,
        "options": {"num_predict": 2, "mirostat": 0, "tfs_z": 1.0, "penalize_newline": true, "whatever": 1}})).await;
    assert_eq!(s, 200, "{v}");

    let (s, v) = post(
        &chat,
        json!({"model": "smollm2", "messages": msgs,
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}),
    )
    .await;
    assert_eq!(s, 400);
    assert!(v["error"]
        .as_str()
        .expect("msg")
        .ends_with("does not support tools"));
    // `tools: []` (ollama-python always sends it) is fine.
    let (s, _) = post(
        &chat,
        json!({"model": "smollm2", "messages": msgs, "tools": [], "stream": false,
        "options": {"num_predict": 1}}),
    )
    .await;
    assert_eq!(s, 200);

    // A schema keyword the grammar engine cannot enforce is refused, with the reason.
    let (s, v) = post(
        &chat,
        json!({"model": "smollm2", "messages": msgs, "format":
            {"type": "array", "items": {"type": "integer"}, "uniqueItems": true}}),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"].as_str().expect("msg").contains("uniqueItems"),
        "{v}"
    );
    let (s, v) = post(
        &chat,
        json!({"model": "smollm2", "messages": msgs, "format": 5}),
    )
    .await;
    assert_eq!(s, 500, "{v}");
    assert!(v["error"]
        .as_str()
        .expect("msg")
        .starts_with("invalid format"));
    assert_eq!(
        post(
            &chat,
            json!({"model": "smollm2", "messages": msgs, "think": true})
        )
        .await,
        (
            400,
            json!({"error": "\"smollm2\" does not support thinking"})
        )
    );
    let (s, v) = post(
        &chat,
        json!({"model": "smollm2", "messages": msgs, "think": "bogus"}),
    )
    .await;
    assert_eq!(s, 400);
    assert!(v["error"]
        .as_str()
        .expect("msg")
        .starts_with("invalid think value"));
    let (s, _) = post(
        &gen,
        json!({"model": "smollm2", "prompt": "x", "images": ["aGk="]}),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = post(
        &gen,
        json!({"model": "smollm2", "prompt": "x", "suffix": "y"}),
    )
    .await;
    assert_eq!(s, 400);
    let (s, v) = post(
        &gen,
        json!({"model": "smollm2", "prompt": "x", "raw": true, "system": "s"}),
    )
    .await;
    assert_eq!(
        (s, v),
        (
            400,
            json!({"error": "raw mode does not support template, system, or context"})
        )
    );
    assert_eq!(
        post(
            &gen,
            json!({"model": "smollm2", "prompt": "x", "keep_alive": "10"})
        )
        .await,
        (
            400,
            json!({"error": "time: missing unit in duration \"10\""})
        )
    );
    // A registry that refuses the connection: the stream says so on its last line.
    let r = common::post(
        &format!("{base}/api/pull"),
        json!({"model": "127.0.0.1:1/library/x", "insecure": true}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let lines = common::ndjson_reply(r).await;
    assert_eq!(lines[0], json!({"status": "pulling manifest"}));
    assert!(
        lines.last().and_then(|l| l["error"].as_str()).is_some(),
        "{lines:?}"
    );
    let (s, v) = post(
        &format!("{base}/api/pull"),
        json!({"model": "127.0.0.1:1/library/x", "insecure": true, "stream": false}),
    )
    .await;
    assert_eq!(s, 500, "{v}");
    assert!(v["error"].is_string());
    let (s, v) = post(&format!("{base}/v1/audio/speech"), json!({})).await;
    assert_eq!(s, 501);
    assert!(v["error"]["message"].is_string(), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn oversize_prompt_is_an_error_only_without_truncation() {
    let base = TestServer::default().spawn(&["smollm2"]).await;
    let gen = format!("{base}/api/generate");
    let long = "word ".repeat(400);
    let opts = json!({"num_ctx": 64, "num_predict": 2, "temperature": 0});
    let (s, v) = post(
        &gen,
        json!({"model": "smollm2", "prompt": long, "options": opts,
        "truncate": false, "stream": false}),
    )
    .await;
    assert_eq!(s, 400);
    assert!(v["error"]
        .as_str()
        .expect("msg")
        .starts_with("the prompt is longer than the context length"));
    let (s, v) = post(
        &gen,
        json!({"model": "smollm2", "prompt": long, "options": opts, "stream": false}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["prompt_eval_count"].as_u64().expect("count") < 64);
}
