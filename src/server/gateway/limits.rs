//! Size caps, per-key rate limits and deadlines.

use axum::Router;

use crate::server::AppState;

#[derive(Clone, Default)]
pub struct Limits {}

pub fn layer(router: Router, state: &AppState) -> Router {
    let _ = state;
    router
}
