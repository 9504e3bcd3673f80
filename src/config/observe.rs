//! `rollama serve` flags of [`crate::server::gateway::observe`].

use crate::server::gateway::observe::Observe;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ObserveArgs {}

impl ObserveArgs {
    pub fn config(&self) -> anyhow::Result<Observe> {
        Ok(Observe::default())
    }
}
