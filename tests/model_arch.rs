//! Every supported architecture, on tiny random-weight GGUFs written here: loads, produces
//! finite logits of the right shape, is batch invariant, and prefill agrees with
//! token-by-token decoding (which exercises masks and the sliding window).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rollama::model::{Checkpoint, Model, ModelError, SeqBatch};

const HIDDEN: usize = 64;
const LAYERS: usize = 2;
const HEADS: usize = 4;
const KV_HEADS: usize = 2;
const FF: usize = 128;
const VOCAB: usize = 128;
const TOLERANCE: f32 = 1e-4;

struct Spec {
    arch: &'static str,
    head_dim: usize,
    qkv_bias: bool,
    qk_norm: bool,
    gemma: bool,
    tied: bool,
    /// Phi-3: one `attn_qkv` and one `ffn_up` holding gate and up.
    fused: bool,
}

const SPECS: [Spec; 5] = [
    Spec {
        arch: "llama",
        head_dim: 16,
        qkv_bias: false,
        qk_norm: false,
        gemma: false,
        tied: false,
        fused: false,
    },
    Spec {
        arch: "qwen2",
        head_dim: 16,
        qkv_bias: true,
        qk_norm: false,
        gemma: false,
        tied: true,
        fused: false,
    },
    Spec {
        arch: "qwen3",
        head_dim: 32,
        qkv_bias: false,
        qk_norm: true,
        gemma: false,
        tied: true,
        fused: false,
    },
    Spec {
        arch: "gemma3",
        head_dim: 32,
        qkv_bias: false,
        qk_norm: true,
        gemma: true,
        tied: true,
        fused: false,
    },
    Spec {
        arch: "phi3",
        head_dim: 16,
        qkv_bias: false,
        qk_norm: false,
        gemma: false,
        tied: false,
        fused: true,
    },
];

fn random(rng: &mut StdRng, dims: &[usize], center: f32, spread: f32) -> Tensor {
    let n: usize = dims.iter().product();
    let data: Vec<f32> = (0..n)
        .map(|_| center + rng.random_range(-spread..spread))
        .collect();
    Tensor::from_vec(data, dims, &Device::Cpu).expect("tensor")
}

/// Writes a tiny model of `spec`'s architecture; matmul weights alternate F32 and Q8_0.
fn write_gguf(spec: &Spec, dir: &Path) -> PathBuf {
    write_gguf_with(spec, dir, true)
}

/// `quantized: false` keeps every weight F32 (for comparisons with dense checkpoints).
fn write_gguf_with(spec: &Spec, dir: &Path, quantized: bool) -> PathBuf {
    let mut rng = StdRng::seed_from_u64(42);
    let a = spec.arch;
    let token_embd_type = match quantized {
        true => GgmlDType::Q8_0,
        false => GgmlDType::F32,
    };
    let u = |n: usize| Value::U32(n as u32);
    let mut meta: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(a.into())),
        (format!("{a}.context_length"), u(64)),
        (format!("{a}.embedding_length"), u(HIDDEN)),
        (format!("{a}.block_count"), u(LAYERS)),
        (format!("{a}.feed_forward_length"), u(FF)),
        (format!("{a}.attention.head_count"), u(HEADS)),
        (format!("{a}.attention.head_count_kv"), u(KV_HEADS)),
        (format!("{a}.attention.key_length"), u(spec.head_dim)),
        (format!("{a}.attention.value_length"), u(spec.head_dim)),
        (
            format!("{a}.attention.layer_norm_rms_epsilon"),
            Value::F32(1e-6),
        ),
        (format!("{a}.rope.freq_base"), Value::F32(10_000.0)),
    ];
    if spec.gemma {
        // Layer 0 slides over 4 positions, layer 1 is global.
        meta.push((format!("{a}.attention.sliding_window"), u(4)));
        meta.push((format!("{a}.attention.sliding_window_pattern"), u(2)));
    }

    let mut tensors: Vec<(String, QTensor)> = Vec::new();
    let mut add = |name: String, t: Tensor, q: GgmlDType| {
        tensors.push((name, QTensor::quantize(&t, q).expect("quantize")));
    };
    let (q_dim, kv_dim) = (HEADS * spec.head_dim, KV_HEADS * spec.head_dim);
    add(
        "token_embd.weight".into(),
        random(&mut rng, &[VOCAB, HIDDEN], 0.0, 1.0),
        token_embd_type,
    );
    add(
        "output_norm.weight".into(),
        random(&mut rng, &[HIDDEN], 1.0, 0.2),
        GgmlDType::F32,
    );
    if !spec.tied {
        add(
            "output.weight".into(),
            random(&mut rng, &[VOCAB, HIDDEN], 0.0, 0.2),
            token_embd_type,
        );
    }
    for l in 0..LAYERS {
        let p = format!("blk.{l}");
        let q = if l % 2 == 0 && quantized {
            GgmlDType::Q8_0
        } else {
            GgmlDType::F32
        };
        let mut lin = |name: &str, out: usize, inp: usize, rng: &mut StdRng| {
            let t = random(rng, &[out, inp], 0.0, 1.0 / (inp as f32).sqrt());
            add(format!("{p}.{name}.weight"), t, q);
        };
        if spec.fused {
            lin("attn_qkv", q_dim + 2 * kv_dim, HIDDEN, &mut rng);
        } else {
            lin("attn_q", q_dim, HIDDEN, &mut rng);
            lin("attn_k", kv_dim, HIDDEN, &mut rng);
            lin("attn_v", kv_dim, HIDDEN, &mut rng);
        }
        lin("attn_output", HIDDEN, q_dim, &mut rng);
        if spec.fused {
            lin("ffn_up", 2 * FF, HIDDEN, &mut rng);
        } else {
            lin("ffn_gate", FF, HIDDEN, &mut rng);
            lin("ffn_up", FF, HIDDEN, &mut rng);
        }
        lin("ffn_down", HIDDEN, FF, &mut rng);
        let mut norm = |name: &str, dim: usize, rng: &mut StdRng| {
            add(
                format!("{p}.{name}.weight"),
                random(rng, &[dim], 1.0, 0.2),
                GgmlDType::F32,
            );
        };
        norm("attn_norm", HIDDEN, &mut rng);
        norm("ffn_norm", HIDDEN, &mut rng);
        if spec.qk_norm {
            norm("attn_q_norm", spec.head_dim, &mut rng);
            norm("attn_k_norm", spec.head_dim, &mut rng);
        }
        if spec.gemma {
            norm("post_attention_norm", HIDDEN, &mut rng);
            norm("post_ffw_norm", HIDDEN, &mut rng);
        }
        if spec.qkv_bias {
            for (name, dim) in [("attn_q", q_dim), ("attn_k", kv_dim), ("attn_v", kv_dim)] {
                let b = random(&mut rng, &[dim], 0.0, 0.1);
                add(format!("{p}.{name}.bias"), b, GgmlDType::F32);
            }
        }
    }

    // Tests run in parallel: every call writes its own file.
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let path = dir.join(format!(
        "tiny-{a}-{}.gguf",
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let mut out = std::fs::File::create(&path).expect("create gguf");
    let meta_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
    gguf_file::write(&mut out, &meta_refs, &tensor_refs).expect("write gguf");
    path
}

fn tmp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rollama-model-arch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir
}

fn load(spec: &Spec) -> Model {
    let path = write_gguf(spec, &tmp_dir());
    let file = Checkpoint::open(&path).expect("open tiny gguf");
    Model::load(&file, &Device::Cpu).expect("load tiny model")
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .and_then(|d| d.abs())
        .and_then(|d| d.flatten_all())
        .and_then(|d| d.max(0))
        .and_then(|d| d.to_scalar::<f32>())
        .expect("diff")
}

fn prompt(seed: u64, len: usize) -> Vec<u32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len)
        .map(|_| rng.random_range(0..VOCAB as u32))
        .collect()
}

#[test]
fn shapes_and_finiteness() {
    for spec in &SPECS {
        let model = load(spec);
        assert_eq!(model.config().architecture, spec.arch);
        assert_eq!(model.config().vocab_size, VOCAB);
        let (a, b) = (prompt(1, 7), prompt(2, 3));
        let (mut ca, mut cb) = (model.new_cache(), model.new_cache());
        let logits = model
            .forward(&mut [
                SeqBatch {
                    tokens: &a,
                    cache: &mut ca,
                },
                SeqBatch {
                    tokens: &b,
                    cache: &mut cb,
                },
            ])
            .expect("forward");
        assert_eq!(logits.dims(), &[2, VOCAB], "{}", spec.arch);
        let values: Vec<f32> = logits
            .flatten_all()
            .and_then(|t| t.to_vec1())
            .expect("values");
        assert!(
            values.iter().all(|v| v.is_finite()),
            "{}: non-finite logits",
            spec.arch
        );
        assert_eq!((ca.len(), cb.len()), (7, 3));
    }
}

/// Three sequences at different positions in one pass equal each run alone.
#[test]
fn packed_equals_alone() {
    for spec in &SPECS {
        let model = load(spec);
        let prompts = [prompt(3, 9), prompt(4, 5), prompt(5, 12)];
        let mut alone = Vec::new();
        let mut caches: Vec<_> = prompts.iter().map(|_| model.new_cache()).collect();
        for (p, cache) in prompts.iter().zip(caches.iter_mut()) {
            model
                .forward(&mut [SeqBatch {
                    tokens: &p[..p.len() - 2],
                    cache,
                }])
                .expect("prefill");
            let logits = model
                .forward(&mut [SeqBatch {
                    tokens: &p[p.len() - 2..],
                    cache,
                }])
                .expect("rest");
            alone.push(logits);
        }
        // Packed: sequence 0 decodes its last two tokens while 1 and 2 prefill whole.
        let mut packed_caches: Vec<_> = prompts.iter().map(|_| model.new_cache()).collect();
        let p0 = &prompts[0];
        model
            .forward(&mut [SeqBatch {
                tokens: &p0[..p0.len() - 2],
                cache: &mut packed_caches[0],
            }])
            .expect("prefill 0");
        let [c0, c1, c2] = &mut packed_caches[..] else {
            unreachable!()
        };
        let logits = model
            .forward(&mut [
                SeqBatch {
                    tokens: &p0[p0.len() - 2..],
                    cache: c0,
                },
                SeqBatch {
                    tokens: &prompts[1],
                    cache: c1,
                },
                SeqBatch {
                    tokens: &prompts[2],
                    cache: c2,
                },
            ])
            .expect("packed");
        for (i, want) in alone.iter().enumerate() {
            let got = logits.narrow(0, i, 1).expect("row");
            let d = max_diff(&got, want);
            assert!(
                d < TOLERANCE,
                "{} seq {i}: packed differs from alone by {d}",
                spec.arch
            );
        }
    }
}

/// Feeding a prompt whole or one token at a time gives the same last logits: the prefill
/// mask (causal, sliding window) matches what decode sees.
#[test]
fn prefill_equals_incremental() {
    for spec in &SPECS {
        let model = load(spec);
        let p = prompt(6, 11);
        let mut whole = model.new_cache();
        let want = model
            .forward(&mut [SeqBatch {
                tokens: &p,
                cache: &mut whole,
            }])
            .expect("whole");
        let mut step = model.new_cache();
        let mut got = None;
        for t in p.chunks(1) {
            got = Some(
                model
                    .forward(&mut [SeqBatch {
                        tokens: t,
                        cache: &mut step,
                    }])
                    .expect("step"),
            );
        }
        let d = max_diff(&got.expect("logits"), &want);
        assert!(
            d < TOLERANCE,
            "{}: incremental differs from prefill by {d}",
            spec.arch
        );
    }
}

#[test]
fn bad_input_is_an_error() {
    let model = load(&SPECS[0]);
    let mut cache = model.new_cache();
    assert!(model.forward(&mut []).is_err(), "empty batch");
    assert!(model
        .forward(&mut [SeqBatch {
            tokens: &[],
            cache: &mut cache
        }])
        .is_err());
    let too_big = [VOCAB as u32];
    assert!(model
        .forward(&mut [SeqBatch {
            tokens: &too_big,
            cache: &mut cache
        }])
        .is_err());
    let long = prompt(7, 65);
    assert!(model
        .forward(&mut [SeqBatch {
            tokens: &long,
            cache: &mut cache
        }])
        .is_err());
    assert!(cache.is_empty(), "failed passes leave the cache alone");
    // A cache from another model is refused.
    let other = load(&SPECS[2]);
    let mut foreign = other.new_cache();
    assert!(model
        .forward(&mut [SeqBatch {
            tokens: &[1],
            cache: &mut foreign
        }])
        .is_err());
}

/// The engine moves the model and caches onto its own thread.
#[test]
fn model_and_cache_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Model>();
    send_sync::<rollama::model::KvCache>();
}

#[test]
fn unknown_architecture_is_unsupported() {
    let dir = tmp_dir();
    let path = dir.join("tiny-mamba.gguf");
    let mut out = std::fs::File::create(&path).expect("create");
    let arch = Value::String("mamba".into());
    gguf_file::write(&mut out, &[("general.architecture", &arch)], &[]).expect("write");
    let file = Checkpoint::open(&path).expect("open");
    match Model::load(&file, &Device::Cpu) {
        Err(ModelError::Unsupported(msg)) => assert_eq!(msg, "architecture mamba"),
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("loaded an unknown architecture"),
    }
}

fn last_logits(model: &Model, tokens: &[u32]) -> Tensor {
    let mut cache = model.new_cache();
    model
        .forward(&mut [SeqBatch {
            tokens,
            cache: &mut cache,
        }])
        .expect("forward")
}

/// Every family: GGUF → `rollama convert` (module) → HF directory → loaded again gives the
/// GGUF's logits. All-F32 weights, so both paths run the same dense matmuls.
#[test]
fn safetensors_round_trip_matches_gguf() {
    use rollama::convert::{convert, ConvertOptions, WeightDtype};
    let dir = tmp_dir();
    for spec in &SPECS {
        let path = write_gguf_with(spec, &dir, false);
        let out = path.with_extension("hf");
        let options = ConvertOptions {
            dtype: WeightDtype::F32,
            ..ConvertOptions::default()
        };
        let summary = convert(&path, &out, &options).expect("convert");
        assert_eq!(summary.architecture, spec.arch);
        let gguf =
            Model::load(&Checkpoint::open(&path).expect("open"), &Device::Cpu).expect("load gguf");
        let hf_checkpoint = Checkpoint::open(&out).expect("open dir");
        assert_eq!(hf_checkpoint.format(), "safetensors");
        let hf = Model::load(&hf_checkpoint, &Device::Cpu).expect("load hf");
        assert_eq!(hf.config().architecture, spec.arch);
        assert_eq!(hf.config().layer_is_local, gguf.config().layer_is_local);
        let p = prompt(8, 10);
        let d = max_diff(&last_logits(&gguf, &p), &last_logits(&hf, &p));
        assert!(
            d < 1e-3,
            "{}: HF checkpoint logits differ by {d}",
            spec.arch
        );
        let _ = std::fs::remove_dir_all(&out);
    }
}

/// Phi-3's fused weights mean what llama.cpp says: Q, K, V rows in that order, gate rows
/// before up rows. The same weights split into a (bias-free, NEOX) Qwen2 give the same logits.
#[test]
fn phi3_fused_equals_split() {
    let dir = tmp_dir();
    let spec = SPECS.iter().find(|s| s.arch == "phi3").expect("phi3 spec");
    let path = write_gguf_with(spec, &dir, false);
    let file = rollama::model::GgufFile::open(&path).expect("open");
    let mut reader = std::io::BufReader::new(std::fs::File::open(&path).expect("open"));
    let (q_dim, kv_dim) = (HEADS * spec.head_dim, KV_HEADS * spec.head_dim);
    let mut tensors: Vec<(String, QTensor)> = Vec::new();
    let f32 = |t: &Tensor| QTensor::quantize(t, GgmlDType::F32).expect("f32");
    for name in file.content.tensor_infos.keys() {
        let t = file
            .content
            .tensor(&mut reader, name, &Device::Cpu)
            .and_then(|q| q.dequantize(&Device::Cpu))
            .expect("read");
        let parts: Vec<(&str, usize, usize)> = match name.rsplit('.').nth(1) {
            Some("attn_qkv") => vec![
                ("attn_q", 0, q_dim),
                ("attn_k", q_dim, kv_dim),
                ("attn_v", q_dim + kv_dim, kv_dim),
            ],
            Some("ffn_up") => vec![("ffn_gate", 0, FF), ("ffn_up", FF, FF)],
            _ => {
                tensors.push((name.clone(), f32(&t)));
                continue;
            }
        };
        let layer = name.rsplitn(3, '.').nth(2).expect("blk.N");
        for (part, start, len) in parts {
            // A fresh buffer: `QTensor::quantize` reads the whole storage, ignoring a
            // view's offset and length.
            let piece = t
                .narrow(0, start, len)
                .and_then(|p| p.flatten_all()?.to_vec1::<f32>())
                .and_then(|v| Tensor::from_vec(v, (len, HIDDEN), &Device::Cpu))
                .expect("narrow");
            tensors.push((format!("{layer}.{part}.weight"), f32(&piece)));
        }
    }
    let meta: Vec<(String, Value)> = file
        .content
        .metadata
        .iter()
        .map(|(k, v)| match k.strip_prefix("phi3.") {
            Some(rest) => (format!("qwen2.{rest}"), v.clone()),
            None if k == "general.architecture" => (k.clone(), Value::String("qwen2".into())),
            None => (k.clone(), v.clone()),
        })
        .collect();
    let split_path = dir.join(format!(
        "tiny-phi3-split-{}.gguf",
        NEXT_SPLIT.fetch_add(1, Ordering::Relaxed)
    ));
    let mut out = std::fs::File::create(&split_path).expect("create");
    let meta_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
    gguf_file::write(&mut out, &meta_refs, &refs).expect("write");
    drop(out);

    let phi3 = Model::load(&Checkpoint::open(&path).expect("open"), &Device::Cpu).expect("phi3");
    let qwen2 =
        Model::load(&Checkpoint::open(&split_path).expect("open"), &Device::Cpu).expect("qwen2");
    assert_eq!(qwen2.config().architecture, "qwen2");
    let p = prompt(9, 12);
    let d = max_diff(&last_logits(&phi3, &p), &last_logits(&qwen2, &p));
    assert!(d < 1e-4, "phi3 fused vs split: {d}");
}

static NEXT_SPLIT: AtomicUsize = AtomicUsize::new(0);
