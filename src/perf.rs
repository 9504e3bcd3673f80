//! `rollama perf`: single-stream prefill and decode speed of one GGUF file in-process,
//! like llama.cpp's `llama-bench` (`benches/compare_llamacpp.py` runs both side by side).
//!
//! The prompt is a fixed pseudo-random token sequence (the same ids the comparison script
//! feeds llama.cpp); decode feeds greedy tokens one at a time after it. Times cover the
//! forward passes and the argmax, not tokenization or sampling.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use candle_core::Device;
use clap::Args;

use crate::model::{quant, Checkpoint, LoadOptions, Model, SeqBatch};

#[derive(Debug, Args)]
pub struct PerfArgs {
    /// GGUF model file.
    pub model: PathBuf,
    /// CPU threads (default: physical cores).
    #[arg(long, short = 't')]
    pub threads: Option<usize>,
    /// Prompt tokens to prefill.
    #[arg(long, default_value_t = 128)]
    pub prompt: usize,
    /// Tokens to decode after the prompt.
    #[arg(long, default_value_t = 64)]
    pub decode: usize,
    /// Measured repetitions (after one warm-up); the median is reported.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The prompt both sides feed: deterministic ids spread over the vocabulary.
pub fn prompt_ids(vocab: usize, len: usize) -> Vec<u32> {
    (0..len)
        .map(|i| ((1000 + i * 7919) % vocab) as u32)
        .collect()
}

pub fn run(args: PerfArgs) -> anyhow::Result<()> {
    if let Some(n) = args.threads {
        quant::set_pool_threads(n);
    }
    let file = Checkpoint::open(&args.model).context("open model")?;
    let model = Model::load_with(&file, &Device::Cpu, &LoadOptions::default())?;
    let threads = args.threads.unwrap_or_else(quant::default_threads);
    let tokens = prompt_ids(model.config().vocab_size, args.prompt);
    let (mut prefill, mut decode) = (Vec::new(), Vec::new());
    for run in 0..=args.runs {
        let mut cache = model.new_cache();
        let start = Instant::now();
        let logits = model.forward(&mut [SeqBatch {
            tokens: &tokens,
            cache: &mut cache,
        }])?;
        let mut next = crate::engine::argmax(&logits.get(0)?.to_vec1::<f32>()?);
        let prefill_s = start.elapsed().as_secs_f64();
        let start = Instant::now();
        for _ in 0..args.decode {
            let logits = model.forward(&mut [SeqBatch {
                tokens: &[next],
                cache: &mut cache,
            }])?;
            next = crate::engine::argmax(&logits.get(0)?.to_vec1::<f32>()?);
        }
        let decode_s = start.elapsed().as_secs_f64();
        if run > 0 {
            prefill.push(args.prompt as f64 / prefill_s);
            decode.push(args.decode as f64 / decode_s);
        }
    }
    let (p, d) = (median(&mut prefill), median(&mut decode));
    match args.json {
        true => println!(
            "{}",
            serde_json::json!({"threads": threads, "prompt": args.prompt, "decode": args.decode,
                "prefill_tok_s": p, "decode_tok_s": d, "kernel": format!("{:?}", quant::Kernel::detect())})
        ),
        false => println!(
            "rollama threads={threads} prefill({}) {p:.1} tok/s; decode(at {}) {d:.1} tok/s (median of {})",
            args.prompt, args.prompt, args.runs
        ),
    }
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}
