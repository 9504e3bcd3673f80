//! `pull` and `push`, with progress (Ollama's `PullHandler`, `pullModelWithProgress` and
//! `PushHandler`).

use serde_json::json;

use super::args::PullArgs;
use super::progress::{follow_on, Display, Layers};
use super::{CliError, Client};
use crate::store::ModelName;

pub async fn pull(client: &Client, args: PullArgs) -> Result<(), CliError> {
    pull_with_progress(client, &args.model, args.insecure).await
}

/// Pulls `model`, showing progress on stderr as Ollama does (also used by `run` for a
/// model that is not there yet). Ctrl-C ends it with [`CliError::Interrupted`]: the
/// stream is dropped, which closes the connection and so stops the server's download.
pub async fn pull_with_progress(
    client: &Client,
    model: &str,
    insecure: bool,
) -> Result<(), CliError> {
    let body = json!({ "model": model, "insecure": insecure });
    transfer(client, "/api/pull", &body, Layers::Pull).await
}

/// Ollama's server refuses nothing here; rollama's says it does not push (it holds no
/// registry account), and that is what is printed, after the progress shown so far.
pub async fn push(client: &Client, args: PullArgs) -> Result<(), CliError> {
    let body = json!({ "model": args.model, "insecure": args.insecure });
    transfer(client, "/api/push", &body, Layers::Other("pushing"))
        .await
        .map_err(unauthorized)?;
    println!("\nYou can find your model at:\n");
    println!("\t{}", destination(&args.model));
    Ok(())
}

/// One progress stream, shown until it ends or the user presses Ctrl-C.
async fn transfer(
    client: &Client,
    path: &str,
    body: &serde_json::Value,
    layers: Layers,
) -> Result<(), CliError> {
    let mut display = Display::stderr();
    let result = tokio::select! {
        result = async {
            let lines = client.stream(path, body).await?;
            follow_on(&mut display, lines, layers).await
        } => result,
        _ = tokio::signal::ctrl_c() => Err(CliError::Interrupted),
    };
    display.stop();
    result
}

/// Ollama's words for a registry that refuses the push for want of rights.
fn unauthorized(e: CliError) -> CliError {
    let text = e.to_string().to_lowercase();
    match text.contains("access denied") || text.contains("unauthorized") {
        true => CliError::Usage(
            "you are not authorized to push to this namespace, create the model under a namespace you own".into(),
        ),
        false => e,
    }
}

/// Where a pushed model is found: its page on ollama.com, else its full name.
fn destination(model: &str) -> String {
    let Some(n) = ModelName::parse(model) else {
        return model.to_string();
    };
    let host = n.host.to_lowercase();
    match host.ends_with(".ollama.ai") || host.ends_with(".ollama.com") {
        true => {
            let short = n.display();
            let short = short.strip_suffix(":latest").unwrap_or(&short);
            format!("https://ollama.com/{short}")
        }
        false => format!("{}/{}/{}:{}", n.host, n.namespace, n.model, n.tag),
    }
}

#[cfg(test)]
mod tests {
    use super::destination;

    #[test]
    fn a_pushed_model_is_found_where_ollama_says() {
        assert_eq!(destination("me/model"), "https://ollama.com/me/model");
        assert_eq!(destination("me/model:v1"), "https://ollama.com/me/model:v1");
        assert_eq!(
            destination("example.com:5000/ns/model"),
            "example.com:5000/ns/model:latest"
        );
    }
}
