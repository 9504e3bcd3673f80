//! `rollama serve` flags of [`crate::server::gateway::auth`].

use std::path::PathBuf;

use crate::server::gateway::auth::Auth;

#[derive(Clone, Default, clap::Args)]
pub struct AuthArgs {
    /// Bearer tokens every request but `GET /` and `/health/*` must carry, comma-separated:
    /// `name:token` or a bare `token` (named `key1`, `key2`, ... by position). The names
    /// show in logs and metrics; the tokens never do.
    #[arg(long, env = "ROLLAMA_API_KEYS", hide_env_values = true)]
    pub api_keys: Option<String>,

    /// A file of keys, one `name:token` a line (`#` comments, blank lines), re-read when it
    /// changes (polled every 2 s) and on SIGHUP; a change that fails to parse keeps the
    /// keys in force. Combined with `--api-keys`.
    #[arg(long, env = "ROLLAMA_API_KEYS_FILE")]
    pub api_keys_file: Option<PathBuf>,
}

/// The tokens must not reach a log through `{:?}` of the flags.
impl std::fmt::Debug for AuthArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthArgs")
            .field("api_keys", &self.api_keys.as_ref().map(|_| "<redacted>"))
            .field("api_keys_file", &self.api_keys_file)
            .finish()
    }
}

impl AuthArgs {
    /// An empty `ROLLAMA_API_KEYS` counts as unset, so `ROLLAMA_API_KEYS=` turns auth off
    /// instead of locking every client out.
    pub fn config(&self) -> anyhow::Result<Auth> {
        let list = self.api_keys.as_deref().filter(|l| !l.trim().is_empty());
        let auth = Auth::new(list, self.api_keys_file.as_deref())?;
        if auth.is_on() {
            let names = auth.names();
            match names.is_empty() {
                true => tracing::warn!(
                    "API keys on, but no key yet: every request but GET / and /health/* is refused"
                ),
                false => tracing::info!(?names, "API keys required"),
            }
        }
        Ok(auth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_never_show_a_token() {
        let args = AuthArgs {
            api_keys: Some("alice:hunter2".into()),
            api_keys_file: None,
        };
        assert!(!format!("{args:?}").contains("hunter2"));
        let auth = args.config().expect("keys");
        assert_eq!(auth.names().len(), 1);
        let blank = AuthArgs {
            api_keys: Some(" ".into()),
            api_keys_file: None,
        };
        assert!(!blank.config().expect("off").is_on());
    }
}
