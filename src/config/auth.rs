//! `rollama serve` flags of [`crate::server::gateway::auth`].

use crate::server::gateway::auth::Auth;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct AuthArgs {}

impl AuthArgs {
    pub fn config(&self) -> anyhow::Result<Auth> {
        Ok(Auth::default())
    }
}
