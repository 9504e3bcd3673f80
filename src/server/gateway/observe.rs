//! Metrics, request logs, health.

use std::sync::Arc;

use axum::Router;

use crate::engine::Observer;

use crate::server::AppState;

#[derive(Clone, Default)]
pub struct Observe {}

impl Observe {
    /// What each request's [`crate::engine::Trace`] reports its timings to.
    pub fn observer(&self) -> Option<Arc<dyn Observer>> {
        None
    }
}

pub fn layer(router: Router, state: &AppState) -> Router {
    let _ = state;
    router
}
