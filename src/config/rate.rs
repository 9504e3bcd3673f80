//! `rollama serve` flags of [`crate::server::gateway::rate`].

use crate::server::gateway::rate::Rate;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct RateArgs {}

impl RateArgs {
    pub fn config(&self) -> anyhow::Result<Rate> {
        Ok(Rate::default())
    }
}
