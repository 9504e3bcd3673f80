//! Executing a parsed template with Go's `text/template` semantics (`missingkey=zero` on
//! Ollama's `map[string]any` data): variable scopes, pipelines, `if`/`with`/`range` with
//! `break`/`continue`, `{{template}}` calls, short-circuit `and`/`or`, and printing.
//! Output size, nesting depth (blocks and template calls) and range iterations are bounded,
//! so a hostile template ends in an error rather than a hang, a stack overflow or an
//! exhausted memory.

use std::collections::HashMap;

use gotmpl::parse::{CommandNode, Expr, ListNode, Node, Number, PipeNode};

use super::funcs;
use super::print::sprint;
use super::values::Val;

/// Most bytes one render may produce.
pub(crate) const MAX_OUTPUT: usize = 8 << 20;
/// Deepest nesting of blocks and `{{template}}` calls together (Go allows 100000 calls; we
/// recurse on ordinary thread stacks, so a recursive template full of nested ifs must stop
/// well before a 2 MiB stack is spent).
const MAX_DEPTH: usize = 200;
/// Most `range` iterations (over all loops) in one render.
const MAX_ITERATIONS: u64 = 1_000_000;

enum Flow {
    Normal,
    Break,
    Continue,
}

type R<T> = Result<T, String>;

pub(crate) struct Exec<'a> {
    defines: &'a HashMap<String, ListNode>,
    pub out: String,
    vars: Vec<(String, Val)>,
    depth: usize,
    iterations: u64,
}

impl<'a> Exec<'a> {
    pub fn new(defines: &'a HashMap<String, ListNode>) -> Self {
        Exec {
            defines,
            out: String::new(),
            vars: Vec::new(),
            depth: 0,
            iterations: 0,
        }
    }

    /// Runs `root` with `data` as dot and `$`, appending to `self.out`.
    pub fn run(&mut self, root: &ListNode, data: &Val) -> R<()> {
        self.vars.clear();
        self.vars.push(("$".into(), data.clone()));
        self.walk_list(root, data).map(|_| ())
    }

    fn emit(&mut self, s: &str) -> R<()> {
        if self.out.len() + s.len() > MAX_OUTPUT {
            return Err(format!("output exceeds {MAX_OUTPUT} bytes"));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn walk_list(&mut self, list: &ListNode, dot: &Val) -> R<Flow> {
        for n in &list.nodes {
            match self.walk(n, dot)? {
                Flow::Normal => {}
                flow => return Ok(flow),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, n: &Node, dot: &Val) -> R<Flow> {
        let nests = matches!(
            n,
            Node::If(_) | Node::With(_) | Node::Range(_) | Node::Template(_) | Node::List(_)
        );
        if !nests {
            return self.walk_node(n, dot);
        }
        if self.depth >= MAX_DEPTH {
            return Err(format!("exceeded maximum template depth ({MAX_DEPTH})"));
        }
        self.depth += 1;
        let r = self.walk_node(n, dot);
        self.depth -= 1;
        r
    }

    fn walk_node(&mut self, n: &Node, dot: &Val) -> R<Flow> {
        match n {
            Node::List(l) => self.walk_list(l, dot),
            Node::Text(t) => self.emit(&t.text).map(|_| Flow::Normal),
            Node::Action(a) => {
                let v = self.pipe(&a.pipe, dot)?;
                if a.pipe.decl.is_empty() {
                    // A nil interface or missing key prints as Go's `<no value>`.
                    let mut s = String::new();
                    match v {
                        Val::Nil => s.push_str("<no value>"),
                        v => sprint(&v, &mut s),
                    }
                    self.emit(&s)?;
                }
                Ok(Flow::Normal)
            }
            Node::If(b) | Node::With(b) => {
                let mark = self.vars.len();
                let v = self.pipe(&b.pipe, dot)?;
                let flow = if v.truthy() {
                    let inner = if matches!(n, Node::With(_)) { &v } else { dot };
                    self.walk_list(&b.body, inner)?
                } else if let Some(e) = &b.else_body {
                    self.walk_list(e, dot)?
                } else {
                    Flow::Normal
                };
                self.vars.truncate(mark);
                Ok(flow)
            }
            Node::Range(b) => {
                let mark = self.vars.len();
                let v = self.commands(&b.pipe, dot)?;
                let r = self.range(b, &v, dot);
                self.vars.truncate(mark);
                r.map(|_| Flow::Normal)
            }
            Node::Template(t) => {
                let Some(body) = self.defines.get(t.name.as_str()) else {
                    return Err(format!("no such template {:?}", t.name.as_str()));
                };
                let data = match &t.pipe {
                    Some(p) => self.pipe(p, dot)?,
                    None => Val::Nil,
                };
                // A called template sees only `$` (its dot), as in Go.
                let saved = std::mem::replace(&mut self.vars, vec![("$".into(), data.clone())]);
                let r = self.walk_list(body, &data);
                self.vars = saved;
                r.map(|_| Flow::Normal)
            }
            Node::Define(_) => Ok(Flow::Normal),
            Node::Break(_) => Ok(Flow::Break),
            Node::Continue(_) => Ok(Flow::Continue),
        }
    }

    fn range(&mut self, b: &gotmpl::parse::RangeNode, v: &Val, dot: &Val) -> R<()> {
        let items: Vec<(Val, Val)> = match v {
            Val::List(l) => l
                .items
                .iter()
                .enumerate()
                .map(|(i, x)| (Val::Int(i as i64), x.clone()))
                .collect(),
            Val::Map(m) => m
                .entries
                .iter()
                .map(|(k, x)| (Val::str(k), x.clone()))
                .collect(),
            Val::Int(n) => {
                if b.pipe.decl.len() > 1 {
                    return Err("can't use a second variable when ranging over an int".into());
                }
                let n = u64::try_from(*n).unwrap_or(0);
                if self.iterations.saturating_add(n) > MAX_ITERATIONS {
                    return Err(format!("more than {MAX_ITERATIONS} range iterations"));
                }
                (0..n as i64).map(|i| (Val::Int(i), Val::Int(i))).collect()
            }
            // A nil value ranges over nothing (Go's invalid value: not an error).
            Val::Nil => Vec::new(),
            other => return Err(format!("range can't iterate over {}", other.type_name())),
        };
        if items.is_empty() {
            if let Some(e) = &b.else_body {
                self.walk_list(e, dot)?;
            }
            return Ok(());
        }
        for (key, elem) in items {
            self.iterations += 1;
            if self.iterations > MAX_ITERATIONS {
                return Err(format!("more than {MAX_ITERATIONS} range iterations"));
            }
            let mark = self.vars.len();
            let decl = &b.pipe.decl;
            let (first, second) = if decl.len() == 1 {
                (elem.clone(), None)
            } else {
                (key, Some(elem.clone()))
            };
            if let Some(name) = decl.first() {
                self.bind(name, first, b.pipe.is_assign)?;
            }
            if let (Some(name), Some(v)) = (decl.get(1), second) {
                self.bind(name, v, b.pipe.is_assign)?;
            }
            let flow = self.walk_list(&b.body, &elem)?;
            self.vars.truncate(mark);
            if let Flow::Break = flow {
                break;
            }
        }
        Ok(())
    }

    fn bind(&mut self, name: &str, v: Val, assign: bool) -> R<()> {
        if !assign {
            self.vars.push((name.to_string(), v));
            return Ok(());
        }
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => Err(format!("undefined variable: {name}")),
        }
    }

    fn var(&self, name: &str) -> R<Val> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("undefined variable: {name}"))
    }

    /// A pipeline, binding its declared or assigned variables.
    fn pipe(&mut self, p: &PipeNode, dot: &Val) -> R<Val> {
        let v = self.commands(p, dot)?;
        for name in &p.decl {
            self.bind(name, v.clone(), p.is_assign)?;
        }
        Ok(v)
    }

    /// A pipeline's commands, each result the last argument of the next.
    fn commands(&mut self, p: &PipeNode, dot: &Val) -> R<Val> {
        let mut value: Option<Val> = None;
        for c in &p.commands {
            value = Some(self.command(c, dot, value)?);
        }
        value.ok_or_else(|| "missing value for command".into())
    }

    fn command(&mut self, c: &CommandNode, dot: &Val, last: Option<Val>) -> R<Val> {
        let Some(first) = c.args.first() else {
            return Err("empty command".into());
        };
        if let Expr::Identifier(_, name) = first {
            return self.call(name, &c.args[1..], dot, last);
        }
        if c.args.len() > 1 || last.is_some() {
            return Err("can't give argument to non-function".into());
        }
        if let Expr::Nil(_) = first {
            return Err("nil is not a command".into());
        }
        self.arg(first, dot)
    }

    fn call(&mut self, name: &str, args: &[Expr], dot: &Val, last: Option<Val>) -> R<Val> {
        if name == "and" || name == "or" {
            // Go's and/or: evaluate in order, stop at the first falsy (and) / truthy (or)
            // operand and return it; otherwise return the last.
            let total = args.len() + usize::from(last.is_some());
            if total == 0 {
                return Err(format!(
                    "wrong number of args for {name}: want at least 1 got 0"
                ));
            }
            let want = name == "or";
            let mut v = Val::Nil;
            for a in args {
                v = self.arg(a, dot)?;
                if v.truthy() == want {
                    return Ok(v);
                }
            }
            if let Some(l) = last {
                v = l;
            }
            return Ok(v);
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.arg(a, dot)?);
        }
        vals.extend(last);
        funcs::call(name, &vals).map_err(|e| format!("error calling {name}: {e}"))
    }

    fn arg(&mut self, e: &Expr, dot: &Val) -> R<Val> {
        match e {
            Expr::Dot(_) => Ok(dot.clone()),
            Expr::Field(_, idents) => chain(dot.clone(), idents),
            Expr::Variable(_, name, idents) => chain(self.var(name)?, idents),
            Expr::Chain(_, inner, idents) => {
                let v = self.arg(inner, dot)?;
                chain(v, idents)
            }
            Expr::Identifier(_, name) => self.call(name, &[], dot, None),
            Expr::String(_, s) => Ok(Val::str(s)),
            Expr::Number(_, Number::Int(i)) => Ok(Val::Int(*i)),
            Expr::Number(_, Number::Uint(u)) => Ok(Val::Int(i64::try_from(*u).unwrap_or(i64::MAX))),
            Expr::Number(_, Number::Float(f)) => Ok(Val::Float(*f)),
            Expr::Bool(_, b) => Ok(Val::Bool(*b)),
            Expr::Nil(_) => Ok(Val::Nil),
            Expr::Pipe(_, p) => {
                let mark = self.vars.len();
                let v = self.pipe(p, dot);
                self.vars.truncate(mark);
                v
            }
        }
    }
}

/// `.A.B.C` from `v`: map keys (missing: nil) and struct fields.
fn chain(mut v: Val, idents: &[gotmpl::parse::SmolStr]) -> R<Val> {
    for name in idents {
        v = match &v {
            Val::Map(m) => m
                .entries
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, x)| x.clone())
                .unwrap_or(Val::Nil),
            Val::Struct(s) => Val::struct_field(s, name)
                .ok_or_else(|| format!("can't evaluate field {name} in type {}", v.type_name()))?,
            Val::Nil => return Err(format!("nil pointer evaluating interface {{}}.{name}")),
            other => {
                return Err(format!(
                    "can't evaluate field {name} in type {}",
                    other.type_name()
                ))
            }
        };
    }
    Ok(v)
}
