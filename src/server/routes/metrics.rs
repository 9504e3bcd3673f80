//! `GET /metrics`: Prometheus text exposition (0.0.4) of the engine's counters and the
//! gateway's series ([`crate::server::gateway::observe`]). Opt-in (`--metrics` /
//! `ROLLAMA_METRICS`); otherwise the route is a 404 as in Ollama.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::meta;
use crate::server::error::ApiError;
use crate::server::gateway::observe::metrics::CONTENT_TYPE;
use crate::server::AppState;

pub async fn metrics(State(state): State<AppState>) -> Response {
    if !state.metrics {
        return meta::not_found().await;
    }
    let counters = state.engine.counters();
    match state
        .gateway
        .observe
        .metrics()
        .render(&counters, &state.gateway.rate)
    {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(e) => {
            ApiError::Internal(format!("the metrics could not be written: {e}")).into_response()
        }
    }
}
