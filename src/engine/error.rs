use crate::model::ModelError;
use crate::store::StoreError;
use crate::text::TextError;

/// Errors of the engine layer. The server maps each to an HTTP status exactly once.
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
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("failed to load model: {0}")]
    Load(String),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Text(#[from] TextError),
    /// Too many requests are waiting for this model (503, Ollama's text).
    #[error("server busy, please try again.  maximum pending requests exceeded")]
    Busy,
    /// A forward pass failed; the model stays loaded and serves the next request.
    #[error("{0}")]
    Failed(String),
    /// The model's thread is gone (it panicked or was shut down).
    #[error("the model runner stopped unexpectedly")]
    WorkerDied,
}
