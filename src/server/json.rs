//! Request bodies and plain JSON replies, the way Ollama frames them.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::ApiError;

/// A JSON body whatever the Content-Type says (`curl -d` works); an empty body and
/// malformed JSON become Ollama's 400 errors instead of axum's plain-text rejections.
pub struct OllamaJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OllamaJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        json_body(req, state).await.map(OllamaJson)
    }
}

/// The request body as JSON: empty and malformed bodies are 400s with serde's reason.
pub async fn json_body<S: Send + Sync, T: DeserializeOwned>(
    req: Request,
    state: &S,
) -> Result<T, ApiError> {
    let bytes = Bytes::from_request(req, state)
        .await
        .map_err(|e| match e.status() {
            // Over `ROLLAMA_MAX_BODY_BYTES` (a body without Content-Length).
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(e.body_text()),
            _ => ApiError::BadRequest(e.body_text()),
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("missing request body".into()));
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// `application/json; charset=utf-8`, one object, no trailing newline.
pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            )],
            bytes,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

pub fn ok_json<T: Serialize>(body: &T) -> Response {
    json_response(StatusCode::OK, body)
}
