//! HTTP: the only module that knows axum. Routes translate the wire (Ollama's API and
//! OpenAI's `/v1`) into [`Engine`] calls and the answers back; they hold no engine logic.

mod activity;
mod catch_panic;
mod drain;
mod error;
pub mod gateway;
mod json;
mod modelfile;
mod ndjson;
mod openai;
pub mod openapi;
mod reply;
mod request_id;
mod routes;
mod serve;
mod sse;
pub(crate) mod tls;
mod wire;

pub use error::ApiError;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::engine::Engine;

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// What answers every request: the real [`crate::engine::Service`], or a test's fake.
    pub engine: Arc<dyn Engine>,
    /// What `/api/version` reports (clients gate features on it).
    pub version: String,
    /// Serve `GET /metrics` (opt-in: Ollama has no such route).
    pub metrics: bool,
    /// Silence after which an SSE stream gets a `: keep-alive` comment.
    pub sse_keep_alive: std::time::Duration,
    /// Keys, CORS, limits, metrics, timeouts: all off by default (plain Ollama).
    pub gateway: gateway::Gateway,
}

/// Default [`AppState::sse_keep_alive`]: well under common proxy idle timeouts (60 s).
pub const SSE_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);

/// The whole HTTP surface. Tests call this directly.
pub fn app(state: AppState) -> Router {
    // The body limit (none, as Ollama, unless `ROLLAMA_MAX_BODY_BYTES`) is the
    // gateway's: `gateway::limits`.
    // A handler's panic is answered right here, inside the gateway, so its 500 is counted,
    // logged and given CORS headers like any reply; the outer catch is for the layers'.
    let router = routes::router()
        .with_state(state.clone())
        .layer(catch_panic::layer());
    // The drain's cut ends what the routes still run; the layers outside see those
    // replies end like any other.
    let router = drain::layer(router, &state).layer(TraceLayer::new_for_http());
    gateway::layer(router, &state)
        .layer(catch_panic::layer())
        .layer(axum::middleware::from_fn_with_state(
            state,
            request_id::layer,
        ))
}

/// Serves until `shutdown` completes, then drains: no new connections or requests,
/// running responses get `ROLLAMA_SHUTDOWN_GRACE`, streams still open then end with an
/// error line, and it returns `Ok` (see [`serve`]).
pub async fn run(
    listener: TcpListener,
    mut state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Ollama's Host check runs only on a loopback listener; only the bound socket knows.
    state.gateway.browsers.bound = Some(listener.local_addr()?);
    serve::serve(listener, state, shutdown).await
}
