//! `rollama bench`: a load generator for a live server. N clients each stream chat
//! requests back to back; the report gives aggregate generated tokens/s, time to first
//! token (p50/p95) and per-stream decode tokens/s.
//!
//! Each request's prompt starts with its own number, so no two requests share more than
//! the template's preamble: servers with prompt caching get no free ride.

mod probe;
mod report;
mod stream;

pub use probe::ProbeReport;
pub use report::Report;
pub use stream::{Api, Ask, Outcome};

use std::time::{Duration, Instant};

use clap::Args;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:11434")]
    pub url: String,

    /// Model name as the server knows it.
    #[arg(long, default_value = "smollm2")]
    pub model: String,

    /// Wire protocol: Ollama's `/api/chat` (NDJSON) or OpenAI's `/v1/chat/completions` (SSE).
    #[arg(long, value_enum, default_value_t = Api::Ollama)]
    pub api: Api,

    /// Concurrent streaming clients.
    #[arg(long, short = 'c', default_value_t = 8)]
    pub concurrency: usize,

    /// Requests each client sends, one after the other.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,

    /// Tokens to generate per request (`num_predict` / `max_tokens`).
    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,

    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,

    /// The question; each request prefixes it with its own number.
    #[arg(
        long,
        default_value = "Write a long story about a lighthouse keeper who befriends a whale. Describe the sea, the seasons and the village in detail."
    )]
    pub prompt: String,

    /// A label for the report (e.g. the server's name).
    #[arg(long, default_value = "")]
    pub label: String,

    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,

    /// After the run, time this many short requests on the idle server and again while
    /// `concurrency - 1` other streams are generating (0 = skip).
    #[arg(long, default_value_t = 0)]
    pub probes: usize,

    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let report = measure(&args).await?;
    match args.json {
        true => println!("{}", serde_json::to_string(&report)?),
        false => print!("{report}"),
    }
    Ok(())
}

/// Warms the server up with one request (loads the model), then runs the clients.
pub async fn measure(args: &BenchArgs) -> anyhow::Result<Report> {
    // A fresh connection per request: servers close idle keep-alive connections at
    // different times, and a request sent on one being closed fails for no fault of the
    // server under test.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout))
        .pool_max_idle_per_host(0)
        .build()?;
    let ask = |n: usize| Ask {
        model: args.model.clone(),
        prompt: format!("Request {n}. {}", args.prompt),
        max_tokens: args.max_tokens,
        temperature: args.temperature,
    };
    stream::run(&client, &args.url, args.api, &ask(0))
        .await
        .map_err(|e| anyhow::anyhow!("warm-up request failed: {e}"))?;

    let started = Instant::now();
    let clients = (0..args.concurrency.max(1)).map(|c| {
        let client = client.clone();
        let asks: Vec<Ask> = (0..args.rounds)
            .map(|r| ask(1 + c * args.rounds + r))
            .collect();
        let (url, api) = (args.url.clone(), args.api);
        tokio::spawn(async move {
            let mut results = Vec::with_capacity(asks.len());
            for a in &asks {
                results.push(stream::run(&client, &url, api, a).await);
            }
            results
        })
    });
    let mut outcomes = Vec::new();
    let mut errors = Vec::new();
    for handle in futures::future::join_all(clients).await {
        for r in handle? {
            match r {
                Ok(o) => outcomes.push(o),
                Err(e) => errors.push(e.to_string()),
            }
        }
    }
    let mut report = Report::new(args, started.elapsed(), &outcomes, errors);
    if args.probes > 0 {
        let background = args.concurrency.saturating_sub(1);
        report.probe =
            Some(probe::measure(&client, &args.url, args.api, ask, background, args.probes).await?);
    }
    Ok(report)
}
