//! Embeddings over HTTP: `/api/embed`, the legacy `/api/embeddings`, `/v1/embeddings`,
//! checked against the sentence-transformers goldens; capability errors both ways;
//! requests batched together give what each gives alone.

mod common;

use common::{golden, post, TestServer};
use serde_json::{json, Value};

async fn post_ok(url: String, body: Value) -> Value {
    let r = post(&url, body).await;
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

async fn error(url: &str, body: Value, status: u16) -> String {
    let r = post(url, body).await;
    assert_eq!(r.status(), status);
    let v: Value = r.json().await.expect("json");
    v["error"].as_str().expect("native error").to_string()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("vector")
        .iter()
        .map(|x| x.as_f64().expect("float") as f32)
        .collect()
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[tokio::test(flavor = "multi_thread")]
async fn embed_matches_the_reference_vectors_alone_and_batched() {
    let base = TestServer::default().spawn(&["all-minilm"]).await;
    let url = format!("{base}/api/embed");
    let cases = golden("embed-minilm.json")["cases"]
        .as_array()
        .expect("cases")
        .clone();
    let texts: Vec<&str> = cases
        .iter()
        .map(|c| c["text"].as_str().expect("text"))
        .collect();

    // One request with every input (one batched pass, lengths mixed).
    let all = post_ok(url.clone(), json!({"model": "all-minilm", "input": texts})).await;
    assert_eq!(all["model"], "all-minilm");
    let tokens: u64 = cases
        .iter()
        .map(|c| c["model_ids"].as_array().expect("ids").len() as u64)
        .sum();
    assert_eq!(all["prompt_eval_count"], tokens, "truncated token count");
    assert!(
        all["total_duration"].as_u64().expect("total")
            >= all["load_duration"].as_u64().expect("load")
    );
    let vectors = all["embeddings"].as_array().expect("embeddings");
    assert_eq!(vectors.len(), cases.len());
    for (case, v) in cases.iter().zip(vectors) {
        let (got, want) = (floats(v), floats(&case["embedding"]));
        assert!((norm(&got) - 1.0).abs() < 1e-5);
        assert!(max_diff(&got, &want) < 1e-4, "{}", case["text"]);
    }

    // Concurrent single-input requests share passes; each equals the batched vector.
    let singles = futures::future::join_all(
        texts
            .iter()
            .map(|t| post_ok(url.clone(), json!({"model": "all-minilm", "input": t}))),
    )
    .await;
    for (one, v) in singles.iter().zip(vectors) {
        let one = floats(&one["embeddings"][0]);
        assert!(max_diff(&one, &floats(v)) < 1e-6);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn embed_options_truncate_dimensions_and_edge_inputs() {
    let base = TestServer::default()
        .spawn(&["all-minilm", "smollm2"])
        .await;
    let url = format!("{base}/api/embed");
    let long = "word ".repeat(400);
    let text = "The weather is lovely today.";

    let full = post_ok(url.clone(), json!({"model": "all-minilm", "input": text})).await;
    let full = floats(&full["embeddings"][0]);
    let short = post_ok(
        url.clone(),
        json!({"model": "all-minilm", "input": text, "dimensions": 32}),
    )
    .await;
    let short = floats(&short["embeddings"][0]);
    assert_eq!(short.len(), 32);
    assert!((norm(&short) - 1.0).abs() < 1e-5);
    let scale = norm(&full[..32]);
    assert!(
        max_diff(
            &short,
            &full[..32].iter().map(|x| x / scale).collect::<Vec<_>>()
        ) < 1e-6
    );

    // Too long: cut to the model's 256 tokens by default, refused with truncate:false,
    // and options.num_ctx lowers the limit.
    let cut = post_ok(url.clone(), json!({"model": "all-minilm", "input": long})).await;
    assert_eq!(cut["prompt_eval_count"], 256);
    assert_eq!(
        error(
            &url,
            json!({"model": "all-minilm", "input": long, "truncate": false}),
            400
        )
        .await,
        "the input length exceeds the context length"
    );
    let capped = post_ok(
        url.clone(),
        json!({"model": "all-minilm", "input": long, "options": {"num_ctx": 16}}),
    )
    .await;
    assert_eq!(capped["prompt_eval_count"], 16);

    for empty in [json!(""), json!([])] {
        let v = post_ok(url.clone(), json!({"model": "all-minilm", "input": empty})).await;
        assert_eq!(v["embeddings"], json!([]));
    }
    assert_eq!(
        error(&url, json!({"model": "all-minilm", "input": [1, 2]}), 400).await,
        "invalid input type"
    );
    assert_eq!(
        error(
            &url,
            json!({"model": "all-minilm", "input": "x", "dimensions": -1}),
            400
        )
        .await,
        "dimensions must be a positive integer"
    );
    assert_eq!(
        error(&url, json!({"model": "nope", "input": "x"}), 404).await,
        "model \"nope\" not found, try pulling it first"
    );
    assert_eq!(
        error(&url, json!({"model": "", "input": "x"}), 404).await,
        "model '' not found"
    );

    // Capabilities, both ways.
    assert_eq!(
        error(&url, json!({"model": "smollm2", "input": "x"}), 400).await,
        "\"smollm2\" does not support embeddings"
    );
    let chat = json!({"model": "all-minilm", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(
        error(&format!("{base}/api/chat"), chat, 400).await,
        "\"all-minilm\" does not support chat"
    );
    let gen = json!({"model": "all-minilm", "prompt": "hi"});
    assert_eq!(
        error(&format!("{base}/api/generate"), gen, 400).await,
        "\"all-minilm\" does not support generate"
    );
    let show = post_ok(format!("{base}/api/show"), json!({"model": "all-minilm"})).await;
    assert_eq!(show["capabilities"], json!(["embedding"]));
    assert_eq!(show["details"]["format"], "safetensors");
    assert_eq!(show["details"]["family"], "bert");
    assert_eq!(show["model_info"]["bert.embedding_length"], 384);
    let show = post_ok(format!("{base}/api/show"), json!({"model": "smollm2"})).await;
    assert_eq!(show["capabilities"], json!(["completion"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn legacy_embeddings_are_not_normalized() {
    let base = TestServer::default().spawn(&["all-minilm"]).await;
    let text = "A man is playing a guitar on stage.";
    let legacy = post_ok(
        format!("{base}/api/embeddings"),
        json!({"model": "all-minilm", "prompt": text}),
    )
    .await;
    let raw = floats(&legacy["embedding"]);
    assert!(
        (norm(&raw) - 1.0).abs() > 0.05,
        "legacy vectors are raw pooled output"
    );
    let unit = post_ok(
        format!("{base}/api/embed"),
        json!({"model": "all-minilm", "input": text}),
    )
    .await;
    let scaled: Vec<f32> = raw.iter().map(|x| x / norm(&raw)).collect();
    assert!(max_diff(&scaled, &floats(&unit["embeddings"][0])) < 1e-6);
    let empty = post_ok(
        format!("{base}/api/embeddings"),
        json!({"model": "all-minilm", "prompt": ""}),
    )
    .await;
    assert_eq!(empty, json!({"embedding": []}));
    let url = format!("{base}/api/embeddings");
    assert_eq!(
        error(&url, json!({"prompt": "x"}), 400).await,
        "model is required"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_embeddings_floats_base64_and_errors() {
    let base = TestServer::default().spawn(&["all-minilm"]).await;
    let url = format!("{base}/v1/embeddings");
    let v = post_ok(
        url.clone(),
        json!({"model": "all-minilm", "input": ["a cat", "a dog"]}),
    )
    .await;
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][1]["index"], 1);
    assert_eq!(v["data"][0]["object"], "embedding");
    assert_eq!(v["usage"]["prompt_tokens"], v["usage"]["total_tokens"]);
    let b = post_ok(
        url.clone(),
        json!({"model": "all-minilm", "input": "a cat", "encoding_format": "base64"}),
    )
    .await;
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b["data"][0]["embedding"].as_str().expect("base64"))
        .expect("decode");
    let decoded: Vec<f32> = bytes
        .chunks(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(decoded, floats(&v["data"][0]["embedding"]));
    // "" is one input, unlike /api/embed.
    let e = post_ok(url.clone(), json!({"model": "all-minilm", "input": ""})).await;
    assert_eq!(e["data"].as_array().expect("data").len(), 1);
    for (body, status) in [
        (json!({"model": "all-minilm", "input": []}), 400),
        (json!({"model": "all-minilm"}), 400),
        (json!({"model": "all-minilm", "input": [[1, 2]]}), 400),
        (
            json!({"model": "all-minilm", "input": "x", "encoding_format": "int8"}),
            400,
        ),
        (json!({"model": "nope", "input": "x"}), 404),
    ] {
        let r = post(&url, body.clone()).await;
        assert_eq!(r.status(), status, "{body}");
        let err: Value = r.json().await.expect("json");
        assert!(err["error"]["message"].is_string(), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_loaded_models_do_not_hold_the_compute_pool() {
    // Two decoders loaded and idle, then the embedder: before the fix each idle decoder
    // engine occupied a thread of candle's pool for as long as it stayed loaded, so on a
    // 2-core machine the embedder waited for a keep-alive to expire (minutes).
    let base = TestServer::default()
        .spawn(&["smollm2", "gemma3", "all-minilm"])
        .await;
    for model in ["smollm2", "gemma3"] {
        let v = post_ok(
            format!("{base}/api/generate"),
            json!({"model": model, "prompt": "Hi", "stream": false,
                "options": {"num_predict": 2, "temperature": 0}}),
        )
        .await;
        assert_eq!(v["done"], true);
    }
    let embed = post_ok(
        format!("{base}/api/embed"),
        json!({"model": "all-minilm", "input": "still served"}),
    );
    // A deadlock guard, not a speed assertion: the request needs well under a second.
    let v = tokio::time::timeout(std::time::Duration::from_secs(120), embed)
        .await
        .expect("the embedder is not blocked by idle decoders");
    assert_eq!(v["embeddings"].as_array().map(Vec::len), Some(1));
    // And both decoders still answer afterwards.
    let v = post_ok(
        format!("{base}/api/generate"),
        json!({"model": "smollm2", "prompt": "Hi", "stream": false,
            "options": {"num_predict": 2}}),
    )
    .await;
    assert_eq!(v["done"], true);
}
