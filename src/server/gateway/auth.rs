//! Bearer keys (`ROLLAMA_API_KEYS`, a keys file): off by default, as in Ollama.

use axum::Router;

use crate::server::AppState;

/// The name of the key a request came with (logs, metrics and rate limits use it; the
/// key itself is never stored outside [`Auth`]). Set in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyName(pub std::sync::Arc<str>);

#[derive(Clone, Default)]
pub struct Auth {}

pub fn layer(router: Router, state: &AppState) -> Router {
    let _ = state;
    router
}
