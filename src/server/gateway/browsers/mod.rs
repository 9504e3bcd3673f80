//! What browsers meet, exactly as in Ollama: CORS for `OLLAMA_ORIGINS` and its defaults
//! ([`cors`]), then the Host check against DNS rebinding ([`host`]). Both are on in
//! Ollama whatever its flags, so they are on here by default too; a request without an
//! `Origin` header (every non-browser client) passes CORS untouched.

pub mod cors;
pub mod host;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::header;
use axum::Router;

pub use cors::{Cors, OriginError};

use crate::server::AppState;

/// The browser-facing settings. `Default` is Ollama's: its default origins, and no Host
/// check until the bound address is known.
#[derive(Debug, Clone, Default)]
pub struct Browsers {
    pub cors: Cors,
    /// The address the server listens on: the Host check runs only when it is a loopback
    /// address (`None`: not known, no check, as Ollama's middleware without an address).
    /// Set by whoever binds the listener.
    pub bound: Option<SocketAddr>,
}

/// CORS outside the Host check, as Ollama orders them: an allowed preflight is answered
/// before the Host is looked at, and a disallowed origin is refused first.
pub fn layer(router: Router, state: &AppState) -> Router {
    let browsers = &state.gateway.browsers;
    router
        .layer(axum::middleware::from_fn_with_state(
            browsers.bound,
            host::check,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(browsers.cors.clone()),
            cors::apply,
        ))
}

/// Go's `Request.Host`, as bytes (a header need not be UTF-8, and Go compares bytes):
/// the URI's authority (HTTP/2, absolute-form requests), else the Host header; empty when
/// neither is there.
fn request_host(req: &Request) -> &[u8] {
    if let Some(authority) = req.uri().authority() {
        return authority.as_str().as_bytes();
    }
    req.headers()
        .get(header::HOST)
        .map_or(&[], |h| h.as_bytes())
}
