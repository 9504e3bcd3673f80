//! The connections' life: header-read and idle timeouts, TLS, the drain on SIGTERM.

/// Settings of [`crate::server::run`]'s accept loop.
#[derive(Clone, Default)]
pub struct Lifecycle {}
