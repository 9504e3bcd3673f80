//! The chat's line editor: rustyline with Ollama's prompts (`>>> `, `... ` while a
//! multi-line message is open), its grey placeholder, and history in `~/.ollama/history`
//! (off with `OLLAMA_NOHISTORY`, or `/set nohistory`).
//!
//! rustyline blocks, so each line is read on a blocking thread; the terminal is in raw
//! mode only while a line is read, so Ctrl-C there is a key (an interrupted line), and a
//! SIGINT while an answer streams.

use std::borrow::Cow;
use std::path::PathBuf;

use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::{Hint, Hinter};
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{Config, Context, Editor, Helper};

use super::CliError;

/// What reading a line gave.
pub enum Read {
    Line(String),
    /// Ctrl-C at the prompt.
    Interrupted,
    /// Ctrl-D on an empty line.
    Eof,
}

pub struct LineEditor {
    /// Taken while a line is read on the blocking thread.
    editor: Option<Editor<Placeholder, FileHistory>>,
    history_file: Option<PathBuf>,
    pub history: bool,
}

impl LineEditor {
    pub fn new() -> Result<Self, CliError> {
        let config = Config::builder().auto_add_history(false).build();
        let mut editor =
            Editor::with_config(config).map_err(|e| CliError::Io(std::io::Error::other(e)))?;
        editor.set_helper(Some(Placeholder {
            text: MAIN_PLACEHOLDER,
        }));
        let history_file = std::env::var_os("HOME")
            .map(|home| PathBuf::from(home).join(".ollama").join("history"));
        if let Some(path) = &history_file {
            // No history yet is the normal first run.
            let _ = editor.load_history(path);
        }
        Ok(Self {
            editor: Some(editor),
            history_file,
            history: !no_history(),
        })
    }

    /// Reads one line with the main prompt, or the continuation prompt when `alt`.
    pub async fn read(&mut self, alt: bool) -> Result<Read, CliError> {
        let mut editor = self
            .editor
            .take()
            .ok_or_else(|| CliError::Protocol("line editor in use".into()))?;
        if let Some(helper) = editor.helper_mut() {
            helper.text = match alt {
                true => ALT_PLACEHOLDER,
                false => MAIN_PLACEHOLDER,
            };
        }
        let prompt = match alt {
            true => "... ",
            false => ">>> ",
        };
        let (editor, result) = tokio::task::spawn_blocking(move || {
            let result = editor.readline(prompt);
            (editor, result)
        })
        .await
        .map_err(|e| CliError::Io(std::io::Error::other(e)))?;
        self.editor = Some(editor);
        match result {
            Ok(line) => {
                self.remember(&line);
                Ok(Read::Line(line))
            }
            Err(ReadlineError::Interrupted) => Ok(Read::Interrupted),
            Err(ReadlineError::Eof) => Ok(Read::Eof),
            Err(e) => Err(CliError::Io(std::io::Error::other(e))),
        }
    }

    fn remember(&mut self, line: &str) {
        if !self.history || line.trim().is_empty() {
            return;
        }
        let (Some(editor), Some(path)) = (self.editor.as_mut(), &self.history_file) else {
            return;
        };
        let _ = editor.add_history_entry(line);
        // History is a convenience: a read-only home does not stop the chat.
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = editor.save_history(path);
    }
}

/// `OLLAMA_NOHISTORY` as Ollama's `envconfig.Bool` reads it: set and not false.
fn no_history() -> bool {
    match std::env::var("OLLAMA_NOHISTORY") {
        Err(_) => false,
        Ok(v) => {
            let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
            !v.is_empty() && super::params::go_bool(v) != Some(false)
        }
    }
}

const MAIN_PLACEHOLDER: &str = "Send a message (/? for help)";
const ALT_PLACEHOLDER: &str = "Press Enter to send";

/// Shows Ollama's placeholder, grey, while the line is empty.
struct Placeholder {
    text: &'static str,
}

impl Hinter for Placeholder {
    type Hint = PlaceholderHint;

    fn hint(&self, line: &str, _pos: usize, _ctx: &Context<'_>) -> Option<PlaceholderHint> {
        line.is_empty().then_some(PlaceholderHint(self.text))
    }
}

/// Shown, never inserted (a right arrow on an empty line must not type the placeholder).
struct PlaceholderHint(&'static str);

impl Hint for PlaceholderHint {
    fn display(&self) -> &str {
        self.0
    }

    fn completion(&self) -> Option<&str> {
        None
    }
}

impl Highlighter for Placeholder {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        Cow::Owned(format!("\x1b[38;5;245m{hint}\x1b[0m"))
    }
}

impl Completer for Placeholder {
    type Candidate = String;
}

impl Validator for Placeholder {}

impl Helper for Placeholder {}
