//! Time to first token of a request that arrives while others stream, against the same
//! request on an idle server: what a new user feels when the service is busy.

use std::time::Duration;

use serde::Serialize;

use super::report::percentile;
use super::stream::{self, Api, Ask};

#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    /// Streams kept running in the background during the loaded probes.
    pub background: usize,
    pub probes: usize,
    pub idle_ttft_p50_ms: f64,
    pub loaded_ttft_p50_ms: f64,
    /// `loaded / idle`.
    pub ratio: f64,
}

/// Sends `probes` requests one at a time on the idle server, then again while
/// `background` other streams are generating.
pub async fn measure(
    client: &reqwest::Client,
    url: &str,
    api: Api,
    ask: impl Fn(usize) -> Ask,
    background: usize,
    probes: usize,
) -> anyhow::Result<ProbeReport> {
    let mut idle = Vec::with_capacity(probes);
    for p in 0..probes {
        idle.push(probe(client, url, api, &ask(10_000 + p)).await?);
    }

    let mut streams = Vec::with_capacity(background);
    let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel();
    for b in 0..background {
        let (client, url, started) = (client.clone(), url.to_string(), started_tx.clone());
        let mut a = ask(20_000 + b);
        let base = a.prompt.clone();
        // Long enough to outlast the probes; restarted if it ends anyway.
        a.max_tokens = a.max_tokens.max(512);
        streams.push(tokio::spawn(async move {
            for round in 0.. {
                let _ = started.send(());
                a.prompt = format!("Round {round}. {base}");
                if stream::run(&client, &url, api, &a).await.is_err() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }));
    }
    for _ in 0..background {
        started_rx.recv().await;
    }
    // Let every background stream get past its prompt and into decoding.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut loaded = Vec::with_capacity(probes);
    let result = async {
        for p in 0..probes {
            loaded.push(probe(client, url, api, &ask(30_000 + p)).await?);
        }
        anyhow::Ok(())
    }
    .await;
    for s in streams {
        s.abort();
    }
    result?;
    let idle_p50 = percentile(&idle, 50.0);
    let loaded_p50 = percentile(&loaded, 50.0);
    Ok(ProbeReport {
        background,
        probes,
        idle_ttft_p50_ms: idle_p50,
        loaded_ttft_p50_ms: loaded_p50,
        ratio: loaded_p50 / idle_p50,
    })
}

/// TTFT in milliseconds of one short request.
async fn probe(client: &reqwest::Client, url: &str, api: Api, ask: &Ask) -> anyhow::Result<f64> {
    let short = Ask {
        max_tokens: 4,
        ..ask.clone()
    };
    let outcome = stream::run(client, url, api, &short).await?;
    Ok(outcome.ttft.as_secs_f64() * 1e3)
}
