//! Ollama's Go `text/template` chat templates (a model's `template` layer), rendered
//! byte for byte as Ollama's `template.Template.Execute` does.
//!
//! # Why not a Go-template crate end to end
//! Parsing uses the maintained [`gotmpl`] crate (lexer, trim markers, `else if`, `break`,
//! `define`/`block`, its public AST). Execution is ours (`exec.rs`): `gotmpl`'s `Value` is a
//! closed enum with fixed printing, and Ollama's output depends on Go types it cannot model —
//! `templateArgs`/`templateProperties`/`templateTools` are maps and slices you can `range`
//! over but whose `String()` prints JSON, `api.PropertyType` prints bare, JSON must follow
//! `encoding/json` (HTML escapes, Go floats, tag names, `omitempty`), and `missingkey=zero` on
//! `map[string]any` prints `<no value>`. `gtmpl` was weaker still (its own `Value`, no
//! `$x = …` reassignment, no `break`/`continue`). We also need the AST itself for Ollama's
//! `Vars()` and its cut after `.Response`, which `gotmpl` exposes.
//!
//! Known deviation: Ollama runs the cut last turn of a legacy template as a fresh Go template
//! without its functions or `define`s (so `json` there would fail); we keep both.

mod collate;
mod convert;
mod exec;
mod funcs;
mod gojson;
mod print;
mod printf;
mod structure;
mod tree;
mod values;

use std::collections::{BTreeSet, HashMap};

use gotmpl::parse::{ActionNode, CommandNode, Expr, ListNode, Node, Parser, PipeNode, Pos};

use super::TextError;
use values::{MapKind, Val};

/// A parsed Go template, as Ollama's `template.Parse` leaves it.
#[derive(Debug, Clone)]
pub struct GoTemplate {
    source: String,
    root: ListNode,
    defines: HashMap<String, ListNode>,
    vars: Vec<String>,
}

/// What a render is given: Ollama's `template.Values`.
#[derive(Debug, Clone, Default)]
pub struct GoValues {
    pub messages: Vec<GoMessage>,
    /// OpenAI-style tool definitions as Ollama's `api.Tool` JSON.
    pub tools: Vec<serde_json::Value>,
    pub prompt: String,
    pub suffix: String,
    pub think: bool,
    pub think_level: String,
    pub is_think_set: bool,
    /// Ollama's `forceLegacy`: render turn by turn through `.Prompt`/`.Response` even when the
    /// template ranges over `.Messages`.
    pub force_legacy: bool,
}

/// One chat message (`api.Message`).
#[derive(Debug, Clone, Default)]
pub struct GoMessage {
    pub role: String,
    pub content: String,
    pub thinking: String,
    /// `api.ToolCall` JSON: `{"id"?, "function": {"index"?, "name", "arguments": {…}}}`.
    pub tool_calls: Vec<serde_json::Value>,
    pub tool_name: String,
    pub tool_call_id: String,
    /// How many images the message carries (only the count matters to templates).
    pub images: usize,
}

fn err(e: impl std::fmt::Display) -> TextError {
    TextError::Template(format!("go template: {e}"))
}

impl GoTemplate {
    /// Parses `source`. Like Ollama, a template naming neither `.Messages` nor `.Response`
    /// gets `{{ .Response }}` appended.
    pub fn parse(source: &str) -> Result<Self, TextError> {
        let (mut root, defs) = Parser::new(source, "{{", "}}")
            .and_then(Parser::parse)
            .map_err(err)?;
        structure::check_blocks(source).map_err(err)?;
        let mut defines = HashMap::new();
        for d in defs {
            defines.insert(d.name.to_string(), d.body);
        }
        tree::check_functions(&root, funcs::NAMES).map_err(err)?;
        for body in defines.values() {
            tree::check_functions(body, funcs::NAMES).map_err(err)?;
        }
        let mut vars = collect_vars(&root, &defines)?;
        if !vars.iter().any(|v| v == "messages" || v == "response") {
            root.nodes.push(response_action());
            vars = collect_vars(&root, &defines)?;
        }
        Ok(GoTemplate {
            source: source.to_string(),
            root,
            defines,
            vars,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Lowercased, sorted, deduplicated identifiers the template references (Ollama's
    /// `Template.Vars()`): `messages`, `tools`, `system`, `prompt`, `response`, but also field
    /// names inside ranges (`role`, `content`) and variables (`$`, `$i`).
    pub fn vars(&self) -> Vec<String> {
        self.vars.clone()
    }

    /// Ollama's `Template.Execute`.
    pub fn render(&self, v: &GoValues) -> Result<String, TextError> {
        let (system, messages) = collate::collate(&v.messages);
        let think = |mut e: Vec<(String, Val)>| {
            e.push(("Think".into(), Val::Bool(v.think)));
            e.push(("ThinkLevel".into(), Val::str(&v.think_level)));
            e.push(("IsThinkSet".into(), Val::Bool(v.is_think_set)));
            Val::sorted_map(e, MapKind::Plain)
        };
        let mut ex = exec::Exec::new(&self.defines);
        if !v.prompt.is_empty() && !v.suffix.is_empty() {
            let data = think(vec![
                ("Prompt".into(), Val::str(&v.prompt)),
                ("Suffix".into(), Val::str(&v.suffix)),
                ("Response".into(), Val::str("")),
            ]);
            ex.run(&self.root, &data).map_err(err)?;
            return Ok(ex.out);
        }
        if !v.force_legacy && self.vars.iter().any(|x| x == "messages") {
            let msgs = messages.iter().map(convert::message).collect();
            let data = think(vec![
                ("System".into(), Val::str(&system)),
                (
                    "Messages".into(),
                    Val::list(msgs, values::ListKind::Plain, messages.is_empty()),
                ),
                ("Tools".into(), convert::tools(&v.tools)),
                ("Response".into(), Val::str("")),
            ]);
            ex.run(&self.root, &data).map_err(err)?;
            return Ok(ex.out);
        }

        // Legacy: one execution per completed turn, then the last one cut after `.Response`.
        let turn = |s: &str, p: &str, r: &str| {
            think(vec![
                ("System".into(), Val::str(s)),
                ("Prompt".into(), Val::str(p)),
                ("Response".into(), Val::str(r)),
            ])
        };
        let (mut system, mut prompt, mut response) = (String::new(), String::new(), String::new());
        for m in &messages {
            let flush = match m.role.as_str() {
                "system" => !prompt.is_empty() || !response.is_empty(),
                "user" => !response.is_empty(),
                _ => false,
            };
            if flush {
                ex.run(&self.root, &turn(&system, &prompt, &response))
                    .map_err(err)?;
                system.clear();
                prompt.clear();
                response.clear();
            }
            match m.role.as_str() {
                "system" => system = m.content.clone(),
                "user" => prompt = m.content.clone(),
                "assistant" => response = m.content.clone(),
                _ => {}
            }
        }
        let cut = tree::cut_after_response(&self.root);
        ex.run(&cut, &turn(&system, &prompt, &response))
            .map_err(err)?;
        Ok(ex.out)
    }
}

fn collect_vars(
    root: &ListNode,
    defines: &HashMap<String, ListNode>,
) -> Result<Vec<String>, TextError> {
    let mut ids = Vec::new();
    tree::identifiers(root, &mut ids).map_err(err)?;
    for body in defines.values() {
        tree::identifiers(body, &mut ids).map_err(err)?;
    }
    let set: BTreeSet<String> = ids.iter().map(|s| s.to_lowercase()).collect();
    Ok(set.into_iter().collect())
}

/// `{{ .Response }}`, the node Ollama appends to templates that lack one.
fn response_action() -> Node {
    let pos = Pos::new(0, 1);
    Node::Action(ActionNode {
        pos,
        pipe: PipeNode {
            pos,
            decl: Vec::new(),
            commands: vec![CommandNode {
                pos,
                args: vec![Expr::Field(pos, vec!["Response".into()])],
            }],
            is_assign: false,
        },
    })
}

#[cfg(test)]
mod tests;
