//! llguidance Lark grammars that force the model to call a tool in its own syntax.
//!
//! Each tool gets `call_N` (the fixed JSON around the name) and `args_N: %json {schema}` (its
//! `parameters` schema, inlined). Markers that are single control tokens are written `<[id]>`
//! so the grammar matches the token, not its spelling.

use serde_json::{json, Value};

use super::ToolSyntax;

/// A tool's name and argument schema, from an OpenAI/Ollama tool object.
struct Tool {
    name: String,
    schema: Value,
}

/// See [`ToolSyntax::forced_grammar`].
pub(super) fn forced(
    syntax: ToolSyntax,
    tools: &[Value],
    only: Option<&str>,
    special: &dyn Fn(&str) -> Option<u32>,
    parallel: bool,
) -> Result<String, String> {
    let tools = select(tools, only)?;
    let terminal = |marker: &str| match special(marker) {
        Some(id) => format!("<[{id}]>"),
        None => literal(marker),
    };
    // Mistral's v11 tokenizers have `[ARGS]` as a control token; v3 / Nemo do not.
    let mistral_v11 = syntax == ToolSyntax::Mistral && special("[ARGS]").is_some();
    let mut grammar = match syntax {
        ToolSyntax::Hermes if !parallel => format!(
            "start: block\nblock: {} \"\\n\" call \"\\n\" {}\n",
            terminal("<tool_call>"),
            terminal("</tool_call>")
        ),
        ToolSyntax::Llama3 if !parallel => "start: call\n".to_string(),
        ToolSyntax::Mistral if mistral_v11 && !parallel => {
            format!("start: {} call\n", terminal("[TOOL_CALLS]"))
        }
        ToolSyntax::Mistral if !parallel => {
            format!("start: {} \"[\" call \"]\"\n", terminal("[TOOL_CALLS]"))
        }
        ToolSyntax::Hermes => format!(
            "start: block (\"\\n\" block)*\nblock: {} \"\\n\" call \"\\n\" {}\n",
            terminal("<tool_call>"),
            terminal("</tool_call>")
        ),
        ToolSyntax::Llama3 => "start: call (\"; \" call)*\n".to_string(),
        ToolSyntax::Mistral if mistral_v11 => {
            format!("start: ({} call)+\n", terminal("[TOOL_CALLS]"))
        }
        ToolSyntax::Mistral => format!(
            "start: {} \"[\" call (\", \" call)* \"]\"\n",
            terminal("[TOOL_CALLS]")
        ),
    };
    let alternatives: Vec<String> = (0..tools.len()).map(|i| format!("call_{i}")).collect();
    grammar.push_str(&format!("call: {}\n", alternatives.join(" | ")));
    let args_key = match syntax {
        ToolSyntax::Llama3 => "parameters",
        ToolSyntax::Hermes | ToolSyntax::Mistral => "arguments",
    };
    for (i, tool) in tools.iter().enumerate() {
        let call = if mistral_v11 {
            format!("{} {} args_{i}", literal(&tool.name), terminal("[ARGS]"))
        } else {
            let head = format!("{{\"name\": {}, \"{args_key}\": ", json!(tool.name));
            format!("{} args_{i} \"}}\"", literal(&head))
        };
        grammar.push_str(&format!("call_{i}: {call}\n"));
        grammar.push_str(&format!("args_{i}: %json {}\n", tool.schema));
    }
    Ok(grammar)
}

/// The tools the grammar may call: all of them, or the one named by `only`.
fn select(tools: &[Value], only: Option<&str>) -> Result<Vec<Tool>, String> {
    let mut selected = Vec::new();
    for tool in tools {
        let function = tool.get("function").unwrap_or(tool);
        let name = function
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| format!("tool without a function name: {tool}"))?;
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let schema = match function.get("parameters") {
            Some(schema @ Value::Object(_)) => schema.clone(),
            _ => json!({"type": "object"}),
        };
        selected.push(Tool {
            name: name.to_string(),
            schema,
        });
    }
    match (selected.is_empty(), only) {
        (true, Some(name)) => Err(format!("tool {name:?} is not among the request's tools")),
        (true, None) => Err("no tools to call".to_string()),
        (false, _) => Ok(selected),
    }
}

/// A Lark string literal (JSON string escapes, which Lark accepts).
fn literal(text: &str) -> String {
    Value::from(text).to_string()
}
