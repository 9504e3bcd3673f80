//! `/api/generate` and `/api/chat` against a live server: NDJSON framing, final metrics,
//! `stream:false`, seeds, concurrency, and a client that disconnects mid-stream.

mod common;

use common::{ndjson, post, TestServer};
use futures::StreamExt;
use serde_json::{json, Value};

const METRICS: [&str; 6] = [
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
];

fn greedy(n: u64) -> Value {
    json!({"temperature": 0, "num_predict": n})
}

#[tokio::test(flavor = "multi_thread")]
async fn generate_streams_ndjson_and_matches_non_streamed() {
    let base = TestServer::default().spawn(&["smollm2"]).await;
    let url = format!("{base}/api/generate");
    let body = json!({"model": "smollm2", "prompt": "What is the capital of France?", "options": greedy(32)});
    let r = post(&url, body.clone()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let lines = ndjson(&r.text().await.expect("body"));
    let (last, chunks) = lines.split_last().expect("at least one line");
    assert!(chunks
        .iter()
        .all(|c| c["done"] == false && c["response"].is_string()));
    assert!(chunks
        .iter()
        .all(|c| c["model"] == "smollm2" && c["created_at"].is_string()));
    assert_eq!(last["done"], true);
    assert_eq!(last["response"], "");
    for m in METRICS {
        assert!(last[m].as_u64().is_some(), "final chunk lacks {m}: {last}");
    }
    // Either SmolLM2 ends its turn, or num_predict cuts it: the reason says which.
    let eval_count = last["eval_count"].as_u64().expect("eval_count");
    match last["done_reason"].as_str() {
        Some("stop") => assert!(eval_count > 0 && eval_count < 32, "{eval_count}"),
        Some("length") => assert_eq!(eval_count, 32),
        other => panic!("unexpected done_reason {other:?}"),
    }
    assert!(last["prompt_eval_count"].as_u64().expect("count") > 5);
    let context = last["context"].as_array().expect("context");
    assert_eq!(
        context.len() as u64,
        last["prompt_eval_count"].as_u64().expect("n") + eval_count
    );
    let streamed: String = chunks
        .iter()
        .map(|c| c["response"].as_str().unwrap_or_default())
        .collect();
    assert!(!streamed.is_empty());

    let mut body = body;
    body["stream"] = json!(false);
    let r = post(&url, body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let whole: Value = r.json().await.expect("json");
    assert_eq!(whole["response"].as_str(), Some(streamed.as_str()));
    assert_eq!(whole["done"], true);
    assert_eq!(whole["context"], last["context"]);

    // `context` continues a conversation; raw skips the template and returns no context.
    let r = post(
        &url,
        json!({"model": "smollm2", "prompt": "And of Germany?", "context": whole["context"],
        "stream": false, "options": greedy(4)}),
    )
    .await;
    let next: Value = r.json().await.expect("json");
    // The new prompt follows the old context (whose KV the prefix cache may supply, so
    // `prompt_eval_count` can be just the new tokens).
    let old = whole["context"].as_array().expect("context");
    let grown = next["context"].as_array().expect("context");
    assert!(grown.len() > old.len() && grown[..old.len()] == old[..]);
    assert!(next["prompt_eval_count"].as_u64().expect("n") > 0);
    let r = post(
        &url,
        json!({"model": "smollm2", "prompt": "def add(a, b):", "raw": true,
        "stream": false, "options": greedy(4)}),
    )
    .await;
    let raw: Value = r.json().await.expect("json");
    assert!(raw.get("context").is_none(), "{raw}");
    assert_eq!(raw["eval_count"], 4);
    assert_eq!(raw["done_reason"], "length", "num_predict reached");
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_streams_with_roles_and_stops() {
    let base = TestServer::default().spawn(&["smollm2"]).await;
    let url = format!("{base}/api/chat");
    let messages = json!([{"role": "System", "content": "You are terse."},
                          {"role": "user", "content": "Name three colors."}]);
    let r = post(
        &url,
        json!({"model": "smollm2", "messages": messages, "options": greedy(48)}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let lines = ndjson(&r.text().await.expect("body"));
    assert!(
        lines.iter().all(|l| l["message"]["role"] == "assistant"),
        "every line has message.role"
    );
    let last = lines.last().expect("lines");
    assert_eq!(last["done"], true);
    assert_eq!(last["message"]["content"], "");
    assert!(last.get("context").is_none());
    for m in METRICS {
        assert!(last[m].as_u64().is_some(), "final chunk lacks {m}");
    }
    let text: String = lines
        .iter()
        .map(|l| l["message"]["content"].as_str().unwrap_or_default())
        .collect();
    assert!(!text.is_empty());

    let r = post(
        &url,
        json!({"model": "smollm2", "messages": messages, "stream": false,
        "options": greedy(48)}),
    )
    .await;
    let whole: Value = r.json().await.expect("json");
    assert_eq!(whole["message"]["content"].as_str(), Some(text.as_str()));
    assert_eq!(whole["message"]["role"], "assistant");

    // A stop string cuts the text before it and ends with reason "stop".
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() >= 3 {
        let stop = words[2];
        let mut opts = greedy(48);
        opts["stop"] = json!([stop]);
        let r = post(
            &url,
            json!({"model": "smollm2", "messages": messages, "stream": false, "options": opts}),
        )
        .await;
        let cut: Value = r.json().await.expect("json");
        let content = cut["message"]["content"].as_str().expect("content");
        assert!(!content.contains(stop), "{content:?} still has {stop:?}");
        assert!(
            text.starts_with(content),
            "{content:?} is not a prefix of {text:?}"
        );
        assert_eq!(cut["done_reason"], "stop");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn seeds_reproduce_and_concurrent_requests_match_sequential() {
    let base = TestServer::default().spawn(&["smollm2"]).await;
    let url = format!("{base}/api/generate");
    let sample = |seed: u64| {
        json!({"model": "smollm2", "prompt": "Tell me a story.", "stream": false,
        "options": {"seed": seed, "temperature": 1.0, "top_k": 50, "num_predict": 16}})
    };
    let text = |v: Value| {
        v["response"]
            .as_str()
            .map(str::to_string)
            .expect("response")
    };
    let a = text(post(&url, sample(42)).await.json().await.expect("json"));
    let b = text(post(&url, sample(42)).await.json().await.expect("json"));
    assert_eq!(a, b, "same seed, same text");

    let prompts = [
        "Hello!",
        "Write a haiku about rust.",
        "What is 2+2?",
        "List three fruits.",
    ];
    let body =
        |p: &str| json!({"model": "smollm2", "prompt": p, "stream": false, "options": greedy(16)});
    let mut sequential = vec![];
    for p in prompts {
        sequential.push(text(post(&url, body(p)).await.json().await.expect("json")));
    }
    let concurrent = futures::future::join_all(prompts.iter().map(|p| {
        let url = url.clone();
        let b = body(p);
        async move { post(&url, b).await.json::<Value>().await.expect("json") }
    }))
    .await;
    let concurrent: Vec<String> = concurrent.into_iter().map(text).collect();
    assert_eq!(sequential, concurrent);

    // `num_thread` changes how the work is split, never the result; a value of the wrong
    // type fails like any known option does in Ollama (500, its message).
    let mut one_thread = body(prompts[1]);
    one_thread["options"]["num_thread"] = json!(1);
    let single = text(post(&url, one_thread).await.json().await.expect("json"));
    assert_eq!(single, sequential[1]);
    let mut bad = body(prompts[1]);
    bad["options"]["num_thread"] = json!("many");
    let resp = post(&url, bad).await;
    assert_eq!(resp.status(), 500);
    let err: Value = resp.json().await.expect("json");
    assert_eq!(
        err["error"],
        "option \"num_thread\" must be of type integer"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn disconnect_mid_stream_frees_the_slot() {
    // One sequence at a time: if the abandoned generation kept running, the next request
    // would wait for its 100k tokens and this test would hang.
    let base = TestServer {
        max_running: 1,
        ..TestServer::default()
    }
    .spawn(&["smollm2"])
    .await;
    let url = format!("{base}/api/generate");
    let r = post(
        &url,
        json!({"model": "smollm2", "prompt": "Count to a million.",
        "options": {"num_predict": 100000, "num_ctx": 8192, "temperature": 0}}),
    )
    .await;
    let mut body = r.bytes_stream();
    let first = body.next().await.expect("a first chunk").expect("bytes");
    assert!(!first.is_empty());
    drop(body);

    let next = tokio::time::timeout(
        std::time::Duration::from_secs(300),
        post(
            &url,
            json!({"model": "smollm2", "prompt": "Hi", "stream": false, "options": greedy(3)}),
        ),
    )
    .await
    .expect("the server kept serving after a disconnect");
    let v: Value = next.json().await.expect("json");
    assert_eq!(v["done"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn failure_mid_stream_ends_with_an_error_line() {
    let base = TestServer {
        fail_after_tokens: Some(3),
        ..TestServer::default()
    }
    .spawn(&["smollm2"])
    .await;
    let body = json!({"model": "smollm2", "messages": [{"role": "user", "content": "Tell me a long story."}],
        "options": {"temperature": 0, "num_predict": 50}});
    let r = post(&format!("{base}/api/chat"), body.clone()).await;
    assert_eq!(r.status(), 200, "headers were sent before the failure");
    let lines = ndjson(&r.text().await.expect("body"));
    let (last, before) = lines.split_last().expect("lines");
    assert_eq!(last, &json!({"error": "injected failure (test hook)"}));
    assert!(
        before.iter().all(|l| l["done"] == false),
        "no done line after an error"
    );
    // Not streamed: the error is the status.
    let mut body = body;
    body["stream"] = json!(false);
    let r = post(&format!("{base}/api/chat"), body).await;
    assert_eq!(r.status(), 500);
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({"error": "injected failure (test hook)"})
    );
}
