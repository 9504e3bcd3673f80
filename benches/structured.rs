//! Decode speed with and without structured output, on SmolLM2 through the engine (one
//! sequence, chat template, 128 new tokens): free text, `format: "json"`, and a JSON schema.
//! Reports the engine's own decode rate (`eval_count / eval_duration`) per run, the median
//! per mode, and how many constrained tokens needed the full vocabulary mask.
//!
//! `cargo bench --bench structured [-- --rounds N --threads T]`. Modes alternate each
//! round so machine noise hits them alike.

mod common;

use std::sync::Arc;

use candle_core::Device;
use rollama::engine::{
    grammar_counters, ChatPrompt, EngineConfig, EngineHandle, Event, GenerateJob, GenerateOptions,
    Grammar, Grammars, PromptModel,
};
use rollama::model::{Checkpoint, Model};
use rollama::text::Tokenizer;
use serde_json::json;

const NEW_TOKENS: usize = 128;

fn arg(name: &str) -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1)?.parse().ok()
}

fn schema() -> serde_json::Value {
    json!({"type": "object",
        "properties": {"items": {"type": "array", "maxItems": 40, "items": {"type": "object",
            "properties": {"name": {"type": "string", "maxLength": 30},
                           "quantity": {"type": "integer", "minimum": 1, "maximum": 100},
                           "unit": {"enum": ["kg", "g", "l", "piece"]}},
            "required": ["name", "quantity", "unit"]}}},
        "required": ["items"]})
}

fn main() {
    let rounds = arg("--rounds").unwrap_or(5);
    if let Some(t) = arg("--threads") {
        rollama::model::quant::set_pool_threads(t);
    }
    let file = Checkpoint::open(&common::model_path("smollm2")).expect("open gguf");
    let tokenizer = Arc::new(Tokenizer::from_gguf(file.metadata()).expect("tokenizer"));
    let prompt = PromptModel::new(
        Arc::clone(&tokenizer),
        file.get_str("tokenizer.chat_template"),
        "llama",
        None,
    )
    .expect("template");
    let model = Model::load(&file, &Device::Cpu).expect("load");
    let config = EngineConfig {
        prefix_cache_tokens: 0,
        ..EngineConfig::default()
    };
    let engine = EngineHandle::start(model, Arc::clone(&tokenizer), config).expect("engine");
    let grammars = Grammars::new(Arc::clone(&tokenizer));
    let chat = ChatPrompt {
        messages: vec![json!({"role": "user",
            "content": "Write my shopping list for a week of family dinners, as JSON."})],
        ..ChatPrompt::default()
    };
    let options = GenerateOptions {
        temperature: 0.8,
        seed: Some(42),
        num_predict: Some(NEW_TOKENS),
        ..GenerateOptions::default()
    };
    let tokens = prompt
        .chat_tokens(&chat, &options, true, &Default::default())
        .expect("prompt")
        .tokens;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    // The last mode has a budget too large to come near (the reply ends when its schema is
    // complete): its way out is not followed token by token, which measures what keeping
    // the others' way out up to date costs.
    let modes: [(&str, Option<Grammar>, usize); 4] = [
        ("free", None, NEW_TOKENS),
        ("format_json", Some(Grammar::Json), NEW_TOKENS),
        ("json_schema", Some(Grammar::Schema(schema())), NEW_TOKENS),
        ("schema_far", Some(Grammar::Schema(schema())), 1 << 20),
    ];
    let mut rates: Vec<Vec<f64>> = vec![vec![]; modes.len()];
    let mut masks = vec![(0u64, 0u64); modes.len()];
    for round in 0..=rounds {
        for (m, (name, grammar, budget)) in modes.iter().enumerate() {
            let before = grammar_counters();
            let constraint = grammar
                .as_ref()
                .map(|g| grammars.compile(g).expect("grammar"));
            let mut rx = engine
                .submit(GenerateJob {
                    prompt: tokens.clone(),
                    options: GenerateOptions {
                        num_predict: Some(*budget),
                        ..options.clone()
                    },
                    shift: true,
                    logprobs: None,
                    constraint,
                    visible: vec![],
                    trace: None,
                })
                .expect("submit");
            let done = rt.block_on(async {
                loop {
                    match rx.recv().await {
                        Some(Event::Done(d)) => break d,
                        Some(Event::Error(e)) => panic!("{name}: {e}"),
                        Some(_) => {}
                        None => panic!("{name}: engine gone"),
                    }
                }
            });
            let after = grammar_counters();
            let rate = done.eval_count as f64 / done.eval_duration.as_secs_f64();
            // Round 0 warms up (and builds the token trie on first use).
            if round > 0 {
                rates[m].push(rate);
                masks[m].0 += after.0 - before.0;
                masks[m].1 += after.1 - before.1;
                println!(
                    "round {round} {name:>12}: {:3} tokens, {rate:6.1} tok/s",
                    done.eval_count
                );
            }
        }
    }
    let free = median(&mut rates[0]);
    println!("\nmedian decode tok/s over {rounds} rounds ({NEW_TOKENS} new tokens, T=0.8):");
    for (m, (name, _, _)) in modes.iter().enumerate() {
        let med = median(&mut rates[m]);
        let (checked, masked) = masks[m];
        let share = if checked > 0 {
            format!(
                ", full mask on {masked}/{checked} tokens ({:.0}%)",
                100.0 * masked as f64 / checked as f64
            )
        } else {
            String::new()
        };
        println!(
            "  {name:>12}: {med:6.1} tok/s ({:.2}x free){share}",
            med / free
        );
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
