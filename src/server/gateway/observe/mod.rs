//! Metrics and request logs: every request is counted, timed until its body has been sent
//! (a stream counts in full), and logged in one line when it ends. The engine's timings
//! (queue wait, first token, gaps between tokens) arrive through the request's
//! [`crate::engine::Trace`], whose [`Observer`] is [`Metrics`].
//!
//! Always on and cheap (atomic counters); `GET /metrics` shows them only when `--metrics`
//! is set, as before. One line per request is what Ollama logs too (gin's access log).

mod engine_series;
mod log;
pub(crate) mod metrics;

pub use metrics::Metrics;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;

use super::auth::KeyName;
use super::{on_finish, Ended};
use crate::engine::{Observer, Trace};
use crate::server::AppState;

/// What the observe layer shares: the server's metrics. Cheap to clone.
#[derive(Clone, Default)]
pub struct Observe {
    metrics: Arc<Metrics>,
}

impl Observe {
    /// What each request's [`crate::engine::Trace`] reports its timings to.
    pub fn observer(&self) -> Option<Arc<dyn Observer>> {
        Some(Arc::clone(&self.metrics) as Arc<dyn Observer>)
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

/// Where the key's name is left for the outer layer: the auth layer sets [`KeyName`] in
/// the request's extensions further in, and the request is gone once the response
/// comes back out. [`keys`] copies it here on the way in.
#[derive(Default)]
struct KeySlot(Mutex<Option<KeyName>>);

impl KeySlot {
    fn name(&self) -> Option<KeyName> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The outer layer: counts, times and logs each request (see the module's doc).
pub fn layer(router: Router, state: &AppState) -> Router {
    router.layer(middleware::from_fn_with_state(
        state.gateway.observe.clone(),
        watch,
    ))
}

/// Just inside the auth layer: hands the key's name out to [`layer`]. A request refused
/// for its key never gets here and counts as no key.
pub fn keys(router: Router) -> Router {
    router.layer(middleware::from_fn(copy_key))
}

async fn copy_key(req: Request, next: Next) -> Response {
    if let (Some(slot), Some(key)) = (
        req.extensions().get::<Arc<KeySlot>>(),
        req.extensions().get::<KeyName>(),
    ) {
        *slot.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(key.clone());
    }
    next.run(req).await
}

/// One request as it ends.
pub(crate) struct Ending {
    /// The route's template (`/api/chat`, `/v1/models/{*model}`), `unmatched` for a 404
    /// of the fallback: bounded, unlike paths.
    pub route: String,
    pub method: &'static str,
    pub path: String,
    pub status: u16,
    /// The key's name; `None` with auth off, or for a request refused for its key.
    pub key: Option<KeyName>,
    pub started: Instant,
    pub trace: Option<Arc<Trace>>,
    pub ended: Ended,
}

async fn watch(State(observe): State<Observe>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_string();
    let method = method_label(req.method());
    let path = req.uri().path().to_string();
    let trace = req.extensions().get::<Arc<Trace>>().cloned();
    let slot = Arc::new(KeySlot::default());
    req.extensions_mut().insert(Arc::clone(&slot));
    let response = next.run(req).await;
    let status = response.status().as_u16();
    on_finish(response, move |ended| {
        let ending = Ending {
            route,
            method,
            path,
            status,
            key: slot.name(),
            started,
            trace,
            ended,
        };
        observe.metrics.request_ended(&ending);
        log::request_ended(&ending);
    })
}

/// The method as a label: the standard ones by name, any other as `other` (a client
/// may send any token as a method; labels must stay few).
fn method_label(m: &Method) -> &'static str {
    const KNOWN: &[Method] = &[
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::OPTIONS,
        Method::PATCH,
        Method::TRACE,
        Method::CONNECT,
    ];
    KNOWN
        .iter()
        .find(|k| *k == m)
        .map_or("other", Method::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::POST), "POST");
        assert_eq!(method_label(&Method::OPTIONS), "OPTIONS");
        let odd = Method::from_bytes(b"BREW").expect("a token is a method");
        assert_eq!(method_label(&odd), "other");
    }
}
