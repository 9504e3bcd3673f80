//! Ollama's Modelfile: parsing (`FROM`, `PARAMETER`, `TEMPLATE`, `SYSTEM`, `MESSAGE`,
//! `LICENSE`, `ADAPTER`, quoting and `"""` blocks) into the body of a create call.
//!
//! The parser is a port of Ollama's `parser.ParseFile` state machine, quirks included
//! (a value ends at the first newline where it unquotes; no backslash escapes; only
//! `"` quotes), so a Modelfile means the same to `rollama create` as to `ollama create`.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use super::CliError;
use crate::api::modelfile_quote;

/// One Modelfile command. `name` is Ollama's: `model` for `FROM`, the parameter's name for
/// `PARAMETER`, the lower-cased command otherwise; a `MESSAGE`'s args are `role: content`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub name: String,
    pub args: String,
}

impl Command {
    fn new(name: &str, args: &str) -> Self {
        Self {
            name: name.into(),
            args: args.into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Modelfile {
    pub commands: Vec<Command>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelfileError {
    /// Ollama's `ParserError`: a bad command name or message role, with its line.
    #[error("(line {line}): {message}")]
    Syntax { line: usize, message: &'static str },
    /// The text ended (or a line broke) where a command still needed its value.
    #[error("unexpected EOF{}", detail(.0))]
    UnexpectedEof(String),
    #[error("no FROM line")]
    MissingFrom,
    /// Ollama's `unknown parameter 'x'` / `invalid float value [abc]`.
    #[error(transparent)]
    Parameter(#[from] super::params::ParamError),
    /// A command rollama's server cannot honour: refused before anything is hashed or
    /// uploaded, rather than after sending gigabytes to a server that answers 400.
    #[error("{0} is not supported by rollama")]
    Unsupported(String),
    #[error("requires must be a valid semver (e.g. 0.14.0)")]
    Requires,
    #[error("failed to find user '{0}': user: unknown user {0}")]
    UnknownUser(String),
    #[error("{path}: {message}")]
    Io { path: String, message: String },
}

fn detail(s: &str) -> String {
    match s.is_empty() {
        true => String::new(),
        false => format!(": {s}"),
    }
}

impl From<ModelfileError> for CliError {
    fn from(e: ModelfileError) -> Self {
        CliError::Usage(e.to_string())
    }
}

const INVALID_COMMAND: &str = "command must be one of \"from\", \"license\", \"template\", \"system\", \"adapter\", \"draft\", \"renderer\", \"parser\", \"parameter\", \"message\", or \"requires\"";
const INVALID_ROLE: &str = "message role must be one of \"system\", \"user\", or \"assistant\"";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Nil,
    Name,
    Value,
    Parameter,
    Message,
    Comment,
}

enum StepError {
    InvalidCommand,
    UnexpectedEof,
}

impl Modelfile {
    /// A Modelfile's bytes as Ollama reads them: UTF-8, or UTF-16 after its BOM.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, ModelfileError> {
        Self::parse(&decode(bytes))
    }

    /// Ollama's `ParseFile`.
    pub fn parse(text: &str) -> Result<Self, ModelfileError> {
        let mut name = String::new();
        let mut curr = State::Nil;
        let mut line = 1;
        // Where the value being read began, for the message when it never ends.
        let mut value_line = 1;
        let mut buf = String::new();
        let mut role = String::new();
        let mut commands = vec![];

        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            let here = line;
            if c == '\n' || (c == '\r' && chars.peek() != Some(&'\n')) {
                line += 1;
            }
            let (mut next, r) = match step(c, curr) {
                Ok(s) => s,
                Err(StepError::InvalidCommand) => {
                    return Err(ModelfileError::Syntax {
                        line: here,
                        message: INVALID_COMMAND,
                    })
                }
                Err(StepError::UnexpectedEof) => return Err(ModelfileError::UnexpectedEof(buf)),
            };
            if next != curr {
                match curr {
                    State::Name => {
                        if !is_valid_command(&buf) {
                            return Err(ModelfileError::Syntax {
                                line: here,
                                message: INVALID_COMMAND,
                            });
                        }
                        name = buf.to_lowercase();
                        match name.as_str() {
                            "from" => name = "model".into(),
                            "parameter" => next = State::Parameter,
                            "message" => next = State::Message,
                            _ => {}
                        }
                        value_line = here;
                    }
                    State::Parameter => name = buf.clone(),
                    State::Message => {
                        if !matches!(buf.as_str(), "system" | "user" | "assistant") {
                            return Err(ModelfileError::Syntax {
                                line: here,
                                message: INVALID_ROLE,
                            });
                        }
                        role = buf.clone();
                    }
                    State::Comment | State::Nil => {}
                    State::Value => {
                        let value = unquote(buf.trim());
                        let (Some(value), false) = (value, r.is_some_and(is_space)) else {
                            // Not a whole value yet: the space or newline is part of it.
                            if let Some(r) = r {
                                buf.push(r);
                            }
                            continue;
                        };
                        commands.push(Command::new(&name, &with_role(&mut role, value)));
                    }
                }
                buf.clear();
                curr = next;
            }
            if let Some(r) = r.filter(|&r| is_print(r)) {
                buf.push(r);
            }
        }

        match curr {
            State::Comment | State::Nil => {}
            State::Value => {
                let trimmed = buf.trim();
                let Some(value) = unquote(trimmed) else {
                    let quote = match trimmed.starts_with("\"\"\"") {
                        true => "\"\"\"",
                        false => "\"",
                    };
                    return Err(ModelfileError::UnexpectedEof(format!(
                        "the {quote} opened on line {value_line} is never closed"
                    )));
                };
                commands.push(Command::new(&name, &with_role(&mut role, value)));
            }
            State::Name | State::Parameter | State::Message => {
                return Err(ModelfileError::UnexpectedEof(format!(
                    "line {line} ends before its command has a value"
                )))
            }
        }

        match commands.iter().any(|c| c.name == "model") {
            true => Ok(Self { commands }),
            false => Err(ModelfileError::MissingFrom),
        }
    }
}

/// Ollama's `Modelfile.String`: each command as a line that parses back to it.
impl fmt::Display for Modelfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.commands {
            match c.name.as_str() {
                "model" => writeln!(f, "FROM {}", c.args)?,
                "license" | "template" | "system" | "adapter" | "renderer" | "parser"
                | "requires" | "draft" => {
                    writeln!(f, "{} {}", c.name.to_uppercase(), modelfile_quote(&c.args))?
                }
                "message" => {
                    let (role, content) = c.args.split_once(": ").unwrap_or((c.args.as_str(), ""));
                    writeln!(f, "MESSAGE {role} {}", modelfile_quote(content))?
                }
                _ => writeln!(f, "PARAMETER {} {}", c.name, modelfile_quote(&c.args))?,
            }
        }
        Ok(())
    }
}

fn with_role(role: &mut String, value: &str) -> String {
    match role.is_empty() {
        true => value.to_string(),
        false => format!("{}: {value}", std::mem::take(role)),
    }
}

/// Ollama's `parseRuneForState`: the next state, and the character to keep (if any).
fn step(c: char, state: State) -> Result<(State, Option<char>), StepError> {
    Ok(match state {
        State::Nil => match c {
            '#' => (State::Comment, None),
            c if is_space(c) || is_newline(c) => (State::Nil, None),
            c => (State::Name, Some(c)),
        },
        State::Name => match c {
            c if c.is_ascii_alphabetic() => (State::Name, Some(c)),
            c if is_space(c) => (State::Value, None),
            _ => return Err(StepError::InvalidCommand),
        },
        State::Value => match c {
            c if is_newline(c) || is_space(c) => (State::Nil, Some(c)),
            c => (State::Value, Some(c)),
        },
        State::Parameter => match c {
            c if c.is_ascii_alphanumeric() || c == '_' => (State::Parameter, Some(c)),
            c if is_space(c) => (State::Value, None),
            _ => return Err(StepError::UnexpectedEof),
        },
        State::Message => match c {
            c if c.is_ascii_alphabetic() => (State::Message, Some(c)),
            c if is_space(c) => (State::Value, None),
            _ => return Err(StepError::UnexpectedEof),
        },
        State::Comment => match c {
            c if is_newline(c) => (State::Nil, None),
            _ => (State::Comment, None),
        },
    })
}

fn is_space(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_newline(c: char) -> bool {
    c == '\r' || c == '\n'
}

/// Go's `strconv.IsPrint` as far as a Modelfile cares: control characters and spaces
/// other than ASCII space are dropped between words (tabs and newlines inside a value are
/// kept by the caller), as Ollama's parser drops them.
fn is_print(c: char) -> bool {
    !c.is_control() && (c == ' ' || !c.is_whitespace()) && c != '\u{feff}'
}

fn is_valid_command(name: &str) -> bool {
    matches!(
        name.to_lowercase().as_str(),
        "from"
            | "license"
            | "template"
            | "system"
            | "adapter"
            | "draft"
            | "renderer"
            | "parser"
            | "parameter"
            | "message"
            | "requires"
    )
}

/// Ollama's `unquote`: `"""…"""` or `"…"` stripped; `None` while a quote is still open.
fn unquote(s: &str) -> Option<&str> {
    let triple = "\"\"\"";
    if s.starts_with(triple) {
        return (s.len() >= 6 && s.ends_with(triple)).then(|| &s[3..s.len() - 3]);
    }
    if s.starts_with('"') {
        return (s.len() >= 2 && s.ends_with('"')).then(|| &s[1..s.len() - 1]);
    }
    Some(s)
}

/// UTF-16 with a BOM, as Ollama's `unicode.BOMOverride` reads it; UTF-8 otherwise (a UTF-8
/// BOM dropped, invalid bytes replaced).
fn decode(bytes: &[u8]) -> String {
    let utf16 = |bytes: &[u8], word: fn([u8; 2]) -> u16| {
        let units: Vec<u16> = bytes
            .chunks(2)
            .map(|c| word([c[0], c.get(1).copied().unwrap_or(0)]))
            .collect();
        String::from_utf16_lossy(&units)
    };
    match bytes {
        [0xef, 0xbb, 0xbf, rest @ ..] => String::from_utf8_lossy(rest).into_owned(),
        [0xff, 0xfe, rest @ ..] => utf16(rest, u16::from_le_bytes),
        [0xfe, 0xff, rest @ ..] => utf16(rest, u16::from_be_bytes),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// What a Modelfile asks `/api/create` for, before local files are hashed: Ollama's
/// `Modelfile.CreateRequest`, with the paths of `FROM`s that name existing files or
/// directories in `local` (the caller hashes and uploads them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateRequest {
    pub from: Option<String>,
    pub local: Vec<PathBuf>,
    pub template: Option<String>,
    pub system: Option<String>,
    pub license: Vec<String>,
    pub parameters: Map<String, Value>,
    pub messages: Vec<(String, String)>,
    pub requires: Option<String>,
    /// `warning: parameter … is deprecated`, for the caller to print.
    pub warnings: Vec<String>,
}

/// Parameters Ollama still accepts in a Modelfile and ignores with a warning.
const DEPRECATED: [&str; 9] = [
    "penalize_newline",
    "low_vram",
    "f16_kv",
    "logits_all",
    "vocab_only",
    "use_mlock",
    "mirostat",
    "mirostat_tau",
    "mirostat_eta",
];

/// Ollama's `api.FormatParams` for one value: typed by the option it sets (the same
/// typing as the chat's `/set parameter`).
pub fn parameter_value(key: &str, value: &str) -> Result<Value, ModelfileError> {
    super::params::parse(key, &[value.to_string()]).map_err(ModelfileError::from)
}

impl Modelfile {
    /// Ollama's `Modelfile.CreateRequest`: paths (relative ones from `relative_dir`, the
    /// Modelfile's directory) that exist go to `local`, any other `FROM` is a model name.
    pub fn to_create_request(&self, relative_dir: &Path) -> Result<CreateRequest, ModelfileError> {
        if let Some(c) = self
            .commands
            .iter()
            .find(|c| matches!(c.name.as_str(), "adapter" | "draft" | "renderer" | "parser"))
        {
            return Err(ModelfileError::Unsupported(c.name.to_uppercase()));
        }
        let mut req = CreateRequest::default();
        for c in &self.commands {
            match c.name.as_str() {
                "model" => {
                    let path = expand_path(&c.args, relative_dir)?;
                    match std::fs::metadata(&path) {
                        Ok(_) => req.local.push(path),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                            req.from = Some(c.args.clone())
                        }
                        Err(e) => {
                            return Err(ModelfileError::Io {
                                path: path.display().to_string(),
                                message: e.to_string(),
                            })
                        }
                    }
                }
                "template" => req.template = Some(c.args.clone()),
                "system" => req.system = Some(c.args.clone()),
                "license" => req.license.push(c.args.clone()),
                "requires" => req.requires = Some(semver(&c.args)?),
                "message" => {
                    let (role, content) = c.args.split_once(": ").unwrap_or((c.args.as_str(), ""));
                    req.messages.push((role.to_string(), content.to_string()));
                }
                key if DEPRECATED.contains(&key) => req
                    .warnings
                    .push(format!("warning: parameter {key} is deprecated")),
                key => {
                    let value = parameter_value(key, &c.args)?;
                    match (req.parameters.get_mut(key), value) {
                        (Some(Value::Array(old)), Value::Array(new)) => old.extend(new),
                        (_, value) => {
                            req.parameters.insert(key.to_string(), value);
                        }
                    }
                }
            }
        }
        Ok(req)
    }
}

/// `REQUIRES 0.14.0` (a leading `v` optional), checked as Go's `semver.IsValid`.
fn semver(raw: &str) -> Result<String, ModelfileError> {
    let version = raw.strip_prefix('v').unwrap_or(raw);
    let (core, _build) = version.split_once('+').unwrap_or((version, ""));
    let (core, pre) = match core.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (core, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    let numeric = |p: &&str| {
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p.len() == 1 || !p.starts_with('0'))
    };
    // Go's shorthands `v1` and `v1.2` are valid, but only a full version has a suffix.
    let suffixed = pre.is_some() || version.contains('+');
    let ok = !parts.is_empty()
        && parts.len() <= 3
        && parts.iter().all(numeric)
        && (!suffixed || parts.len() == 3)
        && pre.is_none_or(|p| !p.is_empty());
    match ok {
        true => Ok(version.to_string()),
        false => Err(ModelfileError::Requires),
    }
}

/// Ollama's `expandPath`: absolute paths as they are, `~` and `~user` from the home
/// directory, anything else from `relative_dir`; always absolute and clean.
pub fn expand_path(path: &str, relative_dir: &Path) -> Result<PathBuf, ModelfileError> {
    let joined = if path.starts_with('/') || path.starts_with('\\') {
        PathBuf::from(path)
    } else if let Some(rest) = path.strip_prefix('~') {
        let (home, rest) = match rest.strip_prefix('/') {
            Some(rest) => (home_dir(), rest),
            None if rest.is_empty() => (home_dir(), ""),
            None => {
                let (user, rest) = rest.split_once('/').unwrap_or((rest, ""));
                let home =
                    user_home(user).ok_or_else(|| ModelfileError::UnknownUser(user.to_string()))?;
                (home, rest)
            }
        };
        home.join(rest)
    } else {
        relative_dir.join(path)
    };
    let absolute = match joined.is_absolute() {
        true => joined,
        false => std::env::current_dir()
            .map_err(|e| ModelfileError::Io {
                path: ".".into(),
                message: e.to_string(),
            })?
            .join(joined),
    };
    Ok(clean(&absolute))
}

fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// Another user's home directory, from `/etc/passwd` (`name:x:uid:gid:gecos:home:shell`).
fn user_home(user: &str) -> Option<PathBuf> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 6 && fields[0] == user).then(|| PathBuf::from(fields[5]))
    })
}

/// Go's `filepath.Clean` for an absolute path: `.` dropped, `..` applied.
fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
