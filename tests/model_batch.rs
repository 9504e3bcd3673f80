//! Batch invariance on the real test models: packing sequences at different positions into
//! one pass, chunking a prefill, and truncating a cache all leave greedy decoding unchanged.

mod common;

use candle_core::{Device, Tensor};
use rollama::engine::argmax;
use rollama::model::{Checkpoint, KvCache, Model, SeqBatch};

/// Greedy tokens generated per sequence.
const STEPS: usize = 10;

fn load(name: &str) -> Model {
    let file = Checkpoint::open(&common::model_path(name)).expect("open gguf");
    Model::load(&file, &Device::Cpu).expect("load model")
}

/// Three prompts of different lengths from the greedy goldens.
fn prompts(name: &str) -> Vec<Vec<u32>> {
    let golden = common::golden(&format!("greedy-{name}.json"));
    golden["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .take(3)
        .map(|c| {
            c["prompt_ids"]
                .as_array()
                .expect("prompt_ids")
                .iter()
                .map(|x| x.as_u64().expect("id") as u32)
                .collect()
        })
        .collect()
}

fn rows(logits: &Tensor) -> Vec<Vec<f32>> {
    logits.to_vec2().expect("logits")
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn one(model: &Model, cache: &mut KvCache, tokens: &[u32]) -> Vec<f32> {
    let logits = model
        .forward(&mut [SeqBatch { tokens, cache }])
        .expect("forward");
    rows(&logits).remove(0)
}

fn greedy_alone(model: &Model, prompt: &[u32]) -> Vec<u32> {
    let mut cache = model.new_cache();
    let mut out = vec![argmax(&one(model, &mut cache, prompt))];
    while out.len() < STEPS {
        let last = out[out.len() - 1];
        out.push(argmax(&one(model, &mut cache, &[last])));
    }
    out
}

/// Sequence `i` joins at step `start[i]`; each step packs every joined sequence: its whole
/// prompt on its first step, its last token afterwards.
fn greedy_packed(model: &Model, prompts: &[Vec<u32>], start: &[usize]) -> Vec<Vec<u32>> {
    let mut caches: Vec<KvCache> = prompts.iter().map(|_| model.new_cache()).collect();
    let mut outs: Vec<Vec<u32>> = vec![Vec::new(); prompts.len()];
    for step in 0.. {
        let active: Vec<usize> = (0..prompts.len())
            .filter(|&i| start[i] <= step && outs[i].len() < STEPS)
            .collect();
        if active.is_empty() && outs.iter().all(|o| o.len() == STEPS) {
            break;
        }
        if active.is_empty() {
            continue;
        }
        let feeds: Vec<Vec<u32>> = active
            .iter()
            .map(|&i| match outs[i].last() {
                Some(&t) => vec![t],
                None => prompts[i].clone(),
            })
            .collect();
        let mut batch: Vec<SeqBatch> = Vec::new();
        for (i, cache) in caches.iter_mut().enumerate() {
            if let Some(k) = active.iter().position(|&a| a == i) {
                batch.push(SeqBatch {
                    tokens: &feeds[k],
                    cache,
                });
            }
        }
        let logits = rows(&model.forward(&mut batch).expect("packed forward"));
        for (k, &i) in active.iter().enumerate() {
            outs[i].push(argmax(&logits[k]));
        }
    }
    outs
}

fn check_packed(name: &str) {
    let model = load(name);
    let prompts = prompts(name);
    let alone: Vec<Vec<u32>> = prompts.iter().map(|p| greedy_alone(&model, p)).collect();
    // B joins while A decodes, C one step later: steps mix decodes with whole prefills.
    let packed = greedy_packed(&model, &prompts, &[0, 2, 3]);
    for (i, (a, p)) in alone.iter().zip(&packed).enumerate() {
        assert_eq!(
            a, p,
            "{name} sequence {i}: packed decoding differs from alone"
        );
    }
}

fn check_chunked_prefill(name: &str) {
    let model = load(name);
    for prompt in prompts(name) {
        let mut whole = model.new_cache();
        let want = one(&model, &mut whole, &prompt);
        let split = 5.min(prompt.len() - 1);
        let mut chunked = model.new_cache();
        one(&model, &mut chunked, &prompt[..split]);
        let got = one(&model, &mut chunked, &prompt[split..]);
        println!(
            "{name}: chunked prefill max logit diff {}",
            max_diff(&got, &want)
        );
        assert_eq!(
            argmax(&got),
            argmax(&want),
            "{name}: chunked prefill changed the next token"
        );
        assert!(
            max_diff(&got, &want) < 1e-2,
            "{name}: chunked prefill logits drifted"
        );
        assert_eq!(chunked.len(), prompt.len());
    }
}

fn check_truncate(name: &str) {
    let model = load(name);
    let prompt = &prompts(name)[0];
    let mut cache = model.new_cache();
    let want = one(&model, &mut cache, prompt);
    let mut tok = argmax(&want);
    for _ in 0..3 {
        tok = argmax(&one(&model, &mut cache, &[tok]));
    }
    assert_eq!(cache.len(), prompt.len() + 3);
    // Drop the generated tokens and the prompt's last two, then feed those two again.
    cache.truncate(prompt.len() - 2);
    assert_eq!(cache.len(), prompt.len() - 2);
    let got = one(&model, &mut cache, &prompt[prompt.len() - 2..]);
    println!(
        "{name}: truncate + refeed max logit diff {}",
        max_diff(&got, &want)
    );
    assert_eq!(
        argmax(&got),
        argmax(&want),
        "{name}: truncate changed the next token"
    );
    assert!(
        max_diff(&got, &want) < 1e-2,
        "{name}: truncate logits drifted"
    );
}

#[test]
fn smollm2_packed_equals_alone() {
    check_packed("smollm2");
}

#[test]
fn gemma3_packed_equals_alone() {
    check_packed("gemma3");
}

#[test]
fn smollm2_chunked_prefill() {
    check_chunked_prefill("smollm2");
}

#[test]
fn gemma3_chunked_prefill() {
    check_chunked_prefill("gemma3");
}

#[test]
fn smollm2_truncate() {
    check_truncate("smollm2");
}

#[test]
fn gemma3_truncate() {
    check_truncate("gemma3");
}
