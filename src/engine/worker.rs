//! The model's own thread: takes requests, steps every running sequence through one packed
//! forward pass, samples, streams. No async code runs here.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use candle_core::Tensor;
use tokio::sync::mpsc;

use super::sequence::Sequence;
use super::{Command, EngineConfig};
use crate::model::{Model, ModelError, SeqBatch};
use crate::text::Tokenizer;

/// candle's CPU kernels share one thread pool: two models computing at once only fight
/// over it, so forward passes of all engines take turns.
static COMPUTE: Mutex<()> = Mutex::new(());

pub(crate) fn run(
    model: Model,
    tokenizer: Arc<Tokenizer>,
    config: EngineConfig,
    rx: mpsc::Receiver<Command>,
) {
    let device = model.device().clone();
    device.with_context(move || Worker::new(model, tokenizer, config, rx).run_loop());
}

struct Worker {
    model: Model,
    tokenizer: Arc<Tokenizer>,
    config: EngineConfig,
    rx: mpsc::Receiver<Command>,
    waiting: VecDeque<Sequence>,
    running: Vec<Sequence>,
}

impl Worker {
    fn new(
        model: Model,
        tokenizer: Arc<Tokenizer>,
        config: EngineConfig,
        rx: mpsc::Receiver<Command>,
    ) -> Self {
        Self {
            model,
            tokenizer,
            config,
            rx,
            waiting: VecDeque::new(),
            running: vec![],
        }
    }

    fn run_loop(mut self) {
        loop {
            if self.running.is_empty() && self.waiting.is_empty() {
                // Idle: block until work arrives or every handle is dropped.
                match self.rx.blocking_recv() {
                    Some(cmd) => self.accept(cmd),
                    None => return,
                }
            }
            while let Ok(cmd) = self.rx.try_recv() {
                self.accept(cmd);
            }
            self.waiting.retain(|s| !s.is_cancelled());
            self.running.retain(|s| !s.is_cancelled());
            while self.running.len() < self.config.max_running {
                match self.waiting.pop_front() {
                    Some(seq) => self.running.push(seq),
                    None => break,
                }
            }
            if !self.running.is_empty() {
                self.step();
            }
        }
    }

    fn accept(&mut self, cmd: Command) {
        let Command::Generate { job, events } = cmd;
        if job.prompt.is_empty() {
            let _ = events.send(super::Event::Error("the prompt produced no tokens".into()));
            return;
        }
        let cache = self.model.new_cache();
        self.waiting
            .push_back(Sequence::new(job.prompt, job.options, cache, events));
    }

    /// One forward pass over every running sequence: one token each for those decoding,
    /// and the step's remaining token budget for prompts still being read.
    fn step(&mut self) {
        let mut budget = self.config.max_batch_tokens;
        let mut chunks = Vec::with_capacity(self.running.len());
        for seq in &self.running {
            let take = if seq.pending() <= 1 {
                seq.pending()
            } else {
                seq.pending().min(budget.max(1))
            };
            budget = budget.saturating_sub(take);
            chunks.push(take);
        }
        let result = {
            let _turn = COMPUTE.lock().unwrap_or_else(|e| e.into_inner());
            let mut batch: Vec<SeqBatch<'_>> = self
                .running
                .iter_mut()
                .zip(&chunks)
                .filter(|(_, &n)| n > 0)
                .map(|(seq, &n)| {
                    let start = seq.cache.len();
                    SeqBatch {
                        tokens: &seq.tokens[start..start + n],
                        cache: &mut seq.cache,
                    }
                })
                .collect();
            self.model.forward(&mut batch).and_then(to_rows)
        };
        let mut rows = match result {
            Ok(rows) => rows.into_iter(),
            Err(e) => {
                tracing::error!(error = %e, "forward pass failed");
                for seq in self.running.drain(..) {
                    seq.fail(e.to_string());
                }
                return;
            }
        };
        let tokenizer = Arc::clone(&self.tokenizer);
        let mut keep = Vec::with_capacity(self.running.len());
        for (mut seq, n) in self.running.drain(..).zip(chunks) {
            if n == 0 {
                keep.push(seq);
                continue;
            }
            let Some(mut logits) = rows.next() else {
                seq.fail("internal error: missing logits row".into());
                continue;
            };
            if self.config.fail_after_tokens.is_some_and(|n| seq.generated() >= n) {
                seq.fail("injected failure (test hook)".into());
                continue;
            }
            // Still reading its prompt: the logits of a partial prompt are not used.
            if seq.pending() > 0 || seq.advance(&mut logits, &tokenizer) {
                keep.push(seq);
            }
        }
        self.running = keep;
    }
}

fn to_rows(logits: Tensor) -> Result<Vec<Vec<f32>>, ModelError> {
    Ok(logits
        .to_dtype(candle_core::DType::F32)?
        .to_vec2::<f32>()?)
}
