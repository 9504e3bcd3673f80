//! `rollama serve` flags of [`crate::server::gateway::lifecycle`].

use crate::server::gateway::lifecycle::Lifecycle;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct LifecycleArgs {}

impl LifecycleArgs {
    pub fn config(&self) -> anyhow::Result<Lifecycle> {
        Ok(Lifecycle::default())
    }
}
