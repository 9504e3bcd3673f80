//! Walks over the parse tree that Ollama's template.go does: `Identifiers` (behind `Vars()`),
//! the parse-time check that every called function exists, and `deleteNode` (cutting a
//! legacy template after `.Response` for the last turn).

use gotmpl::parse::{Expr, ListNode, Node, PipeNode};

/// The identifiers Ollama's `Identifiers` collects: every field chain (`.Function.Name` gives
/// `Function`, `Name`) and variable chain (`$.Messages` gives `$`, `Messages`) in actions and
/// in if/range/with pipelines. A `{{template}}` without a pipeline is an error, as in Ollama.
pub(crate) fn identifiers(list: &ListNode, out: &mut Vec<String>) -> Result<(), String> {
    for n in &list.nodes {
        node_identifiers(n, out)?;
    }
    Ok(())
}

fn node_identifiers(n: &Node, out: &mut Vec<String>) -> Result<(), String> {
    match n {
        Node::List(l) => identifiers(l, out)?,
        Node::Action(a) => pipe_identifiers(&a.pipe, out),
        Node::Template(t) => match &t.pipe {
            Some(p) => pipe_identifiers(p, out),
            None => return Err("undefined template specified".into()),
        },
        Node::If(b) | Node::Range(b) | Node::With(b) => {
            pipe_identifiers(&b.pipe, out);
            identifiers(&b.body, out)?;
            if let Some(e) = &b.else_body {
                identifiers(e, out)?;
            }
        }
        Node::Text(_) | Node::Define(_) | Node::Break(_) | Node::Continue(_) => {}
    }
    Ok(())
}

fn pipe_identifiers(p: &PipeNode, out: &mut Vec<String>) {
    for c in &p.commands {
        for a in &c.args {
            match a {
                Expr::Field(_, idents) => out.extend(idents.iter().map(|s| s.to_string())),
                Expr::Variable(_, name, idents) => {
                    out.push(name.to_string());
                    out.extend(idents.iter().map(|s| s.to_string()));
                }
                Expr::Pipe(_, inner) => pipe_identifiers(inner, out),
                _ => {}
            }
        }
    }
}

/// Go's parser rejects calls of functions that are not registered.
pub(crate) fn check_functions(list: &ListNode, known: &[&str]) -> Result<(), String> {
    list.nodes.iter().try_for_each(|n| check_node(n, known))
}

fn check_node(n: &Node, known: &[&str]) -> Result<(), String> {
    match n {
        Node::List(l) => check_functions(l, known),
        Node::Action(a) => check_pipe(&a.pipe, known),
        Node::Template(t) => t.pipe.as_ref().map_or(Ok(()), |p| check_pipe(p, known)),
        Node::If(b) | Node::Range(b) | Node::With(b) => {
            check_pipe(&b.pipe, known)?;
            check_functions(&b.body, known)?;
            b.else_body
                .as_ref()
                .map_or(Ok(()), |e| check_functions(e, known))
        }
        Node::Define(d) => check_functions(&d.body, known),
        Node::Text(_) | Node::Break(_) | Node::Continue(_) => Ok(()),
    }
}

fn check_pipe(p: &PipeNode, known: &[&str]) -> Result<(), String> {
    for c in &p.commands {
        for a in &c.args {
            check_expr(a, known)?;
        }
    }
    Ok(())
}

fn check_expr(e: &Expr, known: &[&str]) -> Result<(), String> {
    match e {
        Expr::Identifier(_, name) if !known.contains(&name.as_str()) => {
            Err(format!("function {:?} not defined", name.as_str()))
        }
        Expr::Pipe(_, p) => check_pipe(p, known),
        Expr::Chain(_, inner, _) => check_expr(inner, known),
        _ => Ok(()),
    }
}

/// Ollama's `deleteNode` with its predicate: walking in order, the first field chain that
/// names `Response` is kept and every node visited after it is dropped. As in Ollama, if/with/
/// range pipelines are not looked into, and a command left without arguments drops its whole
/// pipeline.
pub(crate) fn cut_after_response(list: &ListNode) -> ListNode {
    let mut cut = false;
    cut_list(list, &mut cut)
}

fn cut_list(list: &ListNode, cut: &mut bool) -> ListNode {
    let mut nodes = Vec::new();
    for n in &list.nodes {
        if *cut {
            continue;
        }
        if let Some(n) = cut_node(n, cut) {
            nodes.push(n);
        }
    }
    ListNode {
        pos: list.pos,
        nodes,
    }
}

fn cut_node(n: &Node, cut: &mut bool) -> Option<Node> {
    match n {
        Node::List(l) => Some(Node::List(cut_list(l, cut))),
        Node::If(b) | Node::Range(b) | Node::With(b) => {
            let mut b = b.clone();
            b.body = cut_list(&b.body, cut);
            // Ollama would fail here (a deleted else list); dropping the else branch is the
            // closest sensible reading.
            b.else_body = match (&b.else_body, *cut) {
                (Some(e), false) => Some(cut_list(e, cut)),
                _ => None,
            };
            Some(match n {
                Node::If(_) => Node::If(b),
                Node::Range(_) => Node::Range(b),
                _ => Node::With(b),
            })
        }
        Node::Action(a) => {
            let pipe = cut_pipe(&a.pipe, cut)?;
            let mut a = a.clone();
            a.pipe = pipe;
            Some(Node::Action(a))
        }
        other => Some(other.clone()),
    }
}

fn cut_pipe(p: &PipeNode, cut: &mut bool) -> Option<PipeNode> {
    let mut commands = Vec::new();
    for c in &p.commands {
        let mut args = Vec::new();
        for a in &c.args {
            if *cut {
                continue;
            }
            match a {
                Expr::Field(_, idents) if idents.iter().any(|i| i == "Response") => {
                    *cut = true;
                    args.push(a.clone());
                }
                Expr::Pipe(pos, inner) => {
                    if let Some(inner) = cut_pipe(inner, cut) {
                        args.push(Expr::Pipe(*pos, inner));
                    }
                }
                other => args.push(other.clone()),
            }
        }
        if args.is_empty() {
            return None;
        }
        let mut c = c.clone();
        c.args = args;
        commands.push(c);
    }
    if commands.is_empty() {
        return None;
    }
    let mut p = p.clone();
    p.commands = commands;
    Some(p)
}
