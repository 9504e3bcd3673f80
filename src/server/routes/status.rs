//! `GET /api/status`: the queues of every loaded model as JSON (what `/metrics` shows as
//! gauges), for a client or router that wants to pick the least busy server without a
//! Prometheus parser. Ollama has no such route (its users asked: ollama#2004, #5253).

use axum::extract::State;
use axum::response::Response;

use crate::api::{ModelStatus, StatusResponse};
use crate::server::json::ok_json;
use crate::server::AppState;

pub async fn status(State(state): State<AppState>) -> Response {
    let models = state
        .engine
        .counters()
        .models
        .into_iter()
        .map(|(name, s)| ModelStatus {
            name,
            preparing: s.preparing as u64,
            waiting: s.waiting as u64,
            running: s.running as u64,
            max_queue: s.max_queue as u64,
            max_running: s.max_running as u64,
            kv_reserved_tokens: s.kv_reserved as u64,
            kv_budget_tokens: s.kv_budget as u64,
            kv_bytes: s.kv_bytes as u64,
        })
        .collect();
    ok_json(&StatusResponse { models })
}
