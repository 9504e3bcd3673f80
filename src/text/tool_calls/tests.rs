//! Recorded model outputs (`tests/fixtures/tool_calls/*.json`, each case naming its source)
//! parsed whole and streamed in every split, plus detection on real templates and grammars.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::*;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The cases of one fixture file.
fn cases(file: &str) -> Vec<Value> {
    let path = fixture_dir().join("tool_calls").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let doc: Value = serde_json::from_str(&text).expect("fixture JSON");
    doc["cases"].as_array().expect("cases").clone()
}

fn template(name: &str) -> String {
    let path = fixture_dir().join("templates").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// Feeds `chunks` and collects the outputs, consecutive Text merged.
fn run(syntax: ToolSyntax, chunks: &[&str]) -> (Vec<ToolOutput>, Vec<ToolOutput>) {
    let mut parser = ToolCallParser::new(syntax);
    let mut raw = Vec::new();
    for chunk in chunks {
        raw.extend(parser.push(chunk));
    }
    raw.extend(parser.finish());
    (merge(raw.clone()), raw)
}

fn merge(outputs: Vec<ToolOutput>) -> Vec<ToolOutput> {
    let mut merged: Vec<ToolOutput> = Vec::new();
    for output in outputs {
        match (merged.last_mut(), output) {
            (Some(ToolOutput::Text(prev)), ToolOutput::Text(t)) => prev.push_str(&t),
            (_, output) => merged.push(output),
        }
    }
    merged
}

fn expected(case: &Value) -> Vec<ToolOutput> {
    let items = case["expected"].as_array().expect("expected");
    items
        .iter()
        .map(|item| match (item.get("text"), item.get("call")) {
            (Some(text), _) => ToolOutput::Text(text.as_str().expect("text").to_string()),
            (_, Some(call)) => ToolOutput::Call(ParsedToolCall {
                name: call["name"].as_str().expect("name").to_string(),
                arguments: call["arguments"].clone(),
            }),
            _ => panic!("bad expected item {item}"),
        })
        .collect()
}

/// Splits `text` into pieces of `size` chars.
fn chunks(text: &str, size: usize) -> Vec<&str> {
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).step_by(size).collect();
    let mut pieces = Vec::new();
    for (k, &start) in bounds.iter().enumerate() {
        let end = bounds.get(k + 1).copied().unwrap_or(text.len());
        pieces.push(&text[start..end]);
    }
    pieces
}

/// Whole parse matches the fixture; every streaming split gives the same result, and no
/// streamed Text holds a marker unless the whole parse's text does (a malformed call).
fn check_file(file: &str, syntax: ToolSyntax) -> usize {
    let cases = cases(file);
    for case in &cases {
        let name = case["name"].as_str().expect("name");
        assert!(case["source"].as_str().is_some(), "{name}: no source");
        let output = case["output"].as_str().expect("output");
        let (whole, _) = run(syntax, &[output]);
        assert_eq!(whole, expected(case), "{file}: {name}");
        let text_has_marker = whole.iter().any(|o| has_marker(syntax, o));
        let mut splits: Vec<Vec<&str>> = (1..=3).map(|n| chunks(output, n)).collect();
        for (at, _) in output.char_indices().skip(1) {
            splits.push(vec![&output[..at], &output[at..]]);
        }
        for split in splits {
            let (merged, raw) = run(syntax, &split);
            assert_eq!(merged, whole, "{file}: {name}: split {split:?}");
            if !text_has_marker {
                assert!(
                    !raw.iter().any(|o| has_marker(syntax, o)),
                    "{file}: {name}: marker leaked in {raw:?}"
                );
            }
        }
    }
    cases.len()
}

fn has_marker(syntax: ToolSyntax, output: &ToolOutput) -> bool {
    let ToolOutput::Text(text) = output else {
        return false;
    };
    syntax.syntax_strings().iter().any(|m| text.contains(m))
}

#[test]
fn hermes_recorded_outputs() {
    assert!(check_file("hermes.json", ToolSyntax::Hermes) >= 10);
}

#[test]
fn llama3_recorded_outputs() {
    assert!(check_file("llama3.json", ToolSyntax::Llama3) >= 10);
}

#[test]
fn mistral_recorded_outputs() {
    assert!(check_file("mistral.json", ToolSyntax::Mistral) >= 10);
}

#[test]
fn text_is_released_while_streaming() {
    let mut parser = ToolCallParser::new(ToolSyntax::Hermes);
    assert_eq!(
        parser.push("Let me check <tool"),
        vec![ToolOutput::Text("Let me check".into())]
    );
    assert_eq!(
        parser.push("_call>{\"name\": \"f\", \"arguments\": {}}"),
        vec![]
    );
    let call = ToolOutput::Call(ParsedToolCall {
        name: "f".into(),
        arguments: json!({}),
    });
    assert_eq!(
        parser.push("</tool_call>\n\nDone"),
        vec![call, ToolOutput::Text("Done".into())]
    );
    assert_eq!(parser.finish(), vec![]);

    // Llama 3: prose is released at once, a leading brace is held.
    let mut parser = ToolCallParser::new(ToolSyntax::Llama3);
    assert_eq!(parser.push("Sure"), vec![ToolOutput::Text("Sure".into())]);
    let mut parser = ToolCallParser::new(ToolSyntax::Llama3);
    assert_eq!(parser.push(" {\"name\""), vec![]);
}

#[test]
fn a_marker_alone_is_given_back() {
    for (syntax, text) in [
        (ToolSyntax::Hermes, "Use the <tool_call> tag"),
        (ToolSyntax::Hermes, "x <tool_call>"),
        (ToolSyntax::Mistral, "x [TOOL_CALLS]"),
        (ToolSyntax::Llama3, " <|python_tag|>"),
        (
            ToolSyntax::Llama3,
            "<|python_tag|>python.call(code=\"print('hey')\")",
        ),
    ] {
        let (outputs, _) = run(syntax, &[text]);
        assert_eq!(
            outputs,
            vec![ToolOutput::Text(text.into())],
            "{syntax:?} {text:?}"
        );
    }
}

#[test]
fn detect_on_real_templates() {
    let expected = [
        ("qwen2.5.jinja", Some(ToolSyntax::Hermes)),
        ("qwen3.jinja", Some(ToolSyntax::Hermes)),
        ("hermes3.jinja", Some(ToolSyntax::Hermes)),
        ("llama3.1.jinja", Some(ToolSyntax::Llama3)),
        ("llama3.2.jinja", Some(ToolSyntax::Llama3)),
        ("mistral-nemo.jinja", Some(ToolSyntax::Mistral)),
        ("mistral-small-3.2.jinja", Some(ToolSyntax::Mistral)),
        ("deepseek-r1.jinja", None),
        ("smollm2.jinja", None),
    ];
    for (file, syntax) in expected {
        assert_eq!(ToolSyntax::detect(&template(file)), syntax, "{file}");
    }
    let generic = "{% if tools %}{{ tools | tojson }}{% endif %}{{ messages[0].content }}";
    assert_eq!(ToolSyntax::detect(generic), Some(ToolSyntax::Hermes));
    assert_eq!(ToolSyntax::detect("{{ message.tool_calls }}"), None);
}

fn weather_tools() -> Vec<Value> {
    vec![
        json!({"type": "function", "function": {
            "name": "get_weather", "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"]}}}),
        json!({"type": "function", "function": {"name": "get_time", "description": "Now"}}),
    ]
}

#[test]
fn forced_grammar_names_every_tool() {
    let tools = weather_tools();
    let no_special = |_: &str| None;
    for syntax in [ToolSyntax::Hermes, ToolSyntax::Llama3, ToolSyntax::Mistral] {
        let grammar = syntax
            .forced_grammar(&tools, None, &no_special)
            .expect("grammar");
        assert!(grammar.starts_with("start: "), "{grammar}");
        assert!(grammar.contains("call: call_0 | call_1"), "{grammar}");
        assert!(grammar.contains(r#"\"get_weather\""#), "{grammar}");
        assert!(grammar.contains(r#"\"get_time\""#), "{grammar}");
        assert!(grammar.contains(r#"args_0: %json {"type":"object","properties""#));
        assert!(
            grammar.contains(r#"args_1: %json {"type":"object"}"#),
            "{grammar}"
        );
        assert_balanced(&grammar);
        for marker in syntax.markers().iter().filter(|m| m.len() > 1) {
            if syntax != ToolSyntax::Llama3 {
                assert!(grammar.contains(&format!("{marker:?}")), "{grammar}");
            }
        }
    }
}

#[test]
fn forced_grammar_uses_special_token_ids_and_only() {
    let tools = weather_tools();
    let qwen = |m: &str| match m {
        "<tool_call>" => Some(151657),
        "</tool_call>" => Some(151658),
        _ => None,
    };
    let grammar = ToolSyntax::Hermes
        .forced_grammar(&tools, Some("get_time"), &qwen)
        .expect("grammar");
    assert!(
        grammar.contains("block: <[151657]> \"\\n\" call \"\\n\" <[151658]>"),
        "{grammar}"
    );
    assert!(
        grammar.contains("get_time") && !grammar.contains("get_weather"),
        "{grammar}"
    );
    let v11 = |m: &str| match m {
        "[TOOL_CALLS]" => Some(9),
        "[ARGS]" => Some(32),
        _ => None,
    };
    let grammar = ToolSyntax::Mistral
        .forced_grammar(&tools, None, &v11)
        .expect("grammar");
    assert!(grammar.contains("start: (<[9]> call)+"), "{grammar}");
    assert!(
        grammar.contains("call_0: \"get_weather\" <[32]> args_0"),
        "{grammar}"
    );
    let none = |_: &str| None;
    let err = ToolSyntax::Hermes.forced_grammar(&tools, Some("nope"), &none);
    assert!(err.is_err());
    assert!(ToolSyntax::Hermes.forced_grammar(&[], None, &none).is_err());
}

/// Quotes pair up and brackets nest outside string literals (a well-formedness smoke check
/// short of compiling the grammar with llguidance).
fn assert_balanced(grammar: &str) {
    for line in grammar.lines() {
        let mut depth: Vec<char> = Vec::new();
        let (mut in_string, mut escaped) = (false, false);
        for c in line.chars() {
            if in_string {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_string = false,
                    _ => {}
                }
                continue;
            }
            match c {
                '"' => in_string = true,
                '(' | '[' | '{' => depth.push(c),
                ')' => assert_eq!(depth.pop(), Some('('), "{line}"),
                ']' => assert_eq!(depth.pop(), Some('['), "{line}"),
                '}' => assert_eq!(depth.pop(), Some('{'), "{line}"),
                _ => {}
            }
        }
        assert!(!in_string && depth.is_empty(), "unbalanced: {line}");
    }
}

/// Every stored template with tool support renders a tool list and a whole tool round trip
/// (assistant `tool_calls` with object arguments, then a `tool` message) through our
/// `ChatTemplate`, and the prompt shows the tool and its result.
#[test]
fn templates_render_a_tool_round_trip() {
    let messages = json!([
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [{
            "id": "call12345", "type": "function",
            "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "tool_call_id": "call12345", "name": "get_weather",
         "content": "22 degrees and sunny"},
    ]);
    // Hermes 3 reads `parameters.properties` of every tool (as in Python), so the
    // parameterless tool gets the empty schema a server should fill in.
    let mut tools = weather_tools();
    tools[1]["function"]["parameters"] = json!({"type": "object", "properties": {}});
    let tools = Value::from(tools);
    for file in [
        "qwen2.5.jinja",
        "qwen3.jinja",
        "hermes3.jinja",
        "llama3.1.jinja",
        "llama3.2.jinja",
        "mistral-nemo.jinja",
        "mistral-small-3.2.jinja",
    ] {
        let source = template(file);
        assert!(ToolSyntax::detect(&source).is_some(), "{file}");
        let chat = crate::text::ChatTemplate::new(&source, "<s>", "</s>").expect("compile");
        let prompt = chat
            .render(&messages, Some(&tools), true)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        for needle in [
            "get_weather",
            "Weather in a city",
            "22 degrees and sunny",
            "Paris",
        ] {
            assert!(prompt.contains(needle), "{file}: no {needle:?} in {prompt}");
        }
    }
}
