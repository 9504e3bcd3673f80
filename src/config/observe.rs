//! `rollama serve` flags of [`crate::server::gateway::observe`] and of the log. Metrics
//! stay behind `--metrics` (`ROLLAMA_METRICS`), in [`super::ServeArgs`].

use crate::server::gateway::observe::Observe;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ObserveArgs {
    /// Log lines as text (the default) or as one JSON object each, for a log shipper.
    /// Logs go to stderr, as Ollama's.
    #[arg(long, env = "ROLLAMA_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl ObserveArgs {
    pub fn config(&self) -> anyhow::Result<Observe> {
        Ok(Observe::default())
    }

    /// Whether log lines are JSON objects (`--log-format json`).
    pub fn json_logs(&self) -> bool {
        self.log_format == LogFormat::Json
    }
}
