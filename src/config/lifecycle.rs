//! `rollama serve` flags of [`crate::server::gateway::lifecycle`]: timeouts, TLS, the
//! drain's grace. Durations are Go durations (`30s`, `5m`) or seconds, as Ollama's own
//! variables; a bad value stops the start rather than silently weakening a limit.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

use crate::api::KeepAlive;
use crate::server::gateway::lifecycle::{Drain, Lifecycle};
use crate::server::tls::Tls;

#[derive(Debug, Clone, clap::Args)]
pub struct LifecycleArgs {
    /// Longest a client may take to send a request's line and headers, from its
    /// connection's start (TLS handshake included) or, on a keep-alive connection, from
    /// the end of the previous response; slower clients (slowloris) are dropped.
    /// `0` = no bound.
    #[arg(long, env = "ROLLAMA_HEADER_TIMEOUT", default_value = "30s")]
    pub header_timeout: String,

    /// A connection without a request in flight for this long is closed (HTTP/2: GOAWAY).
    /// A reply being computed or streamed is never idle. On HTTP/1.1 the wait for the next
    /// request is also bounded by the header timeout. `0` = no bound.
    #[arg(long, env = "ROLLAMA_IDLE_TIMEOUT", default_value = "5m")]
    pub idle_timeout: String,

    /// On SIGTERM or Ctrl-C: how long running replies may go on before the streams still
    /// open end with `{"error":"server is shutting down"}` (SSE: an error event). New
    /// connections are refused at once. Negative = as long as they take.
    #[arg(long, env = "ROLLAMA_SHUTDOWN_GRACE", default_value = "8s")]
    pub shutdown_grace: String,

    /// Serve HTTPS with this PEM certificate chain (leaf first); needs `--tls-key`.
    #[arg(long, env = "ROLLAMA_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of `--tls-cert`.
    #[arg(long, env = "ROLLAMA_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
}

impl LifecycleArgs {
    pub fn config(&self) -> anyhow::Result<Lifecycle> {
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(Tls::from_pem_files(cert, key)?),
            (None, None) => None,
            _ => bail!("ROLLAMA_TLS_CERT and ROLLAMA_TLS_KEY go together: set both or neither"),
        };
        Ok(Lifecycle {
            header_timeout: timeout("ROLLAMA_HEADER_TIMEOUT", &self.header_timeout)?,
            idle_timeout: timeout("ROLLAMA_IDLE_TIMEOUT", &self.idle_timeout)?,
            shutdown_grace: duration("ROLLAMA_SHUTDOWN_GRACE", &self.shutdown_grace)?,
            tls,
            drain: Drain::default(),
        })
    }
}

/// A timeout: `0` (or negative) turns it off.
fn timeout(name: &str, value: &str) -> anyhow::Result<Option<Duration>> {
    Ok(duration(name, value)?.filter(|d| !d.is_zero()))
}

/// `None` for a negative value: no bound.
fn duration(name: &str, value: &str) -> anyhow::Result<Option<Duration>> {
    match KeepAlive::parse_env(value) {
        Ok(KeepAlive::For(d)) => Ok(Some(d)),
        Ok(KeepAlive::Forever) => Ok(None),
        Err(e) => bail!("invalid {name} {value:?}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        lifecycle: LifecycleArgs,
    }

    fn parse(args: &[&str]) -> anyhow::Result<Lifecycle> {
        let cli = Cli::try_parse_from(std::iter::once("rollama").chain(args.iter().copied()))?;
        cli.lifecycle.config()
    }

    #[test]
    fn defaults_and_forms() {
        let l = parse(&[]).expect("defaults");
        assert_eq!(l.header_timeout, Some(Duration::from_secs(30)));
        assert_eq!(l.idle_timeout, Some(Duration::from_secs(300)));
        assert_eq!(l.shutdown_grace, Some(Duration::from_secs(8)));
        assert!(l.tls.is_none());
        let l = parse(&[
            "--header-timeout=0",
            "--idle-timeout=90",
            "--shutdown-grace=-1",
        ])
        .expect("forms");
        assert_eq!(l.header_timeout, None);
        assert_eq!(l.idle_timeout, Some(Duration::from_secs(90)));
        assert_eq!(l.shutdown_grace, None);
        assert!(parse(&["--idle-timeout=soon"]).is_err());
    }

    #[test]
    fn a_certificate_needs_its_key() {
        let e = parse(&["--tls-cert=/nonexistent/cert.pem"])
            .err()
            .expect("refused");
        assert!(e.to_string().contains("set both or neither"), "{e}");
        assert!(parse(&[
            "--tls-cert=/nonexistent/c.pem",
            "--tls-key=/nonexistent/k.pem"
        ])
        .is_err());
    }
}
