//! What a gateway in front of the model would otherwise do, built in and opt-in: bearer
//! keys ([`auth`]), browsers' CORS and the Host check ([`browsers`]), size caps, rate
//! limits and deadlines ([`limits`]), metrics, health and request logs ([`observe`]), and
//! the connection's life: timeouts, TLS, drain ([`lifecycle`]). Every default is Ollama's
//! behaviour, so a client that works with Ollama works unchanged.

pub mod auth;
pub mod browsers;
mod finish;
pub mod lifecycle;
pub mod limits;
pub mod observe;
pub mod rate;
mod refusal;

pub use finish::{on_finish, Ended};
pub use refusal::{Budget, Refusal};

use axum::Router;

use super::AppState;

/// Every gateway setting; `Default` is plain Ollama.
#[derive(Clone, Default)]
pub struct Gateway {
    pub auth: auth::Auth,
    pub browsers: browsers::Browsers,
    pub limits: limits::Limits,
    pub observe: observe::Observe,
    pub lifecycle: lifecycle::Lifecycle,
    pub rate: rate::Rate,
}

/// The gateway's layers around the routes. axum runs the last one added first, so this
/// reads innermost first: a request meets the request id and metrics, then CORS and the
/// Host check (a browser's preflight needs no key), then the key, then its rate limit and
/// the size caps, then the route.
pub fn layer(router: Router, state: &AppState) -> Router {
    let router = limits::layer(router, state);
    let router = rate::layer(router, state);
    // Hands the key's name the auth layer found out to the metrics and the log.
    let router = observe::keys(router);
    let router = auth::layer(router, state);
    let router = browsers::layer(router, state);
    observe::layer(router, state)
}
