//! CPU throughput of the model layer on SmolLM2-135M: prefill of a 128-token prompt, and
//! decode of one token at position 128 (alone, and four sequences packed in one pass);
//! plus Gemma-3-270M decode.
//!
//! `cargo bench --bench generate`; sample sizes are small so it finishes in a few minutes.

mod common;

use std::time::Duration;

use candle_core::Device;
use common::model_path;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use rollama::model::{Checkpoint, KvCache, LoadOptions, Model, SeqBatch};

const PROMPT: usize = 128;

fn prompt(vocab: usize, seed: usize) -> Vec<u32> {
    (0..PROMPT)
        .map(|i| ((1000 + seed * 7919 + i * 37) % vocab) as u32)
        .collect()
}

fn forward(model: &Model, batch: &mut [SeqBatch<'_>]) {
    model.forward(batch).expect("forward");
}

fn bench(c: &mut Criterion) {
    println!(
        "candle CPU threads: {}",
        candle_core::utils::get_num_threads()
    );
    let file = Checkpoint::open(&model_path("smollm2")).expect("open gguf");
    // The default (llama.cpp-faithful) weights, then `--cpu-requantize`'s padded Q8_0.
    for (tag, requantize) in [("", false), ("_requant", true)] {
        let opts = LoadOptions {
            cpu_requantize: requantize,
        };
        let model = Model::load_with(&file, &Device::Cpu, &opts).expect("load");
        smollm2(c, model, tag);
    }
    gemma3(c);
}

fn smollm2(c: &mut Criterion, model: Model, tag: &str) {
    let vocab = model.config().vocab_size;

    let mut group = c.benchmark_group("prefill");
    group.sample_size(10).warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(PROMPT as u64));
    let tokens = prompt(vocab, 0);
    let mut cache = model.new_cache();
    group.bench_function(format!("smollm2_128{tag}"), |b| {
        b.iter(|| {
            cache.truncate(0);
            forward(&model, &mut [one(&tokens, &mut cache)]);
        })
    });
    group.finish();

    let mut group = decode_group(c);
    decode_one(&mut group, &format!("smollm2_pos128{tag}"), &model);

    // Four sequences decoding together: one matmul per weight for all of them.
    let mut caches: Vec<KvCache> = (0..4).map(|i| prefilled(&model, i)).collect();
    group.throughput(Throughput::Elements(4));
    group.bench_function(format!("smollm2_4seq_pos128{tag}"), |b| {
        b.iter(|| {
            let mut batch: Vec<SeqBatch> = caches
                .iter_mut()
                .map(|cache| {
                    cache.truncate(PROMPT);
                    one(&[42], cache)
                })
                .collect();
            forward(&model, &mut batch);
        })
    });
    group.finish();
}

fn gemma3(c: &mut Criterion) {
    // Gemma 3: sliding-window layers and the 262144-row tied vocabulary projection.
    let file = Checkpoint::open(&model_path("gemma3")).expect("open gguf");
    let model = Model::load(&file, &Device::Cpu).expect("load");
    let mut group = decode_group(c);
    decode_one(&mut group, "gemma3_pos128", &model);
    group.finish();
}

fn one<'a>(tokens: &'a [u32], cache: &'a mut KvCache) -> SeqBatch<'a> {
    SeqBatch { tokens, cache }
}

/// A cache holding a `PROMPT`-token prompt (seeded by `seed`).
fn prefilled(model: &Model, seed: usize) -> KvCache {
    let tokens = prompt(model.config().vocab_size, seed);
    let mut cache = model.new_cache();
    forward(model, &mut [one(&tokens, &mut cache)]);
    cache
}

fn decode_group(c: &mut Criterion) -> BenchmarkGroup<'_, WallTime> {
    let mut group = c.benchmark_group("decode");
    group.sample_size(20).warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(1));
    group
}

/// One token decoded at position `PROMPT`, the cache rewound before each iteration.
fn decode_one(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, model: &Model) {
    let mut cache = prefilled(model, 0);
    group.bench_function(name, |b| {
        b.iter(|| {
            cache.truncate(PROMPT);
            forward(model, &mut [one(&[42], &mut cache)]);
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
