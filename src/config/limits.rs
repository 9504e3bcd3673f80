//! `rollama serve` flags of [`crate::server::gateway::limits`].

use crate::server::gateway::limits::Limits;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct LimitsArgs {}

impl LimitsArgs {
    pub fn config(&self) -> anyhow::Result<Limits> {
        Ok(Limits::default())
    }
}
