//! Ollama endpoints rollama does not implement yet: a clear 501, never a fake success.

use axum::http::Uri;

use crate::server::error::ApiError;

pub async fn not_implemented(uri: Uri) -> ApiError {
    ApiError::NotImplemented(format!("{} is not implemented by rollama yet", uri.path()))
}
