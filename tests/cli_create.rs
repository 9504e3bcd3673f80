//! `rollama create MODEL [-f Modelfile] [-q LEVEL]` driven as a user drives it, against the
//! real server: Modelfiles with every command, local files uploaded as blobs, `FROM` a model,
//! quantizing, the round trip through `show --modelfile`, and the errors Ollama's CLI gives.

mod cli_support;
mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use cli_support::{rollama, stderr, stdout};
use common::TestServer;
use rollama::cli::modelfile::Modelfile;
use serde_json::{json, Value};

const TEMPLATE: &str = "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}<|im_start|>assistant\n{{ .Response }}<|im_end|>\n";

const MODELFILE: &str = r#"# Everything a Modelfile can say, for rollama
FROM ./smollm2.gguf
parameter temperature 0.7
PARAMETER stop "<|im_end|>"
PARAMETER stop User:
PARAMETER num_ctx 4096
SYSTEM You are a terse assistant.
TEMPLATE """{{ if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{ if .Prompt }}<|im_start|>user
{{ .Prompt }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ .Response }}<|im_end|>
"""
MESSAGE user Is the sky blue?
MESSAGE assistant """Yes, "blue"."""
LICENSE """Apache 2.0
Do what you like."""
LICENSE second license
"#;

/// A fresh directory under the system's temp dir.
fn temp_dir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "rollama-cli-create-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A directory holding `Modelfile` (with `text`) and a link to the cached smollm2 GGUF.
fn model_dir(text: &str) -> PathBuf {
    let dir = temp_dir("model");
    std::os::unix::fs::symlink(common::model_path("smollm2"), dir.join("smollm2.gguf"))
        .expect("link smollm2");
    std::fs::write(dir.join("Modelfile"), text).expect("write Modelfile");
    dir
}

/// `rollama ARGS` run in `cwd` on a blocking thread (the in-process server keeps serving).
async fn cli(host: &str, cwd: &Path, args: &[&str]) -> Output {
    let mut cmd = rollama(host, args);
    cmd.current_dir(cwd);
    tokio::task::spawn_blocking(move || cmd.output().expect("run rollama"))
        .await
        .expect("join")
}

async fn show(host: &str, model: &str) -> (u16, Value) {
    let r = common::post(&format!("{host}/api/show"), json!({ "model": model })).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn shown(host: &str, model: &str) -> Value {
    let (status, body) = show(host, model).await;
    assert_eq!(status, 200, "show {model}: {body}");
    body
}

fn assert_success(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    assert!(
        stderr(out).lines().any(|l| l == "success"),
        "{}",
        stderr(out)
    );
}

/// The error line (Ollama's `gathering model components` may come before it).
fn last_line(out: &Output) -> String {
    stderr(out).lines().last().unwrap_or_default().to_string()
}

/// What the round trip compares: everything a Modelfile can set.
fn model_parts(show: &Value) -> Value {
    json!({
        "parameters": show["parameters"],
        "template": show["template"],
        "system": show["system"],
        "messages": show["messages"],
        "license": show["license"],
        "details": show["details"]["format"],
        "family": show["details"]["family"],
        "quantization": show["details"]["quantization_level"],
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn create_from_a_modelfile_and_again_from_the_modelfile_show_prints() {
    let host = TestServer::default().spawn(&["smollm2"]).await;
    let dir = model_dir(MODELFILE);
    // Run from the directory above, with a relative `-f`: FROM's `./` is the Modelfile's
    // directory, not the working directory.
    let parent = dir.parent().expect("parent");
    let modelfile = format!(
        "{}/Modelfile",
        dir.file_name().expect("name").to_string_lossy()
    );
    let out = cli(&host, parent, &["create", "mine", "-f", &modelfile]).await;
    assert_success(&out);
    let err = stderr(&out);
    assert!(err.starts_with("gathering model components\n"), "{err}");
    assert!(err.contains("copying file sha256:"), "{err}");

    let first = shown(&host, "mine").await;
    assert_eq!(first["template"], TEMPLATE);
    assert_eq!(first["system"], "You are a terse assistant.");
    assert_eq!(
        first["messages"],
        json!([
            {"role": "user", "content": "Is the sky blue?"},
            {"role": "assistant", "content": "Yes, \"blue\"."}
        ])
    );
    assert_eq!(
        first["license"],
        "Apache 2.0\nDo what you like.\nsecond license"
    );
    let params = first["parameters"].as_str().expect("parameters");
    for line in [
        format!("{:<30} {}", "temperature", "0.7"),
        format!("{:<30} {}", "stop", "\"<|im_end|>\""),
        format!("{:<30} {}", "stop", "\"User:\""),
        format!("{:<30} {}", "num_ctx", "4096"),
    ] {
        assert!(params.lines().any(|l| l == line), "{line:?} in {params}");
    }

    // The Modelfile the server prints parses back to the same requests…
    let printed = first["modelfile"].as_str().expect("modelfile");
    let ours = Modelfile::parse(MODELFILE).expect("parse ours");
    let theirs = Modelfile::parse(printed).expect("parse printed");
    let base = Path::new("/");
    let (a, b) = (
        ours.to_create_request(&dir).expect("ours"),
        theirs.to_create_request(base).expect("printed"),
    );
    assert_eq!(
        (&a.template, &a.system, &a.license, &a.messages),
        (&b.template, &b.system, &b.license, &b.messages),
        "{printed}"
    );
    assert_eq!(
        Value::Object(a.parameters.clone()),
        Value::Object(b.parameters.clone())
    );
    // …and its FROM names the model's blob, a local file.
    assert_eq!(b.local.len(), 1, "{printed}");
    assert_eq!(b.from, None, "{printed}");

    // …and creates the same model.
    let copy_dir = temp_dir("printed");
    std::fs::write(copy_dir.join("Modelfile"), printed).expect("write printed");
    let out = cli(&host, &copy_dir, &["create", "again"]).await;
    assert_success(&out);
    let second = shown(&host, "again").await;
    assert_eq!(model_parts(&second), model_parts(&first));
}

#[tokio::test(flavor = "multi_thread")]
async fn from_a_model_name_changes_only_what_the_modelfile_says() {
    let host = TestServer::default().spawn(&["smollm2"]).await;
    let base = shown(&host, "smollm2").await;
    let dir = temp_dir("from-name");
    std::fs::write(
        dir.join("Modelfile"),
        "FROM smollm2\nSYSTEM Answer in French.\n",
    )
    .expect("write");
    let out = cli(&host, &dir, &["create", "french"]).await;
    assert_success(&out);
    // A name is no file: nothing was uploaded.
    assert!(!stderr(&out).contains("copying file"), "{}", stderr(&out));
    let french = shown(&host, "french").await;
    assert_eq!(french["system"], "Answer in French.");
    assert_eq!(french["template"], base["template"]);
    assert_eq!(french["parameters"], base["parameters"]);
    assert_eq!(french["details"]["family"], base["details"]["family"]);

    // A FROM that is neither a file nor a model is the server's 404.
    std::fs::write(dir.join("Modelfile"), "FROM no-such-model\n").expect("write");
    let out = cli(&host, &dir, &["create", "nothing"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("Error: "), "{}", stderr(&out));
    assert_eq!(show(&host, "nothing").await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn quantize_flag_quantizes() {
    let host = TestServer::default().spawn(&[]).await;
    let dir = temp_dir("quantize");
    std::fs::write(dir.join("tiny.gguf"), tiny_f32_gguf()).expect("write gguf");
    std::fs::write(dir.join("Modelfile"), "FROM tiny.gguf\n").expect("write");
    let out = cli(&host, &dir, &["create", "tiny-q8", "-q", "q8_0"]).await;
    assert_success(&out);
    assert!(
        stderr(&out).contains("quantizing F32 model to Q8_0"),
        "{}",
        stderr(&out)
    );
    let q8 = shown(&host, "tiny-q8").await;
    assert_eq!(q8["details"]["quantization_level"], "Q8_0");

    let out = cli(&host, &dir, &["create", "tiny-f32"]).await;
    assert_success(&out);
    let f32 = shown(&host, "tiny-f32").await;
    assert_eq!(f32["details"]["quantization_level"], "F32");
}

#[tokio::test(flavor = "multi_thread")]
async fn from_a_safetensors_directory_uploads_its_files() {
    let host = TestServer::default().spawn(&[]).await;
    let dir = temp_dir("safetensors");
    std::os::unix::fs::symlink(common::checkpoint_path("all-minilm"), dir.join("minilm"))
        .expect("link checkpoint");
    std::fs::write(dir.join("Modelfile"), "FROM ./minilm\n").expect("write");
    let out = cli(&host, &dir, &["create", "minilm"]).await;
    assert_success(&out);
    let copies = stderr(&out).matches("copying file sha256:").count();
    assert!(copies >= 3, "{}", stderr(&out));
    assert_eq!(show(&host, "minilm").await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn adapter_is_refused_before_anything_is_uploaded() {
    let host = TestServer::default().spawn(&[]).await;
    let dir = model_dir("FROM ./smollm2.gguf\nADAPTER ./smollm2.gguf\n");
    let out = cli(&host, &dir, &["create", "lora"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        last_line(&out),
        "Error: ADAPTER is not supported by rollama"
    );
    assert!(!stderr(&out).contains("copying file"), "{}", stderr(&out));
    assert_eq!(show(&host, "lora").await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_modelfiles_create_nothing_and_say_why() {
    let host = TestServer::default().spawn(&["smollm2"]).await;
    let cases = [
        (
            "FROM smollm2\nTEMPERATURE 0.7\n",
            "Error: (line 2): command must be one of \"from\", \"license\", \"template\", \"system\", \"adapter\", \"draft\", \"renderer\", \"parser\", \"parameter\", \"message\", or \"requires\"",
        ),
        (
            "FROM smollm2\nPARAMETER temperature hot\n",
            "Error: invalid float value [hot]",
        ),
        (
            "FROM smollm2\nPARAMETER num_ctx 4k\n",
            "Error: invalid int value [4k]",
        ),
        (
            "FROM smollm2\nPARAMETER warmth 1\n",
            "Error: unknown parameter 'warmth'",
        ),
        (
            "FROM smollm2\nMESSAGE tool hi\n",
            "Error: (line 2): message role must be one of \"system\", \"user\", or \"assistant\"",
        ),
        (
            "FROM smollm2\nTEMPLATE \"\"\"{{ .Prompt }}\nSYSTEM hi\n",
            "Error: unexpected EOF: the \"\"\" opened on line 2 is never closed",
        ),
        ("SYSTEM hi\n", "Error: no FROM line"),
    ];
    for (text, want) in cases {
        let dir = temp_dir("broken");
        std::fs::write(dir.join("Modelfile"), text).expect("write");
        let out = cli(&host, &dir, &["create", "broken"]).await;
        assert_eq!(out.status.code(), Some(1), "{text:?}: {}", stderr(&out));
        assert_eq!(last_line(&out), want, "{text:?}");
        assert!(stdout(&out).is_empty(), "{text:?}");
        assert_eq!(show(&host, "broken").await.0, 404, "{text:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_modelfile_is_ollamas_from_dot() {
    let host = TestServer::default().spawn(&[]).await;
    let empty = temp_dir("empty");
    // Ollama reads a Modelfile that is not there as `FROM .`: the current directory's
    // model files, and says so when there are none.
    for args in [&["create", "x", "-f", "nope"][..], &["create", "x"]] {
        let out = cli(&host, &empty, args).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert_eq!(
            last_line(&out),
            "Error: no Modelfile or safetensors files found",
            "{args:?}"
        );
        assert_eq!(show(&host, "x").await.0, 404);
    }
    let out = cli(&host, &empty, &["create", "bad/name/with/too/many/parts"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim_end(),
        "Error: invalid model name: bad/name/with/too/many/parts"
    );
}

/// A tiny llama GGUF with F32 weights and smollm2's tokenizer (only created and shown,
/// never run, so the weights are a fixed pattern).
fn tiny_f32_gguf() -> Vec<u8> {
    use candle_core::quantized::gguf_file::{self, Value as G};
    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::{Device, Tensor};
    const HIDDEN: usize = 64;
    const FF: usize = 128;
    let mut file = std::fs::File::open(common::model_path("smollm2")).expect("open smollm2");
    let content = gguf_file::Content::read(&mut file).expect("read smollm2");
    let vocab = match content.metadata.get("tokenizer.ggml.tokens") {
        Some(G::Array(tokens)) => tokens.len(),
        _ => panic!("smollm2 has no vocabulary"),
    };
    let mut meta: Vec<(String, G)> = content
        .metadata
        .iter()
        .filter(|(k, _)| !k.starts_with("llama.") && !k.starts_with("general."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let u = |n: usize| G::U32(n as u32);
    meta.extend([
        ("general.architecture".into(), G::String("llama".into())),
        ("general.file_type".into(), G::U32(0)),
        ("llama.context_length".into(), u(256)),
        ("llama.embedding_length".into(), u(HIDDEN)),
        ("llama.block_count".into(), u(1)),
        ("llama.feed_forward_length".into(), u(FF)),
        ("llama.attention.head_count".into(), u(2)),
        ("llama.attention.head_count_kv".into(), u(1)),
        ("llama.rope.dimension_count".into(), u(32)),
        ("llama.vocab_size".into(), u(vocab)),
        (
            "llama.attention.layer_norm_rms_epsilon".into(),
            G::F32(1e-5),
        ),
        ("llama.rope.freq_base".into(), G::F32(10_000.0)),
    ]);
    let tensor = |dims: &[usize]| {
        let n: usize = dims.iter().product();
        let data: Vec<f32> = (0..n).map(|i| ((i % 17) as f32 - 8.0) / 64.0).collect();
        let t = Tensor::from_vec(data, dims, &Device::Cpu).expect("tensor");
        QTensor::quantize(&t, GgmlDType::F32).expect("f32 tensor")
    };
    let mut tensors = vec![
        ("token_embd.weight".to_string(), tensor(&[vocab, HIDDEN])),
        ("output_norm.weight".to_string(), tensor(&[HIDDEN])),
    ];
    for (name, dims) in [
        ("attn_q", [64, HIDDEN]),
        ("attn_k", [32, HIDDEN]),
        ("attn_v", [32, HIDDEN]),
        ("attn_output", [HIDDEN, 64]),
        ("ffn_gate", [FF, HIDDEN]),
        ("ffn_up", [FF, HIDDEN]),
        ("ffn_down", [HIDDEN, FF]),
    ] {
        tensors.push((format!("blk.0.{name}.weight"), tensor(&dims)));
    }
    for name in ["attn_norm", "ffn_norm"] {
        tensors.push((format!("blk.0.{name}.weight"), tensor(&[HIDDEN])));
    }
    let meta_refs: Vec<(&str, &G)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut out = std::io::Cursor::new(vec![]);
    gguf_file::write(&mut out, &meta_refs, &refs).expect("write gguf");
    out.into_inner()
}

/// The Modelfile printed for a plain GGUF (its own Jinja chat template, no layers) makes
/// the same model again: the template comes back with `FROM`, not as a Go `TEMPLATE`.
#[tokio::test(flavor = "multi_thread")]
async fn a_plain_ggufs_printed_modelfile_makes_the_same_model() {
    let host = TestServer::default().spawn(&["smollm2"]).await;
    let first = shown(&host, "smollm2").await;
    let printed = first["modelfile"].as_str().expect("modelfile");
    assert!(!printed.contains("\nTEMPLATE "), "{printed}");
    let dir = temp_dir("plain");
    std::fs::write(dir.join("Modelfile"), printed).expect("write printed");
    let out = cli(&host, &dir, &["create", "plain-again"]).await;
    assert_success(&out);
    let second = shown(&host, "plain-again").await;
    assert_eq!(second["template"], first["template"]);
    assert_eq!(model_parts(&second), model_parts(&first));
    let reply: Value = common::post(
        &format!("{host}/api/chat"),
        json!({"model": "plain-again", "messages": [{"role": "user", "content": "Hi"}],
               "options": {"num_predict": 4}, "stream": false}),
    )
    .await
    .json()
    .await
    .expect("chat reply");
    assert_eq!(reply["done"], true, "{reply}");
}
