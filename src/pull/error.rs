//! Why a pull failed, worded as Ollama words it (the server sends `{"error": "<Display>"}`).

use crate::store::{Digest, StoreError};

/// Cloneable (payloads are text) because one failed shared download is the answer of every
/// pull that waited on it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PullError {
    /// The registry or the hub has no such model, tag or quantization.
    #[error("pull model manifest: file does not exist")]
    NotFound,
    /// The manifest (or the hub's file listing) could not be fetched or is not valid.
    #[error("pull model manifest: {0}")]
    Manifest(String),
    /// A blob's bytes do not hash to the digest that names it; its partial file is deleted.
    #[error("digest mismatch, file must be downloaded again: want {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    /// A blob download failed after the retries.
    #[error("{0}")]
    Network(String),
    /// A model shape we cannot pull yet (multi-part GGUF, a repo without weights).
    #[error("{0}")]
    Unsupported(String),
    /// Reading or writing the model store failed.
    #[error("{0}")]
    Store(String),
}

impl PullError {
    /// Unknown model, tag or repo (the server answers 404 where it does not stream).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound)
    }

    pub fn is_digest_mismatch(&self) -> bool {
        matches!(self, Self::DigestMismatch { .. })
    }
}

impl From<StoreError> for PullError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::DigestMismatch { expected, actual } => {
                Self::DigestMismatch { expected, actual }
            }
            other => Self::Store(other.to_string()),
        }
    }
}

/// An error with its sources (reqwest's own message is only "error sending request").
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
