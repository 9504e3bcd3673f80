//! Embedding models: like decoders, the model runs on its own thread fed by a channel.
//! Requests queued at the same time share forward passes: their inputs are sorted by
//! length and cut into batches, so one request of 64 sentences or 64 requests of one
//! each both take a few padded passes.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{compute_turn, EngineConfig, EngineError, EngineStats, StatsSnapshot};
use crate::model::bert::Embedder;
use crate::text::HfTokenizer;

/// Inputs per forward pass, and padded tokens per pass (all-MiniLM's activations for
/// 16k tokens are ~25 MB per layer).
const MAX_BATCH: usize = 64;
const MAX_BATCH_TOKENS: usize = 16 * 1024;

type Reply = oneshot::Sender<Result<Vec<Vec<f32>>, EngineError>>;

struct Job {
    inputs: Vec<Vec<u32>>,
    reply: Reply,
}

/// Cheap to clone; dropping the last clone lets the worker thread finish and exit.
#[derive(Clone)]
pub struct EmbedHandle {
    tx: mpsc::UnboundedSender<Job>,
    stats: Arc<EngineStats>,
    max_queue: usize,
    tokenizer: Arc<HfTokenizer>,
    max_tokens: usize,
    dim: usize,
}

impl EmbedHandle {
    /// Starts the worker thread that owns `model`.
    pub fn start(
        model: Embedder,
        tokenizer: HfTokenizer,
        config: &EngineConfig,
    ) -> Result<Self, EngineError> {
        let (tx, rx) = mpsc::unbounded_channel();
        // Each round takes every queued request, so as many run together as may queue.
        let stats = Arc::new(EngineStats::with_limits(config.max_queue, config.max_queue));
        let (max_tokens, dim) = (model.max_tokens(), model.dim());
        let worker_stats = Arc::clone(&stats);
        std::thread::Builder::new()
            .name("embedder".into())
            .spawn(move || run(model, rx, worker_stats))
            .map_err(|e| EngineError::Failed(format!("cannot start the embedder thread: {e}")))?;
        Ok(Self {
            tx,
            stats,
            max_queue: config.max_queue,
            tokenizer: Arc::new(tokenizer),
            max_tokens,
            dim,
        })
    }

    /// Most tokens one input may have (`[CLS]` and `[SEP]` included).
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The model's tokenizer (`/api/tokenize`).
    pub fn tokenizer(&self) -> &Arc<HfTokenizer> {
        &self.tokenizer
    }

    /// Token ids of one input, at most `limit` (capped to the model's own limit). Longer
    /// inputs are cut keeping the final special token when `truncate`, else refused with
    /// Ollama's 400.
    pub fn tokenize(
        &self,
        text: &str,
        truncate: bool,
        limit: Option<usize>,
    ) -> Result<Vec<u32>, EngineError> {
        let limit = limit.unwrap_or(self.max_tokens).clamp(2, self.max_tokens);
        let ids = self.tokenizer.encode(text)?;
        if ids.len() <= limit {
            return Ok(ids);
        }
        if !truncate {
            return Err(EngineError::BadRequest(
                "the input length exceeds the context length".into(),
            ));
        }
        Ok(self.tokenizer.encode_truncated(text, limit)?)
    }

    /// The pooled vectors of `inputs`, in order (not normalized). `Busy` when
    /// `max_queue` requests already wait.
    pub async fn embed(&self, inputs: Vec<Vec<u32>>) -> Result<Vec<Vec<f32>>, EngineError> {
        if inputs.is_empty() {
            return Ok(vec![]);
        }
        if !self.stats.try_enqueue(self.max_queue) {
            return Err(EngineError::Busy);
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { inputs, reply })
            .map_err(|_| EngineError::WorkerDied)?;
        rx.await.map_err(|_| EngineError::WorkerDied)?
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Whether the worker thread still runs (see [`super::EngineHandle::is_alive`]).
    pub fn is_alive(&self) -> bool {
        !self.tx.is_closed()
    }
}

fn run(model: Embedder, rx: mpsc::UnboundedReceiver<Job>, stats: Arc<EngineStats>) {
    serve(model, rx, stats);
    // The model is freed now: give the pages back.
    crate::memory::release_free_memory();
}

fn serve(model: Embedder, mut rx: mpsc::UnboundedReceiver<Job>, stats: Arc<EngineStats>) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while let Ok(job) = rx.try_recv() {
            jobs.push(job);
        }
        stats.waiting.fetch_sub(jobs.len(), Relaxed);
        // A request whose client went away is not computed.
        jobs.retain(|j| !j.reply.is_closed());
        stats.running.store(jobs.len(), Relaxed);
        let outcome = embed_all(&model, &jobs, &stats);
        stats.running.store(0, Relaxed);
        match outcome {
            Ok(mut vectors) => {
                for job in jobs.into_iter().rev() {
                    let mine = vectors.split_off(vectors.len() - job.inputs.len());
                    let _ = job.reply.send(Ok(mine));
                }
            }
            Err(e) => {
                for job in jobs {
                    let _ = job.reply.send(Err(EngineError::Failed(e.to_string())));
                }
            }
        }
    }
}

/// Every job's vectors, concatenated in job order.
fn embed_all(
    model: &Embedder,
    jobs: &[Job],
    stats: &EngineStats,
) -> Result<Vec<Vec<f32>>, crate::model::ModelError> {
    let inputs: Vec<&Vec<u32>> = jobs.iter().flat_map(|j| &j.inputs).collect();
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    order.sort_by_key(|&i| inputs[i].len());
    let mut out = vec![vec![]; inputs.len()];
    let mut start = 0;
    while start < order.len() {
        // Sorted: the last input of a batch is its longest, so padding is bounded.
        let mut end = start + 1;
        while end < order.len()
            && end - start < MAX_BATCH
            && (end - start + 1) * inputs[order[end]].len() <= MAX_BATCH_TOKENS
        {
            end += 1;
        }
        let batch: Vec<Vec<u32>> = order[start..end]
            .iter()
            .map(|&i| inputs[i].clone())
            .collect();
        let vectors = {
            let _turn = compute_turn();
            model.embed(&batch)?
        };
        for (&i, v) in order[start..end].iter().zip(vectors) {
            out[i] = v;
        }
        EngineStats::add(&stats.steps_total, 1);
        EngineStats::add(&stats.prompt_tokens_total, batch.iter().map(Vec::len).sum());
        start = end;
    }
    Ok(out)
}
