//! Observability end to end: `/metrics` read back by a real Prometheus text parser after
//! known traffic, health routes, `/api/status` while a stream runs, tokenize/detokenize,
//! request ids on every kind of response, and JSON logs from the real binary.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{ndjson_reply, post, temp_store, TestServer};
use prometheus_parse::{Sample, Scrape, Value as Prom};
use serde_json::{json, Value};

fn url(base: &str, path: &str) -> String {
    format!("{base}{path}")
}

async fn get(url: &str) -> reqwest::Response {
    reqwest::get(url).await.expect("request")
}

async fn json_of(r: reqwest::Response, status: u16) -> Value {
    assert_eq!(r.status(), status);
    r.json().await.expect("json body")
}

/// `/metrics`, parsed.
async fn scrape(base: &str) -> Vec<Sample> {
    let r = get(&url(base, "/metrics")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = r.text().await.expect("body");
    let lines = text.lines().map(|l| Ok(l.to_string()));
    Scrape::parse(lines).expect("Prometheus text").samples
}

fn label<'a>(s: &'a Sample, name: &str) -> &'a str {
    s.labels.get(name).unwrap_or("")
}

/// A counter's samples by the values of `labels`.
fn counters(samples: &[Sample], name: &str, labels: &[&str]) -> HashMap<Vec<String>, f64> {
    samples
        .iter()
        .filter(|s| s.metric == name)
        .map(|s| {
            let Prom::Counter(v) = s.value else {
                panic!("{name} is not a counter: {:?}", s.value)
            };
            (labels.iter().map(|l| label(s, l).to_string()).collect(), v)
        })
        .collect()
}

/// The `_count` of every series of histogram `name`, summed, after checking each one's
/// buckets are cumulative and end in `+Inf` = `_count`.
fn histogram_count(samples: &[Sample], name: &str) -> f64 {
    let mut total = 0.0;
    for s in samples.iter().filter(|s| s.metric == name) {
        let Prom::Histogram(buckets) = &s.value else {
            panic!("{name} is not a histogram")
        };
        let mut sorted = buckets.clone();
        sorted.sort_by(|a, b| a.less_than.total_cmp(&b.less_than));
        assert!(
            sorted.windows(2).all(|w| w[0].count <= w[1].count),
            "{name}"
        );
        let last = sorted.last().expect("buckets");
        assert!(last.less_than.is_infinite(), "{name} ends in +Inf");
        let count = samples
            .iter()
            .find(|c| c.metric == format!("{name}_count") && c.labels == s.labels)
            .map(|c| match c.value {
                Prom::Untyped(v) | Prom::Counter(v) | Prom::Gauge(v) => v,
                _ => panic!("{name}_count"),
            })
            .expect("_count");
        assert_eq!(last.count, count, "{name}: +Inf bucket = count");
        total += count;
    }
    total
}

/// What a generation's reply said it cost.
#[derive(Default, Debug)]
struct Cost {
    prompt: u64,
    generated: u64,
}

impl Cost {
    fn add(&mut self, prompt: &Value, generated: &Value) {
        self.prompt += prompt.as_u64().expect("prompt count");
        self.generated += generated.as_u64().unwrap_or(0);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_exactly_the_traffic_sent() {
    let base = TestServer::default()
        .spawn(&["smollm2", "all-minilm"])
        .await;
    let opts = |n: u64| json!({"num_predict": n, "temperature": 0});
    let mut cost = Cost::default();
    // Tokens per generation, for the latency histograms.
    let mut evals: Vec<u64> = vec![];

    // First, while nothing is cached: `usage.prompt_tokens` counts a reused prefix too,
    // the engine's series (and the rate limits) only the prompt tokens it evaluated, as
    // Ollama's `prompt_eval_count` does.
    let body = json!({"model": "smollm2", "max_tokens": 3, "temperature": 0,
        "messages": [{"role": "user", "content": "Name a tree."}]});
    let r = json_of(post(&url(&base, "/v1/chat/completions"), body).await, 200).await;
    cost.add(
        &r["usage"]["prompt_tokens"],
        &r["usage"]["completion_tokens"],
    );
    evals.push(r["usage"]["completion_tokens"].as_u64().expect("tokens"));
    for (prompt, n) in [("Name a fruit.", 3), ("Name a color.", 2)] {
        let body =
            json!({"model": "smollm2", "prompt": prompt, "stream": false, "options": opts(n)});
        let r = json_of(post(&url(&base, "/api/generate"), body).await, 200).await;
        cost.add(&r["prompt_eval_count"], &r["eval_count"]);
        evals.push(r["eval_count"].as_u64().expect("eval_count"));
    }
    let body = json!({"model": "smollm2", "prompt": "Count to ten.", "options": opts(4)});
    let lines = ndjson_reply(post(&url(&base, "/api/generate"), body).await).await;
    let last = lines.last().expect("final line");
    cost.add(&last["prompt_eval_count"], &last["eval_count"]);
    evals.push(last["eval_count"].as_u64().expect("eval_count"));

    let chat = |content: &str, stream: bool, n: u64| {
        json!({"model": "smollm2", "stream": stream, "options": opts(n),
            "messages": [{"role": "user", "content": content}]})
    };
    let r = json_of(
        post(&url(&base, "/api/chat"), chat("Say hi.", false, 3)).await,
        200,
    )
    .await;
    cost.add(&r["prompt_eval_count"], &r["eval_count"]);
    evals.push(r["eval_count"].as_u64().expect("eval_count"));
    let lines = ndjson_reply(post(&url(&base, "/api/chat"), chat("Say bye.", true, 3)).await).await;
    let last = lines.last().expect("final line");
    cost.add(&last["prompt_eval_count"], &last["eval_count"]);
    evals.push(last["eval_count"].as_u64().expect("eval_count"));

    let r = get(&url(&base, "/no/such/route")).await;
    assert_eq!(r.status(), 404);
    json_of(get(&url(&base, "/v1/models")).await, 200).await;
    let body = json!({"model": "all-minilm", "input": ["a first sentence", "a second one"]});
    let r = json_of(post(&url(&base, "/api/embed"), body).await, 200).await;
    cost.add(&r["prompt_eval_count"], &json!(0));

    let expected: HashMap<Vec<String>, f64> = [
        (["/api/generate", "POST", "200", ""], 3.0),
        (["/api/chat", "POST", "200", ""], 2.0),
        (["unmatched", "GET", "404", ""], 1.0),
        (["/v1/chat/completions", "POST", "200", ""], 1.0),
        (["/v1/models", "GET", "200", ""], 1.0),
        (["/api/embed", "POST", "200", ""], 1.0),
    ]
    .into_iter()
    .map(|(k, v)| (k.iter().map(|s| s.to_string()).collect(), v))
    .collect();
    let samples = scrape(&base).await;
    let mut requests = counters(
        &samples,
        "rollama_http_requests_total",
        &["route", "method", "status", "key"],
    );
    // This scrape counts once its own body has been sent: not in what it shows.
    assert_eq!(
        requests.remove(&vec![
            "/metrics".into(),
            "GET".into(),
            "200".into(),
            "".into()
        ]),
        None
    );
    assert_eq!(requests, expected);

    // One duration per request, by route.
    for (route, n) in [
        ("/api/generate", 3.0),
        ("/api/chat", 2.0),
        ("unmatched", 1.0),
    ] {
        let one: Vec<Sample> = samples
            .iter()
            .filter(|s| label(s, "route") == route)
            .cloned()
            .collect();
        assert_eq!(
            histogram_count(&one, "rollama_http_request_duration_seconds"),
            n,
            "{route}"
        );
    }
    assert_eq!(
        histogram_count(&samples, "rollama_http_request_duration_seconds"),
        9.0
    );

    let generations = evals.len() as f64;
    let with_tokens = evals.iter().filter(|&&n| n >= 1).count() as f64;
    let gaps: u64 = evals.iter().map(|n| n.saturating_sub(1)).sum();
    assert_eq!(
        histogram_count(&samples, "rollama_time_to_first_token_seconds"),
        with_tokens
    );
    assert_eq!(
        histogram_count(&samples, "rollama_inter_token_latency_seconds"),
        gaps as f64
    );
    assert_eq!(
        histogram_count(&samples, "rollama_queue_wait_seconds"),
        generations
    );
    // The engine's histograms are labelled with the store's name of the model.
    assert!(samples
        .iter()
        .filter(|s| s.metric == "rollama_time_to_first_token_seconds")
        .all(|s| label(s, "model") == "smollm2:latest"));

    let tokens = counters(&samples, "rollama_key_tokens_total", &["key", "kind"]);
    assert_eq!(
        tokens.get(&vec!["".to_string(), "prompt".to_string()]),
        Some(&(cost.prompt as f64)),
        "{cost:?}"
    );
    assert_eq!(
        tokens.get(&vec!["".to_string(), "generated".to_string()]),
        Some(&(cost.generated as f64)),
        "{cost:?}"
    );

    let loads = counters(&samples, "rollama_model_loads_total", &["model"]);
    for model in ["smollm2:latest", "all-minilm:latest"] {
        assert!(
            loads.get(&vec![model.to_string()]) >= Some(&1.0),
            "{loads:?}"
        );
        let one: Vec<Sample> = samples
            .iter()
            .filter(|s| label(s, "model") == model)
            .cloned()
            .collect();
        assert!(histogram_count(&one, "rollama_model_load_seconds") >= 1.0);
    }
    // Nothing was unloaded: no series yet.
    assert!(counters(&samples, "rollama_model_unloads_total", &["reason"]).is_empty());

    // The engine's own series keep their names, labels and types.
    let gauge = samples
        .iter()
        .find(|s| s.metric == "rollama_requests_waiting" && label(s, "model") == "smollm2:latest")
        .expect("rollama_requests_waiting");
    assert_eq!(gauge.value, Prom::Gauge(0.0));
    let generated = counters(&samples, "rollama_generated_tokens_total", &["model"]);
    assert_eq!(
        generated.get(&vec!["smollm2:latest".to_string()]),
        Some(&(cost.generated as f64))
    );

    // The first scrape is counted once its body is out.
    let samples = scrape(&base).await;
    let requests = counters(
        &samples,
        "rollama_http_requests_total",
        &["route", "status"],
    );
    assert_eq!(
        requests.get(&vec!["/metrics".to_string(), "200".to_string()]),
        Some(&1.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unloaded_model_counts_by_reason() {
    let base = TestServer::default().spawn(&["smollm2"]).await;
    let body = json!({"model": "smollm2", "prompt": "Hi.", "stream": false,
        "keep_alive": 0, "options": {"num_predict": 1}});
    json_of(post(&url(&base, "/api/generate"), body).await, 200).await;
    // `keep_alive: 0` unloads once the request has released the model.
    let mut unloads = HashMap::new();
    for _ in 0..500 {
        let samples = scrape(&base).await;
        unloads = counters(
            &samples,
            "rollama_model_unloads_total",
            &["model", "reason"],
        );
        if !unloads.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let want: HashMap<Vec<String>, f64> = [(
        vec!["smollm2:latest".to_string(), "requested".to_string()],
        1.0,
    )]
    .into();
    assert_eq!(unloads, want);
}

#[tokio::test(flavor = "multi_thread")]
async fn health_tells_live_from_ready() {
    let empty = TestServer::default().spawn(&[]).await;
    let r = get(&url(&empty, "/health/live")).await;
    assert_eq!(
        r.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    assert_eq!(json_of(r, 200).await, json!({"status": "ok"}));
    let r = json_of(get(&url(&empty, "/health/ready")).await, 503).await;
    assert_eq!(r["status"], "not ready");
    assert_eq!(r["reason"], "no model in the store");

    let client = reqwest::Client::new();
    for (path, status) in [("/health/live", 200), ("/health/ready", 503)] {
        let r = client.head(url(&empty, path)).send().await.expect("HEAD");
        assert_eq!(r.status(), status, "HEAD {path}");
        assert!(r.text().await.expect("body").is_empty());
    }

    let stocked = TestServer::default().spawn(&["smollm2"]).await;
    let r = json_of(get(&url(&stocked, "/health/ready")).await, 200).await;
    assert_eq!(r, json!({"status": "ready"}));
    let r = client
        .head(url(&stocked, "/health/ready"))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(r.status(), 200);
}

/// `/api/status` until `want` holds for the model (bounded).
async fn status_until(base: &str, want: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..3000 {
        let s = json_of(get(&url(base, "/api/status")).await, 200).await;
        if s["models"]
            .as_array()
            .and_then(|m| m.first())
            .is_some_and(&want)
        {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("/api/status never showed the expected state");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_the_queue_while_a_stream_runs() {
    let base = TestServer {
        max_running: 1,
        max_queue: 8,
        ..TestServer::default()
    }
    .spawn(&["smollm2"])
    .await;
    let s = json_of(get(&url(&base, "/api/status")).await, 200).await;
    assert_eq!(s, json!({"models": []}));

    // Long enough to be caught running; dropped (cancelled) once seen.
    let running = post(
        &url(&base, "/api/generate"),
        json!({"model": "smollm2", "prompt": "Count from one to a hundred.",
            "options": {"num_predict": 200}}),
    )
    .await;
    assert_eq!(running.status(), 200);
    status_until(&base, |m| m["running"] == 1).await;
    let generate = url(&base, "/api/generate");
    let queued = tokio::spawn(async move {
        post(
            &generate,
            json!({"model": "smollm2", "prompt": "Hi.", "stream": false,
                "options": {"num_predict": 2}}),
        )
        .await
    });
    // KV is allocated at the running sequence's first step: wait for that too.
    let s = status_until(&base, |m| {
        m["running"] == 1 && m["waiting"] == 1 && m["kv_bytes"].as_u64() > Some(0)
    })
    .await;
    let m = &s["models"][0];
    assert_eq!(m["name"], "smollm2:latest");
    assert_eq!(m["max_queue"], 8);
    assert_eq!(m["max_running"], 1);
    assert_eq!(m["kv_budget_tokens"], 2048);
    assert!(m["kv_reserved_tokens"].as_u64() > Some(0), "{m}");
    assert!(m["kv_bytes"].as_u64() > Some(0), "{m}");
    let keys: Vec<&str> = m
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "kv_budget_tokens",
            "kv_bytes",
            "kv_reserved_tokens",
            "max_queue",
            "max_running",
            "name",
            "preparing",
            "running",
            "waiting"
        ]
    );
    drop(running);
    let done = queued.await.expect("task");
    assert_eq!(json_of(done, 200).await["eval_count"], 2);
    status_until(&base, |m| m["running"] == 0 && m["waiting"] == 0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tokenize_and_detokenize_round_trip() {
    // No prefix reuse: a raw prompt's `prompt_eval_count` is then its whole length.
    let base = TestServer {
        prefix_cache_tokens: 0,
        ..TestServer::default()
    }
    .spawn(&["smollm2", "all-minilm"])
    .await;
    let text = "The quick brown fox jumps over the lazy dog, 42 times: ünïcödé 🦊!";
    let r = json_of(
        post(
            &url(&base, "/api/tokenize"),
            json!({"model": "smollm2", "content": text}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(r["model"], "smollm2");
    assert!(r["total_duration"].as_u64() >= r["load_duration"].as_u64());
    let tokens: Vec<u32> = serde_json::from_value(r["tokens"].clone()).expect("ids");
    let tokenizer = common::smollm2_tokenizer();
    assert_eq!(tokens, tokenizer.encode(text, false).expect("encode"));

    let back = json_of(
        post(
            &url(&base, "/api/detokenize"),
            json!({"model": "smollm2", "tokens": tokens}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(back["content"], text);
    assert_eq!(back["model"], "smollm2");

    // What a raw prompt costs: the tokens with the model's own BOS/EOS.
    let special = json_of(
        post(
            &url(&base, "/api/tokenize"),
            json!({"model": "smollm2", "content": text, "add_special": true}),
        )
        .await,
        200,
    )
    .await;
    let generated = json_of(
        post(
            &url(&base, "/api/generate"),
            json!({"model": "smollm2", "prompt": text, "raw": true, "stream": false,
                "options": {"num_predict": 1}}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        special["tokens"].as_array().map(Vec::len),
        generated["prompt_eval_count"].as_u64().map(|n| n as usize)
    );

    // Special-token text is one id each way, and prints back as its text.
    let chatml = "<|im_start|>user\nhi<|im_end|>";
    let r = json_of(
        post(
            &url(&base, "/api/tokenize"),
            json!({"model": "smollm2", "content": chatml}),
        )
        .await,
        200,
    )
    .await;
    let ids = r["tokens"].as_array().expect("ids").clone();
    let start = tokenizer.token_id("<|im_start|>").expect("im_start");
    assert_eq!(ids.first(), Some(&json!(start)));
    let back = json_of(
        post(
            &url(&base, "/api/detokenize"),
            json!({"model": "smollm2", "tokens": ids}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(back["content"], chatml);

    // An embedder: its [CLS] … [SEP] only when asked for.
    let plain = json_of(
        post(
            &url(&base, "/api/tokenize"),
            json!({"model": "all-minilm", "content": "hello world"}),
        )
        .await,
        200,
    )
    .await;
    let special = json_of(
        post(
            &url(&base, "/api/tokenize"),
            json!({"model": "all-minilm", "content": "hello world", "add_special": true}),
        )
        .await,
        200,
    )
    .await;
    let plain = plain["tokens"].as_array().expect("ids").clone();
    let special = special["tokens"].as_array().expect("ids").clone();
    assert_eq!(special.len(), plain.len() + 2);
    assert_eq!(special[1..special.len() - 1], plain[..]);
    let back = json_of(
        post(
            &url(&base, "/api/detokenize"),
            json!({"model": "all-minilm", "tokens": plain}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(back["content"], "hello world");
}

#[tokio::test(flavor = "multi_thread")]
async fn tokenize_errors_are_ollamas() {
    let base = TestServer::default().spawn(&["smollm2"]).await;
    let tokenize = url(&base, "/api/tokenize");
    let detokenize = url(&base, "/api/detokenize");
    let cases = [
        (
            &tokenize,
            json!({"content": "hi"}),
            400,
            "model is required",
        ),
        (
            &detokenize,
            json!({"tokens": [1]}),
            400,
            "model is required",
        ),
        (
            &tokenize,
            json!({"model": "nope", "content": "hi"}),
            404,
            "model 'nope' not found",
        ),
        (
            &detokenize,
            json!({"model": "nope", "tokens": [1]}),
            404,
            "model 'nope' not found",
        ),
        (
            &tokenize,
            json!({"model": "smollm2", "content": "hi", "keep_alive": "soon"}),
            400,
            "",
        ),
    ];
    for (route, body, status, message) in cases {
        let r = post(route, body.clone()).await;
        assert!(r.headers().contains_key("x-request-id"));
        let e = json_of(r, status).await;
        let text = e["error"].as_str().expect("error text");
        assert!(text.contains(message), "{body}: {text}");
    }
    let vocab = common::smollm2_tokenizer().vocab_size();
    let r = post(
        &detokenize,
        json!({"model": "smollm2", "tokens": [1, vocab]}),
    )
    .await;
    let e = json_of(r, 400).await;
    assert_eq!(
        e["error"],
        format!("token {vocab} is out of range: the vocabulary of \"smollm2\" has {vocab} tokens")
    );
    for bad in [json!([-1]), json!(["a"]), json!([1.5])] {
        let r = post(&detokenize, json!({"model": "smollm2", "tokens": bad})).await;
        assert_eq!(r.status(), 400, "{bad}");
    }
    let r = reqwest::Client::new()
        .post(&tokenize)
        .send()
        .await
        .expect("request");
    assert_eq!(json_of(r, 400).await["error"], "missing request body");
}

fn request_id(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id")
        .to_string()
}

fn is_fresh_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_response_carries_a_request_id() {
    let base = TestServer::default().spawn(&["smollm2"]).await;
    let client = reqwest::Client::new();
    let not_found = get(&url(&base, "/no/such/route")).await;
    assert_eq!(not_found.status(), 404);
    let bad = client
        .post(url(&base, "/api/generate"))
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(bad.status(), 400);
    let wrong_method = get(&url(&base, "/api/chat")).await;
    assert_eq!(wrong_method.status(), 405);
    let stream = post(
        &url(&base, "/api/generate"),
        json!({"model": "smollm2", "prompt": "Hi.", "options": {"num_predict": 2}}),
    )
    .await;
    assert_eq!(stream.status(), 200);
    let ids: Vec<String> = [&not_found, &bad, &wrong_method, &stream]
        .into_iter()
        .map(request_id)
        .collect();
    assert!(ids.iter().all(|id| is_fresh_id(id)), "{ids:?}");
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    let lines = ndjson_reply(stream).await;
    assert_eq!(lines.last().expect("last")["done"], true);

    // A gateway's sane id comes back as sent; anything else is replaced.
    let r = client
        .get(url(&base, "/api/version"))
        .header("x-request-id", "edge-7f3a.b_c:1")
        .send()
        .await
        .expect("request");
    assert_eq!(request_id(&r), "edge-7f3a.b_c:1");
    let r = client
        .get(url(&base, "/no/such/route"))
        .header("x-request-id", "two words")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 404);
    assert!(is_fresh_id(&request_id(&r)));
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_have_one_object_per_line_and_the_request_line() {
    use std::io::Read;
    let port = common::free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rollama"))
        .arg("serve")
        .env("OLLAMA_HOST", format!("127.0.0.1:{port}"))
        .env("OLLAMA_MODELS", temp_store(&[]))
        .env("ROLLAMA_LOG_FORMAT", "json")
        .env_remove("RUST_LOG")
        .env_remove("OLLAMA_DEBUG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start rollama serve");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut answered = None;
    for _ in 0..600 {
        let sent = client
            .get(url(&base, "/health/live"))
            .header("x-request-id", "log-probe-1")
            .send()
            .await;
        if let Ok(r) = sent {
            answered = Some(r.status());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(answered.map(|s| s.as_u16()), Some(200));
    let r = client
        .post(url(&base, "/api/tokenize"))
        .header("x-request-id", "log-probe-2")
        .json(&json!({"model": "nope", "content": "x"}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 404);
    let _ = r.bytes().await;
    // The line is written before the body's last byte goes out; give the pipe a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    child.kill().expect("kill");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let _ = child.wait();
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.iter().any(|l| l["message"] == "rollama listening"));
    let request = |id: &str| {
        lines
            .iter()
            .find(|l| l["message"] == "request" && l["id"] == id)
            .unwrap_or_else(|| panic!("no request line for {id} in\n{stderr}"))
            .clone()
    };
    let live = request("log-probe-1");
    assert_eq!(live["level"], "INFO");
    assert_eq!(live["route"], "/health/live");
    assert_eq!(live["method"], "GET");
    assert_eq!(live["status"], 200);
    assert_eq!(live["ended"], "complete");
    assert!(live["duration_ms"].as_f64().is_some(), "{live}");
    let missing = request("log-probe-2");
    assert_eq!(missing["route"], "/api/tokenize");
    assert_eq!(missing["status"], 404);
    assert_eq!(missing["prompt_tokens"], 0);
}
