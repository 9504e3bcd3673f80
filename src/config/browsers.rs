//! `rollama serve` flags of [`crate::server::gateway::browsers`].

use crate::server::gateway::browsers::Browsers;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct BrowsersArgs {}

impl BrowsersArgs {
    pub fn config(&self) -> anyhow::Result<Browsers> {
        Ok(Browsers::default())
    }
}
