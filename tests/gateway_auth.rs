//! Bearer keys on the real server: every route with no key, a wrong key and the right
//! one, with keys on and off; the keys file reloaded while serving; a real generation and
//! the `rollama` CLI (`OLLAMA_API_KEY`) with a key; and no token ever in the log.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use rollama::server::gateway::auth::Auth;
use rollama::server::gateway::Gateway;

const RIGHT: &str = "right-token-9f8e7d";
const WRONG: &str = "wrong-token-1a2b3c";

fn client() -> reqwest::Client {
    // A hang guard only: every request here is answered in well under a second.
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client")
}

fn with_auth(auth: Auth) -> TestServer {
    TestServer {
        gateway: Gateway {
            auth,
            ..Gateway::default()
        },
        ..TestServer::default()
    }
}

/// Every `(method, path)` of `src/server/routes/mod.rs`, read from the source so a route
/// added later is covered without touching this test, with path parameters filled in.
fn routes() -> Vec<(Method, String)> {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/server/routes/mod.rs");
    let text = std::fs::read_to_string(&file).expect("read routes");
    assert!(
        !text.contains(".merge(") && !text.contains(".nest("),
        "routes/mod.rs merges or nests routers: this matrix reads `.route(` calls only"
    );
    let body = text.split(".fallback(").next().expect("routes");
    let mut out = vec![];
    for call in body.split(".route(").skip(1) {
        let path = call.split('"').nth(1).expect("a route's path");
        let path = path
            .replace("{digest}", &format!("sha256:{}", "0".repeat(64)))
            .replace("{*model}", "no-such-model")
            .replace("{*rest}", "no/such/thing");
        for (name, method) in [
            ("get", Method::GET),
            ("post", Method::POST),
            ("head", Method::HEAD),
            ("delete", Method::DELETE),
            ("put", Method::PUT),
            ("patch", Method::PATCH),
            ("any", Method::POST),
        ] {
            if calls(call, name) {
                out.push((method, path.clone()));
            }
        }
    }
    assert!(out.len() >= 20, "too few routes parsed: {out:?}");
    out
}

/// Whether `text` calls `name(` (not as the end of a longer name).
fn calls(text: &str, name: &str) -> bool {
    let needle = format!("{name}(");
    text.match_indices(&needle).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// The routes, plus what no `.route(` names: the health probes (exempt), the fallback, a
/// wrong method, and an OPTIONS without Origin (no preflight: it needs a key).
fn every_request() -> Vec<(Method, String)> {
    let mut all = routes();
    all.extend([
        (Method::GET, "/health/live".to_string()),
        (Method::GET, "/health/ready".to_string()),
        (Method::GET, "/no/such/route".to_string()),
        (Method::GET, "/api/generate".to_string()),
        (Method::OPTIONS, "/".to_string()),
        (Method::OPTIONS, "/api/chat".to_string()),
    ]);
    all
}

fn is_public(method: &Method, path: &str) -> bool {
    (path == "/" && (method == Method::GET || method == Method::HEAD))
        || path.starts_with("/health/")
}

/// Status, headers and JSON body (`Null` when empty or not JSON) of one request. POSTs
/// carry `{}`: no route runs a model on it (an empty model name is refused first).
async fn send(
    base: &str,
    method: &Method,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = client().request(method.clone(), format!("{base}{path}"));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if [Method::POST, Method::DELETE, Method::PUT, Method::PATCH].contains(method) {
        req = req.json(&json!({}));
    }
    let r = req.send().await.expect("request");
    let (status, headers) = (r.status(), r.headers().clone());
    let text = r.text().await.expect("body");
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn assert_refused(
    method: &Method,
    path: &str,
    wrong: bool,
    got: &(StatusCode, reqwest::header::HeaderMap, Value),
) {
    let (status, headers, body) = got;
    let what = format!("{method} {path} (wrong key: {wrong})");
    assert_eq!(*status, StatusCode::UNAUTHORIZED, "{what}: {body}");
    let challenge = headers.get("www-authenticate").expect("WWW-Authenticate");
    assert!(
        challenge.to_str().expect("ascii").starts_with("Bearer"),
        "{what}"
    );
    assert!(headers.contains_key("x-request-id"), "{what}");
    if *method == Method::HEAD {
        return;
    }
    if path.starts_with("/v1/") {
        let e = &body["error"];
        assert_eq!(e["type"], "invalid_request_error", "{what}: {body}");
        assert!(
            e["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {body}"
        );
        assert!(e.get("param").is_some_and(Value::is_null), "{what}: {body}");
        let code = if wrong {
            json!("invalid_api_key")
        } else {
            Value::Null
        };
        assert_eq!(e["code"], code, "{what}: {body}");
    } else {
        let e = body["error"].as_str().unwrap_or_default();
        assert!(e.starts_with("unauthorized"), "{what}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_keys_on_every_route_but_the_public_ones_needs_the_key() {
    let auth = Auth::from_list(&format!("alice:{RIGHT}")).expect("keys");
    let base = with_auth(auth).spawn(&[]).await;
    for (method, path) in every_request() {
        let none = send(&base, &method, &path, None).await;
        let wrong = send(&base, &method, &path, Some(WRONG)).await;
        let right = send(&base, &method, &path, Some(RIGHT)).await;
        if is_public(&method, &path) {
            for (status, _, body) in [&none, &wrong, &right] {
                assert_ne!(*status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
            }
            continue;
        }
        assert_refused(&method, &path, false, &none);
        assert_refused(&method, &path, true, &wrong);
        assert_ne!(
            right.0,
            StatusCode::UNAUTHORIZED,
            "{method} {path}: {}",
            right.2
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_keys_off_no_route_ever_answers_401() {
    let base = TestServer::default().spawn(&[]).await;
    for (method, path) in every_request() {
        for token in [None, Some(WRONG), Some(RIGHT)] {
            let (status, _, body) = send(&base, &method, &path, token).await;
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
        }
    }
}

/// A keys file unique to this test.
fn keys_file(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rollama-keys-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir.join("keys")
}

/// Replaces the file whole (a new file renamed over it), as an operator should.
fn write_keys(path: &PathBuf, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write keys");
    std::fs::rename(&tmp, path).expect("rename keys");
}

async fn tags_status(base: &str, token: &str) -> StatusCode {
    send(base, &Method::GET, "/api/tags", Some(token)).await.0
}

#[tokio::test(flavor = "multi_thread")]
async fn the_keys_file_is_reloaded_while_serving() {
    let path = keys_file("reload");
    write_keys(&path, "# who may call\nold:old-token-5d4c\n");
    let auth = Auth::from_file(&path).expect("keys file");
    let base = with_auth(auth.clone()).spawn(&[]).await;
    assert_eq!(tags_status(&base, "old-token-5d4c").await, StatusCode::OK);
    assert_eq!(
        tags_status(&base, "new-token-3b2a").await,
        StatusCode::UNAUTHORIZED
    );

    write_keys(&path, "new:new-token-3b2a\n");
    // The watcher polls every 2 s: wait for it (the bound is a hang guard only).
    let mut waited = 0;
    while tags_status(&base, "new-token-3b2a").await != StatusCode::OK {
        assert!(waited < 600, "the new key was never loaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(
        tags_status(&base, "old-token-5d4c").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        auth.names().iter().map(|n| &**n).collect::<Vec<_>>(),
        ["new"]
    );

    // A broken file keeps the keys in force.
    write_keys(&path, "new:new-token-3b2a\nno colon here\n");
    let e = auth.reload().expect_err("broken file");
    assert_eq!(e.to_string(), "keys file line 2: expected name:token");
    assert_eq!(tags_status(&base, "new-token-3b2a").await, StatusCode::OK);
    std::fs::remove_file(&path).expect("remove");
    assert!(auth.reload().is_err());
    assert_eq!(tags_status(&base, "new-token-3b2a").await, StatusCode::OK);
}

#[test]
fn a_bad_keys_file_is_refused_at_start() {
    let path = keys_file("bad");
    write_keys(&path, "a:one\na:two\n");
    let e = Auth::from_file(&path).expect_err("duplicate");
    assert_eq!(e.to_string(), r#"two keys are named "a""#);
    write_keys(&path, "a:\n");
    assert!(Auth::from_file(&path).is_err());
    let missing = path.with_file_name("none");
    assert!(Auth::from_file(&missing).is_err());
    assert!(Auth::new(Some("x:1"), Some(&missing)).is_err());
}

/// Everything the server logs at any level, from the moment it is first asked for.
fn captured_log() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(vec![]));
        let sink = Arc::clone(&log);
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("trace")
            .with_ansi(false)
            .with_writer(move || Sink(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        log
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_works_end_to_end_and_never_reaches_the_log() {
    let log = captured_log();
    let listed = "ci-token-listed-77aa";
    let filed = "ci-token-filed-88bb";
    let path = keys_file("e2e");
    write_keys(&path, &format!("ops:{filed}\n"));
    let auth = Auth::new(Some(&format!("alice:{listed}")), Some(&path)).expect("keys");
    assert!(!format!("{auth:?}").contains(listed));
    let base = with_auth(auth.clone()).spawn(&["smollm2"]).await;

    let r = client()
        .post(format!("{base}/api/generate"))
        .bearer_auth(listed)
        .json(&json!({
            "model": "smollm2", "prompt": "Hello", "stream": false,
            "options": {"num_predict": 4, "temperature": 0}
        }))
        .send()
        .await
        .expect("generate");
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["done"], true, "{v}");
    assert!(
        v["eval_count"]
            .as_u64()
            .is_some_and(|n| (1..=4).contains(&n)),
        "{v}"
    );

    // The CLI sends OLLAMA_API_KEY; without it, it says why it was refused.
    let host = base.trim_start_matches("http://").to_string();
    let list = |key: Option<&str>| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollama"));
        cmd.arg("list")
            .env("OLLAMA_HOST", &host)
            .env_remove("OLLAMA_API_KEY");
        if let Some(key) = key {
            cmd.env("OLLAMA_API_KEY", key);
        }
        cmd.kill_on_drop(true);
        async move { cmd.output().await }
    };
    let out = list(Some(filed)).await.expect("rollama list");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("smollm2"), "{stdout}");
    let out = list(None).await.expect("rollama list");
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unauthorized"), "{stderr}");

    // Refusals, a reload, and the keys as the flags' Debug would show them.
    assert_eq!(tags_status(&base, WRONG).await, StatusCode::UNAUTHORIZED);
    auth.reload().expect("reload");
    tracing::info!(?auth, "the keys in force");

    let text = String::from_utf8_lossy(&log.lock().expect("log")).to_string();
    for token in [listed, filed, WRONG] {
        assert!(!text.contains(token), "a token reached the log");
    }
    // The capture works, and the request's span names the key.
    assert!(text.contains("key=alice"), "no request span names its key");
    assert!(text.contains("key=ops"), "no request span names its key");
}

/// SIGHUP reloads the keys file even when polling cannot see the change (rewritten in
/// place, same length, the old modification time put back): the real binary, so the
/// signal reaches only it.
#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_a_change_polling_cannot_see() {
    let path = keys_file("sighup");
    std::fs::write(&path, "ops:aaaa-token-1111\n").expect("write keys");
    let mtime = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .expect("mtime");
    let store = common::temp_store(&[]);
    let port = common::free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rollama"))
        .arg("serve")
        .env("OLLAMA_HOST", format!("127.0.0.1:{port}"))
        .env("OLLAMA_MODELS", &store)
        .env("ROLLAMA_API_KEYS_FILE", &path)
        .env_remove("ROLLAMA_API_KEYS")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start rollama serve");
    let base = format!("http://127.0.0.1:{port}");
    let mut waited = 0;
    while client().get(format!("{base}/")).send().await.is_err() {
        assert!(waited < 600, "the server never came up");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    assert_eq!(tags_status(&base, "aaaa-token-1111").await, StatusCode::OK);

    // Same inode, same length, same modification time: only the content differs.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open keys");
    file.write_all(b"ops:bbbb-token-2222\n")
        .expect("rewrite keys");
    file.set_modified(mtime).expect("put the mtime back");
    drop(file);
    // Two polls pass: the change stays unseen.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(tags_status(&base, "aaaa-token-1111").await, StatusCode::OK);

    let hup = std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(hup.success());
    let mut waited = 0;
    while tags_status(&base, "bbbb-token-2222").await != StatusCode::OK {
        assert!(waited < 600, "SIGHUP did not reload the keys");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(
        tags_status(&base, "aaaa-token-1111").await,
        StatusCode::UNAUTHORIZED
    );
    assert!(
        child.try_wait().expect("wait").is_none(),
        "SIGHUP must not stop the server"
    );
    let _ = child.kill();
    let _ = child.wait();
}
