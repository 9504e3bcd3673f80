//! `show`: a model's details, or one of its parts (`--modelfile`, `--parameters`, …).

use super::args::ShowArgs;
use super::wire::ShowResponse;
use super::{CliError, Client};

pub async fn show(_client: &Client, _args: ShowArgs) -> Result<(), CliError> {
    Err(CliError::Usage("show: not built yet".into()))
}

/// The summary `show MODEL` prints (and `/show info` in a chat).
pub fn info(resp: &ShowResponse, _verbose: bool) -> String {
    format!("  Model\n    architecture    {}\n", resp.details.family)
}
