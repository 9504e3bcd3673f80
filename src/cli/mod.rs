//! The client commands people already type: `rollama run`, `pull`, `push`, `list`, `ps`,
//! `show`, `rm`, `cp`, `create`, `stop`, as Ollama's CLI, talking to the server at
//! `OLLAMA_HOST` over the same HTTP API every other client uses (a client, like
//! [`loadgen`](crate::loadgen): it knows the wire types, not the engine).
//!
//! Output goes to stdout, errors to stderr as `Error: …`; the exit status is 0 on success,
//! 1 on any error (server not running, unknown model, a failed stream), 2 for a usage
//! error and 130 for a pull/push ended by Ctrl-C, so scripts can rely on it.

pub mod answer;
pub mod args;
pub mod client;
pub mod create;
pub mod display;
pub mod format;
pub mod help;
pub mod interactive;
pub mod line_editor;
pub mod modelfile;
pub mod models;
pub mod params;
pub mod progress;
pub mod pull;
pub mod run;
pub mod session;
pub mod show;
mod sigpipe;
pub mod table;
pub mod verbose;
pub mod wire;

use std::process::ExitCode;

use clap::Subcommand;

pub use args::{CpArgs, CreateArgs, ListArgs, PullArgs, RmArgs, RunArgs, ShowArgs, StopArgs};
pub use client::Client;

/// The client commands, in the order `ollama --help` lists them.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a model from a Modelfile.
    Create(CreateArgs),
    /// Show information for a model.
    Show(ShowArgs),
    /// Run a model: answer a prompt, or chat interactively.
    Run(RunArgs),
    /// Stop a running model.
    Stop(StopArgs),
    /// Pull a model from a registry.
    Pull(PullArgs),
    /// Push a model to a registry.
    Push(PullArgs),
    /// List models.
    #[command(alias = "ls")]
    List(ListArgs),
    /// List running models.
    Ps(ListArgs),
    /// Copy a model.
    Cp(CpArgs),
    /// Remove a model.
    Rm(RmArgs),
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Nothing listens at `OLLAMA_HOST` (Ollama's words, with our binary's name).
    #[error("could not connect to rollama server at {host}, run 'rollama serve' to start it")]
    NotRunning { host: String },
    /// A 4xx/5xx JSON reply: its `error`, as Ollama's client prints it.
    #[error("{message}")]
    Status {
        status: reqwest::StatusCode,
        message: String,
    },
    /// An error line inside a stream (with the HTTP status when the reply was a 4xx/5xx).
    #[error("{}", server_message(.status, .message))]
    Server {
        status: Option<reqwest::StatusCode>,
        message: String,
    },
    #[error("{0}")]
    Http(reqwest::Error),
    /// The server's reply was not what the API promises.
    #[error("unexpected reply from the server: {0}")]
    Protocol(String),
    /// A problem with what the user gave: a Modelfile, a file, a flag's value.
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The user pressed Ctrl-C.
    #[error("interrupted")]
    Interrupted,
}

impl CliError {
    /// The HTTP status of a server error, if the server answered with one.
    pub fn status(&self) -> Option<reqwest::StatusCode> {
        match self {
            CliError::Status { status, .. } => Some(*status),
            CliError::Server { status, .. } => *status,
            _ => None,
        }
    }
}

/// Go's `StatusError` text: `"404 Not Found: model 'x' not found"` for a failed stream.
fn server_message(status: &Option<reqwest::StatusCode>, message: &str) -> String {
    match status {
        Some(s) if message.is_empty() => s.to_string(),
        Some(s) => format!("{s}: {message}"),
        None => message.to_string(),
    }
}

/// Runs one client command against the server at `OLLAMA_HOST`; errors are printed here.
pub async fn main(command: Command) -> ExitCode {
    sigpipe::restore_default();
    let client = Client::from_env();
    let result = match client.heartbeat().await {
        Ok(()) => dispatch(&client, command).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Interrupted) => ExitCode::from(130),
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(client: &Client, command: Command) -> Result<(), CliError> {
    match command {
        Command::Create(args) => create::create(client, args).await,
        Command::Show(args) => show::show(client, args).await,
        Command::Run(args) => run::run(client, args).await,
        Command::Stop(args) => models::stop(client, args).await,
        Command::Pull(args) => pull::pull(client, args).await,
        Command::Push(args) => pull::push(client, args).await,
        Command::List(args) => models::list(client, args).await,
        Command::Ps(args) => models::ps(client, args).await,
        Command::Cp(args) => models::copy(client, args).await,
        Command::Rm(args) => models::remove(client, args).await,
    }
}
