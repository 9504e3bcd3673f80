//! The one place where errors become HTTP statuses and Ollama's `{"error": "..."}` bodies.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::json::json_response;
use super::request_id;
use crate::api::ErrorBody;
use crate::engine::{EngineError, ErrorKind};

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
    /// A request body over `ROLLAMA_MAX_BODY_BYTES` (413).
    #[error("{0}")]
    TooLarge(String),
    /// A generation past `ROLLAMA_REQUEST_TIMEOUT` before its reply was sent (504, what
    /// a gateway in front answers when the model behind it takes too long).
    #[error("{0}")]
    Timeout(String),
    /// A 500 whose text is safe to show as is.
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
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e.kind() {
            ErrorKind::BadRequest => Self::BadRequest(e.public_message()),
            ErrorKind::NotFound => Self::NotFound(e.public_message()),
            ErrorKind::NotImplemented => Self::NotImplemented(e.public_message()),
            ErrorKind::Busy => Self::Busy(e.public_message()),
            // Ollama answers these client mistakes with 500.
            ErrorKind::Invalid => Self::Internal(e.public_message()),
            ErrorKind::Internal => {
                // The whole error (paths, causes) goes to the log; the body says what
                // failed and which request to look for.
                tracing::error!(error = %e, "request failed");
                let message = e.public_message();
                Self::Internal(match request_id::current() {
                    Some(id) => format!("{message} (request {id})"),
                    None => message,
                })
            }
        }
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
