//! `POST /api/pull`, the transfer side: a model's manifest and blobs fetched into the
//! store's Ollama layout, from an Ollama-compatible registry ([`registry`]) or from the
//! Hugging Face hub ([`hub`], names `hf.co/{org}/{repo}[:{quant}]`).
//!
//! [`pull`] reports Ollama's progress stream (`pulling manifest`, `pulling <digest>` per
//! layer, `verifying sha256 digest`, `writing manifest`, `removing unused layers`,
//! `success`) and returns failures as `Err`. Blobs are downloaded resumably and verified
//! before they become visible ([`transfer`]); the manifest is written only once every blob
//! is in place, so a failed pull leaves no half model: no manifest, at most a partial file
//! the next pull resumes from.
//!
//! A leaf next to `store` (`tests/layering.rs`): it knows HTTP clients, not the server.

mod error;
mod hub;
mod progress;
mod registry;
mod transfer;

pub use error::PullError;
pub use progress::Progress;

use std::collections::{HashMap, HashSet};

use futures::TryStreamExt;
use tokio::sync::mpsc;

use crate::store::{Blobs, Digest, Manifest, ModelName, ModelStore};

/// Blobs one pull downloads at the same time (Ollama downloads one blob at a time in
/// parts; a few whole blobs at a time keeps a many-file safetensors pull moving).
const MAX_PARALLEL: usize = 3;

/// How to reach the registries.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// Plain `http` to the registry (the request's `insecure`).
    pub insecure: bool,
    /// The Hugging Face endpoint (`HF_ENDPOINT`; `https://huggingface.co` when unset).
    pub hf_endpoint: Option<String>,
    /// Sent to the hub as `Authorization: Bearer` (`HF_TOKEN`; else hf-hub's token file
    /// under `HF_HOME`, which `huggingface-cli login` writes).
    pub hf_token: Option<String>,
}

impl PullOptions {
    /// `HF_ENDPOINT` and `HF_TOKEN` (or the older `HUGGING_FACE_HUB_TOKEN`), trimmed; empty
    /// values count as unset. hf-hub itself also reads `HF_ENDPOINT` and `HF_HOME`.
    pub fn from_env() -> Self {
        let var = |key: &str| {
            std::env::var(key)
                .ok()
                .map(|v| v.trim().trim_matches(['"', '\'']).to_string())
                .filter(|v| !v.is_empty())
        };
        Self {
            insecure: false,
            hf_endpoint: var("HF_ENDPOINT"),
            hf_token: var("HF_TOKEN").or_else(|| var("HUGGING_FACE_HUB_TOKEN")),
        }
    }
}

/// Where one blob of a planned manifest comes from.
#[derive(Debug)]
enum Source {
    /// Downloaded by [`transfer::fetch`].
    Fetch(transfer::Fetch),
    /// Already in memory (the config blob we write, small hub files hashed on arrival).
    Bytes(Vec<u8>),
}

/// A validated manifest and, for every digest it names, where to get the bytes.
#[derive(Debug)]
struct Plan {
    manifest: Manifest,
    sources: HashMap<Digest, Source>,
}

/// Pulls `name` into `store`, sending Ollama's progress lines to `progress`. Errors are
/// returned, not sent: the server writes them as the final `{"error": ...}` line.
pub async fn pull(
    store: &ModelStore,
    name: &ModelName,
    options: &PullOptions,
    progress: mpsc::Sender<Progress>,
) -> Result<(), PullError> {
    let manifests = store.manifests();
    let blobs = store.blobs();
    let previous: Vec<Digest> = manifests
        .find(name)
        .map(|found| found.manifest.digests().cloned().collect())
        .unwrap_or_default();

    send(&progress, Progress::status("pulling manifest")).await;
    let plan = match hub::is_hub(name) {
        true => hub::plan(name, options).await?,
        false => registry::plan(name, options).await?,
    };
    let Plan {
        manifest,
        mut sources,
    } = plan;

    // Ollama's order: the layers, then the config blob; a digest named twice is fetched once.
    let mut jobs = vec![];
    let mut seen = HashSet::new();
    for layer in manifest
        .layers
        .iter()
        .chain(std::iter::once(&manifest.config))
    {
        if !seen.insert(layer.digest.clone()) {
            continue;
        }
        let source = sources
            .remove(&layer.digest)
            .ok_or_else(|| PullError::Manifest(format!("no source for layer {}", layer.digest)))?;
        jobs.push((layer.digest.clone(), layer.size, source));
    }
    futures::stream::iter(jobs.into_iter().map(Ok))
        .try_for_each_concurrent(MAX_PARALLEL, |(digest, size, source)| {
            let (blobs, progress) = (&blobs, &progress);
            async move { fetch(blobs, digest, size, source, progress).await }
        })
        .await?;

    // Every blob was hashed as it arrived and made visible only when it matched (see
    // `transfer`); what is left is a check that each one is still in place.
    send(&progress, Progress::status("verifying sha256 digest")).await;
    for layer in manifest
        .layers
        .iter()
        .chain(std::iter::once(&manifest.config))
    {
        if blobs.find(&layer.digest).map(|(_, size)| size) != Some(layer.size) {
            return Err(PullError::Store(format!(
                "blob {} is missing after its download",
                layer.digest
            )));
        }
    }

    send(&progress, Progress::status("writing manifest")).await;
    manifests.write(name, &manifest)?;

    // Blobs of the manifest this one replaced that no manifest references any more.
    let referenced: HashSet<Digest> = manifests
        .list()
        .iter()
        .flat_map(|found| found.manifest.digests().cloned().collect::<Vec<_>>())
        .collect();
    let unused: HashSet<Digest> = previous
        .into_iter()
        .filter(|d| !referenced.contains(d))
        .collect();
    if !unused.is_empty() {
        send(&progress, Progress::status("removing unused layers")).await;
        for digest in &unused {
            if let Err(e) = blobs.remove(digest) {
                // Not a failed pull (the model is in place), as in Ollama.
                let status = format!("couldn't remove unused layers: {e}");
                send(&progress, Progress::status(status)).await;
            }
        }
    }

    send(&progress, Progress::status("success")).await;
    Ok(())
}

/// One blob: reported once at completed=total when it is already there.
async fn fetch(
    blobs: &Blobs,
    digest: Digest,
    size: u64,
    source: Source,
    progress: &mpsc::Sender<Progress>,
) -> Result<(), PullError> {
    match source {
        Source::Fetch(job) => transfer::fetch(blobs, job, progress).await,
        Source::Bytes(bytes) => {
            if blobs.find(&digest).is_none_or(|(_, s)| s != size) {
                blobs.write(bytes.as_slice(), Some(&digest))?;
            }
            send(progress, Progress::layer(&digest, size, size)).await;
            Ok(())
        }
    }
}

/// Sends a progress line. A receiver that is gone (the client disconnected) does not stop
/// the pull: the server cancels a pull by dropping its future.
async fn send(progress: &mpsc::Sender<Progress>, line: Progress) {
    let _ = progress.send(line).await;
}
