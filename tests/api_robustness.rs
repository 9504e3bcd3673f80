//! What a hostile or unlucky request cannot do to the server: models without a template,
//! a model thread that dies, schemas too large to enforce, chats of thousands of messages,
//! token ids outside the vocabulary. Each gets a clear answer and the server keeps serving.

mod common;

use std::time::Duration;

use common::{gguf_variant, ndjson, ndjson_reply, post, temp_store, TestServer};
use futures::StreamExt;
use serde_json::{json, Value};

async fn json_reply(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.expect("json body"))
}

/// The value of `series{model="..."}` in a `/metrics` text, summed over models.
fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{series}{{")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_without_a_chat_template_is_served() {
    let store = temp_store(&[]);
    gguf_variant("smollm2", "no-template", &store, "bare", |meta| {
        meta.remove("tokenizer.chat_template");
    });
    // No prefix reuse: both prompts below are then computed whole and can be compared.
    let base = TestServer {
        prefix_cache_tokens: 0,
        ..TestServer::default()
    }
    .spawn_store(store)
    .await;
    let opts = json!({"temperature": 0, "num_predict": 8});
    let raw = post(
        &format!("{base}/api/generate"),
        json!({"model": "bare", "prompt": "The capital of France is", "raw": true,
            "stream": false, "options": opts}),
    )
    .await;
    let (status, raw) = json_reply(raw).await;
    assert_eq!(status, 200, "{raw}");
    assert!(!raw["response"].as_str().expect("text").is_empty());
    // Without a template the prompt goes in as is: the same tokens as raw.
    let (status, plain) = json_reply(
        post(
            &format!("{base}/api/generate"),
            json!({"model": "bare", "prompt": "The capital of France is", "stream": false,
                "options": opts}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{plain}");
    assert_eq!(plain["response"], raw["response"]);
    assert_eq!(plain["prompt_eval_count"], raw["prompt_eval_count"]);
    let lines = ndjson_reply(
        post(
            &format!("{base}/api/chat"),
            json!({"model": "bare", "options": opts, "messages": [
                {"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": "Name a colour."}]}),
        )
        .await,
    )
    .await;
    assert_eq!(lines.last().expect("lines")["done"], true, "{lines:?}");
    let (_, shown) =
        json_reply(post(&format!("{base}/api/show"), json!({"model": "bare"})).await).await;
    assert_eq!(shown["capabilities"], json!(["completion"]));
    assert!(shown["template"]
        .as_str()
        .expect("template")
        .contains("message['content']"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_whose_thread_dies_is_loaded_again() {
    let base = TestServer {
        panic_after_tokens: Some(5),
        ..TestServer::default()
    }
    .spawn(&["smollm2"])
    .await;
    let chat = |n: u64| {
        json!({"model": "smollm2", "messages": [{"role": "user", "content": "Count to ten."}],
            "options": {"temperature": 0, "num_predict": n}})
    };
    let r = post(&format!("{base}/api/chat"), chat(20)).await;
    let lines = ndjson(&r.text().await.expect("body"));
    assert_eq!(
        lines.last(),
        Some(&json!({"error": "the model runner stopped unexpectedly"}))
    );
    // The next request gets a fresh model (short enough not to trip the hook again).
    for _ in 0..2 {
        let mut body = chat(3);
        body["stream"] = json!(false);
        let (status, v) = json_reply(post(&format!("{base}/api/chat"), body).await).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["done"], true);
    }
    let ps: Value = reqwest::get(format!("{base}/api/ps"))
        .await
        .expect("ps")
        .json()
        .await
        .expect("json");
    assert_eq!(ps["models"].as_array().map(Vec::len), Some(1), "{ps}");
}

/// An object schema with `n` optional integer properties.
fn wide_schema(n: usize) -> Value {
    let props: serde_json::Map<String, Value> = (0..n)
        .map(|i| (format!("field_{i}"), json!({"type": "integer"})))
        .collect();
    json!({"type": "object", "properties": props})
}

#[tokio::test(flavor = "multi_thread")]
async fn schemas_beyond_what_a_grammar_may_cost_are_400s_while_others_stream() {
    let base = TestServer::default().spawn(&["smollm2"]).await;
    let stream = post(
        &format!("{base}/api/chat"),
        json!({"model": "smollm2", "messages": [{"role": "user", "content": "Tell me a story."}],
            "options": {"temperature": 0, "num_predict": 48}}),
    )
    .await;
    assert_eq!(stream.status(), 200);
    let messages = json!([{"role": "user", "content": "hi"}]);
    let hostile = [
        ("4,500 properties", wide_schema(4_500)),
        ("10,000 properties", wide_schema(10_000)),
        (
            "a $ref cycle",
            json!({"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}}),
        ),
        (
            "a lexer too large",
            json!({"type": "string", "pattern": "[a-z]{10000}"}),
        ),
        (
            "nested repeats",
            json!({"type": "string", "pattern": "((a{50}){50}){50}"}),
        ),
    ];
    for (what, schema) in hostile {
        for (path, body) in [
            (
                "/api/generate",
                json!({"model": "smollm2", "prompt": "hi", "format": schema, "stream": false}),
            ),
            (
                "/api/chat",
                json!({"model": "smollm2", "messages": messages, "format": schema, "stream": false}),
            ),
            (
                "/v1/chat/completions",
                json!({"model": "smollm2", "messages": messages,
                    "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}}),
            ),
        ] {
            let r = post(&format!("{base}{path}"), body).await;
            let status = r.status().as_u16();
            let text = r.text().await.expect("body");
            assert_eq!(status, 400, "{what} on {path}: {text}");
            assert!(
                text.len() < 400,
                "{what} on {path}: a short body, got {text}"
            );
            assert!(!text.contains("<state>"), "{what} on {path}: {text}");
        }
    }
    // The stream started before them finished as if nothing happened.
    let lines = ndjson(&stream.text().await.expect("body"));
    let last = lines.last().expect("lines");
    assert_eq!(
        (last["done"].clone(), last["eval_count"].clone()),
        (json!(true), json!(48))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ten_thousand_message_chat_is_cut_quickly_and_dropped_when_its_client_goes() {
    let base = TestServer::default().spawn(&["smollm2"]).await;
    let mut messages = vec![json!({"role": "system", "content": "Be brief."})];
    for i in 0..10_000 {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        messages.push(json!({"role": role, "content": format!("message {i} of a very long chat")}));
    }
    let body = json!({"model": "smollm2", "messages": messages, "stream": false,
        "options": {"num_ctx": 256, "num_predict": 4, "temperature": 0}});
    let (status, v) = json_reply(post(&format!("{base}/api/chat"), body.clone()).await).await;
    assert_eq!(status, 200, "{v}");
    assert!(v["prompt_eval_count"].as_u64().expect("count") < 256, "{v}");

    // Clients that give up while their prompt is being built leave nothing behind.
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let request = client.post(format!("{base}/api/chat")).json(&body).send();
        let _ = tokio::time::timeout(Duration::from_millis(20), request).await;
    }
    let mut idle = false;
    for _ in 0..200 {
        let text = reqwest::get(format!("{base}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        let busy: u64 = [
            "rollama_requests_preparing",
            "rollama_requests_waiting",
            "rollama_sequences_running",
        ]
        .iter()
        .map(|s| metric(&text, s))
        .sum();
        if busy == 0 {
            idle = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(idle, "work left running after its clients went away");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_that_fails_to_load_is_a_500_that_names_no_path() {
    let store = temp_store(&["smollm2"]);
    std::fs::write(store.join("broken.gguf"), b"GGUF but not really").expect("write");
    let base = TestServer::default().spawn_store(store.clone()).await;
    let r = post(
        &format!("{base}/api/generate"),
        json!({"model": "broken", "prompt": "hi"}),
    )
    .await;
    let id = r
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("a request id")
        .to_string();
    let (status, v) = json_reply(r).await;
    assert_eq!(status, 500);
    let message = v["error"].as_str().expect("error");
    assert_eq!(
        message,
        format!("failed to load model broken:latest: invalid model file (request {id})")
    );
    assert!(!message.contains(&*store.to_string_lossy()), "{message}");
    // The store's other models are served all the same.
    let (status, _) = json_reply(
        post(
            &format!("{base}/api/generate"),
            json!({"model": "smollm2", "prompt": "hi", "stream": false,
                "options": {"num_predict": 1}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_ids_and_options_are_400s_with_short_bodies() {
    let base = TestServer::default()
        .spawn(&["smollm2", "all-minilm"])
        .await;
    let (status, v) = json_reply(
        post(
            &format!("{base}/api/generate"),
            json!({"model": "smollm2", "prompt": "more", "context": [1, 2, 4_000_000_000u64],
                "stream": false}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        v["error"],
        "context holds token 4000000000, outside the model's vocabulary of 49152 tokens"
    );
    let (status, v) = json_reply(
        post(
            &format!("{base}/api/embed"),
            json!({"model": "all-minilm", "input": "hi", "options": {"num_ctx": -1}}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, v),
        (400, json!({"error": "num_ctx must be positive, got -1"}))
    );
    // Streamed, the same refusal comes before any line.
    let r = post(
        &format!("{base}/api/generate"),
        json!({"model": "smollm2", "prompt": "more", "context": [99_999_999]}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let mut body = r.bytes_stream();
    let first = body.next().await.expect("a body").expect("bytes");
    assert!(std::str::from_utf8(&first)
        .expect("utf-8")
        .contains("vocabulary"));
}
