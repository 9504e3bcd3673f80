use crate::model::ModelError;
use crate::store::StoreError;
use crate::text::TextError;

/// Errors of the engine layer. The server maps each [`ErrorKind`] to an HTTP status
/// exactly once; the engine itself knows nothing of statuses.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A known option with the wrong JSON type (Ollama answers 500 with this text).
    #[error("{0}")]
    InvalidOption(String),
    /// Something the request asks for that this model or server cannot do (400).
    #[error("{0}")]
    BadRequest(String),
    #[error("the prompt is longer than the context length currently available to the model; shorten the prompt or raise num_ctx")]
    PromptTooLong,
    #[error("invalid model name")]
    InvalidName,
    /// The model is not in the store; the whole message, which quotes the name as sent.
    #[error("{0}")]
    NotFound(String),
    /// A feature of the API rollama does not implement (never a fake success).
    #[error("{0}")]
    Unsupported(String),
    /// Too many requests are waiting for this model (503, Ollama's text).
    #[error("server busy, please try again.  maximum pending requests exceeded")]
    Busy,
    /// A generation failed; the text is ours and safe to show.
    #[error("{0}")]
    Failed(String),
    /// The model's thread is gone (it panicked or was shut down).
    #[error("the model runner stopped unexpectedly")]
    WorkerDied,
    /// The model alone needs more than the whole memory budget: no unloading can make it
    /// fit. Ollama's text (sizes as it prints them); 500 like Ollama's.
    #[error("model requires more {memory} ({need}) than is available ({available})")]
    TooLarge {
        /// `system memory` or `GPU memory`.
        memory: &'static str,
        need: String,
        available: String,
    },
    /// No room to load `model` in time: the models in use hold it (memory or the
    /// `OLLAMA_MAX_LOADED_MODELS` count) and none went idle within `ROLLAMA_LOAD_WAIT`.
    /// A 503: it may well succeed later, unlike [`EngineError::TooLarge`].
    #[error("server busy, please try again.  cannot load {model}: {reason}")]
    NoRoom { model: String, reason: String },
    /// A model load ran past `OLLAMA_LOAD_TIMEOUT`: Ollama's words (a 500, as Ollama's),
    /// with the limit where Ollama gives its runner's load progress.
    #[error("timed out waiting for llama runner to start - not ready within OLLAMA_LOAD_TIMEOUT ({})", crate::api::go_duration(*.after))]
    LoadTimeout { after: std::time::Duration },
    /// Loading `model` failed.
    #[error("failed to load model {model}: {cause}")]
    Load {
        model: String,
        cause: Box<EngineError>,
    },
    #[error("model store: {0}")]
    Store(StoreError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Text(#[from] TextError),
}

/// What kind of failure an [`EngineError`] is, for whoever answers the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    NotFound,
    NotImplemented,
    Busy,
    /// Bad input that Ollama answers as a server error (an option of the wrong type, a
    /// model too large for the memory): the message is the client's to read, nothing
    /// failed inside.
    Invalid,
    /// Something failed inside the server; [`EngineError::public_message`] says what
    /// without internal detail (paths, parser state), which only the log gets.
    Internal,
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidName => Self::InvalidName,
            StoreError::NotFound(name) => Self::NotFound(format!("model '{name}' not found")),
            StoreError::DigestMismatch { expected, actual } => Self::BadRequest(format!(
                "digest mismatch, expected \"{expected}\", got \"{actual}\""
            )),
            e @ (StoreError::Io(..) | StoreError::MissingBlob(_) | StoreError::Corrupt(_)) => {
                Self::Store(e)
            }
        }
    }
}

impl EngineError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::BadRequest(_) | Self::PromptTooLong | Self::InvalidName => ErrorKind::BadRequest,
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::Unsupported(_) => ErrorKind::NotImplemented,
            Self::Busy | Self::NoRoom { .. } => ErrorKind::Busy,
            // Nothing failed inside: the message is for the client as is.
            Self::InvalidOption(_) | Self::TooLarge { .. } => ErrorKind::Invalid,
            Self::Failed(_)
            | Self::WorkerDied
            | Self::Load { .. }
            | Self::LoadTimeout { .. }
            | Self::Store(_)
            | Self::Model(_)
            | Self::Text(_) => ErrorKind::Internal,
        }
    }

    /// The message a client may see: for internal failures, what failed without file
    /// paths or parser dumps (the full error goes to the log).
    pub fn public_message(&self) -> String {
        match self {
            Self::Load { model, cause } => {
                format!("failed to load model {model}: {}", cause.public_message())
            }
            Self::Store(_) => "cannot read the model store".into(),
            Self::Model(e) => match e {
                ModelError::Io(..) => "cannot read the model file".into(),
                ModelError::Format(_) => "invalid model file".into(),
                // Built from the model's own metadata (architecture names), never paths.
                ModelError::Unsupported(what) => format!("unsupported model: {what}"),
                ModelError::Candle(_) => "a tensor operation failed".into(),
            },
            Self::Text(e) => match e {
                TextError::Unsupported(what) => format!("unsupported tokenizer: {what}"),
                TextError::Metadata(_) => "invalid tokenizer metadata".into(),
                TextError::Tokenizer(_) => "the tokenizer failed".into(),
                // The template's own words (`raise_exception`) and its line: no paths.
                TextError::Template(what) => format!("template error: {what}"),
            },
            e => e.to_string(),
        }
    }
}
