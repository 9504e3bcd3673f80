//! rollama's own routes beside Ollama's (Ollama has none of them): probes, queue status,
//! the tokenizer, metrics and this document. Declared as in [`super::native`].

#![allow(dead_code)]

use super::responses::{NativeErrors, NativeGateway};
use crate::api::{
    DetokenizeRequest, DetokenizeResponse, ErrorBody, HealthResponse, StatusResponse,
    TokenizeRequest, TokenizeResponse,
};

#[utoipa::path(
    get, path = "/health/live", tag = "rollama", operation_id = "health_live",
    summary = "Liveness probe: the process answers",
    security(()),
    responses(
        (status = 200, description = "`{\"status\": \"ok\"}`.", body = HealthResponse),
    )
)]
fn live() {}

#[utoipa::path(
    get, path = "/health/ready", tag = "rollama", operation_id = "health_ready",
    summary = "Readiness probe: a model can be served",
    security(()),
    responses(
        (status = 200, description = "`ready`.", body = HealthResponse),
        (status = 503, description = "`not ready`, with the reason.", body = HealthResponse),
    )
)]
fn ready() {}

#[utoipa::path(
    get, path = "/api/status", tag = "rollama", operation_id = "status",
    summary = "The queues of every loaded model",
    responses(
        (status = 200, description = "One entry per loaded model.", body = StatusResponse),
        NativeGateway,
    )
)]
fn status() {}

#[utoipa::path(
    post, path = "/api/tokenize", tag = "rollama", operation_id = "tokenize",
    summary = "The model's token ids for a text (no template applied)",
    request_body = TokenizeRequest,
    responses(
        (status = 200, description = "The token ids.", body = TokenizeResponse),
        NativeErrors,
        NativeGateway,
    )
)]
fn tokenize() {}

#[utoipa::path(
    post, path = "/api/detokenize", tag = "rollama", operation_id = "detokenize",
    summary = "The text of token ids",
    request_body = DetokenizeRequest,
    responses(
        (status = 200, description = "The text.", body = DetokenizeResponse),
        NativeErrors,
        NativeGateway,
    )
)]
fn detokenize() {}

#[utoipa::path(
    get, path = "/metrics", tag = "rollama", operation_id = "metrics",
    summary = "Prometheus metrics (opt-in: `ROLLAMA_METRICS`)",
    responses(
        (status = 200, description = "Prometheus text exposition format.", body = String,
            content_type = "text/plain; version=0.0.4; charset=utf-8"),
        (status = 404, description = "Metrics are off (Ollama has no such route).",
            body = String, content_type = "text/plain"),
        NativeGateway,
    )
)]
fn metrics() {}

#[utoipa::path(
    get, path = "/openapi.json", tag = "rollama", operation_id = "openapi",
    summary = "This document (OpenAPI 3.1)",
    responses(
        (status = 200, description = "The OpenAPI document of every route.",
            content_type = "application/json", body = Object),
        (status = 500, description = "The document could not be written.", body = ErrorBody),
        NativeGateway,
    )
)]
fn openapi() {}
