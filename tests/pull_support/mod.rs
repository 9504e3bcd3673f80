//! What `tests/pull_registry.rs` and `tests/pull_hub.rs` share: temp stores, generated
//! blobs, a `Range`-honouring body that can cut the connection, progress collection.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use rollama::pull::{pull, Progress, PullError, PullOptions};
use rollama::store::{ModelName, ModelStore};

/// An empty store directory, unique per call.
pub fn temp_store() -> ModelStore {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "rollama-pull-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp store");
    ModelStore::new(dir)
}

/// `n` deterministic pseudo-random bytes (different per seed).
pub fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Serves an axum router on 127.0.0.1:0; returns `127.0.0.1:<port>`.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr.to_string()
}

/// The start of `Range: bytes=N-`.
pub fn range_start(headers: &HeaderMap) -> Option<usize> {
    let value = headers.get(header::RANGE)?.to_str().ok()?;
    value
        .strip_prefix("bytes=")?
        .split('-')
        .next()?
        .parse()
        .ok()
}

/// `data` as a registry or the hub serves it: 206 from the requested offset, else 200.
/// With `cut_after`, the body stops with an error after that many bytes (the connection is
/// dropped mid-blob). Sent in 64 KiB chunks with a short pause, so that two pulls overlap.
pub fn body(data: &[u8], headers: &HeaderMap, cut_after: Option<usize>) -> Response {
    let start = range_start(headers).unwrap_or(0).min(data.len());
    let rest = data[start..].to_vec();
    let len = rest.len();
    let mut chunks: Vec<Result<Bytes, std::io::Error>> = vec![];
    let end = cut_after.map_or(len, |k| k.min(len));
    for piece in rest[..end].chunks(64 << 10) {
        chunks.push(Ok(Bytes::copy_from_slice(piece)));
    }
    if cut_after.is_some() {
        chunks.push(Err(std::io::Error::other("cut")));
    }
    let stream = futures::stream::iter(chunks).then(|item| async move {
        // Long enough for the bytes before a cut to reach the client before it.
        tokio::time::sleep(Duration::from_millis(if item.is_err() { 200 } else { 2 })).await;
        item
    });
    let mut response = Response::new(Body::from_stream(stream));
    let h = response.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if start > 0 {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        let range = format!("bytes {start}-{}/{}", data.len() - 1, data.len());
        if let Ok(v) = HeaderValue::from_str(&range) {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    response
}

use futures::StreamExt as _;

/// Runs a pull, returning its result and every progress line it sent.
pub async fn run(
    store: &ModelStore,
    name: &str,
    options: &PullOptions,
) -> (Result<(), PullError>, Vec<Progress>) {
    let name = ModelName::parse(name).expect("valid name");
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let collect = tokio::spawn(async move {
        let mut lines = vec![];
        while let Some(line) = rx.recv().await {
            lines.push(line);
        }
        lines
    });
    let result = pull(store, &name, options, tx).await;
    let lines = collect.await.expect("collector");
    (result, lines)
}

/// Statuses with consecutive `pulling …` lines folded into one `pulling`.
pub fn phases(lines: &[Progress]) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for line in lines {
        let status = match line.status.starts_with("pulling ") && line.digest.is_some() {
            true => "pulling <layer>".to_string(),
            false => line.status.clone(),
        };
        if out.last() != Some(&status) {
            out.push(status);
        }
    }
    out
}

/// Files in `blobs/` of the store.
pub fn blob_files(store: &ModelStore) -> Vec<String> {
    let dir: PathBuf = store.blobs().dir().to_path_buf();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
