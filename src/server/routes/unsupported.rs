//! Endpoints rollama does not implement: a clear 501, never a fake success.

use axum::http::Uri;

use crate::server::error::ApiError;
use crate::server::openai::OpenAiError;

/// Other `/v1` endpoints (responses, images, audio, ...), with OpenAI's error body.
pub async fn openai_not_implemented(uri: Uri) -> OpenAiError {
    OpenAiError(ApiError::NotImplemented(format!(
        "{} is not supported by rollama",
        uri.path()
    )))
}
