//! Resumable, verified blob downloads, shared by every pull that wants the same blob.
//!
//! Bytes grow in [`Blobs::partial_path`]; a cut connection resumes with `Range: bytes=N-`
//! (a few retries with backoff inside one pull, and a later pull picks the partial file up
//! again); the sha256 is computed while the bytes arrive and the blob becomes visible only
//! through [`Blobs::commit_partial`] once it matches. One process-wide table maps each blob
//! to its download in flight: a second pull of the same blob subscribes to it, reports the
//! same progress and gets the same result instead of fetching the bytes again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use futures::StreamExt;
use reqwest::header::{CONTENT_RANGE, RANGE};
use reqwest::StatusCode;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, watch};

use super::error::{chain, PullError};
use super::{send, Progress};
use crate::store::{Blobs, Digest};

/// Failed attempts in a row (no byte gained) before a download gives up.
const MAX_RETRIES: u32 = 6;
/// How often a pull reports a download's progress (Ollama's ticker).
const TICK: Duration = Duration::from_millis(60);

/// One blob to download: where from, and what it must be.
#[derive(Debug, Clone)]
pub(crate) struct Fetch {
    pub client: reqwest::Client,
    pub url: String,
    pub digest: Digest,
    pub size: u64,
}

/// What every puller of one blob sees: bytes done, then the outcome.
#[derive(Debug, Clone, Default)]
struct State {
    completed: u64,
    done: Option<Result<(), PullError>>,
}

/// A download in flight: its progress, how many pulls wait for it, its task.
struct InFlight {
    rx: watch::Receiver<State>,
    waiters: usize,
    task: Option<tokio::task::AbortHandle>,
}

/// Downloads in flight, by blob path (so two stores never share one).
static IN_FLIGHT: LazyLock<Mutex<HashMap<PathBuf, InFlight>>> = LazyLock::new(Default::default);

fn table() -> std::sync::MutexGuard<'static, HashMap<PathBuf, InFlight>> {
    // A panic while holding the lock cannot leave the map half-updated (one insert or
    // remove), so a poisoned lock is still a valid table.
    IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes `job.digest` a verified blob of `blobs`, reporting `pulling <digest>` lines every
/// [`TICK`] (one at the start, one at completed=total on success).
pub(crate) async fn fetch(
    blobs: &Blobs,
    job: Fetch,
    progress: &mpsc::Sender<Progress>,
) -> Result<(), PullError> {
    let Some((mut rx, _waiting)) = join_or_start(blobs, &job) else {
        send(progress, Progress::layer(&job.digest, job.size, job.size)).await;
        return Ok(());
    };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let completed = rx.borrow().completed;
                send(progress, Progress::layer(&job.digest, job.size, completed)).await;
            }
            changed = rx.changed() => {
                let done = rx.borrow_and_update().done.clone();
                match (done, changed) {
                    (Some(Ok(())), _) => {
                        send(progress, Progress::layer(&job.digest, job.size, job.size)).await;
                        return Ok(());
                    }
                    (Some(Err(e)), _) => return Err(e),
                    (None, Ok(())) => {}
                    // The download task ended without an outcome: it panicked.
                    (None, Err(_)) => {
                        return Err(PullError::Network(format!(
                            "download of {} stopped unexpectedly",
                            job.digest
                        )))
                    }
                }
            }
        }
    }
}

/// Subscribes to the download of this blob, starting it if none is in flight; `None` when
/// the blob is already there. The download runs in its own task, so a pull that goes away
/// (its client disconnected) does not cut it for the others; when the last one goes, the
/// download stops (as Ollama's), keeping its partial file for the next pull to resume.
fn join_or_start(blobs: &Blobs, job: &Fetch) -> Option<(watch::Receiver<State>, Waiting)> {
    let key = blobs.path(&job.digest);
    let mut map = table();
    if let Some(entry) = map.get_mut(&key) {
        entry.waiters += 1;
        let waiting = Waiting(key, entry.rx.clone());
        return Some((entry.rx.clone(), waiting));
    }
    // Checked under the lock: a download commits its blob before leaving the table, so a
    // blob missing here is neither present nor about to be.
    if blobs.find(&job.digest).is_some_and(|(_, s)| s == job.size) {
        return None;
    }
    let (tx, rx) = watch::channel(State::default());
    map.insert(
        key.clone(),
        InFlight {
            rx: rx.clone(),
            waiters: 1,
            task: None,
        },
    );
    let (blobs, job, entry) = (blobs.clone(), job.clone(), Entry(key.clone(), rx.clone()));
    let task = tokio::spawn(async move {
        let result = download(&blobs, &job, &tx).await;
        // Leave the table before publishing the outcome (see the check above).
        drop(entry);
        tx.send_modify(|s| s.done = Some(result));
    });
    if let Some(entry) = map.get_mut(&key) {
        entry.task = Some(task.abort_handle());
    }
    Some((rx.clone(), Waiting(key, rx)))
}

/// Removes a download from the table when its task ends, panicking, aborted or not
/// (unless the place is another download's by then: one started after this was stopped).
struct Entry(PathBuf, watch::Receiver<State>);

impl Drop for Entry {
    fn drop(&mut self) {
        let mut map = table();
        if map.get(&self.0).is_some_and(|e| e.rx.same_channel(&self.1)) {
            map.remove(&self.0);
        }
    }
}

/// One pull waiting for a download; the last to go stops it. (Without this, a download
/// nobody waits for kept its place in the table: one stalled on an open connection made
/// every later pull of that blob wait forever.)
struct Waiting(PathBuf, watch::Receiver<State>);

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut map = table();
        let Some(entry) = map.get_mut(&self.0).filter(|e| e.rx.same_channel(&self.1)) else {
            return;
        };
        entry.waiters = entry.waiters.saturating_sub(1);
        if entry.waiters == 0 {
            if let Some(task) = map.remove(&self.0).and_then(|e| e.task) {
                task.abort();
            }
        }
    }
}

/// An attempt that failed: retry it (network), or give up (the bytes are wrong, the
/// server refuses, the disk fails).
enum Failed {
    Retry(PullError),
    Fatal(PullError),
}

async fn download(blobs: &Blobs, job: &Fetch, tx: &watch::Sender<State>) -> Result<(), PullError> {
    blobs.ensure_dir()?;
    let partial = blobs.partial_path(&job.digest);
    let mut offset = blobs.partial_len(&job.digest);
    if offset > job.size {
        blobs.remove_partial(&job.digest)?;
        offset = 0;
    }
    let mut hasher = match offset {
        0 => Sha256::new(),
        _ => {
            let path = partial.clone();
            tokio::task::spawn_blocking(move || Blobs::hash_prefix(&path, offset))
                .await
                .map_err(|e| PullError::Store(format!("hashing {}: {e}", path_str(&partial))))??
        }
    };
    if job.size == 0 {
        // Nothing to request: the empty blob is an empty file.
        tokio::fs::write(&partial, b"")
            .await
            .map_err(|e| PullError::Store(format!("{}: {e}", path_str(&partial))))?;
    }
    tx.send_modify(|s| s.completed = offset);
    let mut failures = 0;
    while offset < job.size {
        let before = offset;
        let outcome = attempt(job, &partial, &mut offset, &mut hasher, tx).await;
        if offset > before {
            failures = 0;
        }
        let error = match outcome {
            Ok(()) if offset >= job.size => break,
            Ok(()) => PullError::Network(format!(
                "download {}: connection closed after {offset} of {} bytes",
                job.digest, job.size
            )),
            Err(Failed::Fatal(e)) => return Err(e),
            Err(Failed::Retry(e)) => e,
        };
        failures += 1;
        if failures > MAX_RETRIES {
            return Err(error);
        }
        tracing::debug!(digest = %job.digest, offset, error = %error, "download interrupted; resuming");
        tokio::time::sleep(backoff(failures)).await;
    }
    let actual = Digest::from_hasher(hasher);
    blobs.commit_partial(&job.digest, job.size, actual)?;
    Ok(())
}

fn backoff(failures: u32) -> Duration {
    Duration::from_millis(250 << failures.saturating_sub(1).min(5))
}

/// One request: appends what it receives to the partial file from `offset` on.
async fn attempt(
    job: &Fetch,
    partial: &Path,
    offset: &mut u64,
    hasher: &mut Sha256,
    tx: &watch::Sender<State>,
) -> Result<(), Failed> {
    let what = |e: &dyn std::error::Error| {
        PullError::Network(format!("download {}: {}", job.digest, chain(e)))
    };
    let mut request = job.client.get(&job.url);
    if *offset > 0 {
        request = request.header(RANGE, format!("bytes={offset}-"));
    }
    let response = request.send().await.map_err(|e| Failed::Retry(what(&e)))?;
    let status = response.status();
    let refused = || PullError::Network(format!("download {}: {} {status}", job.digest, job.url));
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return Err(Failed::Retry(refused()));
    }
    if status == StatusCode::RANGE_NOT_SATISFIABLE {
        // Our partial file disagrees with the server's: start over.
        restart(offset, hasher, tx);
        return Err(Failed::Retry(refused()));
    }
    if !status.is_success() {
        return Err(Failed::Fatal(refused()));
    }
    // The hub names an LFS file by its sha256 (`x-linked-etag`): a different one means
    // these bytes are not the blob, whatever they turn out to be.
    if let Some(actual) = linked_sha256(response.headers()) {
        if actual != job.digest {
            return Err(Failed::Fatal(PullError::DigestMismatch {
                expected: job.digest.clone(),
                actual,
            }));
        }
    }
    if *offset > 0 {
        if status != StatusCode::PARTIAL_CONTENT {
            // The server ignored the range and sends the whole blob: take it from byte 0.
            restart(offset, hasher, tx);
        } else if range_start(&response) != Some(*offset) {
            return Err(Failed::Retry(refused()));
        }
    }
    let store =
        |e: std::io::Error| Failed::Fatal(PullError::Store(format!("{}: {e}", path_str(partial))));
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(*offset == 0)
        .append(*offset > 0)
        .open(partial)
        .await
        .map_err(store)?;
    let mut body = response.bytes_stream();
    let copied = async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| Failed::Retry(what(&e)))?;
            if *offset + chunk.len() as u64 > job.size {
                // Too many bytes: what we have cannot be the blob.
                let _ = tokio::fs::remove_file(partial).await;
                return Err(Failed::Fatal(PullError::Network(format!(
                    "download {}: the server sent more than {} bytes",
                    job.digest, job.size
                ))));
            }
            file.write_all(&chunk).await.map_err(store)?;
            hasher.update(&chunk);
            *offset += chunk.len() as u64;
            let done = *offset;
            tx.send_modify(|s| s.completed = done);
        }
        Ok(())
    }
    .await;
    // Always flushed, even after an error: the next attempt appends to this file through
    // another handle, and tokio may still hold a write of this one in flight.
    let flushed = match file.flush().await {
        Ok(()) => file.sync_data().await,
        Err(e) => Err(e),
    };
    copied?;
    flushed.map_err(store)
}

/// The body of a small response (a manifest, a listing, a tokenizer file), refused past
/// `limit` bytes.
pub(crate) async fn read_small(response: reqwest::Response, limit: u64) -> Result<Vec<u8>, String> {
    let url = response.url().to_string();
    let too_large = || format!("Get \"{url}\": more than {limit} bytes");
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = response.bytes_stream();
    let mut out = vec![];
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| format!("Get \"{url}\": {}", chain(&e)))?;
        if (out.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Back to byte 0 (the partial file is truncated when the next body is opened).
fn restart(offset: &mut u64, hasher: &mut Sha256, tx: &watch::Sender<State>) {
    *offset = 0;
    *hasher = Sha256::new();
    tx.send_modify(|s| s.completed = 0);
}

/// `Content-Range: bytes START-END/TOTAL` → START.
fn range_start(response: &reqwest::Response) -> Option<u64> {
    let value = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    let range = value.trim().strip_prefix("bytes")?.trim();
    range.split('-').next()?.trim().parse().ok()
}

/// The sha256 the hub gives for an LFS file (`x-linked-etag: "<64 hex>"`), if any.
pub(crate) fn linked_sha256(headers: &reqwest::header::HeaderMap) -> Option<Digest> {
    let value = headers.get("x-linked-etag")?.to_str().ok()?;
    let hex = value.trim().trim_start_matches("W/").trim_matches('"');
    Digest::from_hex(hex)
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_bounded() {
        assert_eq!(backoff(1), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(40), Duration::from_millis(250 << 5));
    }

    #[test]
    fn linked_etag_is_read_only_when_it_is_a_sha256() {
        let mut headers = reqwest::header::HeaderMap::new();
        let hex = "ab".repeat(32);
        headers.insert(
            "x-linked-etag",
            format!("\"{hex}\"").parse().expect("header"),
        );
        assert_eq!(linked_sha256(&headers), Digest::from_hex(&hex));
        headers.insert("x-linked-etag", "\"0123abcd\"".parse().expect("header"));
        assert_eq!(linked_sha256(&headers), None);
    }
}
