//! `GET|HEAD /`, `GET|HEAD /api/version`, and the answers for unknown routes and methods.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::api::VersionResponse;
use crate::server::json::ok_json;
use crate::server::AppState;

pub async fn root() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "Ollama is running",
    )
        .into_response()
}

pub async fn version(State(state): State<AppState>) -> Response {
    ok_json(&VersionResponse {
        version: state.version.clone(),
    })
}

pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain")],
        "404 page not found",
    )
        .into_response()
}

pub async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::CONTENT_TYPE, "text/plain")],
        "405 method not allowed",
    )
        .into_response()
}
