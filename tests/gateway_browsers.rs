//! What browsers meet, as Ollama answers them: CORS for the default origins and
//! `OLLAMA_ORIGINS` (gin-contrib/cors' rules: exact entries, one-`*` wildcards, a lone
//! `*`), preflights answered 204 before any route, disallowed origins refused 403 with an
//! empty body, and the Host check of a server bound to loopback (DNS rebinding). Most
//! cases go through `app(state).oneshot` on an empty store; one real stream each (NDJSON
//! and SSE) shows a page on an allowed origin can read a generation as it comes.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use futures::StreamExt;
use serde_json::json;
use tower::ServiceExt;

use common::TestServer;
use rollama::engine::{EngineConfig, RegistryConfig, Service};
use rollama::server::gateway::browsers::{Browsers, Cors};
use rollama::server::gateway::Gateway;
use rollama::server::{app, AppState};
use rollama::store::ModelStore;

/// A server on an empty store with these browser settings.
fn state(browsers: Browsers) -> AppState {
    let store = std::env::temp_dir().join(format!("rollama-browsers-{}", std::process::id()));
    std::fs::create_dir_all(&store).expect("store dir");
    let engine = Service::new(
        ModelStore::new(store),
        RegistryConfig {
            default_keep_alive: None,
            max_loaded: 1,
            memory_budget: None,
            load_wait: None,
            default_num_ctx: 2048,
            caps: Default::default(),
            engine: EngineConfig::default(),
            device: candle_core::Device::Cpu,
            load: Default::default(),
        },
    );
    AppState {
        engine: Arc::new(engine),
        version: "0.12.6".into(),
        metrics: false,
        sse_keep_alive: rollama::server::SSE_KEEP_ALIVE,
        gateway: Gateway {
            browsers,
            ..Gateway::default()
        },
    }
}

/// CORS as `OLLAMA_ORIGINS=<origins>` sets it.
fn cors(origins: &str) -> Result<Cors, rollama::server::gateway::browsers::OriginError> {
    let entries: Vec<String> = origins.split(',').map(String::from).collect();
    Cors::new(&entries)
}

/// Browsers with `OLLAMA_ORIGINS=<origins>` (`None`: unset), bound to `bound`.
fn browsers(origins: Option<&str>, bound: Option<&str>) -> Browsers {
    Browsers {
        cors: origins.map_or_else(Cors::default, |o| cors(o).expect("valid origins")),
        bound: bound.map(|a| a.parse::<SocketAddr>().expect("address")),
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("ascii"))
    }

    fn vary(&self) -> Vec<&str> {
        self.headers
            .get_all(header::VARY)
            .iter()
            .map(|v| v.to_str().expect("ascii"))
            .collect()
    }

    /// No CORS header at all, no body: what a refusal looks like.
    fn is_bare_403(&self) -> bool {
        self.status == StatusCode::FORBIDDEN
            && self.body.is_empty()
            && self.header(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none()
            && self.header(header::CONTENT_TYPE).is_none()
    }
}

/// `method path` with `Host: host` and these headers, through the whole app.
async fn send(
    state: &AppState,
    method: Method,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = app(state.clone())
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body")
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

async fn get_from(state: &AppState, origin: &str) -> Reply {
    send(
        state,
        Method::GET,
        "/api/version",
        "localhost:11434",
        &[("origin", origin)],
    )
    .await
}

async fn preflight(state: &AppState, path: &str, origin: &str) -> Reply {
    let headers = [
        ("origin", origin),
        ("access-control-request-method", "POST"),
        (
            "access-control-request-headers",
            "content-type,x-stainless-os,authorization",
        ),
    ];
    send(state, Method::OPTIONS, path, "localhost:11434", &headers).await
}

#[tokio::test]
async fn requests_without_a_foreign_origin_are_untouched() {
    let s = state(Browsers::default());
    let r = send(&s, Method::GET, "/api/version", "localhost:11434", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), None);
    assert!(r.vary().is_empty());
    // The page's own origin (fetch sends it): not a CORS request, whatever the host.
    for origin in ["http://example.com:8080", "https://example.com:8080"] {
        let r = send(
            &s,
            Method::GET,
            "/api/version",
            "example.com:8080",
            &[("origin", origin)],
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{origin}");
        assert_eq!(r.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), None);
    }
    // Without an origin an OPTIONS is the route's to answer (405), as in Ollama.
    let r = send(&s, Method::OPTIONS, "/api/chat", "127.0.0.1:11434", &[]).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn the_default_origins_are_allowed_and_echoed() {
    let s = state(Browsers::default());
    for origin in [
        "http://localhost",
        "https://localhost",
        "http://localhost:3000",
        "https://localhost:5173",
        "http://127.0.0.1",
        "http://127.0.0.1:8080",
        "https://127.0.0.1:8443",
        "http://0.0.0.0",
        "http://0.0.0.0:5173",
        "app://obsidian.md",
        "file://",
        "tauri://localhost",
        "vscode-webview://1234abcd",
        "vscode-file://vscode-app",
    ] {
        let r = get_from(&s, origin).await;
        assert_eq!(r.status, StatusCode::OK, "{origin}");
        assert_eq!(r.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), Some(origin));
        assert_eq!(r.vary(), ["Origin"], "{origin}");
        assert_eq!(r.body, br#"{"version":"0.12.6"}"#);
    }
}

#[tokio::test]
async fn other_origins_are_refused_with_an_empty_403() {
    let s = state(Browsers::default());
    for origin in [
        "http://example.com",
        "https://localhost.example.com",
        "http://127.0.0.2",
        "chrome-extension://abcdefghijklmnop",
        "moz-extension://1234",
        "null",
        "HTTP://LOCALHOST",
    ] {
        let r = get_from(&s, origin).await;
        assert!(r.is_bare_403(), "{origin}: {:?} {:?}", r.status, r.headers);
        let r = preflight(&s, "/api/chat", origin).await;
        assert!(r.is_bare_403(), "preflight from {origin}");
    }
    // Even a route that exists does not run, nor does one that does not.
    let r = send(
        &s,
        Method::POST,
        "/api/chat",
        "localhost",
        &[("origin", "http://evil.test")],
    )
    .await;
    assert!(r.is_bare_403());
    let r = send(
        &s,
        Method::GET,
        "/nowhere",
        "localhost",
        &[("origin", "http://evil.test")],
    )
    .await;
    assert!(r.is_bare_403());
}

#[tokio::test]
async fn a_preflight_is_answered_204_before_any_route() {
    let s = state(Browsers::default());
    // `/api/chat` takes POST only: a 204 to OPTIONS means no route ran. Both families.
    for path in ["/api/chat", "/v1/chat/completions", "/api/nowhere"] {
        let r = preflight(&s, path, "http://localhost:3000").await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{path}");
        assert!(r.body.is_empty());
        assert_eq!(
            r.header(header::ACCESS_CONTROL_ALLOW_ORIGIN),
            Some("http://localhost:3000")
        );
        assert_eq!(
            r.header(header::ACCESS_CONTROL_ALLOW_METHODS),
            Some("GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS")
        );
        let allowed = r
            .header(header::ACCESS_CONTROL_ALLOW_HEADERS)
            .expect("allow-headers");
        let names: Vec<String> = allowed.split(',').map(str::to_ascii_lowercase).collect();
        for asked in [
            "content-type",
            "x-stainless-os",
            "authorization",
            "openai-beta",
        ] {
            assert!(names.iter().any(|n| n == asked), "{asked} not in {allowed}");
        }
        assert!(
            allowed.contains("X-Stainless-Os"),
            "Go's canonical case: {allowed}"
        );
        assert_eq!(r.header(header::ACCESS_CONTROL_MAX_AGE), Some("43200"));
        assert_eq!(
            r.vary(),
            [
                "Origin",
                "Access-Control-Request-Method",
                "Access-Control-Request-Headers"
            ]
        );
        assert_eq!(r.header(header::ACCESS_CONTROL_ALLOW_CREDENTIALS), None);
    }
}

#[tokio::test]
async fn ollama_origins_extend_the_defaults_with_wildcards() {
    let s = state(browsers(
        Some("chrome-extension://*,https://*.example.com,http://app.test,safari-extension://my-extension-*-app"),
        None,
    ));
    for origin in [
        "chrome-extension://abcdefghijklmnop",
        "https://api.example.com",
        "http://app.test",
        "safari-extension://my-extension-one-app",
        "http://localhost:3000",
        "app://obsidian.md",
    ] {
        let r = get_from(&s, origin).await;
        assert_eq!(r.status, StatusCode::OK, "{origin}");
        assert_eq!(r.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), Some(origin));
    }
    for origin in [
        "http://api.example.com",
        "https://example.org",
        "moz-extension://abc",
        "http://app.test.evil",
    ] {
        assert!(get_from(&s, origin).await.is_bare_403(), "{origin}");
    }
    // gin-contrib/cors' TestWildcard.
    let s = state(browsers(
        Some("https://*.github.com,https://api.*,http://*,https://facebook.com,*.golang.org"),
        None,
    ));
    for (origin, ok) in [
        ("https://gist.github.com", true),
        ("https://api.github.com/v1/users", true),
        ("https://giphy.com/", false),
        ("http://hard-to-find-http-example.com", true),
        ("https://facebook.com", true),
        ("https://something.golang.org", true),
        ("https://something.go.org", false),
    ] {
        let r = get_from(&s, origin).await;
        assert_eq!(r.status == StatusCode::OK, ok, "{origin}: {}", r.status);
    }
}

#[tokio::test]
async fn a_lone_star_allows_every_origin_with_a_star() {
    let s = state(browsers(Some("*"), None));
    let r = get_from(&s, "http://anything.example").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
    assert!(
        r.vary().is_empty(),
        "gin sends no Vary when every origin is allowed"
    );
    let r = preflight(&s, "/api/generate", "https://somewhere.else").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
    assert!(r.vary().is_empty());
}

#[test]
fn entries_gin_refuses_stop_the_start() {
    for bad in [
        "example.com",
        "http://a.test, http://b.test",
        "http://a.test,",
        "http://*.*.com",
    ] {
        assert!(cors(bad).is_err(), "{bad:?} should be refused");
    }
    assert!(cors("http://totally.safe,http://definitely.legit").is_ok());
}

#[tokio::test]
async fn on_loopback_only_local_hosts_are_served() {
    let s = state(browsers(None, Some("127.0.0.1:11434")));
    let hostname = nix::unistd::gethostname()
        .expect("hostname")
        .to_string_lossy()
        .into_owned();
    let mut served = vec![
        "localhost".to_string(),
        "localhost:11434".into(),
        "LocalHost:11434".into(),
        "127.0.0.1:11434".into(),
        "[::1]:11434".into(),
        "0.0.0.0:11434".into(),
        "app.localhost:11434".into(),
        "printer.local".into(),
        "host.docker.internal:11434".into(),
        "10.0.0.5:11434".into(),
        "172.16.0.1".into(),
        "192.168.1.20:11434".into(),
        "[fd12:3456::1]:11434".into(),
        format!("{}:11434", hostname.to_uppercase()),
    ];
    served.push(hostname);
    for host in &served {
        let r = send(&s, Method::GET, "/api/version", host, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "Host {host}");
    }
    for host in [
        "example.com",
        "example.com:11434",
        "localhost.example.com",
        "8.8.8.8:11434",
        "[::1]",
    ] {
        let r = send(&s, Method::GET, "/api/version", host, &[]).await;
        assert!(r.is_bare_403(), "Host {host}: {}", r.status);
    }
    // An allowed name answers OPTIONS itself, as Ollama's middleware does.
    let r = send(&s, Method::OPTIONS, "/api/chat", "localhost:11434", &[]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // A rebinding page: its origin is its own host (so CORS lets it through untouched),
    // but that host is not this machine.
    let r = send(
        &s,
        Method::POST,
        "/api/chat",
        "evil.test:11434",
        &[("origin", "http://evil.test:11434")],
    )
    .await;
    assert!(r.is_bare_403());
    // IPv6 loopback guards too.
    let v6 = state(browsers(None, Some("[::1]:11434")));
    assert!(send(&v6, Method::GET, "/", "example.com", &[])
        .await
        .is_bare_403());
}

#[tokio::test]
async fn elsewhere_nothing_checks_the_host() {
    for bound in [
        Some("0.0.0.0:11434"),
        Some("[::]:11434"),
        Some("192.168.1.5:11434"),
        None,
    ] {
        let s = state(browsers(None, bound));
        let r = send(&s, Method::GET, "/api/version", "example.com:11434", &[]).await;
        assert_eq!(r.status, StatusCode::OK, "bound {bound:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_on_an_allowed_origin_reads_streams_as_they_come() {
    let server = TestServer {
        gateway: Gateway {
            browsers: browsers(None, Some("127.0.0.1:11434")),
            ..Gateway::default()
        },
        ..TestServer::default()
    };
    let base = server.spawn(&["smollm2"]).await;
    let origin = "http://localhost:5173";
    let client = reqwest::Client::new();
    // What the browser sends before a JSON POST from another origin.
    let r = client
        .request(reqwest::Method::OPTIONS, format!("{base}/api/chat"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .expect("preflight");
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], origin);

    let native = client
        .post(format!("{base}/api/chat"))
        .header("origin", origin)
        .json(&json!({
            "model": "smollm2",
            "messages": [{"role": "user", "content": "Say hi."}],
            "options": {"num_predict": 6, "temperature": 0},
        }))
        .send()
        .await
        .expect("chat");
    assert_eq!(native.status(), 200);
    assert_eq!(native.headers()["access-control-allow-origin"], origin);
    assert_eq!(native.headers()["vary"], "Origin");
    assert_eq!(native.headers()["content-type"], "application/x-ndjson");
    let mut lines = 0;
    let mut body = native.bytes_stream();
    let mut text = String::new();
    while let Some(chunk) = body.next().await {
        text.push_str(std::str::from_utf8(&chunk.expect("chunk")).expect("utf-8"));
        lines = text.matches('\n').count();
    }
    let last: serde_json::Value =
        serde_json::from_str(text.trim_end().rsplit('\n').next().expect("a line")).expect("json");
    assert_eq!(last["done"], true, "{text}");
    assert!(lines >= 2, "streamed as lines: {text}");

    let sse = client
        .post(format!("{base}/v1/chat/completions"))
        .header("origin", origin)
        .json(&json!({
            "model": "smollm2",
            "messages": [{"role": "user", "content": "Say hi."}],
            "max_tokens": 6,
            "temperature": 0,
            "stream": true,
        }))
        .send()
        .await
        .expect("chat completions");
    assert_eq!(sse.status(), 200);
    assert_eq!(sse.headers()["access-control-allow-origin"], origin);
    assert!(sse.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/event-stream"));
    let text = sse.text().await.expect("body");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
}
