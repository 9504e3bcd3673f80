//! `GET|HEAD /health/live` and `/health/ready`: liveness (the process answers) and
//! readiness (a model can be served now), for orchestrators that must tell a server that
//! is up from one that can work. Ollama's `GET /` stays what it was. Neither needs a key.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::api::HealthResponse;
use crate::server::json::{json_response, ok_json};
use crate::server::AppState;

pub async fn live() -> Response {
    ok_json(&HealthResponse {
        status: "ok".into(),
        reason: None,
    })
}

/// 200 `ready` when a model is loaded, or the store is readable and holds one (it loads
/// on first use), and the server is not draining; else 503 `not ready` and why.
pub async fn ready(State(state): State<AppState>) -> Response {
    match readiness(&state).await {
        Ok(()) => ok_json(&HealthResponse {
            status: "ready".into(),
            reason: None,
        }),
        Err(reason) => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &HealthResponse {
                status: "not ready".into(),
                reason: Some(reason),
            },
        ),
    }
}

async fn readiness(state: &AppState) -> Result<(), String> {
    if draining(state) {
        return Err("the server is shutting down".into());
    }
    if !state.engine.counters().models.is_empty() {
        return Ok(());
    }
    match state.engine.models().await {
        Ok(models) if !models.is_empty() => Ok(()),
        Ok(_) => Err("no model in the store".into()),
        Err(e) => Err(format!(
            "the model store cannot be read: {}",
            e.public_message()
        )),
    }
}

/// Whether the server is draining (SIGTERM: it finishes what runs and takes nothing
/// new), so a load balancer stops sending work before the listener closes.
fn draining(state: &AppState) -> bool {
    state.gateway.lifecycle.drain.is_draining()
}
