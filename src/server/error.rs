//! The one place where errors become HTTP statuses and Ollama's `{"error": "..."}` bodies.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::json::json_response;
use crate::api::ErrorBody;
use crate::engine::EngineError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    NotImplemented(String),
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Self::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let msg = e.to_string();
        match e {
            EngineError::BadRequest(_) | EngineError::PromptTooLong => Self::BadRequest(msg),
            EngineError::Store(StoreError::InvalidName) => Self::BadRequest(msg),
            EngineError::Store(StoreError::NotFound(_)) => Self::NotFound(msg),
            EngineError::Busy => Self::Busy(msg),
            // Ollama answers a known option of the wrong type with 500.
            EngineError::InvalidOption(_)
            | EngineError::Store(StoreError::Io(..))
            | EngineError::Load(_)
            | EngineError::Model(_)
            | EngineError::Text(_)
            | EngineError::Failed(_)
            | EngineError::WorkerDied => {
                tracing::error!(error = %msg, "request failed");
                Self::Internal(msg)
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        EngineError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        json_response(
            status,
            &ErrorBody {
                error: self.to_string(),
            },
        )
    }
}
