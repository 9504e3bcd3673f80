//! `create MODEL -f Modelfile`: the Modelfile parsed here, local files uploaded as blobs,
//! then `POST /api/create`.

use super::args::CreateArgs;
use super::{CliError, Client};

pub async fn create(_client: &Client, _args: CreateArgs) -> Result<(), CliError> {
    Err(CliError::Usage("create: not built yet".into()))
}
