//! `rollama::pull::pull` against a local server shaped like the Hugging Face hub as hf-hub
//! talks to it: `GET /api/models/{repo}/revision/{rev}` (with `?blobs=true`: sizes and LFS
//! sha256) and `GET /{repo}/resolve/{rev}/{file}` (`etag`, `x-linked-etag`,
//! `x-repo-commit`, `Range`).

mod pull_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use pull_support::{body, bytes, run, serve, temp_store};
use rollama::pull::PullOptions;
use rollama::store::manifest::{CHECKPOINT_FILE, MODEL};
use rollama::store::{Digest, Manifest, ModelConfig, ModelName, ModelStore};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// A file of a repo: its bytes and whether the hub keeps it in LFS.
struct File {
    data: Vec<u8>,
    lfs: bool,
}

#[derive(Default)]
struct Hub {
    repos: HashMap<String, Vec<(String, File)>>,
    /// `Authorization` of every request, and the files asked for as `rev/path`.
    auth: Vec<Option<String>>,
    resolved: Vec<String>,
}

type Shared = Arc<Mutex<Hub>>;

async fn info(
    State(hub): State<Shared>,
    Path((org, repo, _rev)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut hub = hub.lock().expect("hub");
    hub.auth.push(auth(&headers));
    let Some(files) = hub.repos.get(&format!("{org}/{repo}")) else {
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"error":"Repository not found"}"#,
        )
            .into_response();
    };
    let siblings: Vec<serde_json::Value> = files
        .iter()
        .map(|(name, f)| {
            let mut s = serde_json::json!({"rfilename": name, "size": f.data.len()});
            if f.lfs {
                s["lfs"] = serde_json::json!({"sha256": Digest::of_bytes(&f.data).hex(), "size": f.data.len(), "pointerSize": 134});
            }
            s
        })
        .collect();
    axum::Json(
        serde_json::json!({"id": format!("{org}/{repo}"), "sha": COMMIT, "siblings": siblings}),
    )
    .into_response()
}

async fn resolve(
    State(hub): State<Shared>,
    Path((org, repo, rev, file)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut hub = hub.lock().expect("hub");
    hub.auth.push(auth(&headers));
    hub.resolved.push(format!("{rev}/{file}"));
    let Some(f) = hub
        .repos
        .get(&format!("{org}/{repo}"))
        .and_then(|files| files.iter().find(|(n, _)| *n == file))
        .map(|(_, f)| f)
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = body(&f.data, &headers, None);
    let sha = Digest::of_bytes(&f.data);
    let h = response.headers_mut();
    h.insert("x-repo-commit", HeaderValue::from_static(COMMIT));
    if f.lfs {
        if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", sha.hex())) {
            h.insert("x-linked-etag", v.clone());
            h.insert("etag", v);
        }
    } else if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", &sha.hex()[..40])) {
        // A git blob id (sha1-sized), not a sha256.
        h.insert("etag", v);
    }
    response
}

fn auth(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

async fn hub() -> (PullOptions, Shared) {
    let hub = Shared::default();
    let router = Router::new()
        .route("/api/models/{org}/{repo}/revision/{rev}", get(info))
        .route("/{org}/{repo}/resolve/{rev}/{*file}", get(resolve))
        .with_state(hub.clone());
    let options = PullOptions {
        hf_endpoint: Some(format!("http://{}", serve(router).await)),
        hf_token: Some("hf_test_token".into()),
        ..PullOptions::default()
    };
    (options, hub)
}

fn add(hub: &Shared, repo: &str, files: Vec<(&str, Vec<u8>, bool)>) {
    let files = files
        .into_iter()
        .map(|(n, data, lfs)| (n.to_string(), File { data, lfs }))
        .collect();
    hub.lock().expect("hub").repos.insert(repo.into(), files);
}

fn manifest(store: &ModelStore, name: &str) -> Option<Manifest> {
    let name = ModelName::parse(name).expect("name");
    store.manifests().find(&name).map(|f| f.manifest)
}

fn config(store: &ModelStore, m: &Manifest) -> ModelConfig {
    let bytes = store
        .blobs()
        .read_small(&m.config.digest, 1 << 20)
        .expect("config blob");
    serde_json::from_slice(&bytes).expect("config json")
}

fn gguf_repo(hub: &Shared) -> (Vec<u8>, Vec<u8>) {
    let q4 = bytes(11, 2 << 20);
    let q8 = bytes(12, 3 << 20);
    add(
        hub,
        "org/Tiny-GGUF",
        vec![
            ("README.md", b"# tiny".to_vec(), false),
            ("tiny-Q4_K_M.gguf", q4.clone(), true),
            ("tiny-Q8_0.gguf", q8.clone(), true),
        ],
    );
    (q4, q8)
}

#[tokio::test]
async fn a_gguf_repo_pulls_the_quant_the_tag_names() {
    let (options, hub) = hub().await;
    let (_, q8) = gguf_repo(&hub);
    let store = temp_store();
    let name = "hf.co/org/Tiny-GGUF:q8_0";

    let (result, lines) = run(&store, name, &options).await;
    result.expect("pull");
    assert_eq!(lines.last().map(|p| p.status.as_str()), Some("success"));
    let m = manifest(&store, name).expect("manifest written");
    assert_eq!(m.layers.len(), 1);
    assert_eq!(m.layers[0].media_type, MODEL);
    assert_eq!(m.layers[0].digest, Digest::of_bytes(&q8));
    assert_eq!(m.layers[0].size, q8.len() as u64);
    assert!(store.blobs().exists(&m.layers[0].digest));
    let c = config(&store, &m);
    assert_eq!(
        (
            c.model_format.as_str(),
            c.architecture.as_str(),
            c.os.as_str()
        ),
        ("gguf", "amd64", "linux")
    );
    // Fetched at the commit the listing named.
    let resolved = hub.lock().expect("hub").resolved.clone();
    assert_eq!(resolved, [format!("{COMMIT}/tiny-Q8_0.gguf")]);
}

#[tokio::test]
async fn latest_takes_q4_k_m_and_huggingface_co_is_the_same_hub() {
    let (options, hub) = hub().await;
    let (q4, _) = gguf_repo(&hub);
    let store = temp_store();

    let (result, _) = run(&store, "huggingface.co/org/Tiny-GGUF", &options).await;
    result.expect("pull");
    let m = manifest(&store, "huggingface.co/org/Tiny-GGUF:latest").expect("manifest");
    assert_eq!(m.layers[0].digest, Digest::of_bytes(&q4));

    let (result, _) = run(&store, "hf.co/org/Tiny-GGUF:IQ2_XXS", &options).await;
    assert!(result.expect_err("no such quant").is_not_found());
}

#[tokio::test]
async fn a_safetensors_repo_becomes_one_named_layer_per_file() {
    let (options, hub) = hub().await;
    let weights = bytes(13, 2 << 20);
    let files = vec![
        (
            "config.json",
            br#"{"architectures":["BertModel"]}"#.to_vec(),
            false,
        ),
        ("tokenizer.json", br#"{"model":{}}"#.to_vec(), false),
        ("tokenizer_config.json", b"{}".to_vec(), false),
        ("model.safetensors", weights.clone(), true),
        ("modules.json", b"[]".to_vec(), false),
        (
            "sentence_bert_config.json",
            br#"{"max_seq_length":256}"#.to_vec(),
            false,
        ),
        (
            "1_Pooling/config.json",
            br#"{"pooling_mode_mean_tokens":true}"#.to_vec(),
            false,
        ),
        ("README.md", b"# embedder".to_vec(), false),
        ("pytorch_model.bin", bytes(14, 1000), true),
        ("onnx/model.onnx", bytes(15, 1000), true),
    ];
    let expected: HashMap<String, Vec<u8>> = files
        .iter()
        .filter(|(n, _, _)| !["README.md", "pytorch_model.bin", "onnx/model.onnx"].contains(n))
        .map(|(n, d, _)| (n.to_string(), d.clone()))
        .collect();
    add(&hub, "org/embedder", files);
    let store = temp_store();
    let name = "hf.co/org/embedder";

    let (result, _) = run(&store, name, &options).await;
    result.expect("pull");
    let m = manifest(&store, name).expect("manifest");
    let layers: HashMap<String, Digest> = m
        .layers
        .iter()
        .map(|l| (l.name.clone(), l.digest.clone()))
        .collect();
    assert_eq!(layers.len(), expected.len(), "{layers:?}");
    for l in &m.layers {
        assert_eq!(l.media_type, CHECKPOINT_FILE);
        let data = &expected[&l.name];
        assert_eq!(l.digest, Digest::of_bytes(data), "{}", l.name);
        let stored = store.blobs().read_small(&l.digest, 16 << 20).expect("blob");
        assert_eq!(&stored, data);
    }
    assert_eq!(config(&store, &m).model_format, "safetensors");
}

#[tokio::test]
async fn an_unknown_repo_is_not_found() {
    let (options, _hub) = hub().await;
    let store = temp_store();
    let (result, _) = run(&store, "hf.co/org/missing", &options).await;
    let error = result.expect_err("unknown");
    assert!(error.is_not_found());
    assert_eq!(
        error.to_string(),
        "pull model manifest: file does not exist"
    );
    assert!(manifest(&store, "hf.co/org/missing").is_none());
}

#[tokio::test]
async fn the_token_is_sent_as_a_bearer_to_every_request() {
    let (options, hub) = hub().await;
    gguf_repo(&hub);
    let store = temp_store();
    run(&store, "hf.co/org/Tiny-GGUF:Q4_K_M", &options)
        .await
        .0
        .expect("pull");
    let seen = hub.lock().expect("hub").auth.clone();
    assert!(seen.len() >= 2, "{seen:?}");
    assert!(
        seen.iter()
            .all(|a| a.as_deref() == Some("Bearer hf_test_token")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_split_gguf_is_refused_clearly() {
    let (options, hub) = hub().await;
    add(
        &hub,
        "org/Big-GGUF",
        vec![
            ("big-Q4_K_M-00001-of-00002.gguf", bytes(16, 1000), true),
            ("big-Q4_K_M-00002-of-00002.gguf", bytes(17, 1000), true),
        ],
    );
    let store = temp_store();
    let (result, _) = run(&store, "hf.co/org/Big-GGUF:Q4_K_M", &options).await;
    let error = result.expect_err("split");
    assert!(error.to_string().contains("multi-part GGUF"), "{error}");
    assert!(manifest(&store, "hf.co/org/Big-GGUF:Q4_K_M").is_none());
}
