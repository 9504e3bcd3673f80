//! The connections' life on a real socket: slow-header clients dropped while others are
//! served, idle keep-alive connections closed but slow replies never cut, the drain on
//! SIGTERM of the real binary during eight live streams, and panics (a handler's, one
//! sequence's in the engine) answered 500 while everyone else is served.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::{ndjson, post, TestServer};
use rollama::engine::{
    Counters, EmbedRequest, Embeddings, Engine, EngineError, FinishReason, Finished,
    GenerateRequest, GenerationMetrics, ModelDescription, ModelEntry, ModelInfo, Piece, Pieces,
    RunningModel,
};
use rollama::server::gateway::lifecycle::Lifecycle;
use rollama::server::gateway::Gateway;
use rollama::server::{self, AppState};

/// Against hangs only: nothing here is timed.
const HANG_GUARD: Duration = Duration::from_secs(120);

/// A pause in the fake's replies, longer than the timeouts its tests set.
const SLOW: Duration = Duration::from_millis(1200);

/// Short timeouts, so a test sees them pass.
fn short(header: Option<Duration>, idle: Option<Duration>) -> Gateway {
    Gateway {
        lifecycle: Lifecycle {
            header_timeout: header,
            idle_timeout: idle,
            ..Lifecycle::default()
        },
        ..Gateway::default()
    }
}

/// A scripted engine: generations say "Hello", pause, say " world", pause, end; listing
/// models panics (a bug in a handler's path); everything else is "not found".
struct Fake;

fn not_found<T: Send + 'static>() -> BoxFuture<'static, Result<T, EngineError>> {
    async { Err(EngineError::NotFound("not in the fake".into())) }.boxed()
}

impl Engine for Fake {
    fn generate(&self, _request: GenerateRequest) -> BoxFuture<'_, Result<Pieces, EngineError>> {
        let text = |t: &str| Piece::Text {
            text: t.into(),
            logprobs: vec![],
        };
        let done = Piece::Done(Finished {
            reason: FinishReason::Stop,
            called: false,
            metrics: GenerationMetrics::default(),
            context: vec![],
            logprobs: vec![],
        });
        let pieces = futures::stream::iter([text("Hello"), text(" world"), done])
            .enumerate()
            .then(|(i, piece)| async move {
                if i > 0 {
                    tokio::time::sleep(SLOW).await;
                }
                piece
            });
        async move { Ok(pieces.boxed()) }.boxed()
    }

    fn embed(&self, _request: EmbedRequest) -> BoxFuture<'_, Result<Embeddings, EngineError>> {
        not_found()
    }

    fn load(
        &self,
        _model: String,
        _keep_alive: Option<rollama::api::KeepAlive>,
    ) -> BoxFuture<'_, Result<(), EngineError>> {
        not_found()
    }

    fn unload(&self, _model: String) -> BoxFuture<'_, Result<(), EngineError>> {
        not_found()
    }

    fn models(&self) -> BoxFuture<'_, Result<Vec<ModelEntry>, EngineError>> {
        not_found()
    }

    fn model(&self, _name: String) -> BoxFuture<'_, Result<ModelEntry, EngineError>> {
        not_found()
    }

    fn tags(&self) -> BoxFuture<'_, Result<Vec<ModelInfo>, EngineError>> {
        panic!("a bug in the fake's tags")
    }

    fn describe(
        &self,
        _model: String,
        _verbose: bool,
    ) -> BoxFuture<'_, Result<ModelDescription, EngineError>> {
        not_found()
    }

    fn running(&self) -> BoxFuture<'_, Result<Vec<RunningModel>, EngineError>> {
        not_found()
    }

    fn counters(&self) -> Counters {
        Counters::default()
    }
}

/// The real server on the fake engine; its address.
async fn spawn_fake(gateway: Gateway) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let state = AppState {
        engine: Arc::new(Fake),
        version: "0.12.6".into(),
        metrics: false,
        sse_keep_alive: server::SSE_KEEP_ALIVE,
        gateway,
    };
    tokio::spawn(server::run(listener, state, std::future::pending()));
    addr
}

/// Reads until the server closes `conn`; what it sent before.
async fn until_closed(conn: &mut TcpStream) -> Vec<u8> {
    let mut got = vec![];
    let read = tokio::time::timeout(HANG_GUARD, async {
        let mut buf = [0u8; 4096];
        loop {
            match conn.read(&mut buf).await {
                Ok(0) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                // A reset is a close too.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
                Err(e) => panic!("read: {e}"),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server never closed the connection");
    got
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_header_client_is_dropped_while_others_are_served() {
    let base = TestServer {
        gateway: short(Some(Duration::from_millis(500)), None),
        ..TestServer::default()
    }
    .spawn(&[])
    .await;
    let addr = base.trim_start_matches("http://");
    let mut slow = TcpStream::connect(addr).await.expect("connect");
    slow.write_all(b"GET /api/ver").await.expect("half a line");
    // Another connection is served meanwhile, while the slow one is still open.
    let client = reqwest::Client::new();
    let v: Value = client
        .get(format!("{base}/api/version"))
        .send()
        .await
        .expect("version")
        .json()
        .await
        .expect("json");
    assert_eq!(v["version"], "0.12.6");
    // The slow one is dropped without an answer.
    assert_eq!(until_closed(&mut slow).await, b"");
    // A client that sends its head in parts, in time, is served.
    let mut prompt = TcpStream::connect(addr).await.expect("connect");
    prompt
        .write_all(b"GET /api/version HTTP/1.1\r\n")
        .await
        .expect("line");
    prompt
        .write_all(b"Host: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("headers");
    let reply = String::from_utf8(until_closed(&mut prompt).await).expect("utf-8");
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    // And the server serves on (a new client: the pool's connection has idled past the
    // header timeout by now).
    let r = reqwest::get(format!("{base}/api/version"))
        .await
        .expect("again");
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_connection_is_closed_but_a_slow_reply_is_never_idle() {
    // Both timeouts well under the fake's pauses between pieces.
    let addr = spawn_fake(short(
        Some(Duration::from_millis(400)),
        Some(Duration::from_millis(400)),
    ))
    .await;
    let mut conn = TcpStream::connect(addr).await.expect("connect");
    let body = json!({"model": "m", "prompt": "hi", "options": {"num_predict": 2}}).to_string();
    let request = format!(
        "POST /api/generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(request.as_bytes()).await.expect("request");
    // The whole reply arrives, pauses and all; then the idle connection is closed.
    let reply = String::from_utf8(until_closed(&mut conn).await).expect("utf-8");
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    let lines: Vec<Value> = reply
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 3, "{reply}");
    assert_eq!(lines[0]["response"], "Hello");
    assert_eq!(lines[1]["response"], " world");
    assert_eq!(lines[2]["done"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_idle_timeout_closes_a_kept_alive_connection_without_a_header_timeout() {
    let addr = spawn_fake(short(None, Some(Duration::from_millis(300)))).await;
    let mut conn = TcpStream::connect(addr).await.expect("connect");
    conn.write_all(b"GET /api/version HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("request");
    let reply = String::from_utf8(until_closed(&mut conn).await).expect("utf-8");
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    assert!(reply.ends_with(r#""version":"0.12.6"}"#), "{reply}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handler_panic_is_a_500_and_the_server_serves_on() {
    let addr = spawn_fake(Gateway::default()).await;
    let client = reqwest::Client::new();
    // From a page on an allowed origin: the 500 is the gateway's like any reply, so it
    // carries CORS headers the page needs to read it.
    let r = client
        .get(format!("http://{addr}/api/tags"))
        .header("origin", "http://localhost:5173")
        .send()
        .await
        .expect("tags");
    assert_eq!(r.status(), 500);
    assert_eq!(
        r.headers()
            .get("access-control-allow-origin")
            .map(|v| v.as_bytes()),
        Some(&b"http://localhost:5173"[..])
    );
    let id = r.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_string();
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body,
        json!({"error": format!("internal error (request {id})")})
    );
    for _ in 0..2 {
        let r = client
            .get(format!("http://{addr}/api/version"))
            .send()
            .await
            .expect("version");
        assert_eq!(r.status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_in_one_sequence_fails_it_alone() {
    const SEED: u64 = 4242;
    let base = TestServer {
        panic_on_seed: Some(SEED),
        ..TestServer::default()
    }
    .spawn(&["smollm2"])
    .await;
    let client = reqwest::Client::new();
    let chat = |options: Value, stream: bool| {
        json!({"model": "smollm2", "stream": stream, "options": options,
            "messages": [{"role": "user", "content": "Tell me about the sea."}]})
    };
    let mut running = client
        .post(format!("{base}/api/chat"))
        .json(&chat(json!({"temperature": 0, "num_predict": 96}), true))
        .send()
        .await
        .expect("stream");
    assert_eq!(running.status(), 200);
    let mut text = String::from_utf8(
        tokio::time::timeout(HANG_GUARD, running.chunk())
            .await
            .expect("first chunk in time")
            .expect("chunk")
            .expect("not the end")
            .to_vec(),
    )
    .expect("utf-8");
    // Now, beside it, the request whose sequence panics before its first token.
    let r = post(
        &format!("{base}/api/chat"),
        chat(json!({"seed": SEED, "num_predict": 8}), false),
    )
    .await;
    assert_eq!(r.status(), 500);
    let id = r.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_string();
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body,
        json!({"error": format!("internal error (request {id})")})
    );
    // The stream beside it ends as it would have.
    while let Some(chunk) = running.chunk().await.expect("chunk") {
        text.push_str(std::str::from_utf8(&chunk).expect("utf-8"));
    }
    let lines = ndjson(&text);
    let last = lines.last().expect("lines");
    assert_eq!(last["done"], true, "{last}");
    // The model's thread lives on: the same model serves the next request.
    let r = post(
        &format!("{base}/api/chat"),
        chat(json!({"temperature": 0, "num_predict": 4}), false),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["done"], true, "{v}");
}

/// How a drained stream ended.
#[derive(Debug, PartialEq)]
enum End {
    /// Its own final chunk.
    Done,
    /// The drain's error line or event.
    ShuttingDown,
}

/// The end of one NDJSON stream: its last line, every line JSON.
fn ndjson_end(text: &str) -> End {
    let lines = ndjson(text);
    let last = lines.last().expect("lines");
    for line in &lines[..lines.len() - 1] {
        assert!(
            line.get("error").is_none(),
            "an error before the end: {line}"
        );
    }
    if last["done"] == true {
        End::Done
    } else {
        assert_eq!(last, &json!({"error": "server is shutting down"}));
        End::ShuttingDown
    }
}

/// The end of one SSE stream: `[DONE]` after a finish chunk, or OpenAI's error object as
/// the last event (no `[DONE]`).
fn sse_end(text: &str) -> End {
    assert!(text.ends_with("\n\n"), "a whole last event: {text:?}");
    let events: Vec<&str> = text
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .filter(|e| !e.starts_with(':'))
        .map(|e| e.strip_prefix("data: ").expect("a data event"))
        .collect();
    let last = *events.last().expect("events");
    if last == "[DONE]" {
        let finish: Value = serde_json::from_str(events[events.len() - 2]).expect("json");
        assert!(
            finish["choices"][0]["finish_reason"].is_string(),
            "{finish}"
        );
        return End::Done;
    }
    let error: Value = serde_json::from_str(last).expect("json");
    assert_eq!(
        error["error"]["message"], "server is shutting down",
        "{error}"
    );
    assert_eq!(error["error"]["type"], "api_error", "{error}");
    for event in &events[..events.len() - 1] {
        let chunk: Value = serde_json::from_str(event).expect("json chunk");
        assert_eq!(chunk["object"], "chat.completion.chunk", "{chunk}");
    }
    End::ShuttingDown
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_eight_live_streams_and_exits_0() {
    let store = common::temp_store(&["smollm2"]);
    let addr = format!("127.0.0.1:{}", common::free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_rollama"))
        .arg("serve")
        .env("OLLAMA_HOST", &addr)
        .env("OLLAMA_MODELS", &store)
        .env("OLLAMA_NUM_PARALLEL", "8")
        .env("ROLLAMA_SHUTDOWN_GRACE", "2s")
        .env("RUST_LOG", "rollama=info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rollama serve");
    // The log (stderr, as Ollama's), line by line, for the drain's first line.
    let (log_tx, mut log_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = log_tx.send(line);
        }
    });
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();
    tokio::time::timeout(HANG_GUARD, async {
        while client
            .get(format!("{base}/api/version"))
            .send()
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the server came up");

    // Eight streams that would run for thousands of tokens: the drain ends them.
    let options = json!({"temperature": 0, "num_predict": 4096});
    let count = "Count from 1 to 5000, separated by commas.";
    let (live_tx, mut live_rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let mut streams = vec![];
    for i in 0..8 {
        let (url, body, sse) = match i % 3 {
            0 => (
                format!("{base}/api/generate"),
                json!({"model": "smollm2", "prompt": format!("{count} 1, 2, 3,"), "options": options}),
                false,
            ),
            1 => (
                format!("{base}/api/chat"),
                json!({"model": "smollm2", "options": options,
                    "messages": [{"role": "user", "content": count}]}),
                false,
            ),
            _ => (
                format!("{base}/v1/chat/completions"),
                json!({"model": "smollm2", "stream": true, "temperature": 0, "max_tokens": 4096,
                    "messages": [{"role": "user", "content": count}]}),
                true,
            ),
        };
        let (client, live) = (client.clone(), live_tx.clone());
        streams.push(tokio::spawn(async move {
            let mut r = client.post(url).json(&body).send().await.expect("stream");
            assert_eq!(r.status(), 200);
            let mut text = String::new();
            let mut told = false;
            while let Some(chunk) = r.chunk().await.expect("the stream ends cleanly") {
                text.push_str(std::str::from_utf8(&chunk).expect("utf-8"));
                // Live once a token came out (SSE's first event is the role alone).
                let produced = match sse {
                    false => text.contains('\n'),
                    true => text.matches("\n\n").count() >= 2,
                };
                if produced && !told {
                    told = true;
                    let _ = live.send(i);
                }
            }
            match sse {
                false => ndjson_end(&text),
                true => sse_end(&text),
            }
        }));
    }
    drop(live_tx);
    tokio::time::timeout(HANG_GUARD, async {
        for _ in 0..8 {
            live_rx.recv().await.expect("a stream went live");
        }
    })
    .await
    .expect("all eight streams live");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    tokio::time::timeout(HANG_GUARD, async {
        while let Some(line) = log_rx.recv().await {
            if line.contains("draining") {
                return;
            }
        }
        panic!("the log ended without the drain");
    })
    .await
    .expect("the drain began");
    // From here on, nobody new gets in.
    let refused = TcpStream::connect(&addr).await.expect_err("refused");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);

    let mut ends = vec![];
    for stream in streams {
        let end = tokio::time::timeout(HANG_GUARD, stream)
            .await
            .expect("the stream ended")
            .expect("its checks passed");
        ends.push(end);
    }
    // Thousands of tokens each cannot all be done within the 2 s grace.
    assert!(ends.contains(&End::ShuttingDown), "{ends:?}");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(status.code(), Some(0), "{status:?}");
    let _ = std::fs::remove_dir_all(store);
}
