//! Greedy decoding of the real test models against llama.cpp's goldens.
//!
//! Exact token-for-token parity over 16+ steps is not a property two correct
//! implementations share on these small quantized models: the goldens pass through
//! near-ties (top-2 logit margins of 0.01–0.07), and llama.cpp itself, re-run with an f32
//! instead of f16 KV cache, leaves its own golden within the first 16 tokens on 3 of 5
//! Gemma 3 and 3 of 5 SmolLM2 cases. Logits of two careful implementations differ by up
//! to ~0.5 here (llama.cpp f16 vs f32 KV: up to 0.48).
//!
//! So each case is checked three ways:
//! - exact: where llama.cpp's own choice was never a near-tie (its top-2 margin stays at or
//!   above [`ROBUST_MARGIN`] over the first 16 steps, recorded in the golden), our first 16
//!   tokens (or all of them, up to EOS) must be identical; at least two cases per model
//!   qualify, so this can never pass vacuously.
//! - free-running greedy: our tokens must equal llama.cpp's until the first step where
//!   llama.cpp's token is a near-tie in our logits (within [`NEAR_TIE`] of our best); a
//!   divergence anywhere else fails (so all 32 tokens match when there is no such tie).
//! - teacher-forced: feeding llama.cpp's tokens, at every one of the (up to) 32 steps its
//!   token must be our argmax or within [`NEAR_TIE`] of it.

mod common;

use candle_core::{Device, Tensor};
use rollama::engine::argmax;
use rollama::model::{Checkpoint, KvCache, Model, SeqBatch};

/// Largest logit shortfall of llama.cpp's token under our best that still counts as a tie.
const NEAR_TIE: f32 = 0.6;
/// First-step logits of llama.cpp's top 5 must be this close to ours. Checked both as
/// raw values and relative to the top logit (an offset shared by every logit does not
/// change any probability). Measured: SmolLM2 0.49 (relative 0.41), Gemma 3 0.67 (0.33).
/// llama.cpp's own top-2 margin from which a step is not a near-tie.
const ROBUST_MARGIN: f32 = 0.2;
/// Tokens that must be identical on robust cases.
const EXACT_PREFIX: usize = 16;
const LOGIT_TOLERANCE: f32 = 0.8;
const RELATIVE_TOLERANCE: f32 = 0.5;

fn load(name: &str) -> Model {
    let file = Checkpoint::open(&common::model_path(name)).expect("open gguf");
    Model::load(&file, &Device::Cpu).expect("load model")
}

fn step(model: &Model, cache: &mut KvCache, tokens: &[u32]) -> Vec<f32> {
    let logits = model
        .forward(&mut [SeqBatch { tokens, cache }])
        .expect("forward");
    row(&logits, 0)
}

fn row(logits: &Tensor, i: usize) -> Vec<f32> {
    logits.get(i).and_then(|r| r.to_vec1()).expect("logits row")
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .expect("id array")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}

/// How far llama.cpp's token `want` falls below our best logit (0 when it is our argmax).
fn shortfall(logits: &[f32], want: u32) -> f32 {
    logits[argmax(logits) as usize] - logits[want as usize]
}

fn check_model(name: &str) {
    let golden = common::golden(&format!("greedy-{name}.json"));
    let model = load(name);
    let eos = model_eos(name);
    let mut max_diff = 0f32;
    let mut max_rel_diff = 0f32;
    let mut max_shortfall = 0f32;
    let mut failures = Vec::new();
    let mut robust_cases = 0;
    for case in golden["cases"].as_array().expect("cases") {
        let prompt = case["prompt"].as_str().unwrap_or_default();
        let prompt_ids = ids(&case["prompt_ids"]);
        let expected = ids(&case["generated_ids"]);

        // First-step logits against llama.cpp's top 5.
        let mut cache = model.new_cache();
        let first = step(&model, &mut cache, &prompt_ids);
        let top5: Vec<(usize, f32)> = case["first_top5"]
            .as_array()
            .expect("first_top5")
            .iter()
            .map(|p| {
                (
                    p[0].as_u64().expect("id") as usize,
                    p[1].as_f64().expect("logit") as f32,
                )
            })
            .collect();
        let (top_id, top_logit) = top5[0];
        for &(id, want) in &top5 {
            max_diff = max_diff.max((first[id] - want).abs());
            let rel = (first[id] - first[top_id]) - (want - top_logit);
            max_rel_diff = max_rel_diff.max(rel.abs());
        }

        // Free-running greedy.
        let mut logits = first;
        let mut matched = 0;
        let mut tie_at = None;
        for &want in &expected {
            let tok = argmax(&logits);
            if tok != want {
                let gap = shortfall(&logits, want);
                if gap >= NEAR_TIE {
                    failures.push(format!("{prompt:?}: step {matched} chose {tok}, llama.cpp {want} is {gap:.3} below"));
                }
                tie_at = Some(gap);
                break;
            }
            matched += 1;
            if tok == eos {
                break;
            }
            logits = step(&model, &mut cache, &[tok]);
        }

        // Exact on robust cases: no near-tie on llama.cpp's side in the compared prefix.
        let margins: Vec<f32> = case["margins"]
            .as_array()
            .expect("margins")
            .iter()
            .map(|m| m.as_f64().expect("margin") as f32)
            .collect();
        let n = EXACT_PREFIX.min(expected.len());
        if margins[..n].iter().all(|&m| m >= ROBUST_MARGIN) {
            robust_cases += 1;
            if matched < n {
                failures.push(format!(
                    "{prompt:?}: robust case, but only {matched}/{n} tokens identical"
                ));
            }
        }

        // Teacher-forced over the whole golden continuation.
        let mut cache = model.new_cache();
        let mut logits = step(&model, &mut cache, &prompt_ids);
        let mut agree = 0;
        for (i, &want) in expected.iter().enumerate() {
            let gap = shortfall(&logits, want);
            max_shortfall = max_shortfall.max(gap);
            agree += usize::from(gap == 0.0);
            if gap >= NEAR_TIE {
                failures.push(format!(
                    "{prompt:?}: forced step {i}: llama.cpp {want} is {gap:.3} below our best"
                ));
            }
            if want == eos || i + 1 == expected.len() {
                break;
            }
            logits = step(&model, &mut cache, &[want]);
        }
        let tie = tie_at.map_or(String::new(), |g| format!(", then a near-tie ({g:.3})"));
        println!(
            "{name} {prompt:?}: greedy matches {matched}/{}{tie}; teacher-forced argmax agrees {agree}/{}",
            expected.len(),
            expected.len()
        );
    }
    println!("{name}: first-step top-5 max |logit - llama.cpp| = {max_diff:.4}, relative to the top logit = {max_rel_diff:.4}");
    println!("{name}: max teacher-forced shortfall = {max_shortfall:.4}");
    assert!(
        robust_cases >= 2,
        "{name}: only {robust_cases} golden cases without near-ties; add prompts"
    );
    println!(
        "{name}: {robust_cases} robust cases identical over their first {EXACT_PREFIX} tokens"
    );
    assert!(
        failures.is_empty(),
        "{name} diverged:\n{}",
        failures.join("\n")
    );
    assert!(
        max_diff < LOGIT_TOLERANCE,
        "{name}: logits differ by {max_diff}"
    );
    assert!(
        max_rel_diff < RELATIVE_TOLERANCE,
        "{name}: relative logits differ by {max_rel_diff}"
    );
}

fn model_eos(name: &str) -> u32 {
    let file = Checkpoint::open(&common::model_path(name)).expect("open gguf");
    file.get_u64("tokenizer.ggml.eos_token_id").expect("eos id") as u32
}

#[test]
fn smollm2_matches_llama_cpp() {
    check_model("smollm2");
}

#[test]
fn gemma3_matches_llama_cpp() {
    check_model("gemma3");
}
