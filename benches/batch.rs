//! One batched decode step of SmolLM2-135M at batch 1, 4, 8 and 16: every sequence at
//! position 128 of its own prompt, one new token each, all in one forward pass. The
//! throughput is tokens per second for the whole batch, so the gain from batching reads
//! directly off the `decode_batch` group.
//!
//! `cargo bench --bench batch`; both weight layouts: GGUF-native (default) and
//! `--cpu-requantize` (padded Q8_0).

mod common;

use std::time::Duration;

use candle_core::Device;
use common::model_path;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rollama::model::{Checkpoint, KvCache, LoadOptions, Model, SeqBatch};

const PROMPT: usize = 128;

fn prefilled(model: &Model, seed: usize) -> KvCache {
    let vocab = model.config().vocab_size;
    let tokens: Vec<u32> = (0..PROMPT)
        .map(|i| ((1000 + seed * 7919 + i * 37) % vocab) as u32)
        .collect();
    let mut cache = model.new_cache();
    model
        .forward(&mut [SeqBatch {
            tokens: &tokens,
            cache: &mut cache,
        }])
        .expect("prefill");
    cache
}

fn bench(c: &mut Criterion) {
    let file = Checkpoint::open(&model_path("smollm2")).expect("open gguf");
    for (tag, cpu_requantize) in [("_requant", true), ("", false)] {
        let model =
            Model::load_with(&file, &Device::Cpu, &LoadOptions { cpu_requantize }).expect("load");
        let mut caches: Vec<KvCache> = (0..16).map(|i| prefilled(&model, i)).collect();
        let mut group = c.benchmark_group("decode_batch");
        group.sample_size(10).warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(4));
        for n in [1usize, 4, 8, 16] {
            group.throughput(Throughput::Elements(n as u64));
            group.bench_function(format!("smollm2_b{n}{tag}"), |b| {
                b.iter(|| {
                    let mut batch: Vec<SeqBatch> = caches[..n]
                        .iter_mut()
                        .map(|cache| {
                            cache.truncate(PROMPT);
                            SeqBatch {
                                tokens: &[42],
                                cache,
                            }
                        })
                        .collect();
                    model.forward(&mut batch).expect("forward");
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
