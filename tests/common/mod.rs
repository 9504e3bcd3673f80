//! Shared by the integration tests: where the real test models are.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The model cache filled by `scripts/fetch-models` (fetched on first use if missing).
pub fn model_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let out = Command::new(root.join("scripts/fetch-models"))
            .output()
            .expect("run scripts/fetch-models");
        assert!(
            out.status.success(),
            "scripts/fetch-models failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
    .clone()
}

/// Path of a real test model: `smollm2` or `gemma3`.
pub fn model_path(name: &str) -> PathBuf {
    let path = model_dir().join(format!("{name}.gguf"));
    assert!(path.exists(), "{} missing after fetch", path.display());
    path
}

/// Path of a cached safetensors model directory, e.g. `all-minilm`.
pub fn checkpoint_path(name: &str) -> PathBuf {
    let path = model_dir().join(name);
    assert!(path.is_dir(), "{} missing after fetch", path.display());
    path
}

/// A golden fixture under `tests/fixtures/goldens/`, parsed.
pub fn golden(file: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/goldens")
        .join(file);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("golden fixture is JSON")
}

/// A store directory holding links to the named cached models, unique per call.
pub fn temp_store(models: &[&str]) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "rollama-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp store");
    for name in models {
        let (target, entry) = match model_dir().join(name).is_dir() {
            true => (checkpoint_path(name), name.to_string()),
            false => (model_path(name), format!("{name}.gguf")),
        };
        std::os::unix::fs::symlink(target, dir.join(entry)).expect("link model into store");
    }
    dir
}

/// Server knobs for a test.
pub struct TestServer {
    pub keep_alive: Option<std::time::Duration>,
    pub max_running: usize,
    pub max_queue: usize,
    pub fail_after_tokens: Option<usize>,
    /// The model's thread panics after this many tokens (a worker that dies).
    pub panic_after_tokens: Option<usize>,
    /// A sequence whose request sets this `seed` panics in its own step (it alone fails).
    pub panic_on_seed: Option<u64>,
    /// KV positions per model (`None`: max_running × default num_ctx).
    pub kv_tokens: Option<usize>,
    pub prefix_cache_tokens: usize,
    pub sse_keep_alive: std::time::Duration,
    /// `OLLAMA_MAX_LOADED_MODELS`.
    pub max_loaded: usize,
    /// `ROLLAMA_MEMORY_BUDGET` (`None`: no limit, so other tests never depend on the
    /// machine's memory).
    pub memory_budget: Option<u64>,
    /// `ROLLAMA_LOAD_WAIT` (`None`: without bound).
    pub load_wait: Option<std::time::Duration>,
    /// Keys, CORS, limits, metrics, timeouts (default: all off, plain Ollama).
    pub gateway: rollama::server::gateway::Gateway,
}

impl Default for TestServer {
    fn default() -> Self {
        Self {
            keep_alive: Some(std::time::Duration::from_secs(300)),
            max_running: 4,
            max_queue: 64,
            fail_after_tokens: None,
            panic_after_tokens: None,
            panic_on_seed: None,
            kv_tokens: None,
            prefix_cache_tokens: 4096,
            sse_keep_alive: rollama::server::SSE_KEEP_ALIVE,
            max_loaded: 3,
            memory_budget: None,
            load_wait: Some(std::time::Duration::from_secs(300)),
            gateway: Default::default(),
        }
    }
}

impl TestServer {
    /// Starts the real server on an ephemeral loopback port with the named models in its
    /// store; returns `http://127.0.0.1:PORT`. It lives as long as the test's runtime.
    pub async fn spawn(self, models: &[&str]) -> String {
        self.spawn_store(temp_store(models)).await
    }

    /// Like [`spawn`](Self::spawn), on a store directory the test filled itself.
    pub async fn spawn_store(self, store: PathBuf) -> String {
        self.spawn_service(store).await.0
    }

    /// Like [`spawn_store`](Self::spawn_store), also returning the engine the server
    /// runs, for a test that must hold a model in use from inside (its registry).
    pub async fn spawn_service(self, store: PathBuf) -> (String, rollama::engine::Service) {
        use rollama::engine::{EngineConfig, RegistryConfig, Service};
        use rollama::server::{self, AppState};
        use rollama::store::ModelStore;

        let engine = Service::new(
            ModelStore::new(store),
            RegistryConfig {
                default_keep_alive: self.keep_alive,
                max_loaded: self.max_loaded,
                memory_budget: self.memory_budget,
                load_wait: self.load_wait,
                default_num_ctx: 2048,
                caps: self.gateway.limits.engine.clone(),
                engine: EngineConfig {
                    max_queue: self.max_queue,
                    max_running: self.max_running,
                    max_batch_tokens: 512,
                    kv_tokens: self.kv_tokens.unwrap_or(self.max_running * 2048),
                    prefix_cache_tokens: self.prefix_cache_tokens,
                    fail_after_tokens: self.fail_after_tokens,
                    panic_after_tokens: self.panic_after_tokens,
                    panic_on_seed: self.panic_on_seed,
                },
                device: candle_core::Device::Cpu,
                load: rollama::model::LoadOptions::default(),
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let state = AppState {
            engine: std::sync::Arc::new(engine.clone()),
            version: "0.12.6".into(),
            metrics: true,
            sse_keep_alive: self.sse_keep_alive,
            gateway: self.gateway,
        };
        tokio::spawn(server::run(listener, state, std::future::pending()));
        (format!("http://{addr}"), engine)
    }
}

/// POSTs `body` as JSON.
pub async fn post(url: &str, body: serde_json::Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("request")
}

/// A copy of a cached test GGUF whose `tokenizer.chat_template` is the fixture template
/// `tests/fixtures/templates/<template>` (weights and tokenizer untouched), linked into
/// `store` as `<name>.gguf`. Built once per cache.
pub fn templated_model(base: &str, template: &str, store: &std::path::Path, name: &str) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(root.join("tests/fixtures/templates").join(template))
        .expect("read template fixture");
    let stem = template.trim_end_matches(".jinja");
    gguf_variant(base, stem, store, name, move |meta| {
        meta.insert(
            "tokenizer.chat_template".into(),
            candle_core::quantized::gguf_file::Value::String(source),
        );
    });
}

/// A copy of a cached test GGUF with its metadata changed by `edit` (weights untouched),
/// cached as `<base>-<variant>.gguf` and linked into `store` as `<name>.gguf`.
pub fn gguf_variant(
    base: &str,
    variant: &str,
    store: &std::path::Path,
    name: &str,
    edit: impl FnOnce(&mut std::collections::HashMap<String, candle_core::quantized::gguf_file::Value>),
) {
    use candle_core::quantized::gguf_file;
    let target = model_dir()
        .join("variants")
        .join(format!("{base}-{variant}.gguf"));
    if !target.exists() {
        let mut file = std::fs::File::open(model_path(base)).expect("open gguf");
        let content = gguf_file::Content::read(&mut file).expect("read gguf");
        let tensors: Vec<(String, candle_core::quantized::QTensor)> = content
            .tensor_infos
            .keys()
            .map(|n| {
                let t = content
                    .tensor(&mut file, n, &candle_core::Device::Cpu)
                    .expect("tensor");
                (n.clone(), t)
            })
            .collect();
        let mut meta = content.metadata.clone();
        edit(&mut meta);
        let meta_refs: Vec<(&str, &gguf_file::Value)> =
            meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let tensor_refs: Vec<(&str, &candle_core::quantized::QTensor)> =
            tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
        std::fs::create_dir_all(target.parent().expect("parent")).expect("variants dir");
        // Unique per process and per call: tests of one binary (and several binaries)
        // may build the same variant at once; each writes its own file and the rename is
        // atomic, so whichever lands last leaves the same bytes.
        static BUILDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = BUILDS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let tmp = target.with_extension(format!("tmp{}-{n}", std::process::id()));
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).expect("create"));
        gguf_file::write(&mut out, &meta_refs, &tensor_refs).expect("write gguf");
        drop(out);
        std::fs::rename(&tmp, &target).expect("rename");
    }
    std::os::unix::fs::symlink(&target, store.join(format!("{name}.gguf"))).expect("link");
}

/// Every line is one JSON object; no blank lines; the body ends with a newline.
pub fn ndjson(text: &str) -> Vec<serde_json::Value> {
    assert!(text.ends_with('\n'), "stream must end with a newline");
    text.trim_end_matches('\n')
        .split('\n')
        .map(|line| {
            assert!(!line.is_empty(), "blank line in NDJSON");
            serde_json::from_str(line).expect("each line is JSON")
        })
        .collect()
}

/// The lines of a streamed NDJSON reply that answered 200.
pub async fn ndjson_reply(r: reqwest::Response) -> Vec<serde_json::Value> {
    assert_eq!(r.status(), 200);
    ndjson(&r.text().await.expect("body"))
}

/// Hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Hex sha256 and size of the smollm2 GGUF, hashed once per test binary (~100 MB).
pub fn smollm2_blob() -> (String, u64) {
    static DIGEST: OnceLock<(String, u64)> = OnceLock::new();
    DIGEST
        .get_or_init(|| {
            use sha2::Digest as _;
            use std::io::Read;
            let path = model_path("smollm2");
            let mut file = std::fs::File::open(&path).expect("open gguf");
            let mut hasher = sha2::Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            let mut size = 0u64;
            loop {
                let n = file.read(&mut buf).expect("read gguf");
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                size += n as u64;
            }
            let hex = hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            (hex, size)
        })
        .clone()
}

/// The smollm2 tokenizer, read from its GGUF.
pub fn smollm2_tokenizer() -> &'static rollama::text::Tokenizer {
    static TOK: OnceLock<rollama::text::Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| {
        let file = rollama::model::Checkpoint::open(&model_path("smollm2")).expect("open gguf");
        rollama::text::Tokenizer::from_gguf(file.metadata()).expect("tokenizer")
    })
}

/// The tokens of `text` as SmolLM2's prompt (BOS as the tokenizer adds it), as the
/// `context` of a reply holds them.
pub fn prompt_tokens(text: &str) -> Vec<u64> {
    let tok = smollm2_tokenizer();
    tok.encode(text, tok.add_bos())
        .expect("encode")
        .into_iter()
        .map(u64::from)
        .collect()
}

/// A layer of a manifest: media type, `sha256:<hex>`, size.
#[derive(Debug, Clone, PartialEq)]
pub struct TestLayer {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

pub const MT_MODEL: &str = "application/vnd.ollama.image.model";
pub const MT_TEMPLATE: &str = "application/vnd.ollama.image.template";
pub const MT_SYSTEM: &str = "application/vnd.ollama.image.system";
pub const MT_PARAMS: &str = "application/vnd.ollama.image.params";
pub const MT_MESSAGES: &str = "application/vnd.ollama.image.messages";
pub const MT_LICENSE: &str = "application/vnd.ollama.image.license";
pub const MT_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const MT_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// A store in Ollama's layout, written by the test exactly as Ollama writes it.
pub struct OllamaStore {
    pub dir: PathBuf,
}

impl OllamaStore {
    /// An empty store directory (unique per call).
    pub fn new() -> Self {
        Self {
            dir: temp_store(&[]),
        }
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir
            .join("blobs")
            .join(digest.replacen("sha256:", "sha256-", 1))
    }

    /// Writes `bytes` as the blob of their digest.
    pub fn blob(&self, media_type: &str, bytes: &[u8]) -> TestLayer {
        let digest = format!("sha256:{}", sha256_hex(bytes));
        let path = self.blob_path(&digest);
        std::fs::create_dir_all(path.parent().expect("blobs")).expect("blobs dir");
        std::fs::write(&path, bytes).expect("write blob");
        TestLayer {
            media_type: media_type.into(),
            digest,
            size: bytes.len() as u64,
        }
    }

    /// The smollm2 GGUF hard-linked in as the weights blob.
    pub fn weights(&self) -> TestLayer {
        let (hex, size) = smollm2_blob();
        let digest = format!("sha256:{hex}");
        let path = self.blob_path(&digest);
        std::fs::create_dir_all(path.parent().expect("blobs")).expect("blobs dir");
        if !path.exists() {
            let source = std::fs::canonicalize(model_path("smollm2")).expect("canonical");
            if std::fs::hard_link(&source, &path).is_err() {
                std::fs::copy(&source, &path).expect("copy gguf");
            }
        }
        TestLayer {
            media_type: MT_MODEL.into(),
            digest,
            size,
        }
    }

    /// Ollama's config blob for smollm2.
    pub fn config(&self) -> TestLayer {
        self.blob(
            MT_CONFIG,
            br#"{"model_format":"gguf","model_family":"llama","model_families":["llama"],"model_type":"134.52M","file_type":"Q4_1","architecture":"amd64","os":"linux"}"#,
        )
    }

    /// Writes the manifest at `manifests/<rel>` (`host/namespace/model/tag`); its bytes.
    pub fn manifest(&self, rel: &str, config: &TestLayer, layers: &[TestLayer]) -> Vec<u8> {
        let bytes = manifest_bytes(config, layers);
        self.raw_manifest(rel, &bytes);
        bytes
    }

    /// Writes any bytes as the manifest at `manifests/<rel>`.
    pub fn raw_manifest(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.join("manifests").join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("manifest dir");
        std::fs::write(&path, bytes).expect("write manifest");
        path
    }
}

impl Default for OllamaStore {
    fn default() -> Self {
        Self::new()
    }
}

/// A manifest's bytes as Ollama writes them: compact JSON, fields in Go struct order.
pub fn manifest_bytes(config: &TestLayer, layers: &[TestLayer]) -> Vec<u8> {
    let layer = |l: &TestLayer| {
        format!(
            r#"{{"mediaType":"{}","digest":"{}","size":{}}}"#,
            l.media_type, l.digest, l.size
        )
    };
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{MT_MANIFEST}","config":{},"layers":[{}]}}"#,
        layer(config),
        layers.iter().map(layer).collect::<Vec<_>>().join(",")
    )
    .into_bytes()
}

/// A free loopback port (bound, then let go) for a child `rollama serve` to take.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}
