//! `rollama::pull::pull` against a local server shaped like the Ollama registry: progress
//! stream, resume after a cut, digest mismatch, nothing half-written, unknown model, two
//! concurrent pulls sharing downloads, unused layers removed on a re-pull.

mod pull_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use pull_support::{blob_files, body, bytes, phases, run, serve, temp_store};
use rollama::pull::PullOptions;
use rollama::store::manifest::{MODEL, TEMPLATE};
use rollama::store::{Blobs, Digest, Layer, Manifest, ModelConfig, ModelName, ModelStore};

#[derive(Default)]
struct Registry {
    /// `namespace/model/tag` → manifest bytes.
    manifests: HashMap<String, Vec<u8>>,
    /// `sha256:<hex>` → the bytes served (not necessarily hashing to it).
    blobs: HashMap<String, Vec<u8>>,
    /// Digest → cut the first response's body after this many bytes.
    cut_first: HashMap<String, usize>,
    /// Digest → the first response sends this many bytes, then nothing on an open
    /// connection.
    stall_first: HashMap<String, usize>,
    /// Every blob request: digest and `Range` header.
    requests: Vec<(String, Option<String>)>,
}

type Shared = Arc<Mutex<Registry>>;

async fn manifest(
    State(reg): State<Shared>,
    Path((ns, model, tag)): Path<(String, String, String)>,
) -> Response {
    let reg = reg.lock().expect("registry");
    match reg.manifests.get(&format!("{ns}/{model}/{tag}")) {
        Some(bytes) => bytes.clone().into_response(),
        None => (
            StatusCode::NOT_FOUND,
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#,
        )
            .into_response(),
    }
}

async fn blob(
    State(reg): State<Shared>,
    Path((_ns, _model, digest)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut reg = reg.lock().expect("registry");
    let range = headers
        .get("range")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    reg.requests.push((digest.clone(), range));
    let first = reg.requests.iter().filter(|(d, _)| *d == digest).count() == 1;
    let cut = reg.cut_first.get(&digest).copied().filter(|_| first);
    if let (Some(k), true, Some(data)) = (
        reg.stall_first.get(&digest).copied(),
        first,
        reg.blobs.get(&digest),
    ) {
        let head = axum::body::Bytes::copy_from_slice(&data[..k.min(data.len())]);
        let stalled = futures::StreamExt::chain(
            futures::stream::iter([Ok::<_, std::io::Error>(head)]),
            futures::stream::pending(),
        );
        return Response::new(axum::body::Body::from_stream(stalled));
    }
    match reg.blobs.get(&digest) {
        Some(data) => body(data, &headers, cut),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A registry at `127.0.0.1:<port>`.
async fn registry() -> (String, Shared) {
    let reg = Shared::default();
    let router = Router::new()
        .route("/v2/{ns}/{model}/manifests/{tag}", get(manifest))
        .route("/v2/{ns}/{model}/blobs/{digest}", get(blob))
        .with_state(reg.clone());
    (serve(router).await, reg)
}

fn layer(media_type: &str, data: &[u8]) -> Layer {
    Layer {
        media_type: media_type.into(),
        digest: Digest::of_bytes(data),
        size: data.len() as u64,
        from: String::new(),
        name: String::new(),
    }
}

/// Publishes `model:tag` with these layers (and a config blob); returns the manifest.
fn publish(reg: &Shared, model: &str, tag: &str, layers: &[(&str, Vec<u8>)]) -> Manifest {
    let config = ModelConfig {
        model_format: "gguf".into(),
        architecture: "amd64".into(),
        os: "linux".into(),
        ..ModelConfig::default()
    }
    .to_bytes();
    let mut reg = reg.lock().expect("registry");
    reg.blobs
        .insert(Digest::of_bytes(&config).to_string(), config.clone());
    let mut out = vec![];
    for (media_type, data) in layers {
        let l = layer(media_type, data);
        reg.blobs.insert(l.digest.to_string(), data.clone());
        out.push(l);
    }
    let manifest = Manifest::new(
        layer("application/vnd.docker.container.image.v1+json", &config),
        out,
    );
    reg.manifests
        .insert(format!("library/{model}/{tag}"), manifest.to_bytes());
    manifest
}

fn insecure() -> PullOptions {
    PullOptions {
        insecure: true,
        ..PullOptions::default()
    }
}

fn requests_for(reg: &Shared, digest: &Digest) -> Vec<Option<String>> {
    let reg = reg.lock().expect("registry");
    reg.requests
        .iter()
        .filter(|(d, _)| *d == digest.to_string())
        .map(|(_, r)| r.clone())
        .collect()
}

fn found(store: &ModelStore, name: &str) -> Option<Manifest> {
    let name = ModelName::parse(name).expect("name");
    store.manifests().find(&name).map(|f| f.manifest)
}

#[tokio::test]
async fn progress_follows_ollama_and_present_layers_are_reported_once() {
    let (host, reg) = registry().await;
    let weights = bytes(1, 3 << 20);
    let manifest = publish(
        &reg,
        "tiny",
        "latest",
        &[(MODEL, weights), (TEMPLATE, b"{{ .Prompt }}".to_vec())],
    );
    let store = temp_store();
    let name = format!("{host}/library/tiny");

    let (result, lines) = run(&store, &name, &insecure()).await;
    result.expect("pull");
    assert_eq!(
        phases(&lines),
        [
            "pulling manifest",
            "pulling <layer>",
            "verifying sha256 digest",
            "writing manifest",
            "success"
        ]
    );
    for l in manifest.layers.iter().chain([&manifest.config]) {
        let of_layer: Vec<_> = lines
            .iter()
            .filter(|p| p.digest.as_ref() == Some(&l.digest))
            .collect();
        assert!(!of_layer.is_empty(), "no progress for {}", l.digest);
        for p in &of_layer {
            assert_eq!(p.status, format!("pulling {}", &l.digest.hex()[..12]));
            assert_eq!(p.total, l.size);
            assert!(p.completed <= p.total);
        }
        assert_eq!(of_layer.last().map(|p| p.completed), Some(l.size));
        let (path, size) = store.blobs().find(&l.digest).expect("blob stored");
        assert_eq!(size, l.size);
        assert_eq!(Blobs::hash_file(&path).expect("hash").0, l.digest);
    }
    assert_eq!(found(&store, &name), Some(manifest.clone()));

    // Again: every blob is there, reported once at completed=total, fetched no more.
    let before = reg.lock().expect("registry").requests.len();
    let (result, lines) = run(&store, &name, &insecure()).await;
    result.expect("second pull");
    for l in manifest.layers.iter().chain([&manifest.config]) {
        let of_layer: Vec<_> = lines
            .iter()
            .filter(|p| p.digest.as_ref() == Some(&l.digest))
            .collect();
        assert_eq!(of_layer.len(), 1, "{lines:?}");
        assert_eq!((of_layer[0].total, of_layer[0].completed), (l.size, l.size));
    }
    assert_eq!(reg.lock().expect("registry").requests.len(), before);
    assert_eq!(lines.last().map(|p| p.status.as_str()), Some("success"));
}

#[tokio::test]
async fn a_cut_connection_resumes_with_a_range_and_the_blob_verifies() {
    let (host, reg) = registry().await;
    let weights = bytes(2, 4 << 20);
    let digest = Digest::of_bytes(&weights);
    let cut = 1 << 20;
    reg.lock()
        .expect("registry")
        .cut_first
        .insert(digest.to_string(), cut);
    publish(&reg, "cut", "latest", &[(MODEL, weights)]);
    let store = temp_store();

    let (result, _) = run(&store, &format!("{host}/library/cut"), &insecure()).await;
    result.expect("pull resumes");
    let requests = requests_for(&reg, &digest);
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0], None);
    let resumed_at: usize = requests[1]
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok())
        .expect("second request asks for a range");
    assert!(
        resumed_at > 0 && resumed_at <= cut,
        "resumed at {resumed_at}"
    );
    let (path, _) = store.blobs().find(&digest).expect("blob");
    assert_eq!(Blobs::hash_file(&path).expect("hash").0, digest);
    assert!(!store.blobs().partial_path(&digest).exists());
}

#[tokio::test]
async fn a_later_pull_resumes_from_the_partial_file() {
    let (host, reg) = registry().await;
    let weights = bytes(3, 2 << 20);
    let digest = Digest::of_bytes(&weights);
    publish(&reg, "later", "latest", &[(MODEL, weights.clone())]);
    let store = temp_store();
    let k = 700_001;
    store.blobs().ensure_dir().expect("blobs dir");
    std::fs::write(store.blobs().partial_path(&digest), &weights[..k]).expect("partial");

    let (result, _) = run(&store, &format!("{host}/library/later"), &insecure()).await;
    result.expect("pull");
    assert_eq!(requests_for(&reg, &digest), [Some(format!("bytes={k}-"))]);
    assert!(store.blobs().exists(&digest));
}

#[tokio::test]
async fn a_digest_mismatch_fails_the_pull_and_leaves_nothing_behind() {
    let (host, reg) = registry().await;
    let weights = bytes(4, 1 << 20);
    let digest = Digest::of_bytes(&weights);
    publish(&reg, "bad", "latest", &[(MODEL, weights.clone())]);
    let mut wrong = weights.clone();
    wrong[12345] ^= 0xff;
    let wrong_digest = Digest::of_bytes(&wrong);
    reg.lock()
        .expect("registry")
        .blobs
        .insert(digest.to_string(), wrong);
    let store = temp_store();
    let name = format!("{host}/library/bad");

    let (result, lines) = run(&store, &name, &insecure()).await;
    let error = result.expect_err("mismatch");
    assert!(error.is_digest_mismatch(), "{error}");
    assert!(error.to_string().starts_with("digest mismatch"), "{error}");
    assert!(!lines
        .iter()
        .any(|p| p.status == "success" || p.status == "writing manifest"));
    assert_eq!(found(&store, &name), None);
    assert!(!store.blobs().exists(&digest));
    assert!(!store.blobs().partial_path(&digest).exists());
    let files = blob_files(&store);
    assert!(
        !files
            .iter()
            .any(|f| f.contains(wrong_digest.hex()) || f.contains(digest.hex())),
        "{files:?}"
    );
}

#[tokio::test]
async fn a_missing_blob_fails_without_a_manifest() {
    let (host, reg) = registry().await;
    let weights = bytes(5, 1 << 20);
    let digest = Digest::of_bytes(&weights);
    publish(&reg, "gone", "latest", &[(MODEL, weights)]);
    reg.lock()
        .expect("registry")
        .blobs
        .remove(&digest.to_string());
    let store = temp_store();
    let name = format!("{host}/library/gone");

    let (result, _) = run(&store, &name, &insecure()).await;
    assert!(result.is_err());
    assert_eq!(found(&store, &name), None);
    assert!(!store.blobs().exists(&digest));
}

#[tokio::test]
async fn an_unknown_model_is_not_found_as_ollama_words_it() {
    let (host, _reg) = registry().await;
    let store = temp_store();
    let (result, lines) = run(&store, &format!("{host}/library/nope:v1"), &insecure()).await;
    let error = result.expect_err("unknown");
    assert!(error.is_not_found());
    assert_eq!(
        error.to_string(),
        "pull model manifest: file does not exist"
    );
    assert_eq!(phases(&lines), ["pulling manifest"]);
}

#[tokio::test]
async fn concurrent_pulls_share_each_download() {
    let (host, reg) = registry().await;
    let a = bytes(6, 3 << 20);
    let b = bytes(7, 2 << 20);
    let manifest = publish(&reg, "both", "latest", &[(MODEL, a), (MODEL, b)]);
    let store = temp_store();
    let name = format!("{host}/library/both");

    let options = insecure();
    let (one, two) = tokio::join!(run(&store, &name, &options), run(&store, &name, &options));
    one.0.expect("first pull");
    two.0.expect("second pull");
    for lines in [&one.1, &two.1] {
        assert_eq!(lines.last().map(|p| p.status.as_str()), Some("success"));
    }
    for d in manifest.digests() {
        assert_eq!(requests_for(&reg, d).len(), 1, "{d} fetched more than once");
        assert!(store.blobs().exists(d));
    }
}

#[tokio::test]
async fn re_pulling_a_changed_tag_removes_the_layers_no_one_uses() {
    let (host, reg) = registry().await;
    let kept = bytes(8, 1 << 20);
    let dropped = b"old template".to_vec();
    let shared_elsewhere = b"old system".to_vec();
    publish(
        &reg,
        "m",
        "latest",
        &[
            (MODEL, kept.clone()),
            (TEMPLATE, dropped.clone()),
            (TEMPLATE, shared_elsewhere.clone()),
        ],
    );
    // Another model keeps one of the old layers alive.
    publish(
        &reg,
        "other",
        "latest",
        &[(TEMPLATE, shared_elsewhere.clone())],
    );
    let store = temp_store();
    let name = format!("{host}/library/m");
    run(&store, &name, &insecure()).await.0.expect("first pull");
    run(&store, &format!("{host}/library/other"), &insecure())
        .await
        .0
        .expect("other");

    let new = publish(
        &reg,
        "m",
        "latest",
        &[(MODEL, kept.clone()), (TEMPLATE, b"new template".to_vec())],
    );
    let (result, lines) = run(&store, &name, &insecure()).await;
    result.expect("re-pull");
    assert_eq!(
        phases(&lines),
        [
            "pulling manifest",
            "pulling <layer>",
            "verifying sha256 digest",
            "writing manifest",
            "removing unused layers",
            "success"
        ]
    );
    assert_eq!(found(&store, &name), Some(new));
    assert!(store.blobs().exists(&Digest::of_bytes(&kept)));
    assert!(!store.blobs().exists(&Digest::of_bytes(&dropped)));
    assert!(store.blobs().exists(&Digest::of_bytes(&shared_elsewhere)));
    let kept_lines: Vec<_> = lines
        .iter()
        .filter(|p| p.digest == Some(Digest::of_bytes(&kept)))
        .collect();
    assert_eq!(kept_lines.len(), 1);

    // Unchanged: nothing to remove, no such line.
    let (result, lines) = run(&store, &name, &insecure()).await;
    result.expect("third pull");
    assert!(!lines.iter().any(|p| p.status == "removing unused layers"));
}

/// A pull whose download stalls (bytes stop on an open connection) is dropped: the
/// download stops with it, and the next pull of the blob does not wait behind it but
/// resumes from the partial file.
#[tokio::test]
async fn a_download_no_pull_waits_for_stops_and_the_next_pull_resumes_it() {
    let (host, reg) = registry().await;
    let weights = bytes(7, 2 << 20);
    let digest = Digest::of_bytes(&weights);
    let manifest = publish(&reg, "tiny", "latest", &[(MODEL, weights)]);
    reg.lock()
        .expect("registry")
        .stall_first
        .insert(digest.to_string(), 1 << 20);
    let store = temp_store();
    let name = format!("{host}/library/tiny");

    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let first = tokio::spawn({
        let (store, name) = (store.clone(), ModelName::parse(&name).expect("name"));
        async move { rollama::pull::pull(&store, &name, &insecure(), tx).await }
    });
    loop {
        let p = rx.recv().await.expect("progress before the stall");
        if p.digest.as_ref() == Some(&digest) && p.completed >= 1 << 20 {
            break;
        }
    }
    first.abort();
    assert!(first.await.is_err(), "the first pull was cancelled");

    // A guard against a hang, not a timing assertion: before the fix this waited forever.
    let (result, _) = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        run(&store, &name, &insecure()),
    )
    .await
    .expect("the second pull waited behind the abandoned download");
    result.expect("second pull");
    assert_eq!(found(&store, &name), Some(manifest));
    let requests = requests_for(&reg, &digest);
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(
        requests[1].is_some(),
        "the second pull resumes: {requests:?}"
    );
}
