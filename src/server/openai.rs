//! What every `/v1` route shares: OpenAI's error bodies, the JSON extractor that produces
//! them, and reply ids.

use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::json::{json_body, json_response};
use crate::api::openai::{ErrorObject, ErrorResponse};

/// An [`ApiError`] with OpenAI's body: `{"error":{"message","type","param","code"}}`.
/// The status is the native one (404 unknown model, 400 bad input, 503 busy, ...).
#[derive(Debug)]
pub struct OpenAiError(pub ApiError);

impl<E: Into<ApiError>> From<E> for OpenAiError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl OpenAiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self(ApiError::BadRequest(message.into()))
    }

    /// The error object, also sent as a failed stream's last event.
    pub fn body(&self) -> ErrorResponse {
        let kind = match self.0.status() {
            StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => "invalid_request_error",
            StatusCode::NOT_FOUND => "not_found_error",
            _ => "api_error",
        };
        ErrorResponse {
            error: ErrorObject {
                message: self.0.to_string(),
                kind: kind.into(),
                param: None,
                code: None,
            },
        }
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let mut response = json_response(status, &self.body());
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // The OpenAI SDKs retry 5xx; tell them when.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// Like [`super::json::OllamaJson`], with OpenAI-shaped rejections.
pub struct OpenAiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OpenAiJson<T> {
    type Rejection = OpenAiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(OpenAiJson(json_body(req, state).await?))
    }
}

/// `chatcmpl-…` / `cmpl-…`: a prefix and 24 random alphanumerics (unique, unlike Ollama's).
pub fn reply_id(prefix: &str) -> String {
    let suffix: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    format!("{prefix}-{suffix}")
}

/// Unix seconds now: `created` of every reply and chunk.
pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}
