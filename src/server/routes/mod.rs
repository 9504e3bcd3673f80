//! One file per group of routes; [`router`] puts them together. Handlers translate the
//! wire into engine calls and back, nothing more.

mod chat;
mod embed;
mod generate;
mod meta;
mod metrics;
mod models;
mod openai;
mod unsupported;

use axum::routing::{any, get, post};
use axum::Router;

use super::AppState;

pub fn router() -> Router<AppState> {
    let later = any(unsupported::not_implemented);
    Router::new()
        .route("/", get(meta::root))
        .route("/api/version", get(meta::version))
        .route("/api/tags", get(models::tags))
        .route("/api/show", post(models::show))
        .route("/api/ps", get(models::ps))
        .route("/api/generate", post(generate::generate))
        .route("/api/chat", post(chat::chat))
        .route("/metrics", get(metrics::metrics))
        .route("/api/embed", post(embed::embed))
        .route("/api/embeddings", post(embed::embeddings))
        .route("/api/pull", later.clone())
        .route("/api/push", later.clone())
        .route("/api/create", later.clone())
        .route("/api/copy", later.clone())
        .route("/api/delete", later.clone())
        .route("/api/blobs/{digest}", later.clone())
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/completions", post(openai::completions))
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/v1/models", get(openai::models))
        .route("/v1/models/{*model}", get(openai::model))
        .route("/v1/{*rest}", any(unsupported::openai_not_implemented))
        .fallback(meta::not_found)
        .method_not_allowed_fallback(meta::method_not_allowed)
}
