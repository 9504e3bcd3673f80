//! What the gateway learns of one request from inside the engine: its id (for log lines
//! on the model's thread), when it started running, its first and later tokens, and the
//! tokens it read and wrote (rate limits charge them, metrics count them).
//!
//! The server opens a [`Trace`] per HTTP request and runs the handler inside [`scope`];
//! the engine picks it up with [`current`] when a generation or embedding starts, so no
//! wire translation has to carry it.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Told of a request's timings as they happen (the server's histograms).
pub trait Observer: Send + Sync {
    /// The request waited `wait` in `model`'s queue before it started running.
    fn queue_wait(&self, model: &str, wait: Duration) {
        let _ = (model, wait);
    }
    /// Its first token came `ttft` after the request arrived.
    fn first_token(&self, model: &str, ttft: Duration) {
        let _ = (model, ttft);
    }
    /// A later token came `gap` after the one before.
    fn inter_token(&self, model: &str, gap: Duration) {
        let _ = (model, gap);
    }
    /// It ended, having read `prompt` tokens and written `generated`.
    fn tokens(&self, model: &str, prompt: u64, generated: u64) {
        let _ = (model, prompt, generated);
    }
}

/// One request as the engine sees it. Cheap to share; every method takes `&self`.
pub struct Trace {
    /// The request id (`X-Request-Id`): log lines of the engine quote it.
    pub id: String,
    started: Instant,
    model: OnceLock<String>,
    submitted: Mutex<Option<Instant>>,
    last_token: Mutex<Option<Instant>>,
    prompt_tokens: AtomicU64,
    generated_tokens: AtomicU64,
    /// Pieces out so far: what a stream cut before its end has cost (rate limits charge
    /// it), as the final counts never come.
    pieces: AtomicU64,
    observer: Option<Arc<dyn Observer>>,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trace").field("id", &self.id).finish()
    }
}

tokio::task_local! {
    static CURRENT: Arc<Trace>;
}

/// The trace of the request being handled, if the server opened one.
pub fn current() -> Option<Arc<Trace>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// Runs `f` with `trace` as the [`current`] one.
pub async fn scope<F: std::future::Future>(trace: Arc<Trace>, f: F) -> F::Output {
    CURRENT.scope(trace, f).await
}

impl Trace {
    pub fn new(id: impl Into<String>, observer: Option<Arc<dyn Observer>>) -> Self {
        Self {
            id: id.into(),
            started: Instant::now(),
            model: OnceLock::new(),
            submitted: Mutex::new(None),
            last_token: Mutex::new(None),
            prompt_tokens: AtomicU64::new(0),
            generated_tokens: AtomicU64::new(0),
            pieces: AtomicU64::new(0),
            observer,
        }
    }

    /// The model the request runs on (first one named wins).
    pub fn model(&self) -> Option<&str> {
        self.model.get().map(String::as_str)
    }

    /// Tokens read and written so far: `(prompt, generated)`; for a request cut short,
    /// the prompt as admitted and one token per piece sent.
    pub fn tokens(&self) -> (u64, u64) {
        (
            self.prompt_tokens.load(Relaxed),
            self.generated_tokens
                .load(Relaxed)
                .max(self.pieces.load(Relaxed)),
        )
    }

    /// When the request arrived.
    pub fn started(&self) -> Instant {
        self.started
    }

    pub(crate) fn set_model(&self, model: &str) {
        let _ = self.model.set(model.to_string());
    }

    /// Queued on the model's thread.
    pub(crate) fn submitted(&self) {
        *lock(&self.submitted) = Some(Instant::now());
    }

    /// The model's thread started running it, with a prompt of `prompt` tokens.
    pub(crate) fn admitted(&self, prompt: usize) {
        self.prompt_tokens.store(prompt as u64, Relaxed);
        let Some(at) = *lock(&self.submitted) else {
            return;
        };
        if let Some(o) = &self.observer {
            o.queue_wait(self.model_name(), at.elapsed());
        }
    }

    /// A piece of text came out (one sampled token, or a few held back together).
    pub(crate) fn token(&self) {
        self.pieces.fetch_add(1, Relaxed);
        let now = Instant::now();
        let before = lock(&self.last_token).replace(now);
        if let Some(o) = &self.observer {
            match before {
                None => o.first_token(self.model_name(), now - self.started),
                Some(t) => o.inter_token(self.model_name(), now - t),
            }
        }
    }

    /// It ended, having read `prompt` tokens and written `generated`.
    pub(crate) fn finished(&self, prompt: usize, generated: usize) {
        self.prompt_tokens.store(prompt as u64, Relaxed);
        self.generated_tokens.store(generated as u64, Relaxed);
        if let Some(o) = &self.observer {
            o.tokens(self.model_name(), prompt as u64, generated as u64);
        }
    }

    fn model_name(&self) -> &str {
        self.model().unwrap_or("")
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
