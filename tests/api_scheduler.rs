//! The scheduler seen through HTTP: the queue limit (503) losing nothing, cancelled
//! streams freeing their slot and KV, the KV budget gating admission, prefix reuse, and
//! context limits (truncation and context shift). State is read from `GET /metrics`.

mod common;

use std::time::Duration;

use common::{post, TestServer};
use futures::StreamExt;
use serde_json::{json, Value};

async fn post_json(url: &str, body: Value) -> Value {
    let r = post(url, body).await;
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

/// One series of `/metrics` (one model is loaded in these tests); `None` before the
/// model is loaded.
async fn try_metric(base: &str, name: &str) -> Option<u64> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix('{'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn metric(base: &str, name: &str) -> u64 {
    try_metric(base, name)
        .await
        .unwrap_or_else(|| panic!("no series {name}"))
}

/// Polls `/metrics` until `want` holds (the worker publishes between steps).
async fn wait_for(base: &str, what: &str, want: impl Fn(u64) -> bool) -> u64 {
    for _ in 0..6000 {
        if let Some(v) = try_metric(base, what).await.filter(|&v| want(v)) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics");
    panic!(
        "{what} never reached the expected value:\n{}",
        all.text().await.unwrap_or_default()
    );
}

fn chat(content: &str, options: Value) -> Value {
    json!({"model": "smollm2", "stream": false, "options": options,
        "messages": [{"role": "user", "content": content}]})
}

fn text_of(v: &Value) -> String {
    v["message"]["content"]
        .as_str()
        .expect("content")
        .to_string()
}

type Body = std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// A streamed chat that keeps going until dropped; returns once its first chunk arrived,
/// with that chunk.
async fn long_stream(base: &str, content: &str, options: Value) -> (Vec<u8>, Body) {
    let mut body = chat(content, options);
    body["stream"] = json!(true);
    let r = post(&format!("{base}/api/chat"), body).await;
    assert_eq!(r.status(), 200);
    let mut s: Body = Box::pin(r.bytes_stream());
    let first = s.next().await.expect("a first chunk").expect("bytes");
    assert!(!first.is_empty());
    (first.to_vec(), s)
}

/// Reads a streamed chat to the end and returns its text.
async fn drain((head, stream): (Vec<u8>, Body)) -> String {
    let rest: Vec<u8> = stream.map(|b| b.expect("bytes").to_vec()).concat().await;
    String::from_utf8([head, rest].concat())
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json line"))
        .map(|v| {
            v["message"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn full_queue_answers_503_and_loses_nothing_admitted() {
    let base = TestServer {
        max_running: 1,
        max_queue: 2,
        ..TestServer::default()
    }
    .spawn(&["smollm2"])
    .await;
    let url = format!("{base}/api/chat");
    let greedy = |n: u64| json!({"temperature": 0, "num_predict": n});

    // One running, two waiting: the queue is full.
    let head = long_stream(&base, "Count from one to twenty.", greedy(40)).await;
    let queued: Vec<_> = ["Name a color.", "Name an animal."]
        .into_iter()
        .map(|q| tokio::spawn(post_json_owned(url.clone(), chat(q, greedy(8)))))
        .collect();
    wait_for(&base, "rollama_requests_waiting", |n| n == 2).await;

    let r = post(&url, chat("One too many.", greedy(8))).await;
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({"error": "server busy, please try again.  maximum pending requests exceeded"})
    );
    assert_eq!(metric(&base, "rollama_requests_rejected_total").await, 1);

    // Everything admitted completes, identical to running it on an idle server.
    let head_text = drain(head).await;
    let mut queued_texts = vec![];
    for q in queued {
        queued_texts.push(text_of(&q.await.expect("task")));
    }
    let alone = post_json(&url, chat("Count from one to twenty.", greedy(40))).await;
    assert_eq!(head_text, text_of(&alone));
    for (q, got) in ["Name a color.", "Name an animal."]
        .iter()
        .zip(queued_texts)
    {
        let alone = post_json(&url, chat(q, greedy(8))).await;
        assert_eq!(got, text_of(&alone), "{q}");
    }
}

async fn post_json_owned(url: String, body: Value) -> Value {
    post_json(&url, body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelled_stream_frees_its_slot_and_kv_while_others_finish() {
    let base = TestServer::default().spawn(&["smollm2"]).await;
    let url = format!("{base}/api/chat");
    let keeper = json!({"temperature": 0, "num_predict": 60, "num_ctx": 512});
    let abandoned = long_stream(
        &base,
        "Count to a million.",
        json!({"temperature": 0, "num_predict": 100000, "num_ctx": 1024}),
    )
    .await;
    let kept = long_stream(&base, "Describe the ocean.", keeper.clone()).await;
    assert_eq!(metric(&base, "rollama_sequences_running").await, 2);
    // The abandoned one reserves its num_ctx, the other its prompt + num_predict.
    let both = metric(&base, "rollama_kv_reserved_tokens").await;
    assert!(both > 1024 && both < 1024 + 512, "reserved {both}");

    drop(abandoned);
    // The abandoned sequence leaves at the next step and its reservation goes with it,
    // while the other one is still streaming.
    let reserved = wait_for(&base, "rollama_kv_reserved_tokens", |n| n < both).await;
    assert!(
        reserved == both - 1024 || reserved == 0,
        "reserved {reserved}"
    );
    let text = drain(kept).await;
    let alone = post_json(&url, chat("Describe the ocean.", keeper)).await;
    assert_eq!(text, text_of(&alone));
    wait_for(&base, "rollama_sequences_running", |n| n == 0).await;
    assert_eq!(metric(&base, "rollama_kv_reserved_tokens").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn kv_budget_admits_only_what_fits_in_arrival_order() {
    // Room for two 256-position contexts; eight slots.
    let base = TestServer {
        max_running: 8,
        kv_tokens: Some(512),
        ..TestServer::default()
    }
    .spawn(&["smollm2"])
    .await;
    // Counting never ends on its own: all four want their whole context.
    let opts = json!({"temperature": 0, "num_predict": 100000, "num_ctx": 256});
    let mut streams = vec![];
    for start in [1, 20, 300, 4000] {
        let prompt: Vec<String> = (start..start + 4).map(|n| n.to_string()).collect();
        let body = json!({"model": "smollm2", "raw": true, "options": opts,
            "prompt": format!("{},", prompt.join(", "))});
        let url = format!("{base}/api/generate");
        streams.push(tokio::spawn(async move { post(&url, body).await }));
    }
    // Requests arrive and are admitted between steps: let all four settle first.
    wait_for(&base, "rollama_sequences_running", |n| n == 2).await;
    wait_for(&base, "rollama_requests_waiting", |n| n == 2).await;
    assert_eq!(metric(&base, "rollama_sequences_running").await, 2);
    assert_eq!(metric(&base, "rollama_kv_reserved_tokens").await, 512);
    assert_eq!(metric(&base, "rollama_kv_budget_tokens").await, 512);

    for s in streams {
        drop(s.await.expect("task"));
    }
    wait_for(&base, "rollama_sequences_running", |n| n == 0).await;
    wait_for(&base, "rollama_requests_waiting", |n| n == 0).await;
    assert_eq!(metric(&base, "rollama_kv_reserved_tokens").await, 0);

    // A context larger than the whole budget is clamped to it, not queued forever.
    let v = post_json(
        &format!("{base}/api/chat"),
        // Reserves min(num_ctx, prompt + num_predict): 512 only once num_ctx is clamped.
        chat(
            "Hi",
            json!({"temperature": 0, "num_predict": 600, "num_ctx": 100000,
            "stop": ["!", ".", "\n"]}),
        ),
    )
    .await;
    assert_eq!(v["done"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn prefix_reuse_skips_the_shared_history_and_changes_nothing_else() {
    let cached = TestServer::default().spawn(&["smollm2"]).await;
    let uncached = TestServer {
        prefix_cache_tokens: 0,
        ..TestServer::default()
    }
    .spawn(&["smollm2"])
    .await;
    let greedy = json!({"temperature": 0, "num_predict": 24});
    let first = json!([{"role": "user", "content": "What is the moon made of?"}]);
    let turn = |messages: &Value| json!({"model": "smollm2", "stream": false, "options": greedy, "messages": messages});
    let mut replies = vec![];
    for base in [&cached, &uncached] {
        let url = format!("{base}/api/chat");
        let one = post_json(&url, turn(&first)).await;
        let mut history = first.clone();
        let history_list = history.as_array_mut().expect("array");
        history_list.push(json!({"role": "assistant", "content": text_of(&one)}));
        history_list.push(json!({"role": "user", "content": "And the sun?"}));
        let two = post_json(&url, turn(&history)).await;
        replies.push((one, two));
    }
    let ((c1, c2), (u1, u2)) = (&replies[0], &replies[1]);
    assert_eq!(text_of(c1), text_of(u1));
    assert_eq!(text_of(c2), text_of(u2), "reuse must not change the output");
    assert_eq!(c1["prompt_eval_count"], u1["prompt_eval_count"]);
    let full = u2["prompt_eval_count"].as_u64().expect("count");
    let computed = c2["prompt_eval_count"].as_u64().expect("count");
    let reused = metric(&cached, "rollama_prompt_tokens_reused_total").await;
    let first_len = u1["prompt_eval_count"].as_u64().expect("count");
    assert!(
        reused >= first_len,
        "the whole first prompt is reused ({reused} < {first_len})"
    );
    assert_eq!(computed, full - reused, "only new tokens are counted");
    assert_eq!(
        metric(&uncached, "rollama_prompt_tokens_reused_total").await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn long_generations_shift_the_context_unless_told_not_to() {
    // No prefix reuse: both runs compute their whole prompt.
    let base = TestServer {
        prefix_cache_tokens: 0,
        ..TestServer::default()
    }
    .spawn(&["smollm2"])
    .await;
    let url = format!("{base}/api/generate");
    let run = |shift: bool| {
        json!({"model": "smollm2", "raw": true, "stream": false, "shift": shift,
            "prompt": "1, 2, 3, 4, 5, 6,",
            "options": {"temperature": 0, "num_ctx": 64, "num_predict": 120}})
    };
    let shifted = post_json(&url, run(true)).await;
    let stopped = post_json(&url, run(false)).await;

    // Without shifting, generation ends when the window is full.
    let prompt = stopped["prompt_eval_count"].as_u64().expect("count");
    let short = stopped["eval_count"].as_u64().expect("count");
    assert_eq!(stopped["done_reason"], "length");
    assert!(prompt + short <= 64, "{prompt} + {short}");
    // With it (the default), the window slides and generation goes on to num_predict.
    assert_eq!(shifted["eval_count"], 120);
    assert_eq!(shifted["done_reason"], "length");
    let long_text = shifted["response"].as_str().expect("text");
    let short_text = stopped["response"].as_str().expect("text");
    assert!(
        long_text.starts_with(short_text),
        "the shift happens after the unshifted text: {short_text:?} / {long_text:?}"
    );
    assert_eq!(shifted["prompt_eval_count"], prompt);
}

#[tokio::test(flavor = "multi_thread")]
async fn chats_longer_than_num_ctx_drop_old_turns_then_cut() {
    let base = TestServer::default().spawn(&["smollm2"]).await;
    let url = format!("{base}/api/chat");
    let long = "word ".repeat(300);
    let body = |messages: Value, truncate: bool| {
        json!({"model": "smollm2", "stream": false, "truncate": truncate, "messages": messages,
            "options": {"temperature": 0, "num_ctx": 128, "num_predict": 4}})
    };
    let single = json!([{"role": "user", "content": long}]);
    let r = post(&url, body(single.clone(), false)).await;
    assert_eq!(r.status(), 400, "truncate:false refuses");

    // A single oversized message cannot be dropped: its tokens keep the head and tail.
    let v = post_json(&url, body(single, true)).await;
    let n = v["prompt_eval_count"].as_u64().expect("count");
    assert!(n <= 64, "half the window: {n}");
    assert_eq!(v["done"], true);

    // Older turns go first; the system message and the last message stay.
    let turns = json!([
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": long},
        {"role": "assistant", "content": "OK."},
        {"role": "user", "content": "Say hi."}
    ]);
    let v = post_json(&url, body(turns, true)).await;
    let n = v["prompt_eval_count"].as_u64().expect("count");
    assert!(n < 64, "only system, reply and question are left: {n}");
}
