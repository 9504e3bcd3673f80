//! `quantize` in `POST /api/create`: a tiny random-weight llama (smollm2's vocabulary, so
//! it tokenizes and detokenizes) uploaded as an F32 or F16 GGUF, created quantized to
//! Q8_0 and Q4_K_M; the refusals are 400s.

mod common;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value as Json};
use sha2::Digest as _;

// 256 wide: the K-quant blocks fit the rows, so Q4_K_M really uses Q4_K and Q6_K.
const HIDDEN: usize = 256;
const LAYERS: usize = 2;
const HEADS: usize = 4;
const KV_HEADS: usize = 2;
const HEAD_DIM: usize = 64;
const FF: usize = 512;

fn random(rng: &mut StdRng, dims: &[usize], center: f32, spread: f32) -> Tensor {
    let n: usize = dims.iter().product();
    let data: Vec<f32> = (0..n)
        .map(|_| center + rng.random_range(-spread..spread))
        .collect();
    Tensor::from_vec(data, dims, &Device::Cpu).expect("tensor")
}

/// The bytes of a tiny llama GGUF with smollm2's tokenizer, weights of type `dtype`
/// (norms F32) and `general.file_type` `file_type`.
fn tiny_gguf(dtype: GgmlDType, file_type: u32) -> Vec<u8> {
    let mut file = std::fs::File::open(common::model_path("smollm2")).expect("open smollm2");
    let content = gguf_file::Content::read(&mut file).expect("read smollm2");
    let vocab = match content.metadata.get("tokenizer.ggml.tokens") {
        Some(Value::Array(tokens)) => tokens.len(),
        _ => panic!("smollm2 has no vocabulary"),
    };
    let mut meta: Vec<(String, Value)> = content
        .metadata
        .iter()
        .filter(|(k, _)| !k.starts_with("llama.") && !k.starts_with("general."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let u = |n: usize| Value::U32(n as u32);
    meta.extend([
        ("general.architecture".into(), Value::String("llama".into())),
        ("general.file_type".into(), Value::U32(file_type)),
        ("llama.context_length".into(), u(256)),
        ("llama.embedding_length".into(), u(HIDDEN)),
        ("llama.block_count".into(), u(LAYERS)),
        ("llama.feed_forward_length".into(), u(FF)),
        ("llama.attention.head_count".into(), u(HEADS)),
        ("llama.attention.head_count_kv".into(), u(KV_HEADS)),
        ("llama.rope.dimension_count".into(), u(HEAD_DIM)),
        ("llama.vocab_size".into(), u(vocab)),
        (
            "llama.attention.layer_norm_rms_epsilon".into(),
            Value::F32(1e-5),
        ),
        ("llama.rope.freq_base".into(), Value::F32(10_000.0)),
    ]);
    let mut rng = StdRng::seed_from_u64(7);
    let mut tensors: Vec<(String, QTensor)> = vec![];
    let mut add = |name: String, t: Tensor, q: GgmlDType| {
        tensors.push((name, QTensor::quantize(&t, q).expect("quantize")));
    };
    // Tied embedding (no output.weight): the vocabulary's matrix is there once.
    add(
        "token_embd.weight".into(),
        random(&mut rng, &[vocab, HIDDEN], 0.0, 1.0),
        dtype,
    );
    add(
        "output_norm.weight".into(),
        random(&mut rng, &[HIDDEN], 1.0, 0.1),
        GgmlDType::F32,
    );
    for l in 0..LAYERS {
        let p = format!("blk.{l}");
        for (name, out, inp) in [
            ("attn_q", HEADS * HEAD_DIM, HIDDEN),
            ("attn_k", KV_HEADS * HEAD_DIM, HIDDEN),
            ("attn_v", KV_HEADS * HEAD_DIM, HIDDEN),
            ("attn_output", HIDDEN, HEADS * HEAD_DIM),
            ("ffn_gate", FF, HIDDEN),
            ("ffn_up", FF, HIDDEN),
            ("ffn_down", HIDDEN, FF),
        ] {
            let t = random(&mut rng, &[out, inp], 0.0, 1.0 / (inp as f32).sqrt());
            add(format!("{p}.{name}.weight"), t, dtype);
        }
        for name in ["attn_norm", "ffn_norm"] {
            let t = random(&mut rng, &[HIDDEN], 1.0, 0.1);
            add(format!("{p}.{name}.weight"), t, GgmlDType::F32);
        }
    }
    let meta_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut out = std::io::Cursor::new(vec![]);
    gguf_file::write(&mut out, &meta_refs, &refs).expect("write gguf");
    out.into_inner()
}

/// Uploads `bytes` as a blob; returns its `sha256:<hex>`.
async fn upload(base: &str, bytes: Vec<u8>) -> String {
    let hex: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let digest = format!("sha256:{hex}");
    let r = reqwest::Client::new()
        .post(format!("{base}/api/blobs/{digest}"))
        .body(bytes)
        .send()
        .await
        .expect("upload");
    assert!(r.status().is_success(), "upload: {}", r.status());
    digest
}

/// Creates `model` from the uploaded GGUF; returns the progress lines.
async fn create(base: &str, model: &str, digest: &str, quantize: Option<&str>) -> Vec<Json> {
    let mut body = json!({"model": model, "files": {"model.gguf": digest}});
    if let Some(q) = quantize {
        body["quantize"] = json!(q);
    }
    let lines = common::ndjson_reply(common::post(&format!("{base}/api/create"), body).await).await;
    assert_eq!(
        lines.last(),
        Some(&json!({"status": "success"})),
        "{lines:?}"
    );
    lines
}

async fn quantization_level(base: &str, model: &str) -> Json {
    let r = common::post(&format!("{base}/api/show"), json!({"model": model})).await;
    assert_eq!(r.status(), 200);
    let show: Json = r.json().await.expect("show json");
    show["details"]["quantization_level"].clone()
}

/// Greedy text and `eval_count` of 3 tokens after a short raw prompt.
async fn greedy(base: &str, model: &str) -> (String, u64) {
    let body = json!({
        "model": model, "prompt": "The capital of France is", "raw": true, "stream": false,
        "options": {"temperature": 0, "num_predict": 3, "seed": 1},
    });
    let r = common::post(&format!("{base}/api/generate"), body).await;
    assert_eq!(r.status(), 200);
    let reply: Json = r.json().await.expect("generate json");
    let text = reply["response"].as_str().expect("response").to_string();
    (text, reply["eval_count"].as_u64().expect("eval_count"))
}

fn quantizing_lines<'a>(lines: &'a [Json], status: &str) -> Vec<&'a Json> {
    lines.iter().filter(|l| l["status"] == status).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_quantizes_f32_and_f16_models() {
    let base = common::TestServer::default().spawn(&[]).await;
    let f32_size = {
        let bytes = tiny_gguf(GgmlDType::F32, 0);
        let len = bytes.len() as u64;
        let digest = upload(&base, bytes).await;
        let lines = create(&base, "tiny-f32", &digest, None).await;
        assert!(quantizing_lines(&lines, "quantizing F32 model to Q8_0").is_empty());
        let lines = create(&base, "tiny-q8", &digest, Some("q8_0")).await;
        let progress = quantizing_lines(&lines, "quantizing F32 model to Q8_0");
        assert!(!progress.is_empty(), "{lines:?}");
        let last = progress.last().expect("a progress line");
        assert_eq!(last["total"], json!(len));
        assert_eq!(last["completed"], json!(len), "ends complete");
        assert_eq!(last["digest"], json!("0000000000000000000"));
        len
    };
    assert_eq!(quantization_level(&base, "tiny-f32").await, json!("F32"));
    assert_eq!(quantization_level(&base, "tiny-q8").await, json!("Q8_0"));
    let (f32_text, f32_count) = greedy(&base, "tiny-f32").await;
    let (q8_text, q8_count) = greedy(&base, "tiny-q8").await;
    assert!(q8_count > 0);
    // 8-bit weights move the logits too little to change this tiny model's greedy picks.
    assert_eq!((q8_text, q8_count), (f32_text, f32_count));

    let digest = upload(&base, tiny_gguf(GgmlDType::F16, 1)).await;
    let lines = create(&base, "tiny-q4km", &digest, Some("q4_K_M")).await;
    assert!(!quantizing_lines(&lines, "quantizing F16 model to Q4_K_M").is_empty());
    assert_eq!(
        quantization_level(&base, "tiny-q4km").await,
        json!("Q4_K_M")
    );
    let (_, count) = greedy(&base, "tiny-q4km").await;
    assert!(count > 0);

    // The created model is smaller than its source, and the tags list it.
    let r = reqwest::get(format!("{base}/api/tags"))
        .await
        .expect("tags");
    let tags: Json = r.json().await.expect("tags json");
    let size = |name: &str| {
        tags["models"]
            .as_array()
            .expect("models")
            .iter()
            .find(|m| m["name"] == format!("{name}:latest"))
            .and_then(|m| m["size"].as_u64())
            .unwrap_or_else(|| panic!("{name} listed"))
    };
    assert!(
        size("tiny-q8") < f32_size / 3,
        "Q8_0 is about a quarter of F32"
    );
    assert!(size("tiny-q4km") < size("tiny-q8"));
}

async fn refused(base: &str, body: Json) -> String {
    let r = common::post(&format!("{base}/api/create"), body).await;
    assert_eq!(r.status(), 400);
    let body: Json = r.json().await.expect("error json");
    body["error"].as_str().expect("error").to_string()
}

#[tokio::test]
async fn create_refuses_what_it_cannot_quantize() {
    let base = common::TestServer::default().spawn(&["smollm2"]).await;
    // smollm2 is Q4_1 already.
    let e = refused(
        &base,
        json!({"model": "s2", "from": "smollm2", "quantize": "q8_0"}),
    )
    .await;
    assert_eq!(
        e,
        "quantization is only supported for F16, BF16 and F32 models"
    );
    let e = refused(
        &base,
        json!({"model": "s2", "from": "smollm2", "quantize": "q3_k_xl"}),
    )
    .await;
    assert!(e.contains("unsupported quantization type q3_k_xl"), "{e}");
    // A safetensors checkpoint: its files are uploaded blobs, none a GGUF.
    let digest = upload(&base, b"{}".to_vec()).await;
    let e = refused(
        &base,
        json!({"model": "s3", "files": {"config.json": digest}, "quantize": "q8_0"}),
    )
    .await;
    assert!(e.contains("safetensors"), "{e}");
    // Nothing was created.
    let r = common::post(&format!("{base}/api/show"), json!({"model": "s2"})).await;
    assert_eq!(r.status(), 404);
}
