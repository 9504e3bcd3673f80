//! Scheduling and generation. Imports tokio for channels, never axum or HTTP.
//!
//! A server sees the engine through [`Engine`] ([`service`]): typed calls to generate,
//! embed, load and describe models, answered with typed [`request`] values. Behind it, the
//! [`Registry`] loads models from the store on demand; each loaded model runs on its own OS
//! thread ([`worker`]), fed by an unbounded channel of [`Command`]s (what bounds the queue
//! is the `waiting` count, checked in [`EngineHandle::submit`]). A request gets an
//! unbounded channel of [`Event`]s back; dropping its receiver (the HTTP client went away)
//! cancels the request at the next step.

mod caps;
mod closing;
mod constraint;
mod describe;
mod embed;
mod embedding;
mod error;
mod footprint;
mod generate;
mod grammar;
mod json_tail;
mod loads;
mod manage;
mod options;
mod output;
mod prefix_cache;
mod prompt;
mod quantize;
mod registry;
mod renderer;
pub mod request;
pub mod residency;
mod sampling;
mod sequence;
mod service;
mod stats;
mod stop;
mod think_first;
mod tokens;
pub mod trace;
mod worker;

pub use caps::{Caps, DEFAULT_LOAD_TIMEOUT};
pub use constraint::{Constraint, Step};
pub use describe::{Counters, ModelDescription, ModelEntry, ModelInfo, RunningModel, TensorInfo};
pub use embedding::EmbedHandle;
pub use error::{EngineError, ErrorKind};
pub use footprint::Footprint;
pub use grammar::{close_objects, grammar_counters, Grammar, Grammars};
pub use loads::{LoadTimes, ModelLoads, UnloadReason, LOAD_SECONDS_BUCKETS};
pub use manage::{ByteStream, CreateRequest, Progress, ProgressStream};
pub use options::{GenerateOptions, DEFAULT_NUM_CTX};
pub use prompt::{template_capabilities, ChatPrompt, GeneratePrompt, Prompt, PromptModel};
pub use registry::{
    is_embedder, Decoder, Lease, LoadedInfo, LoadedModel, Registry, RegistryConfig, Runner,
};
pub use request::{
    EmbedRequest, Embeddings, Finished, GenerateRequest, GenerationMetrics, Input, Piece, Pieces,
    PromptInput, Think, ToolCall, ToolChoice,
};
pub use sampling::{argmax, log_probs, Sampler};
pub use service::{Engine, Service};
pub use stats::{EngineStats, Preparing, StatsSnapshot};
pub use stop::{StopMatcher, StopOutcome};
pub use tokens::{DetokenizeRequest, Detokenized, TokenizeRequest, Tokenized};
pub use trace::{Observer, Trace};

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::model::Model;
use crate::text::Tokenizer;

/// candle's CPU kernels share one thread pool: two models computing at once only fight
/// over it, so the forward passes of all engines (decoders and embedders) take turns.
static COMPUTE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Holds the compute turn until dropped.
pub(crate) fn compute_turn() -> std::sync::MutexGuard<'static, ()> {
    COMPUTE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// End-of-generation token or a stop string.
    Stop,
    /// `num_predict` reached, or the context window is full.
    Length,
}

/// Counters of a finished generation.
#[derive(Debug, Clone)]
pub struct Done {
    pub reason: FinishReason,
    pub prompt_eval_count: usize,
    pub prompt_eval_duration: Duration,
    pub eval_count: usize,
    pub eval_duration: Duration,
    /// Prompt and generated token ids (Ollama's `context`).
    pub tokens: Vec<u32>,
}

/// One token as `logprobs` report it.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenProb {
    /// The token's text (lossy where it is part of a multi-byte character).
    pub text: String,
    pub bytes: Vec<u8>,
    /// Natural log of its probability under the model (softmax of the raw logits).
    pub logprob: f32,
}

/// A generated token's log-probability and the most likely tokens at its step.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    pub token: TokenProb,
    /// The `top_logprobs` most likely tokens, most likely first.
    pub top: Vec<TokenProb>,
}

/// What the worker sends back for one request.
#[derive(Debug, Clone)]
pub enum Event {
    /// A token was sampled (only when the job asked for logprobs); its text follows in
    /// the next `Text` events (text may be held back, e.g. a partial stop string).
    Logprob(TokenLogprob),
    /// New text, always whole UTF-8, never part of a stop string.
    Text(String),
    Done(Done),
    /// The generation failed midway; no `Done` follows.
    Error(Failure),
}

/// Why a generation failed midway. The text is safe to show.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub message: String,
    /// The request's own doing (its format could not be enforced, its prompt cannot fit
    /// the model): a client error, had nothing been sent yet.
    pub by_request: bool,
    /// It ran past the server's deadline (`ROLLAMA_REQUEST_TIMEOUT`): a timeout, had
    /// nothing been sent yet.
    pub timed_out: bool,
}

impl Failure {
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            by_request: false,
            timed_out: false,
        }
    }

    pub fn by_request(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            by_request: true,
            timed_out: false,
        }
    }

    pub fn timed_out(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            by_request: false,
            timed_out: true,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// One generation request, already tokenized.
pub struct GenerateJob {
    pub prompt: Vec<u32>,
    pub options: GenerateOptions,
    /// Shift the context when the generation fills `num_ctx` (Ollama's `shift`, default
    /// on); off, the generation ends there with `done_reason: "length"`.
    pub shift: bool,
    /// Report each generated token's log-probability with this many alternatives.
    pub logprobs: Option<usize>,
    /// Only what this grammar allows may be generated (structured outputs, forced calls).
    pub constraint: Option<Constraint>,
    /// Control tokens to print as their text (they print nothing otherwise): tool-call and
    /// reasoning markers the server must see to parse the output.
    pub visible: Vec<u32>,
    /// The HTTP request this job serves (queue wait is measured on the model's thread).
    pub trace: Option<Arc<Trace>>,
}

pub(crate) enum Command {
    Generate {
        job: GenerateJob,
        events: mpsc::UnboundedSender<Event>,
    },
}

/// Cheap to clone; dropping the last clone lets the worker thread finish and exit.
#[derive(Clone)]
pub struct EngineHandle {
    tx: mpsc::UnboundedSender<Command>,
    stats: Arc<EngineStats>,
    max_queue: usize,
}

/// Stack of a model's thread.
const WORKER_STACK: usize = 32 << 20;

/// Sequences running at once per model unless `OLLAMA_NUM_PARALLEL` says otherwise.
/// Ollama's default is 1; batching makes more nearly free per step, so ours is 8.
pub const DEFAULT_NUM_PARALLEL: usize = 8;

/// Knobs of one engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Requests waiting to start beyond this are refused (the server answers 503).
    pub max_queue: usize,
    /// Sequences decoded together in one step.
    pub max_running: usize,
    /// Prompt tokens processed per step (chunked prefill keeps decodes flowing).
    pub max_batch_tokens: usize,
    /// KV cache positions all running sequences may hold together. Each reserves its
    /// `num_ctx` (or prompt + `num_predict` when smaller) before it starts.
    pub kv_tokens: usize,
    /// Positions of finished sequences' KV kept for prefix reuse; 0 turns it off.
    pub prefix_cache_tokens: usize,
    /// Test hook: fail every sequence once it has generated this many tokens, to exercise
    /// the mid-stream error path end to end. Always `None` in `rollama serve`.
    #[doc(hidden)]
    pub fail_after_tokens: Option<usize>,
    /// Test hook: the model's thread panics once a sequence has generated this many
    /// tokens, to exercise a worker that dies. Always `None` in `rollama serve`.
    #[doc(hidden)]
    pub panic_after_tokens: Option<usize>,
    /// Test hook: a sequence whose request set `options.seed` to this value panics in its
    /// own step (sampling), to exercise the isolation of one request's panic: it fails,
    /// the others and the model's thread go on. Always `None` in `rollama serve`.
    #[doc(hidden)]
    pub panic_on_seed: Option<u64>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_queue: 512,
            max_running: DEFAULT_NUM_PARALLEL,
            max_batch_tokens: 512,
            kv_tokens: DEFAULT_NUM_PARALLEL * DEFAULT_NUM_CTX,
            prefix_cache_tokens: 2 * DEFAULT_NUM_CTX,
            fail_after_tokens: None,
            panic_after_tokens: None,
            panic_on_seed: None,
        }
    }
}

impl EngineHandle {
    /// Starts the worker thread that owns `model`.
    pub fn start(
        model: Model,
        tokenizer: Arc<Tokenizer>,
        config: EngineConfig,
    ) -> Result<Self, EngineError> {
        // The queue bound is the `waiting` counter, not the channel: the worker moves
        // commands off the channel at once but counts them until they start running.
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(EngineStats::with_limits(
            config.max_queue,
            config.max_running,
        ));
        let max_queue = config.max_queue;
        let worker_stats = Arc::clone(&stats);
        std::thread::Builder::new()
            .name("engine".into())
            // Grammar masks are computed here, and llguidance recurses over a schema's
            // structure: room beyond the default 2 MiB (only what is touched is committed).
            .stack_size(WORKER_STACK)
            .spawn(move || worker::run(model, tokenizer, config, worker_stats, rx))
            .map_err(|e| EngineError::Failed(format!("cannot start the engine thread: {e}")))?;
        Ok(Self {
            tx,
            stats,
            max_queue,
        })
    }

    /// Queues a generation; events arrive on the returned receiver. Drop it to cancel.
    /// `Busy` when `max_queue` requests are already waiting to start.
    pub fn submit(&self, job: GenerateJob) -> Result<mpsc::UnboundedReceiver<Event>, EngineError> {
        if !self.stats.try_enqueue(self.max_queue) {
            return Err(EngineError::Busy);
        }
        let (events, rx) = mpsc::unbounded_channel();
        if let Some(t) = &job.trace {
            t.submitted();
        }
        let cmd = Command::Generate { job, events };
        self.tx.send(cmd).map_err(|_| EngineError::WorkerDied)?;
        Ok(rx)
    }

    /// The engine's live counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Counts a request as `preparing` (its prompt being rendered and tokenized) until the
    /// guard drops.
    pub fn preparing(&self) -> Preparing {
        Preparing::new(Arc::clone(&self.stats))
    }

    /// Whether the worker thread still runs: it drops its receiver only when it ends, and
    /// while a handle exists it ends only by panicking.
    pub fn is_alive(&self) -> bool {
        !self.tx.is_closed()
    }
}
