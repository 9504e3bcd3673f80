use std::path::PathBuf;

/// Errors of the model layer: reading GGUF files and running the network.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("invalid model file: {0}")]
    Format(String),
    #[error("unsupported model: {0}")]
    Unsupported(String),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}
