//! A local server shaped like the Ollama registry (`/v2/<ns>/<model>/manifests/<tag>`,
//! `/v2/<ns>/<model>/blobs/<digest>`) publishing a real model: SmolLM2's GGUF as the model
//! layer (streamed from the cache, `Range` honoured), with a template and a parameters
//! layer and a config blob, all under their real sha256 digests. For the client tests that
//! pull with `insecure: true`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rollama::store::manifest::{CONFIG, MODEL, PARAMS, TEMPLATE};
use rollama::store::{Digest, Layer, Manifest, ModelConfig};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Ollama's ChatML template for SmolLM2 (a Go template, as the registry serves it).
pub const TEMPLATE_TEXT: &str = "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}<|im_start|>assistant\n{{ .Response }}<|im_end|>\n";

/// The parameters layer.
pub const PARAMS_JSON: &str = r#"{"stop":["<|im_start|>","<|im_end|>"],"temperature":0.2}"#;

/// The parameters of `library/brief`: greedy and short, for a test that runs what it pulled.
pub const BRIEF_PARAMS_JSON: &str =
    r#"{"stop":["<|im_start|>","<|im_end|>"],"temperature":0,"num_predict":8}"#;

enum Blob {
    Bytes(Vec<u8>),
    File(PathBuf, u64),
}

struct Registry {
    /// `namespace/model/tag` → manifest bytes.
    manifests: HashMap<String, Vec<u8>>,
    /// `sha256:<hex>` → its content.
    blobs: HashMap<String, Blob>,
}

/// What the registry publishes.
pub struct Published {
    /// `127.0.0.1:<port>`: pull `<host>/library/tiny:latest` with `insecure`.
    pub host: String,
    pub manifest: Manifest,
    /// The GGUF served as the model layer.
    pub gguf: PathBuf,
}

fn layer(media_type: &str, digest: Digest, size: u64) -> Layer {
    Layer {
        media_type: media_type.into(),
        digest,
        size,
        from: String::new(),
        name: String::new(),
    }
}

/// Starts the registry on 127.0.0.1:0 with `library/tiny:latest` (also tagged `135m`)
/// made of `gguf`, `library/brief:latest` (the same with greedy, 8-token parameters), and `library/stall:latest`, the same manifest whose blobs stop
/// arriving after their first MiB (the connection stays open): a pull of it never ends
/// until the client goes away.
pub async fn smollm2_registry(gguf: PathBuf) -> Published {
    let path = gguf.clone();
    let (digest, size) = tokio::task::spawn_blocking(move || {
        Digest::of_reader(std::fs::File::open(&path).expect("open gguf")).expect("hash gguf")
    })
    .await
    .expect("join");
    let config = ModelConfig {
        model_format: "gguf".into(),
        model_family: "llama".into(),
        model_families: Some(vec!["llama".into()]),
        model_type: "134.52M".into(),
        file_type: "Q4_1".into(),
        architecture: "amd64".into(),
        os: "linux".into(),
        ..ModelConfig::default()
    }
    .to_bytes();
    let mut blobs = HashMap::new();
    let mut small = |media_type: &str, data: Vec<u8>| {
        let l = layer(media_type, Digest::of_bytes(&data), data.len() as u64);
        blobs.insert(l.digest.to_string(), Blob::Bytes(data));
        l
    };
    let config = small(CONFIG, config);
    let template = small(TEMPLATE, TEMPLATE_TEXT.as_bytes().to_vec());
    let params = small(PARAMS, PARAMS_JSON.as_bytes().to_vec());
    let brief_params = small(PARAMS, BRIEF_PARAMS_JSON.as_bytes().to_vec());
    let model = layer(MODEL, digest, size);
    blobs.insert(model.digest.to_string(), Blob::File(gguf.clone(), size));
    let brief = Manifest::new(
        config.clone(),
        vec![model.clone(), template.clone(), brief_params],
    );
    let manifest = Manifest::new(config, vec![model, template, params]);
    let mut manifests = HashMap::new();
    for name in ["tiny/latest", "tiny/135m", "stall/latest"] {
        manifests.insert(format!("library/{name}"), manifest.to_bytes());
    }
    manifests.insert("library/brief/latest".into(), brief.to_bytes());
    let reg = Arc::new(Registry { manifests, blobs });
    let router = Router::new()
        .route("/v2/{ns}/{model}/manifests/{tag}", get(get_manifest))
        .route("/v2/{ns}/{model}/blobs/{digest}", get(get_blob))
        .with_state(reg);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let host = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Published {
        host,
        manifest,
        gguf,
    }
}

async fn get_manifest(
    State(reg): State<Arc<Registry>>,
    Path((ns, model, tag)): Path<(String, String, String)>,
) -> Response {
    match reg.manifests.get(&format!("{ns}/{model}/{tag}")) {
        Some(bytes) => (
            [(header::CONTENT_TYPE, rollama::store::manifest::MANIFEST_V2)],
            bytes.clone(),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
        )
            .into_response(),
    }
}

/// The start of `Range: bytes=N-`.
fn range_start(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(header::RANGE)?.to_str().ok()?;
    value
        .strip_prefix("bytes=")?
        .split('-')
        .next()?
        .parse()
        .ok()
}

async fn get_blob(
    State(reg): State<Arc<Registry>>,
    Path((_ns, model, digest)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let stall = model == "stall";
    let Some(blob) = reg.blobs.get(&digest) else {
        return (
            StatusCode::NOT_FOUND,
            r#"{"errors":[{"code":"BLOB_UNKNOWN"}]}"#,
        )
            .into_response();
    };
    let total = match blob {
        Blob::Bytes(b) => b.len() as u64,
        Blob::File(_, size) => *size,
    };
    let start = range_start(&headers).unwrap_or(0).min(total);
    let body = match blob {
        Blob::Bytes(b) => Body::from(b[start as usize..].to_vec()),
        Blob::File(path, _) => {
            let mut file = match tokio::fs::File::open(path).await {
                Ok(f) => f,
                Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            };
            if file.seek(std::io::SeekFrom::Start(start)).await.is_err() {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            // Read in 256 KiB pieces: the file never sits in memory whole.
            let chunks = futures::stream::unfold(file, |mut file| async move {
                let mut buf = vec![0u8; 256 << 10];
                match file.read(&mut buf).await {
                    Ok(0) => None,
                    Ok(n) => {
                        buf.truncate(n);
                        Some((Ok::<_, std::io::Error>(Bytes::from(buf)), file))
                    }
                    Err(e) => Some((Err(e), file)),
                }
            });
            match stall {
                // The first MiB, then nothing more on an open connection.
                true => Body::from_stream(futures::StreamExt::chain(
                    futures::StreamExt::take(chunks, 4),
                    futures::stream::pending(),
                )),
                false => Body::from_stream(chunks),
            }
        }
    };
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(total - start));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if start > 0 {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{total}", total - 1)) {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    response
}
