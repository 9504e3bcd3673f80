//! Progress of pull, push and create streams: bars on a terminal, plain lines otherwise
//! (on stderr, as Ollama's).

use super::client::Lines;
use super::wire::Progress;
use super::CliError;

/// Shows a pull/push/create progress stream until its end; an error line ends it as `Err`.
pub async fn follow(mut lines: Lines) -> Result<(), CliError> {
    let mut last = String::new();
    while let Some(line) = lines.next().await {
        let p: Progress =
            serde_json::from_value(line?).map_err(|e| CliError::Protocol(e.to_string()))?;
        if p.status != last {
            eprintln!("{}", p.status);
            last = p.status;
        }
    }
    Ok(())
}
