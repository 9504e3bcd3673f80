//! Every GGUF weight type candle reads loads and runs: a one-layer llama written here with
//! all its matrices in one type, for each type (K-quants need rows of 256, hence the width).

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use rollama::model::{Checkpoint, LoadOptions, Model, SeqBatch};

const HIDDEN: usize = 256;
const FF: usize = 512;
const HEADS: usize = 4;
const KV_HEADS: usize = 2;
const HEAD_DIM: usize = HIDDEN / HEADS;
const VOCAB: usize = 256;

fn write(dtype: GgmlDType, path: &std::path::Path) {
    let u = |n: usize| Value::U32(n as u32);
    let meta: Vec<(&str, Value)> = vec![
        ("general.architecture", Value::String("llama".into())),
        ("llama.context_length", u(64)),
        ("llama.embedding_length", u(HIDDEN)),
        ("llama.block_count", u(1)),
        ("llama.feed_forward_length", u(FF)),
        ("llama.attention.head_count", u(HEADS)),
        ("llama.attention.head_count_kv", u(KV_HEADS)),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ("llama.rope.freq_base", Value::F32(10_000.0)),
    ];
    let dev = Device::Cpu;
    let mut seed = 0u64;
    let mut matrix = |rows: usize, cols: usize| {
        seed += 1;
        let t = Tensor::rand(-1f32, 1f32, (rows, cols), &dev)
            .and_then(|t| t * (1.0 / (cols as f64).sqrt() + seed as f64 * 1e-3))
            .expect("random");
        QTensor::quantize(&t, dtype).expect("quantize")
    };
    let norm = |n: usize| {
        QTensor::quantize(
            &Tensor::ones(n, candle_core::DType::F32, &dev).expect("ones"),
            GgmlDType::F32,
        )
        .expect("norm")
    };
    let kv = KV_HEADS * HEAD_DIM;
    let tensors: Vec<(&str, QTensor)> = vec![
        ("token_embd.weight", matrix(VOCAB, HIDDEN)),
        ("output.weight", matrix(VOCAB, HIDDEN)),
        ("output_norm.weight", norm(HIDDEN)),
        ("blk.0.attn_norm.weight", norm(HIDDEN)),
        ("blk.0.ffn_norm.weight", norm(HIDDEN)),
        ("blk.0.attn_q.weight", matrix(HIDDEN, HIDDEN)),
        ("blk.0.attn_k.weight", matrix(kv, HIDDEN)),
        ("blk.0.attn_v.weight", matrix(kv, HIDDEN)),
        ("blk.0.attn_output.weight", matrix(HIDDEN, HIDDEN)),
        ("blk.0.ffn_gate.weight", matrix(FF, HIDDEN)),
        ("blk.0.ffn_up.weight", matrix(FF, HIDDEN)),
        ("blk.0.ffn_down.weight", matrix(HIDDEN, FF)),
    ];
    let mut out = std::fs::File::create(path).expect("create");
    let meta: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (*k, v)).collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, t)| (*k, t)).collect();
    gguf_file::write(&mut out, &meta, &tensors).expect("write gguf");
}

#[test]
fn every_candle_weight_type_loads_and_runs() {
    let dir = std::env::temp_dir().join(format!("rollama-quant-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let types = [
        GgmlDType::F32,
        GgmlDType::F16,
        GgmlDType::BF16,
        GgmlDType::Q4_0,
        GgmlDType::Q4_1,
        GgmlDType::Q5_0,
        GgmlDType::Q5_1,
        GgmlDType::Q8_0,
        GgmlDType::Q2K,
        GgmlDType::Q3K,
        GgmlDType::Q4K,
        GgmlDType::Q5K,
        GgmlDType::Q6K,
        // Q8_K is an activation-only type: llama.cpp never stores weights in it, and
        // candle's GGUF reader refuses it.
    ];
    for dtype in types {
        let path = dir.join(format!("{dtype:?}.gguf"));
        write(dtype, &path);
        let file = Checkpoint::open(&path).expect("open");
        for requantize in [false, true] {
            let opts = LoadOptions {
                cpu_requantize: requantize,
            };
            let model = Model::load_with(&file, &Device::Cpu, &opts)
                .unwrap_or_else(|e| panic!("{dtype:?} (requantize {requantize}): {e}"));
            let mut cache = model.new_cache();
            let logits = model
                .forward(&mut [SeqBatch {
                    tokens: &[1, 2, 3, 4, 5],
                    cache: &mut cache,
                }])
                .unwrap_or_else(|e| panic!("{dtype:?} forward: {e}"));
            assert_eq!(logits.dims(), &[1, VOCAB], "{dtype:?}");
            let row: Vec<f32> = logits.flatten_all().and_then(|t| t.to_vec1()).expect("row");
            assert!(
                row.iter().all(|x| x.is_finite()),
                "{dtype:?}: non-finite logits"
            );
            assert_eq!(cache.len(), 5);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
