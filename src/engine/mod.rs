//! Scheduling and generation. Imports tokio for channels, never axum.
//!
//! Each loaded model runs on its own OS thread ([`worker`]), fed by a bounded channel of
//! [`Command`]s. A request gets an unbounded channel of [`Event`]s back; dropping its
//! receiver (the HTTP client went away) cancels the request at the next step.

mod error;
mod options;
mod prompt;
mod registry;
mod sampling;
mod sequence;
mod stop;
mod worker;

pub use error::EngineError;
pub use options::{GenerateOptions, DEFAULT_NUM_CTX};
pub use prompt::{ChatPrompt, GeneratePrompt, PromptModel};
pub use registry::{Lease, LoadedInfo, LoadedModel, Registry, RegistryConfig};
pub use sampling::{argmax, Sampler};
pub use stop::{StopMatcher, StopOutcome};

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::model::Model;
use crate::text::Tokenizer;

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// End-of-generation token or a stop string.
    Stop,
    /// `num_predict` reached, or the context window is full.
    Length,
}

impl FinishReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
        }
    }
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

/// What the worker sends back for one request.
#[derive(Debug, Clone)]
pub enum Event {
    /// New text, always whole UTF-8, never part of a stop string.
    Text(String),
    Done(Done),
    /// The generation failed midway; no `Done` follows.
    Error(String),
}

/// One generation request, already tokenized.
pub struct GenerateJob {
    pub prompt: Vec<u32>,
    pub options: GenerateOptions,
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
    tx: mpsc::Sender<Command>,
}

/// Knobs of one engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Requests waiting for the worker beyond this are refused (the server answers 503).
    pub max_queue: usize,
    /// Sequences decoded together in one step.
    pub max_running: usize,
    /// Prompt tokens processed per step (chunked prefill keeps decodes flowing).
    pub max_batch_tokens: usize,
    /// Test hook: fail every sequence once it has generated this many tokens, to exercise
    /// the mid-stream error path end to end. Always `None` in `rollama serve`.
    #[doc(hidden)]
    pub fail_after_tokens: Option<usize>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_queue: 512,
            max_running: 4,
            max_batch_tokens: 512,
            fail_after_tokens: None,
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
        let (tx, rx) = mpsc::channel(config.max_queue.max(1));
        std::thread::Builder::new()
            .name("engine".into())
            .spawn(move || worker::run(model, tokenizer, config, rx))
            .map_err(|e| EngineError::Load(format!("cannot start the engine thread: {e}")))?;
        Ok(Self { tx })
    }

    /// Queues a generation; events arrive on the returned receiver. Drop it to cancel.
    pub fn submit(&self, job: GenerateJob) -> Result<mpsc::UnboundedReceiver<Event>, EngineError> {
        let (events, rx) = mpsc::unbounded_channel();
        let cmd = Command::Generate { job, events };
        self.tx.try_send(cmd).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => EngineError::Busy,
            mpsc::error::TrySendError::Closed(_) => EngineError::WorkerDied,
        })?;
        Ok(rx)
    }
}
