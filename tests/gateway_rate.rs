//! Rate limits on the real server: requests per minute per key (and per client address
//! without keys), tokens per minute charged from a real generation; each refusal a 429
//! with `Retry-After` in the route family's shape, before any route runs.

mod common;

use std::time::Duration;

use common::TestServer;
use reqwest::StatusCode;
use serde_json::{json, Value};

use rollama::server::gateway::auth::Auth;
use rollama::server::gateway::rate::Rate;
use rollama::server::gateway::{Budget, Gateway};

fn client() -> reqwest::Client {
    // A hang guard only.
    reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .expect("client")
}

fn server(keys: Option<&str>, rate: Rate) -> TestServer {
    TestServer {
        gateway: Gateway {
            auth: match keys {
                Some(list) => Auth::from_list(list).expect("keys"),
                None => Auth::default(),
            },
            rate,
            ..Gateway::default()
        },
        ..TestServer::default()
    }
}

struct Reply {
    status: StatusCode,
    retry_after: Option<u64>,
    request_id: bool,
    body: Value,
}

async fn get(base: &str, path: &str, key: Option<&str>) -> Reply {
    let mut req = client().get(format!("{base}{path}"));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let r = req.send().await.expect("request");
    let header = |name| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().expect("ascii").to_string())
    };
    let retry_after = header("retry-after").map(|v| v.parse().expect("whole seconds"));
    let request_id = header("x-request-id").is_some();
    let status = r.status();
    let text = r.text().await.expect("body");
    Reply {
        status,
        retry_after,
        request_id,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

/// A 429 as each family's clients expect it, for going over `budget`.
fn assert_limited(r: &Reply, openai: bool, budget: &str) {
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(
        r.retry_after.is_some_and(|s| s >= 1),
        "Retry-After: {:?}",
        r.retry_after
    );
    assert!(r.request_id, "a 429 carries X-Request-Id");
    if openai {
        let e = &r.body["error"];
        assert_eq!(e["type"], budget, "{}", r.body);
        assert_eq!(e["code"], "rate_limit_exceeded", "{}", r.body);
        assert!(
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains("Rate limit")),
            "{}",
            r.body
        );
    } else {
        let e = r.body["error"].as_str().unwrap_or_default();
        assert!(e.starts_with("rate limit exceeded"), "{}", r.body);
        assert!(e.contains(budget), "{}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_per_minute_per_key() {
    // 2 a minute: one comes back every 30 s, far longer than this test takes.
    let rate = Rate::new(2, 0);
    let base = server(Some("alice:tok-alice,bob:tok-bob"), rate.clone())
        .spawn(&[])
        .await;
    let alice = Some("tok-alice");
    assert_eq!(get(&base, "/api/tags", alice).await.status, StatusCode::OK);
    assert_eq!(get(&base, "/v1/models", alice).await.status, StatusCode::OK);
    assert_limited(&get(&base, "/api/tags", alice).await, false, "requests");
    assert_limited(&get(&base, "/v1/models", alice).await, true, "requests");
    assert_eq!(rate.refused(Budget::Requests), 2);

    // Other keys have their own budget; the heartbeat and health are never limited;
    // without a key it is a 401, not a 429.
    assert_eq!(
        get(&base, "/api/tags", Some("tok-bob")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        get(&base, "/v1/models", Some("tok-bob")).await.status,
        StatusCode::OK
    );
    assert_eq!(get(&base, "/", alice).await.status, StatusCode::OK);
    assert_ne!(
        get(&base, "/health/live", alice).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        get(&base, "/api/tags", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(rate.refused(Budget::Requests), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_keys_the_client_address_is_limited() {
    let base = server(None, Rate::new(2, 0)).spawn(&[]).await;
    for _ in 0..2 {
        assert_eq!(
            get(&base, "/api/version", None).await.status,
            StatusCode::OK
        );
    }
    assert_limited(&get(&base, "/api/version", None).await, false, "requests");
    assert_eq!(get(&base, "/", None).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_generation_spends_the_token_budget() {
    // 12 tokens a minute: one comes back every 5 s. A cheap request costs one, the
    // generation's prompt alone is more than what is left.
    let rate = Rate::new(0, 12);
    let base = server(Some("alice:tok-alice,bob:tok-bob"), rate.clone())
        .spawn(&["smollm2"])
        .await;
    let alice = Some("tok-alice");
    for _ in 0..2 {
        assert_eq!(get(&base, "/api/tags", alice).await.status, StatusCode::OK);
    }
    let r = client()
        .post(format!("{base}/api/generate"))
        .bearer_auth("tok-alice")
        .json(&json!({
            "model": "smollm2",
            "prompt": "Write one short sentence about the sea and the sky.",
            "stream": false,
            "options": {"num_predict": 4, "temperature": 0}
        }))
        .send()
        .await
        .expect("generate");
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.expect("json");
    let spent =
        v["prompt_eval_count"].as_u64().unwrap_or(0) + v["eval_count"].as_u64().unwrap_or(0);
    // More than a full bucket: whatever refilled meanwhile, it is empty now.
    assert!(spent > 12, "the generation spent {spent} tokens: {v}");

    assert_limited(&get(&base, "/api/tags", alice).await, false, "tokens");
    assert_limited(&get(&base, "/v1/models", alice).await, true, "tokens");
    assert_eq!(rate.refused(Budget::Tokens), 2);
    assert_eq!(rate.refused(Budget::Requests), 0);
    assert_eq!(
        get(&base, "/api/tags", Some("tok-bob")).await.status,
        StatusCode::OK
    );
}
