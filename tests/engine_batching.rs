//! Continuous batching at the engine level, on SmolLM2: sequences that join a running
//! batch and leave it at different steps produce exactly the tokens they produce alone,
//! each with its own sampling options, seed and stop strings.

mod common;

use std::sync::Arc;

use candle_core::Device;
use rollama::engine::{
    EngineConfig, EngineHandle, Event, GenerateJob, GenerateOptions, StatsSnapshot,
};
use rollama::model::{Checkpoint, Model};
use rollama::text::Tokenizer;
use tokio::sync::mpsc::UnboundedReceiver;

struct Case {
    prompt: &'static str,
    options: GenerateOptions,
}

fn cases() -> Vec<Case> {
    let greedy = |n: usize| GenerateOptions {
        temperature: 0.0,
        num_predict: Some(n),
        ..GenerateOptions::default()
    };
    vec![
        Case {
            prompt: "The capital of France is",
            options: greedy(12),
        },
        Case {
            prompt: "Once upon a time, in a small village,",
            options: greedy(40),
        },
        Case {
            prompt: "def fibonacci(n):",
            options: GenerateOptions {
                stop: vec!["return".into()],
                ..greedy(48)
            },
        },
        Case {
            prompt: "A list of fruits: apple, banana,",
            options: GenerateOptions {
                temperature: 0.9,
                top_k: 40,
                seed: Some(7),
                num_predict: Some(24),
                ..GenerateOptions::default()
            },
        },
        Case {
            prompt: "Water boils at",
            options: greedy(6),
        },
        Case {
            prompt: "The three laws of robotics are",
            options: greedy(30),
        },
    ]
}

fn engine(max_running: usize) -> (EngineHandle, Arc<Tokenizer>) {
    let file = Checkpoint::open(&common::model_path("smollm2")).expect("open gguf");
    let tokenizer = Arc::new(Tokenizer::from_gguf(file.metadata()).expect("tokenizer"));
    let model = Model::load(&file, &Device::Cpu).expect("load");
    let config = EngineConfig {
        max_running,
        // Small chunks: long prompts take several steps while others decode.
        max_batch_tokens: 8,
        // Every request starts from scratch: this test is about batching alone.
        prefix_cache_tokens: 0,
        ..EngineConfig::default()
    };
    let handle = EngineHandle::start(model, Arc::clone(&tokenizer), config).expect("engine");
    (handle, tokenizer)
}

fn submit(engine: &EngineHandle, tokenizer: &Tokenizer, case: &Case) -> UnboundedReceiver<Event> {
    let prompt = tokenizer.encode(case.prompt, true).expect("encode");
    engine
        .submit(GenerateJob {
            prompt,
            options: case.options.clone(),
            shift: true,
            logprobs: None,
            constraint: None,
            visible: vec![],
            trace: None,
        })
        .expect("submit")
}

/// A request's text so far, and its token ids once done.
#[derive(Debug, Default, PartialEq)]
struct Outcome {
    text: String,
    tokens: Option<Vec<u32>>,
}

/// Reads events until the request is done, or only until its first event.
async fn read(rx: &mut UnboundedReceiver<Event>, out: &mut Outcome, first_only: bool) {
    while out.tokens.is_none() {
        match rx.recv().await {
            Some(Event::Logprob(_)) => {}
            Some(Event::Text(t)) => out.text.push_str(&t),
            Some(Event::Done(done)) => out.tokens = Some(done.tokens),
            Some(Event::Error(e)) => panic!("generation failed: {e}"),
            None => panic!("the engine dropped the request"),
        }
        if first_only {
            return;
        }
    }
}

/// The worker publishes its counters between steps: wait for it to go idle.
async fn idle_stats(engine: &EngineHandle) -> StatsSnapshot {
    for _ in 0..500 {
        let s = engine.stats();
        if s.running == 0 && s.waiting == 0 {
            return s;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    engine.stats()
}

#[tokio::test(flavor = "multi_thread")]
async fn joining_and_leaving_sequences_match_running_alone() {
    let cases = cases();
    let (alone, tokenizer) = engine(1);
    let mut expected = vec![];
    for case in &cases {
        let mut rx = submit(&alone, &tokenizer, case);
        let mut out = Outcome::default();
        read(&mut rx, &mut out, false).await;
        expected.push(out);
    }

    // Each request joins once the previous one is generating; with different lengths
    // they leave at different steps, while others are still reading their prompts.
    let (batched, _) = engine(8);
    let mut running = vec![];
    for case in &cases {
        let mut rx = submit(&batched, &tokenizer, case);
        let mut out = Outcome::default();
        read(&mut rx, &mut out, true).await;
        running.push((rx, out));
    }
    let mut got = vec![];
    for (mut rx, mut out) in running {
        read(&mut rx, &mut out, false).await;
        got.push(out);
    }
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(
            g, e,
            "case {i} ({:?}) differs when batched",
            cases[i].prompt
        );
    }
    let stats = idle_stats(&batched).await;
    assert_eq!(stats.running, 0);
    assert_eq!(stats.waiting, 0);
    assert_eq!(stats.kv_reserved, 0, "every reservation released");
    assert!(stats.steps_total > 0);
}
