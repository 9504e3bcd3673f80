//! A request id for every request: the caller's `x-request-id` when it sends a sane one
//! (a gateway's), else a fresh one. It goes back as a response header, names the request's
//! log span, and is quoted in internal-error bodies so an operator can find the full error
//! in the log without the body carrying it.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use rand::Rng;
use tracing::Instrument;

use crate::engine::trace::{self, Trace};
use crate::server::AppState;

pub static HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being handled (`None` outside a request).
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Names the request and opens its [`Trace`] (in the request's extensions, and current
/// for the engine while the handler runs).
pub async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane(v))
        .map_or_else(fresh, str::to_string);
    // `key`: the API key's name, recorded by the auth layer once it knows it.
    let span = tracing::info_span!("request", id = %id, method = %req.method(), path = %req.uri().path(), key = tracing::field::Empty);
    if let Ok(value) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(HEADER.clone(), value);
    }
    let trace = Arc::new(Trace::new(id.clone(), state.gateway.observe.observer()));
    req.extensions_mut().insert(Arc::clone(&trace));
    let handled = trace::scope(trace, next.run(req).instrument(span));
    let mut response = CURRENT.scope(id.clone(), handled).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER.clone(), value);
    }
    response
}

/// Short, printable, no spaces: safe to log and to echo.
fn is_sane(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// 16 hex digits.
fn fresh() -> String {
    format!("{:016x}", rand::rng().random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sane_ids_are_taken_from_the_caller() {
        assert!(is_sane("3f2a-17"));
        assert!(!is_sane(""));
        assert!(!is_sane("a b"));
        assert!(!is_sane("x\ny"));
        assert!(!is_sane(&"a".repeat(200)));
        assert_eq!(fresh().len(), 16);
    }
}
