//! `run MODEL [PROMPT]`: one answer, stdin piped in, or an interactive chat (Ollama's
//! `RunHandler`).
//!
//! It is a chat only when no prompt is given and both stdin and stdout are terminals; piped
//! stdin is read whole and put before the prompt's words. A model that is not there is
//! pulled first. Embedding models answer with their vector, as JSON.

use std::io::{IsTerminal, Read};

use serde_json::{json, Value};

use super::answer::{self, Outcome};
use super::args::RunArgs;
use super::display::{print_flush, Display};
use super::session::Session;
use super::wire::ShowResponse;
use super::{interactive, pull, CliError, Client};

pub async fn run(client: &Client, args: RunArgs) -> Result<(), CliError> {
    let mut session = Session::from_args(&args)?;
    let mut prompts = args.prompt.clone();
    let mut interactive = true;
    if !std::io::stdin().is_terminal() {
        let mut text = String::new();
        tokio::task::block_in_place(|| std::io::stdin().read_to_string(&mut text))?;
        if !text.is_empty() {
            prompts.insert(0, text);
        }
        interactive = false;
    }
    let prompt = prompts.join(" ");
    if !prompts.is_empty() || !std::io::stdout().is_terminal() {
        interactive = false;
    }

    let info = show_or_pull(client, &session.model, args.insecure).await?;
    session.apply_show(&info, args.think.is_some());

    if info.capabilities.iter().any(|c| c == "embedding") {
        return embed(client, &session, &args, &prompt).await;
    }
    if info.capabilities.iter().any(|c| c == "image") {
        return Err(CliError::Usage(
            "image generation models are not currently supported".into(),
        ));
    }
    if interactive {
        load(client, &session).await?;
        show_loaded_messages(&session);
        return interactive::chat(client, session, args.think.is_some()).await;
    }
    match answer::generate(client, &session, &prompt).await? {
        Outcome::Done(()) => Ok(()),
        // Ollama's run ends quietly when Ctrl-C stops a one-shot answer.
        Outcome::Stopped => {
            if std::io::stdout().is_terminal() {
                print_flush("\n");
            }
            Ok(())
        }
    }
}

/// `/api/show`, pulling the model first when the server does not have it (Ollama's
/// `showOrPullModel`).
pub async fn show_or_pull(
    client: &Client,
    model: &str,
    insecure: bool,
) -> Result<ShowResponse, CliError> {
    match show(client, model).await {
        Err(e) if e.status() == Some(reqwest::StatusCode::NOT_FOUND) => {
            pull::pull_with_progress(client, model, insecure).await?;
            show(client, model).await
        }
        other => other,
    }
}

pub async fn show(client: &Client, model: &str) -> Result<ShowResponse, CliError> {
    client.post("/api/show", &json!({ "model": model })).await
}

/// Ollama's `loadOrUnloadModel`: an empty generate, so the chat starts with the model in
/// memory (and a model that cannot think fails here when `--think` was asked for).
pub async fn load(client: &Client, session: &Session) -> Result<(), CliError> {
    let mut body = json!({ "model": session.model });
    if let Some(keep_alive) = &session.keep_alive {
        body["keep_alive"] = keep_alive.clone();
    }
    if let Some(think) = &session.think {
        body["think"] = think.clone();
    }
    let mut lines = client.stream("/api/generate", &body).await?;
    while let Some(line) = lines.next().await {
        line?;
    }
    Ok(())
}

/// The conversation stored in the model, shown as if it had just happened.
fn show_loaded_messages(session: &Session) {
    for message in &session.loaded_messages {
        match message.role.as_str() {
            "user" => print_flush(&format!(">>> {}\n", message.content)),
            "assistant" => {
                Display::new(session.word_wrap).write(&message.content);
                print_flush("\n\n");
            }
            _ => {}
        }
    }
}

/// An embedding model's answer: its vector for the prompt, as JSON (Ollama's
/// `generateEmbedding`).
async fn embed(
    client: &Client,
    session: &Session,
    args: &RunArgs,
    prompt: &str,
) -> Result<(), CliError> {
    if prompt.is_empty() {
        return Err(CliError::Usage(format!(
            "embedding models require input text. Usage: rollama run {} \"your text here\"",
            session.model
        )));
    }
    let mut body = json!({ "model": session.model, "input": prompt });
    if let Some(keep_alive) = &session.keep_alive {
        body["keep_alive"] = keep_alive.clone();
    }
    if let Some(truncate) = args.truncate {
        body["truncate"] = Value::Bool(truncate);
    }
    if args.dimensions > 0 {
        body["dimensions"] = Value::from(args.dimensions);
    }
    let resp: Value = client.post("/api/embed", &body).await?;
    let first = resp
        .get("embeddings")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
        .ok_or_else(|| CliError::Usage("no embeddings returned".into()))?;
    println!("{first}");
    Ok(())
}
