//! Chat templates: parity with Python jinja2 in `transformers`' settings, and the HF
//! extensions templates rely on.

mod common;

use std::path::Path;

use rollama::model::Checkpoint;
use rollama::text::{ChatTemplate, TextError};
use serde_json::json;

fn render(source: &str, messages: serde_json::Value) -> Result<String, TextError> {
    ChatTemplate::new(source, "<s>", "</s>")?.render(&messages, None, false)
}

fn render_ok(source: &str, messages: serde_json::Value) -> String {
    render(source, messages).unwrap_or_else(|e| panic!("render {source:?}: {e}"))
}

#[test]
fn templates_match_jinja2_goldens() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/goldens/templates.json");
    if !path.exists() {
        eprintln!("templates.json not generated yet; skipping");
        return;
    }
    let smol_source = {
        let file = Checkpoint::open(&common::model_path("smollm2")).expect("open gguf");
        file.get_str("tokenizer.chat_template")
            .expect("smollm2 chat template")
            .to_string()
    };
    let cases = common::golden("templates.json");
    let cases = cases.as_array().expect("array");
    assert!(!cases.is_empty());
    for case in cases {
        let source = match case["source"].as_str().expect("source") {
            "gguf" => smol_source.as_str(),
            "builtin" => ChatTemplate::builtin("gemma3").expect("gemma3 builtin"),
            other => panic!("unknown source {other}"),
        };
        let template = ChatTemplate::new(
            source,
            case["bos_token"].as_str().expect("bos"),
            case["eos_token"].as_str().expect("eos"),
        )
        .expect("compile");
        let got = template
            .render(
                &case["messages"],
                None,
                case["add_generation_prompt"].as_bool().expect("agp"),
            )
            .expect("render");
        assert_eq!(got, case["rendered"].as_str().expect("rendered"), "{case}");
    }
}

#[test]
fn builtin_only_for_gemma3() {
    assert!(ChatTemplate::builtin("gemma3").is_some());
    assert!(ChatTemplate::builtin("llama").is_none());
}

#[test]
fn raise_exception_is_a_template_error() {
    let err =
        render("{{ raise_exception('roles must alternate') }}", json!([])).expect_err("must fail");
    match err {
        TextError::Template(msg) => assert!(msg.contains("roles must alternate"), "{msg}"),
        other => panic!("wrong error: {other}"),
    }
    assert!(matches!(
        ChatTemplate::new("{% if %}", "", ""),
        Err(TextError::Template(_))
    ));
}

#[test]
fn gemma3_rejects_non_alternating_roles() {
    let t = ChatTemplate::new(
        ChatTemplate::builtin("gemma3").expect("builtin"),
        "<bos>",
        "<eos>",
    )
    .expect("compile");
    let msgs = json!([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]);
    assert!(matches!(
        t.render(&msgs, None, true),
        Err(TextError::Template(_))
    ));
    let ok = t
        .render(&json!([{"role": "user", "content": " hi "}]), None, true)
        .expect("render");
    assert_eq!(
        ok,
        "<bos><start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n"
    );
}

#[test]
fn tojson_is_python_json_dumps() {
    let msgs = json!([{"role": "user", "content": "héllo <b> & 日本", "n": [1, 2.5, true, null]}]);
    assert_eq!(
        render_ok("{{ messages[0] | tojson }}", msgs.clone()),
        r#"{"role": "user", "content": "héllo <b> & 日本", "n": [1, 2.5, true, null]}"#
    );
    assert_eq!(
        render_ok("{{ messages[0].n | tojson(indent=2) }}", msgs.clone()),
        "[\n  1,\n  2.5,\n  true,\n  null\n]"
    );
    assert_eq!(
        render_ok(
            "{{ {'b': 1, 'a': {}} | tojson(indent=1, sort_keys=true) }}",
            msgs.clone()
        ),
        "{\n \"a\": {},\n \"b\": 1\n}"
    );
    assert_eq!(
        render_ok("{{ messages[0].n | tojson(separators=[',', ':']) }}", msgs),
        "[1,2.5,true,null]"
    );
}

#[test]
fn python_methods_via_pycompat() {
    let msgs = json!([{"role": "user", "content": "  Hello World  "}]);
    let src = "{{ messages[0].content.strip() }}|{{ messages[0].content.strip().startswith('Hello') }}|\
               {{ messages[0].content.split() | join(',') }}|{{ messages[0].content.strip().upper() }}|\
               {% for k, v in messages[0].items() %}{{ k }}={{ v.strip() }};{% endfor %}";
    assert_eq!(
        render_ok(src, msgs),
        "Hello World|True|Hello,World|HELLO WORLD|role=user;content=Hello World;"
    );
}

#[test]
fn loop_and_namespace() {
    let msgs = json!([{"role": "a"}, {"role": "b"}, {"role": "c"}]);
    let src = "{% set ns = namespace(count=0) %}{% for m in messages %}\
               {% if loop.first %}[{% endif %}{{ m.role }}{% if not loop.last %},{% endif %}\
               {% if loop.last %}]{% endif %}{% set ns.count = ns.count + 1 %}{% endfor %}\
               {{ ns.count }}";
    assert_eq!(render_ok(src, msgs), "[a,b,c]3");
}

#[test]
fn trim_and_lstrip_blocks() {
    let src = "<x>\n  {% for m in messages %}\n  {{ m.role }}\n  {% endfor %}\n</x>";
    let msgs = json!([{"role": "a"}, {"role": "b"}]);
    // jinja2 with trim_blocks + lstrip_blocks: the tag lines vanish entirely.
    assert_eq!(render_ok(src, msgs), "<x>\n  a\n  b\n</x>");
}

#[test]
fn strftime_now_gives_the_year() {
    let year = render_ok("{{ strftime_now('%Y') }}", json!([]));
    assert_eq!(year.len(), 4);
    assert!(year.starts_with("20"), "{year}");
}

#[test]
fn tools_are_passed_and_absent_tools_are_none() {
    let src = "{% if tools is not none %}{% for t in tools %}{{ t.function.name }}: \
               {{ t.function.parameters | tojson }}\n{% endfor %}{% else %}no tools{% endif %}";
    let template = ChatTemplate::new(src, "", "").expect("compile");
    let tools = json!([
        {"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
        {"type": "function", "function": {"name": "now", "parameters": {}}}
    ]);
    let out = template
        .render(&json!([]), Some(&tools), false)
        .expect("render");
    assert_eq!(
        out,
        "get_weather: {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}\nnow: {}\n"
    );
    assert_eq!(
        template.render(&json!([]), None, false).expect("render"),
        "no tools"
    );
}

#[test]
fn generation_prompt_and_special_tokens() {
    let src = "{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}\
               {% if add_generation_prompt %}>{% endif %}";
    let t = ChatTemplate::new(src, "<s>", "</s>").expect("compile");
    let msgs = json!([{"role": "user", "content": "hi"}]);
    assert_eq!(t.render(&msgs, None, true).expect("render"), "<s>hi</s>>");
    assert_eq!(t.render(&msgs, None, false).expect("render"), "<s>hi</s>");
}
