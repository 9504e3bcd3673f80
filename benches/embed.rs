//! CPU throughput of the BERT embedder on all-MiniLM-L6-v2: 64 short sentences
//! (`embed-sentences.txt`, 8-14 tokens) embedded in batches of 1, 16 and 64, text to unit
//! vector (tokenize, one forward pass per batch, normalize). `compare_embed.py` runs
//! sentence-transformers on the same sentences and prints the same table.
//!
//! `cargo bench --bench embed -- --threads 2` (or `ROLLAMA_NUM_THREADS`; default 2). A pass
//! embeds all 64 sentences; each batch size runs one warm-up pass, then passes for about
//! 3 s (at least 5), and reports the median pass.

mod common;

use std::time::{Duration, Instant};

use candle_core::Device;
use rollama::model::bert::Embedder;
use rollama::text::HfTokenizer;

const BATCHES: [usize; 3] = [1, 16, 64];

fn threads() -> usize {
    let args: Vec<String> = std::env::args().collect();
    let flag = args
        .iter()
        .position(|a| a == "--threads")
        .and_then(|i| args.get(i + 1))
        .cloned();
    flag.or_else(|| std::env::var("ROLLAMA_NUM_THREADS").ok())
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(2)
}

fn embed_all(embedder: &Embedder, tokenizer: &HfTokenizer, sentences: &[&str], batch: usize) {
    for chunk in sentences.chunks(batch) {
        let ids: Vec<Vec<u32>> = chunk
            .iter()
            .map(|s| {
                tokenizer
                    .encode_truncated(s, embedder.max_tokens())
                    .expect("tokenize")
            })
            .collect();
        for mut v in embedder.embed(&ids).expect("embed") {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            v.iter_mut().for_each(|x| *x /= norm);
            std::hint::black_box(v);
        }
    }
}

fn main() {
    let threads = threads();
    // Before the model loads: candle sizes its pools on first use.
    rollama::model::quant::set_pool_threads(threads);

    let dir = common::model_dir().join("all-minilm");
    let embedder = Embedder::load(&dir, &Device::Cpu).expect("load all-minilm");
    let tokenizer = HfTokenizer::from_file(&dir.join("tokenizer.json")).expect("tokenizer");
    let text = include_str!("embed-sentences.txt");
    let sentences: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let tokens: usize = sentences
        .iter()
        .map(|s| tokenizer.token_count(s).expect("tokenize"))
        .sum();

    println!(
        "rollama all-MiniLM-L6-v2, threads={threads} (candle matmul threads {}), {} sentences, \
         {:.1} tokens on average",
        candle_core::utils::get_num_threads(),
        sentences.len(),
        tokens as f64 / sentences.len() as f64
    );
    println!("{:>5} {:>10} {:>12}", "batch", "emb/s", "ms/batch");
    for batch in BATCHES {
        embed_all(&embedder, &tokenizer, &sentences, batch);
        let mut passes = Vec::new();
        let start = Instant::now();
        while passes.len() < 5 || start.elapsed() < Duration::from_secs(3) {
            let t = Instant::now();
            embed_all(&embedder, &tokenizer, &sentences, batch);
            passes.push(t.elapsed().as_secs_f64());
        }
        passes.sort_by(f64::total_cmp);
        let median = passes[passes.len() / 2];
        let calls = sentences.len().div_ceil(batch) as f64;
        println!(
            "{batch:>5} {:>10.1} {:>12.2}",
            sentences.len() as f64 / median,
            median * 1e3 / calls
        );
    }
}
