//! The interactive chat of `rollama run MODEL` (Ollama's `generateInteractive`): lines are
//! messages, `"""` opens a multi-line one, and slash commands change the session.

use serde_json::{json, Value};

use super::answer::{self, Outcome};
use super::args::ListArgs;
use super::line_editor::{LineEditor, Read};
use super::session::Session;
use super::wire::ShowResponse;
use super::{help, models, params, run, show, CliError, Client};
use crate::api::Message;

const QUOTES: &str = "\"\"\"";

#[derive(Clone, Copy, PartialEq)]
enum Multiline {
    None,
    Prompt,
    System,
}

/// What a slash command asks of the loop.
enum Next {
    /// Read the next line.
    Read,
    /// Send what was gathered (or keep gathering).
    Send,
    Exit,
}

struct Chat<'c> {
    client: &'c Client,
    session: Session,
    editor: LineEditor,
    /// The message being gathered (a multi-line one, or one line).
    text: String,
    multiline: Multiline,
    /// The continuation prompt is showing.
    alt: bool,
    think_set: bool,
}

pub async fn chat(client: &Client, session: Session, think_set: bool) -> Result<(), CliError> {
    let mut chat = Chat {
        client,
        session,
        editor: LineEditor::new()?,
        text: String::new(),
        multiline: Multiline::None,
        alt: false,
        think_set,
    };
    chat.run().await
}

impl Chat<'_> {
    async fn run(&mut self) -> Result<(), CliError> {
        loop {
            let line = match self.editor.read(self.alt).await? {
                Read::Line(line) => line,
                Read::Eof => {
                    println!();
                    return Ok(());
                }
                Read::Interrupted => {
                    println!("\nUse Ctrl + d or /bye to exit.");
                    self.alt = false;
                    self.multiline = Multiline::None;
                    self.text.clear();
                    continue;
                }
            };
            match self.line(&line).await? {
                Next::Exit => return Ok(()),
                Next::Read => continue,
                Next::Send => {}
            }
            if !self.text.is_empty() && self.multiline == Multiline::None {
                self.send().await?;
            }
        }
    }

    async fn line(&mut self, line: &str) -> Result<Next, CliError> {
        if self.multiline != Multiline::None {
            let (before, closed) = match line.strip_suffix(QUOTES) {
                Some(before) => (before, true),
                None => (line, false),
            };
            self.text.push_str(before);
            if !closed {
                self.text.push('\n');
                self.alt = true;
                return Ok(Next::Read);
            }
            if self.multiline == Multiline::System {
                self.session.system = self.text.clone();
                self.session
                    .messages
                    .push(system_message(&self.session.system));
                println!("Set system message.");
                self.text.clear();
            }
            self.multiline = Multiline::None;
            self.alt = false;
            return Ok(Next::Send);
        }
        if let Some(rest) = line.strip_prefix(QUOTES) {
            match rest.strip_suffix(QUOTES) {
                Some(whole) => self.text.push_str(whole),
                None => {
                    // No closing quotes yet: gather lines until they come.
                    self.text.push_str(rest);
                    self.text.push('\n');
                    self.multiline = Multiline::Prompt;
                    self.alt = true;
                }
            }
            return Ok(Next::Send);
        }
        let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        let command = |name: &str| line.starts_with(name);
        if command("/list") {
            let prefix = words.get(1).cloned();
            models::list(self.client, ListArgs { prefix }).await?;
        } else if command("/load") {
            return self.load(&words).await;
        } else if command("/save") {
            return self.save(&words).await;
        } else if command("/clear") {
            self.session.messages.clear();
            if !self.session.system.is_empty() {
                self.session
                    .messages
                    .push(system_message(&self.session.system));
            }
            println!("Cleared session context");
            return Ok(Next::Read);
        } else if command("/set") {
            return self.set(&words).await;
        } else if command("/show") {
            return self.show(&words).await;
        } else if command("/help") || command("/?") {
            match words.get(1).map(String::as_str) {
                None => help::usage(),
                Some("set" | "/set") => help::set(),
                Some("show" | "/show") => help::show(),
                Some("shortcut" | "shortcuts") => help::shortcuts(),
                Some(_) => {}
            }
        } else if command("/exit") || command("/bye") {
            return Ok(Next::Exit);
        } else if line.starts_with('/') {
            let name = words.first().map(String::as_str).unwrap_or("/");
            println!("Unknown command '{name}'. Type /? for help");
            return Ok(Next::Read);
        } else {
            self.text.push_str(line);
        }
        Ok(Next::Send)
    }

    /// Sends the gathered message and adds the reply to the conversation.
    async fn send(&mut self) -> Result<(), CliError> {
        let content = std::mem::take(&mut self.text);
        self.session.messages.push(Message {
            role: "user".into(),
            content,
            ..Message::default()
        });
        match answer::chat(self.client, &self.session).await {
            Ok(Outcome::Done(reply)) => self.session.messages.push(reply),
            Ok(Outcome::Stopped) => {}
            Err(e) => {
                let text = e.to_string();
                // As in Ollama: a think setting the model refuses is said, the chat goes on.
                if text.contains("does not support thinking")
                    || text.contains("invalid think value")
                {
                    println!("error: {text}");
                    return Ok(());
                }
                return Err(e);
            }
        }
        Ok(())
    }

    async fn set(&mut self, words: &[String]) -> Result<Next, CliError> {
        let Some(what) = words.get(1) else {
            help::set();
            return Ok(Next::Send);
        };
        let s = &mut self.session;
        match what.as_str() {
            "history" => self.editor.history = true,
            "nohistory" => self.editor.history = false,
            "wordwrap" => {
                s.word_wrap = true;
                println!("Set 'wordwrap' mode.");
            }
            "nowordwrap" => {
                s.word_wrap = false;
                println!("Set 'nowordwrap' mode.");
            }
            "verbose" => {
                s.verbose = true;
                println!("Set 'verbose' mode.");
            }
            "quiet" => {
                s.verbose = false;
                println!("Set 'quiet' mode.");
            }
            "think" => {
                let level = words.get(2).cloned();
                s.think = Some(match &level {
                    Some(level) => Value::from(level.clone()),
                    None => Value::Bool(true),
                });
                self.think_set = true;
                self.warn_if_no_thinking().await;
                match level {
                    Some(level) => println!("Set 'think' mode to '{level}'."),
                    None => println!("Set 'think' mode."),
                }
            }
            "nothink" => {
                s.think = Some(Value::Bool(false));
                self.think_set = true;
                self.warn_if_no_thinking().await;
                println!("Set 'nothink' mode.");
            }
            "format" => match words.get(2).map(String::as_str) {
                Some("json") => {
                    s.format = "json".into();
                    println!("Set format to 'json' mode.");
                }
                _ => println!("Invalid or missing format. For 'json' mode use '/set format json'"),
            },
            "noformat" => {
                s.format.clear();
                println!("Disabled format.");
            }
            "parameter" => {
                if words.len() < 4 {
                    help::parameters();
                    return Ok(Next::Read);
                }
                let (name, values) = (&words[2], &words[3..]);
                match params::parse(name, values) {
                    Ok(value) => {
                        println!("Set parameter '{name}' to '{}'", values.join(", "));
                        s.options.insert(name.clone(), value);
                    }
                    // Go's `%q` of the error.
                    Err(e) => println!("Couldn't set parameter: {:?}", e.to_string()),
                }
            }
            "system" => return Ok(self.set_system(words)),
            other => println!("Unknown command '/set {other}'. Type /? for help"),
        }
        Ok(Next::Send)
    }

    /// `/set system TEXT` or `/set system """` opening a multi-line one.
    fn set_system(&mut self, words: &[String]) -> Next {
        if words.len() < 3 {
            help::set();
            return Next::Read;
        }
        let joined = words[2..].join(" ");
        let mut multiline = Multiline::System;
        let text = match joined.strip_prefix(QUOTES) {
            None => {
                multiline = Multiline::None;
                joined.as_str()
            }
            Some(rest) => match rest.strip_suffix(QUOTES) {
                Some(whole) => {
                    multiline = Multiline::None;
                    whole
                }
                None => rest,
            },
        };
        self.text.push_str(text);
        self.multiline = multiline;
        if multiline != Multiline::None {
            // Ollama drops this line break (its "Line one" and "line two" run together);
            // we keep it, as its multi-line messages do.
            self.text.push('\n');
            self.alt = true;
            return Next::Read;
        }
        let s = &mut self.session;
        s.system = std::mem::take(&mut self.text);
        let message = system_message(&s.system);
        match s.messages.last_mut() {
            Some(last) if last.role == "system" => *last = message,
            _ => s.messages.push(message),
        }
        println!("Set system message.");
        Next::Read
    }

    async fn show(&mut self, words: &[String]) -> Result<Next, CliError> {
        let Some(what) = words.get(1) else {
            help::show();
            return Ok(Next::Send);
        };
        let s = &self.session;
        let mut body = json!({ "model": s.model });
        if !s.system.is_empty() {
            body["system"] = Value::from(s.system.clone());
        }
        if !s.options.is_empty() {
            body["options"] = Value::Object(s.options.clone());
        }
        let resp: ShowResponse = match self.client.post("/api/show", &body).await {
            Ok(resp) => resp,
            Err(e) => {
                println!("error: couldn't get model");
                return Err(e);
            }
        };
        match what.as_str() {
            "info" => eprint!("{}", show::info(&resp, false)),
            "license" if resp.license.is_empty() => {
                println!("No license was specified for this model.")
            }
            "license" => println!("{}", resp.license),
            "modelfile" => println!("{}", resp.modelfile),
            "parameters" => {
                println!("Model defined parameters:");
                match resp.parameters.is_empty() {
                    true => println!("  No additional parameters were specified for this model."),
                    false => resp.parameters.split('\n').for_each(|l| println!("  {l}")),
                }
                println!();
                if !s.options.is_empty() {
                    println!("User defined parameters:");
                    for (name, value) in &s.options {
                        println!("  {name:<30} {}", params::go_value(value));
                    }
                    println!();
                }
            }
            "system" if !s.system.is_empty() => println!("{}\n", s.system),
            "system" if !resp.system.is_empty() => println!("{}\n", resp.system),
            "system" => println!("No system message was specified for this model."),
            "template" if resp.template.is_empty() => {
                println!("No prompt template was specified for this model.")
            }
            "template" => println!("{}", resp.template),
            other => println!("Unknown command '/show {other}'. Type /? for help"),
        }
        Ok(Next::Send)
    }

    /// `/load MODEL`: a fresh conversation with another model (or a saved session).
    async fn load(&mut self, words: &[String]) -> Result<Next, CliError> {
        if words.len() != 2 {
            println!("Usage:\n  /load <modelname>");
            return Ok(Next::Read);
        }
        let before = self.session.clone();
        let s = &mut self.session;
        s.model = words[1].clone();
        s.messages.clear();
        s.loaded_messages.clear();
        println!("Loading model '{}'", s.model);
        let info = match run::show(self.client, &s.model).await {
            Ok(info) => info,
            Err(e) if e.to_string().contains("not found") => {
                println!("Couldn't find model '{}'", s.model);
                self.session = before;
                return Ok(Next::Read);
            }
            Err(e) => return Err(e),
        };
        s.apply_show(&info, self.think_set);
        if let Err(e) = run::load(self.client, s).await {
            let text = e.to_string();
            if text.contains("not found") {
                println!("Couldn't find model '{}'", s.model);
                self.session = before;
                return Ok(Next::Read);
            }
            if text.contains("does not support thinking") {
                println!("error: {text}");
                return Ok(Next::Read);
            }
            return Err(e);
        }
        Ok(Next::Read)
    }

    /// `/save NAME`: a new model made of this one, the system message, the parameters and
    /// the conversation so far.
    async fn save(&mut self, words: &[String]) -> Result<Next, CliError> {
        if words.len() != 2 {
            println!("Usage:\n  /save <modelname>");
            return Ok(Next::Read);
        }
        let name = &words[1];
        let body = self.session.create_request(name);
        let created = async {
            let mut lines = self.client.stream("/api/create", &body).await?;
            while let Some(line) = lines.next().await {
                line?;
            }
            Ok::<(), CliError>(())
        };
        match created.await {
            Ok(()) => println!("Created new model '{name}'"),
            Err(e) if e.to_string().contains("invalid model name") => {
                println!("error: The model name '{name}' is invalid")
            }
            Err(e) => return Err(e),
        }
        Ok(Next::Read)
    }

    /// Ollama's `ensureThinkingSupport`: a warning, not a refusal.
    async fn warn_if_no_thinking(&self) {
        let model = &self.session.model;
        if let Ok(info) = run::show(self.client, model).await {
            if !info.capabilities.iter().any(|c| c == "thinking") {
                eprintln!("warning: model {model:?} does not support thinking output");
            }
        }
    }
}

fn system_message(content: &str) -> Message {
    Message {
        role: "system".into(),
        content: content.to_string(),
        ..Message::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(client: &Client) -> Chat<'_> {
        Chat {
            client,
            session: Session::default(),
            editor: LineEditor::new().expect("line editor"),
            text: String::new(),
            multiline: Multiline::None,
            alt: false,
            think_set: false,
        }
    }

    #[tokio::test]
    async fn triple_quotes_gather_a_multi_line_message() {
        let client = Client::new(super::super::client::base_url(""), None);
        let mut c = chat(&client);
        assert!(matches!(
            c.line("\"\"\"Name a colour").await,
            Ok(Next::Send)
        ));
        assert!(c.alt && c.multiline == Multiline::Prompt);
        assert!(matches!(c.line("and a fruit.\"\"\"").await, Ok(Next::Send)));
        assert!(!c.alt && c.multiline == Multiline::None);
        assert_eq!(c.text, "Name a colour\nand a fruit.");

        let mut c = chat(&client);
        assert!(matches!(
            c.line("\"\"\"one line\"\"\"").await,
            Ok(Next::Send)
        ));
        assert_eq!(c.text, "one line");
    }

    #[tokio::test]
    async fn set_system_replaces_a_trailing_system_message() {
        let client = Client::new(super::super::client::base_url(""), None);
        let mut c = chat(&client);
        assert!(matches!(
            c.line("/set system You are   terse.").await,
            Ok(Next::Read)
        ));
        assert!(matches!(
            c.line("/set system Be kind.").await,
            Ok(Next::Read)
        ));
        assert_eq!(c.session.system, "Be kind.");
        assert_eq!(c.session.messages.len(), 1);

        assert!(matches!(
            c.line("/set system \"\"\"Line one").await,
            Ok(Next::Read)
        ));
        assert!(matches!(c.line("line two\"\"\"").await, Ok(Next::Send)));
        assert_eq!(c.session.system, "Line one\nline two");
        assert!(c.text.is_empty());
    }

    #[tokio::test]
    async fn set_parameter_types_the_value() {
        let client = Client::new(super::super::client::base_url(""), None);
        let mut c = chat(&client);
        let _ = c.line("/set parameter temperature 0.5").await;
        let _ = c.line("/set parameter stop <a> <b>").await;
        let _ = c.line("/set parameter num_ctx lots").await;
        assert_eq!(
            Value::Object(c.session.options.clone()),
            json!({"temperature": 0.5, "stop": ["<a>", "<b>"]})
        );
        let _ = c.line("/clear").await;
        assert!(c.session.messages.is_empty());
    }
}
