//! One answer streamed to the terminal (Ollama's `chat` and `generate`): a spinner until the
//! first token, thinking and content displayed as they come, Ctrl-C stopping the answer.
//!
//! Ctrl-C is raced with the stream: while an answer streams the terminal is in its normal
//! mode, so Ctrl-C arrives as SIGINT; the stream is then dropped, which closes the
//! connection, and the server stops generating. As in Ollama, a stopped answer is not an
//! error (and is not added to the conversation).

use std::io::IsTerminal;

use serde_json::{Map, Value};

use super::display::{print_flush, Display};
use super::session::Session;
use super::wire::{ChatLine, GenerateLine};
use super::{verbose, CliError, Client};
use crate::api::{Message, Metrics};

/// What a stream turned out to be.
pub enum Outcome<T> {
    Done(T),
    /// The user pressed Ctrl-C.
    Stopped,
}

/// `/api/chat` with the session's messages; the assistant's reply when it finished.
pub async fn chat(client: &Client, session: &Session) -> Result<Outcome<Message>, CliError> {
    let mut body = session.request()?;
    body.insert(
        "messages".into(),
        serde_json::to_value(&session.messages).unwrap_or_default(),
    );
    let mut shown = Shown::new(session);
    let mut content = String::new();
    let mut role = String::from("assistant");
    let mut last = Metrics::default();
    let finished = follow(client, "/api/chat", body, |value| {
        let line: ChatLine = serde_json::from_value(value).unwrap_or_default();
        if !line.message.role.is_empty() {
            role = line.message.role.clone();
        }
        let thinking = line.message.thinking.as_deref().unwrap_or("");
        let tools = line
            .message
            .tool_calls
            .as_ref()
            .is_some_and(|t| !t.is_empty());
        shown.chunk(thinking, &line.message.content, tools);
        content.push_str(&line.message.content);
        if line.done {
            last = line.metrics;
        }
    })
    .await?;
    if !finished {
        shown.stopped();
        return Ok(Outcome::Stopped);
    }
    if !session.messages.is_empty() {
        print_flush("\n\n");
    }
    if session.verbose {
        eprint!("{}", verbose::summary(&last));
    }
    Ok(Outcome::Done(Message {
        role,
        content,
        thinking: Some(shown.thinking).filter(|t| !t.is_empty()),
        ..Message::default()
    }))
}

/// `/api/generate` with `prompt` (a one-shot run).
pub async fn generate(
    client: &Client,
    session: &Session,
    prompt: &str,
) -> Result<Outcome<()>, CliError> {
    let mut body = session.request()?;
    body.insert("prompt".into(), Value::from(prompt));
    if !session.system.is_empty() {
        body.insert("system".into(), Value::from(session.system.clone()));
    }
    let mut shown = Shown::new(session);
    let mut last: Option<Metrics> = None;
    let finished = follow(client, "/api/generate", body, |value| {
        let line: GenerateLine = serde_json::from_value(value).unwrap_or_default();
        shown.chunk(&line.thinking, &line.response, false);
        if line.done {
            last = Some(line.metrics);
        }
    })
    .await?;
    if !finished {
        shown.stopped();
        return Ok(Outcome::Stopped);
    }
    if !prompt.is_empty() {
        print_flush("\n\n");
    }
    if let (true, Some(metrics)) = (session.verbose, last) {
        eprint!("{}", verbose::summary(&metrics));
    }
    Ok(Outcome::Done(()))
}

/// Streams `path`, handing each line to `each`; `false` when Ctrl-C stopped it.
async fn follow(
    client: &Client,
    path: &str,
    body: Map<String, Value>,
    mut each: impl FnMut(Value),
) -> Result<bool, CliError> {
    let spinner = Spinner::start();
    let ctrl_c = async {
        // Without a SIGINT handler Ctrl-C keeps its default (ending the process).
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::pin!(ctrl_c);
    let body = Value::Object(body);
    let mut lines = tokio::select! {
        _ = &mut ctrl_c => return Ok(false),
        lines = client.stream(path, &body) => lines?,
    };
    let mut spinner = Some(spinner);
    loop {
        let line = tokio::select! {
            _ = &mut ctrl_c => {
                // Dropping the stream closes the connection: the server stops generating.
                drop(lines);
                return Ok(false);
            }
            line = lines.next() => line,
        };
        match line {
            None => return Ok(true),
            Some(Err(e)) => return Err(e),
            Some(Ok(value)) => {
                // The first token: the spinner gives way to the answer.
                drop(spinner.take());
                each(value);
            }
        }
    }
}

/// The thinking/content state of one displayed answer.
struct Shown {
    display: Display,
    hide_thinking: bool,
    thinking: String,
    opened: bool,
    closed: bool,
    printed: bool,
}

impl Shown {
    fn new(session: &Session) -> Self {
        Self {
            display: Display::new(session.word_wrap),
            hide_thinking: session.hide_thinking,
            thinking: String::new(),
            opened: false,
            closed: false,
            printed: false,
        }
    }

    fn chunk(&mut self, thinking: &str, content: &str, tool_calls: bool) {
        if !thinking.is_empty() && !self.hide_thinking {
            if !self.opened {
                self.display.thinking_open();
                self.opened = true;
                self.closed = false;
            }
            self.thinking.push_str(thinking);
            self.display.write(thinking);
            self.printed = true;
        } else if !thinking.is_empty() {
            self.thinking.push_str(thinking);
        }
        if self.opened && !self.closed && (!content.is_empty() || tool_calls) {
            if !self.thinking.ends_with('\n') {
                print_flush("\n");
            }
            self.display.thinking_close();
            self.opened = false;
            self.closed = true;
        }
        if !content.is_empty() {
            self.display.write(content);
            self.printed = true;
        }
    }

    /// After Ctrl-C: end the half-written line so the next prompt starts on its own.
    fn stopped(&mut self) {
        if self.printed && self.display.mid_line() {
            print_flush("\n");
        }
    }
}

/// Ollama's spinner on stderr while the model loads and reads the prompt (a terminal only).
struct Spinner(Option<indicatif::ProgressBar>);

impl Spinner {
    fn start() -> Self {
        if !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(100));
        Self(Some(bar))
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
