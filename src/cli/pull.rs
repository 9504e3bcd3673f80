//! `pull` and `push`, with progress.

use super::args::PullArgs;
use super::{CliError, Client};

pub async fn pull(client: &Client, args: PullArgs) -> Result<(), CliError> {
    pull_with_progress(client, &args.model, args.insecure).await
}

pub async fn push(_client: &Client, _args: PullArgs) -> Result<(), CliError> {
    Err(CliError::Usage("push: not built yet".into()))
}

/// Pulls `model`, showing progress on stderr/stdout as Ollama does (also used by `run` for
/// a model that is not there yet).
pub async fn pull_with_progress(
    _client: &Client,
    _model: &str,
    _insecure: bool,
) -> Result<(), CliError> {
    Err(CliError::Usage("pull: not built yet".into()))
}
