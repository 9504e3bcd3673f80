//! `list`/`ls`, `ps`, `cp`, `rm`, `stop`.

use super::args::{CpArgs, ListArgs, RmArgs, StopArgs};
use super::{CliError, Client};

pub async fn list(_client: &Client, _args: ListArgs) -> Result<(), CliError> {
    Err(CliError::Usage("list: not built yet".into()))
}

pub async fn ps(_client: &Client, _args: ListArgs) -> Result<(), CliError> {
    Err(CliError::Usage("ps: not built yet".into()))
}

pub async fn copy(_client: &Client, _args: CpArgs) -> Result<(), CliError> {
    Err(CliError::Usage("cp: not built yet".into()))
}

pub async fn remove(_client: &Client, _args: RmArgs) -> Result<(), CliError> {
    Err(CliError::Usage("rm: not built yet".into()))
}

pub async fn stop(_client: &Client, _args: StopArgs) -> Result<(), CliError> {
    Err(CliError::Usage("stop: not built yet".into()))
}
