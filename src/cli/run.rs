//! `run MODEL [PROMPT]`: one answer, stdin piped in, or an interactive chat.

use super::args::RunArgs;
use super::{CliError, Client};

pub async fn run(_client: &Client, _args: RunArgs) -> Result<(), CliError> {
    Err(CliError::Usage("run: not built yet".into()))
}
