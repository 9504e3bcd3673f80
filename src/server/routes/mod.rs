//! One file per group of routes; [`router`] puts them together. Handlers translate the
//! wire into engine calls and back, nothing more.

mod chat;
mod embed;
mod generate;
mod health;
mod manage;
mod meta;
mod metrics;
mod models;
mod openai;
mod status;
mod tokenize;
mod unsupported;

use axum::routing::{any, delete, get, head, post};
use axum::Router;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(meta::root))
        .route("/api/version", get(meta::version))
        .route("/api/tags", get(models::tags))
        .route("/api/show", post(models::show))
        .route("/api/ps", get(models::ps))
        .route("/api/generate", post(generate::generate))
        .route("/api/chat", post(chat::chat))
        .route("/metrics", get(metrics::metrics))
        // rollama's own (the gateway's), beside Ollama's `GET /`.
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/api/status", get(status::status))
        .route("/api/tokenize", post(tokenize::tokenize))
        .route("/api/detokenize", post(tokenize::detokenize))
        .route("/api/embed", post(embed::embed))
        .route("/api/embeddings", post(embed::embeddings))
        .route("/api/pull", post(manage::pull))
        .route("/api/push", post(manage::push))
        .route("/api/create", post(manage::create))
        .route("/api/copy", post(manage::copy))
        .route("/api/delete", delete(manage::delete))
        .route(
            "/api/blobs/{digest}",
            head(manage::head_blob).post(manage::post_blob),
        )
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/completions", post(openai::completions))
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/v1/models", get(openai::models))
        .route("/v1/models/{*model}", get(openai::model))
        .route("/v1/{*rest}", any(unsupported::openai_not_implemented))
        .route("/openapi.json", get(super::openapi::serve))
        .fallback(meta::not_found)
        .method_not_allowed_fallback(meta::method_not_allowed)
}
