//! A handler that panics answers 500 instead of dropping its connection: the panic is a
//! bug, logged with the request's id, and the body names the request so the operator can
//! find the log line. Everyone else is served on as before.

use std::any::Any;

use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;

use super::error::ApiError;
use super::request_id;

/// Inside the request-id layer, so the id is known when a panic is caught.
pub fn layer() -> CatchPanicLayer<fn(Box<dyn Any + Send + 'static>) -> Response> {
    CatchPanicLayer::custom(answer as fn(Box<dyn Any + Send + 'static>) -> Response)
}

fn answer(panic: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!(panic = %message(panic.as_ref()), "handler panicked");
    internal_error().into_response()
}

/// `internal error (request <id>)`: what a request that hit a bug is told.
fn internal_error() -> ApiError {
    ApiError::Internal(match request_id::current() {
        Some(id) => format!("internal error (request {id})"),
        None => "internal error".into(),
    })
}

/// A panic's text, when it has one.
fn message(panic: &(dyn Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "a panic without a message"
    }
}
