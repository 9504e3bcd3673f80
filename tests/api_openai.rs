//! `/v1` seen by a raw HTTP client: SSE framing byte for byte, streamed = non-streamed,
//! OpenAI error bodies with native statuses, keep-alive comments, mid-stream errors,
//! sampling parameters and logprobs. (The official `openai` client: `python_client.rs`.)

mod common;

use common::{post, TestServer};
use serde_json::{json, Value};

async fn post_ok(url: &str, body: Value) -> Value {
    let r = post(url, body).await;
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

fn chat(content: &str, extra: Value) -> Value {
    let mut body = json!({
        "model": "smollm2",
        "messages": [{"role": "user", "content": content}],
        "temperature": 0,
    });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        body[k] = v;
    }
    body
}

/// The `data:` payloads of an SSE body, checking that every event is exactly
/// `data: <payload>\n\n` (comments allowed when `comments`).
fn events(body: &str, comments: bool) -> Vec<String> {
    assert!(body.ends_with("\n\n"), "unterminated event: {body:?}");
    body[..body.len() - 2]
        .split("\n\n")
        .filter(|e| {
            let comment = e.starts_with(':');
            assert!(!comment || comments, "unexpected comment {e:?}");
            !comment
        })
        .map(|e| {
            assert!(!e.contains('\n'), "multi-line event {e:?}");
            e.strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data event: {e:?}"))
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_stream_is_framed_byte_for_byte_and_matches_the_non_streamed_reply() {
    let base = TestServer::default().spawn(&["smollm2"]).await;
    let url = format!("{base}/v1/chat/completions");
    let ask = chat("Name three colors.", json!({"max_tokens": 24}));
    let whole = post_ok(&url, ask.clone()).await;
    assert_eq!(whole["object"], "chat.completion");
    assert!(whole["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("chatcmpl-")));
    let choice = &whole["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["finish_reason"], "length");
    assert_eq!(whole["usage"]["completion_tokens"], 24);
    let usage = whole["usage"].clone();
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(usage["prompt_tokens"].as_u64().expect("n") + 24)
    );

    let mut streamed = ask;
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let r = post(&url, streamed).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    assert_eq!(r.headers()["cache-control"], "no-cache");
    let body = r.text().await.expect("body");

    // Rebuild the exact bytes expected from the deltas the stream carried.
    let payloads = events(&body, false);
    let first: Value = serde_json::from_str(&payloads[0]).expect("json");
    let (id, created) = (first["id"].as_str().expect("id"), &first["created"]);
    let head = format!(
        r#"{{"id":"{id}","object":"chat.completion.chunk","created":{created},"model":"smollm2","system_fingerprint":"fp_ollama","#
    );
    let delta = |d: Value, finish: Value| {
        format!(
            "data: {head}\"choices\":[{{\"index\":0,\"delta\":{d},\"logprobs\":null,\"finish_reason\":{finish}}}]}}\n\n"
        )
    };
    let deltas: Vec<String> = payloads[1..payloads.len() - 3]
        .iter()
        .map(|p| {
            let v: Value = serde_json::from_str(p).expect("json");
            v["choices"][0]["delta"]["content"]
                .as_str()
                .expect("content delta")
                .to_string()
        })
        .collect();
    let mut expected = delta(json!({"role": "assistant", "content": ""}), Value::Null);
    for d in &deltas {
        expected += &delta(json!({ "content": d }), Value::Null);
    }
    expected += &delta(json!({}), json!("length"));
    expected += &format!("data: {head}\"choices\":[],\"usage\":{usage}}}\n\ndata: [DONE]\n\n");
    assert_eq!(body, expected);
    assert_eq!(
        deltas.concat(),
        choice["message"]["content"].as_str().expect("text")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn completions_stream_and_whole_agree_and_take_the_prompt_raw() {
    let base = TestServer::default().spawn(&["smollm2"]).await;
    let url = format!("{base}/v1/completions");
    let ask = json!({"model": "smollm2", "prompt": "The capital of France is",
        "max_tokens": 8, "temperature": 0});
    // Raw: the same as /api/generate with raw, no template.
    let native = post_ok(
        &format!("{base}/api/generate"),
        json!({"model": "smollm2", "prompt": "The capital of France is", "raw": true,
            "stream": false, "options": {"temperature": 0, "num_predict": 8}}),
    )
    .await;
    let whole = post_ok(&url, ask.clone()).await;
    assert_eq!(whole["object"], "text_completion");
    let text = whole["choices"][0]["text"]
        .as_str()
        .expect("text")
        .to_string();
    assert!(text.contains("Paris"), "{text}");
    assert_eq!(native["response"], text.as_str());
    // The whole prompt is counted, even though its KV came from the prefix cache.
    assert_eq!(whole["usage"]["prompt_tokens"], native["prompt_eval_count"]);

    let mut streamed = ask;
    streamed["stream"] = json!(true);
    let body = post(&url, streamed).await.text().await.expect("body");
    let payloads = events(&body, false);
    assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = payloads[..payloads.len() - 1]
        .iter()
        .map(|p| serde_json::from_str(p).expect("json"))
        .collect();
    let joined: String = chunks
        .iter()
        .map(|c| {
            c["choices"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(joined, text);
    let (last, rest) = chunks.split_last().expect("chunks");
    assert_eq!(last["choices"][0]["finish_reason"], "length");
    assert!(rest
        .iter()
        .all(|c| c["choices"][0]["finish_reason"].is_null()));
}

#[tokio::test(flavor = "multi_thread")]
async fn failure_mid_stream_is_an_sse_error_event_without_done() {
    let base = TestServer {
        fail_after_tokens: Some(3),
        ..TestServer::default()
    }
    .spawn(&["smollm2"])
    .await;
    let body = post(
        &format!("{base}/v1/chat/completions"),
        chat(
            "Tell me a story.",
            json!({"stream": true, "max_tokens": 20}),
        ),
    )
    .await
    .text()
    .await
    .expect("body");
    let payloads = events(&body, false);
    let last: Value = serde_json::from_str(payloads.last().expect("events")).expect("json");
    assert_eq!(
        last,
        json!({"error": {"message": "injected failure (test hook)", "type": "api_error",
            "param": null, "code": null}})
    );
    assert!(
        payloads.len() >= 4,
        "role chunk and 3 deltas before: {body}"
    );
    assert!(!body.contains("[DONE]"));
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_streams_get_keep_alive_comments() {
    let base = TestServer {
        // Shorter than any forward pass, so every wait between tokens is "idle".
        sse_keep_alive: std::time::Duration::from_millis(1),
        ..TestServer::default()
    }
    .spawn(&["smollm2"])
    .await;
    let body = post(
        &format!("{base}/v1/chat/completions"),
        chat("Count to five.", json!({"stream": true, "max_tokens": 6})),
    )
    .await
    .text()
    .await
    .expect("body");
    assert!(body.contains("\n\n: keep-alive\n\n"), "{body}");
    let payloads = events(&body, true);
    assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
}

async fn error_of(r: reqwest::Response, status: u16) -> (String, String) {
    assert_eq!(r.status(), status);
    assert_eq!(
        r.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let v: Value = r.json().await.expect("json");
    let e = &v["error"];
    assert!(e["param"].is_null() && e["code"].is_null(), "{v}");
    let s = |k: &str| e[k].as_str().expect("string").to_string();
    (s("type"), s("message"))
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_openai_bodies_with_native_statuses() {
    let base = TestServer::default().spawn(&["smollm2"]).await;
    let chat_url = format!("{base}/v1/chat/completions");
    let client = reqwest::Client::new();

    let (kind, msg) = error_of(
        post(&chat_url, chat("hi", json!({"model": "nope"}))).await,
        404,
    )
    .await;
    assert_eq!(
        (kind.as_str(), msg.as_str()),
        ("not_found_error", "model 'nope' not found")
    );
    let r = post(
        &format!("{base}/v1/completions"),
        json!({"model": "nope", "prompt": "x"}),
    )
    .await;
    assert_eq!(error_of(r, 404).await.0, "not_found_error");
    let r = client
        .get(format!("{base}/v1/models/nope"))
        .send()
        .await
        .expect("get");
    assert_eq!(error_of(r, 404).await.0, "not_found_error");

    let bad = client
        .post(&chat_url)
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(error_of(bad, 400).await.0, "invalid_request_error");
    for (body, needle) in [
        (chat("hi", json!({"model": ""})), "model is required"),
        (
            json!({"model": "smollm2", "messages": []}),
            "[] is too short - 'messages'",
        ),
        (chat("hi", json!({"n": 2})), "n = 2 is not supported"),
        (
            chat("hi", json!({"temperature": 3})),
            "temperature must be between 0 and 2",
        ),
        (
            chat("hi", json!({"top_logprobs": 3})),
            "top_logprobs requires logprobs",
        ),
        (
            chat("hi", json!({"logprobs": true, "top_logprobs": 21})),
            "top_logprobs must be between 0 and 20",
        ),
        (
            chat("hi", json!({"max_tokens": 0})),
            "max_tokens must be at least 1",
        ),
        (
            chat("hi", json!({"response_format": {"type": "xml"}})),
            "invalid response_format",
        ),
        (
            chat("hi", json!({"reasoning_effort": "high"})),
            "does not support thinking",
        ),
        (
            chat(
                "hi",
                json!({"tools": [{"type": "function", "function": {"name": "f"}}]}),
            ),
            "does not support tools",
        ),
        (
            json!({"model": "smollm2", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]}),
            "does not support vision",
        ),
    ] {
        let (kind, msg) = error_of(post(&chat_url, body.clone()).await, 400).await;
        assert_eq!(kind, "invalid_request_error", "{body}");
        assert!(msg.contains(needle), "{msg:?} lacks {needle:?} for {body}");
    }
    let r = post(
        &format!("{base}/v1/completions"),
        json!({"model": "smollm2", "prompt": ["a", "b"]}),
    )
    .await;
    assert!(error_of(r, 400).await.1.contains("prompt must be a string"));
    let bad_schema = json!({"response_format": {"type": "json_schema", "json_schema":
        {"name": "x", "schema": {"type": "object", "not": {"required": ["a"]}}}}});
    let r = post(&chat_url, chat("hi", bad_schema)).await;
    let (kind, msg) = error_of(r, 400).await;
    assert_eq!(kind, "invalid_request_error");
    assert!(msg.contains("not"), "{msg}");
    let r = post(&format!("{base}/v1/responses"), json!({})).await;
    assert_eq!(error_of(r, 501).await.0, "api_error");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_queue_is_503_with_retry_after() {
    let base = TestServer {
        max_running: 1,
        max_queue: 1,
        ..TestServer::default()
    }
    .spawn(&["smollm2"])
    .await;
    let url = format!("{base}/v1/chat/completions");
    let running = post(
        &url,
        chat(
            "Count from one to fifty.",
            json!({"stream": true, "max_tokens": 200}),
        ),
    )
    .await;
    assert_eq!(running.status(), 200);
    // The stream's headers come before the worker starts it: wait until it runs.
    wait_for_metric(&base, "rollama_sequences_running", 1).await;
    let queued = tokio::spawn(post_ok_owned(
        url.clone(),
        chat("Name a color.", json!({"max_tokens": 4})),
    ));
    wait_for_metric(&base, "rollama_requests_waiting", 1).await;
    let r = post(&url, chat("One too many.", json!({}))).await;
    assert_eq!(r.headers()["retry-after"], "1");
    let (kind, msg) = error_of(r, 503).await;
    assert_eq!(kind, "api_error");
    assert_eq!(
        msg,
        "server busy, please try again.  maximum pending requests exceeded"
    );
    drop(running);
    let done = queued.await.expect("task");
    assert_eq!(done["usage"]["completion_tokens"], 4);
}

/// Polls `/metrics` until the series `name` reads `value`.
async fn wait_for_metric(base: &str, name: &str, value: u64) {
    let want = format!(" {value}");
    loop {
        let m = reqwest::get(format!("{base}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        if m.lines().any(|l| l.starts_with(name) && l.ends_with(&want)) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn post_ok_owned(url: String, body: Value) -> Value {
    post_ok(&url, body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn models_list_and_retrieve() {
    let base = TestServer::default().spawn(&["smollm2", "gemma3"]).await;
    let list: Value = reqwest::get(format!("{base}/v1/models"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(list["object"], "list");
    let mut ids: Vec<&str> = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| m["id"].as_str().expect("id"))
        .collect();
    ids.sort();
    assert_eq!(ids, ["gemma3:latest", "smollm2:latest"]);
    for m in list["data"].as_array().expect("data") {
        assert_eq!(m["object"], "model");
        assert_eq!(m["owned_by"], "library");
        assert!(m["created"].as_i64().is_some_and(|t| t > 1_600_000_000));
    }
    let one: Value = reqwest::get(format!("{base}/v1/models/smollm2:latest"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(one["id"], "smollm2:latest");
    assert_eq!(one["object"], "model");
}

#[tokio::test(flavor = "multi_thread")]
async fn sampling_parameters_take_effect() {
    let base = TestServer::default().spawn(&["smollm2"]).await;
    let url = format!("{base}/v1/chat/completions");
    let text = |v: &Value| {
        v["choices"][0]["message"]["content"]
            .as_str()
            .expect("text")
            .to_string()
    };
    let ask = "List the numbers from one to ten in words.";

    // max_completion_tokens wins over max_tokens.
    let v = post_ok(
        &url,
        chat(ask, json!({"max_tokens": 30, "max_completion_tokens": 5})),
    )
    .await;
    assert_eq!(v["usage"]["completion_tokens"], 5);
    assert_eq!(v["choices"][0]["finish_reason"], "length");

    // stop as a string and as a list: the text ends before it, finish_reason stop.
    let free = text(&post_ok(&url, chat(ask, json!({"max_tokens": 40}))).await);
    let word = free
        .split_whitespace()
        .nth(3)
        .expect("a fourth word")
        .to_string();
    for stop in [json!(word), json!(["zzzz", word])] {
        let v = post_ok(&url, chat(ask, json!({"max_tokens": 40, "stop": stop}))).await;
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert!(
            free.starts_with(&text(&v)) && !text(&v).contains(&word),
            "{stop}"
        );
    }

    // Seeds reproduce at temperature 1; unset temperature is 1 too (not greedy).
    let seeded = |seed: u64| {
        chat(
            ask,
            json!({"temperature": 1, "seed": seed, "max_tokens": 24}),
        )
    };
    let a = text(&post_ok(&url, seeded(7)).await);
    assert_eq!(a, text(&post_ok(&url, seeded(7)).await));
    let draws: Vec<String> =
        futures::future::join_all((1..=4).map(|s| post_ok_owned(url.clone(), seeded(s))))
            .await
            .iter()
            .map(text)
            .collect();
    assert!(draws
        .iter()
        .any(|d| *d != free[..].chars().take(d.len()).collect::<String>()));

    // Penalties change a greedy answer that repeats itself.
    let penalized = text(
        &post_ok(
            &url,
            chat(
                ask,
                json!({"max_tokens": 40, "frequency_penalty": 2.0, "presence_penalty": 1.0}),
            ),
        )
        .await,
    );
    assert_ne!(penalized, free);
}

#[tokio::test(flavor = "multi_thread")]
async fn logprobs_describe_the_generated_tokens() {
    let base = TestServer::default().spawn(&["smollm2"]).await;
    let v = post_ok(
        &format!("{base}/v1/chat/completions"),
        chat(
            "Say hello.",
            json!({"max_tokens": 8, "logprobs": true, "top_logprobs": 3}),
        ),
    )
    .await;
    let content = v["choices"][0]["logprobs"]["content"]
        .as_array()
        .expect("content")
        .clone();
    assert_eq!(content.len(), 8);
    let mut joined = vec![];
    for lp in &content {
        let top = lp["top_logprobs"].as_array().expect("top");
        assert_eq!(top.len(), 3);
        // Greedy: the chosen token is the most likely one.
        assert_eq!(top[0]["token"], lp["token"]);
        assert_eq!(top[0]["logprob"], lp["logprob"]);
        let ps: Vec<f64> = top
            .iter()
            .map(|t| t["logprob"].as_f64().expect("lp"))
            .collect();
        assert!(
            ps.windows(2).all(|w| w[0] >= w[1]) && ps[0] <= 0.0,
            "{ps:?}"
        );
        joined.extend(
            lp["bytes"]
                .as_array()
                .expect("bytes")
                .iter()
                .map(|b| b.as_u64().expect("byte") as u8),
        );
    }
    assert_eq!(
        String::from_utf8(joined).expect("utf-8"),
        v["choices"][0]["message"]["content"]
            .as_str()
            .expect("text")
    );

    // The native API reports the same numbers.
    let native = post_ok(
        &format!("{base}/api/chat"),
        json!({"model": "smollm2", "messages": [{"role": "user", "content": "Say hello."}], "stream": false,
            "logprobs": true, "top_logprobs": 3, "options": {"temperature": 0, "num_predict": 8}}),
    )
    .await;
    assert_eq!(
        native["logprobs"].as_array().expect("native logprobs"),
        &content
    );
    let r = post(
        &format!("{base}/api/generate"),
        json!({"model": "smollm2", "prompt": "hi", "logprobs": true, "top_logprobs": 21}),
    )
    .await;
    assert_eq!(r.status(), 400);
}
