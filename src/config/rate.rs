//! `rollama serve` flags of [`crate::server::gateway::rate`].

use crate::server::gateway::rate::Rate;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct RateArgs {
    /// Requests per minute per client (0 = no limit); over it, 429 with `Retry-After`.
    /// A client is its key when `--api-keys` is on, else its IP address.
    #[arg(long, env = "ROLLAMA_RATE_LIMIT_RPM", default_value_t = 0)]
    pub rate_limit_rpm: u32,

    /// Tokens (prompt + generated) per minute per client (0 = no limit). A request is let
    /// in while its client has budget left and charged when its reply ends, so one long
    /// request can go over; the next one waits.
    #[arg(long, env = "ROLLAMA_RATE_LIMIT_TPM", default_value_t = 0)]
    pub rate_limit_tpm: u32,
}

impl RateArgs {
    pub fn config(&self) -> anyhow::Result<Rate> {
        let rate = Rate::new(self.rate_limit_rpm, self.rate_limit_tpm);
        if rate.is_on() {
            tracing::info!(
                rpm = self.rate_limit_rpm,
                tpm = self.rate_limit_tpm,
                "rate limits per client"
            );
        }
        Ok(rate)
    }
}
