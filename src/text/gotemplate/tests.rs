//! Ollama's `TestParse` / `TestParseError` cases and hostile inputs.

use super::*;

fn vars(src: &str) -> Vec<String> {
    match GoTemplate::parse(src) {
        Ok(t) => t.vars(),
        Err(e) => panic!("parse {src:?}: {e}"),
    }
}

#[test]
fn vars_match_ollama() {
    let cases: &[(&str, &[&str])] = &[
        ("{{ .Prompt }}", &["prompt", "response"]),
        ("{{ .System }} {{ .Prompt }}", &["prompt", "response", "system"]),
        ("{{ .System }} {{ .Prompt }} {{ .Response }}", &["prompt", "response", "system"]),
        (
            "{{ with .Tools }}{{ . }}{{ end }} {{ .System }} {{ .Prompt }}",
            &["prompt", "response", "system", "tools"],
        ),
        (
            "{{ range .Messages }}{{ .Role }} {{ .Content }}{{ end }}",
            &["content", "messages", "role"],
        ),
        (
            "{{ range .Messages }}{{ if eq .Role \"tool\" }}Tool Result: {{ .ToolName }} {{ .Content }}{{ end }}{{ end }}",
            &["content", "messages", "role", "toolname"],
        ),
        (
            "{{- range .Messages }}\n{{- if eq .Role \"system\" }}SYSTEM:\n{{- else if eq .Role \"user\" }}USER:\n{{- else if eq .Role \"assistant\" }}ASSISTANT:\n{{- else if eq .Role \"tool\" }}TOOL:\n{{- end }} {{ .Content }}\n{{- end }}",
            &["content", "messages", "role"],
        ),
        (
            "{{- if .Messages }}\n{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n{{ else -}}\n{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}<|im_start|>assistant\n{{ .Response }}<|im_end|>\n{{- end -}}",
            &["content", "messages", "prompt", "response", "role", "system"],
        ),
        (
            "{{ range $i, $m := .Messages }}{{ $.System }}{{ end }}",
            &["$", "messages", "system"],
        ),
    ];
    for (src, want) in cases {
        assert_eq!(vars(src), *want, "{src}");
    }
}

fn parse_err(src: &str) -> String {
    match GoTemplate::parse(src) {
        Ok(_) => panic!("{src:?} parsed"),
        Err(e) => e.to_string().to_lowercase(),
    }
}

#[test]
fn parse_errors_are_clear() {
    assert!(
        parse_err("{{ .Prompt ").contains("unclosed"),
        "{}",
        parse_err("{{ .Prompt ")
    );
    assert!(
        parse_err(r#"{{define "x"}}{{template "x"}}{{end}}{{template "x"}}"#)
            .contains("undefined template specified")
    );
    assert!(parse_err("{{ nosuchfunc .Prompt }}").contains("not defined"));
    assert!(parse_err("{{ if .X }}").starts_with("template error"));
    assert!(parse_err("{{ end }}").starts_with("template error"));
    let deep = "{{ if 1 }}".repeat(5000);
    assert!(parse_err(&deep).starts_with("template error"));
}

fn render(src: &str, v: &GoValues) -> Result<String, TextError> {
    GoTemplate::parse(src)?.render(v)
}

#[test]
fn runaway_templates_are_bounded() {
    let v = GoValues::default();
    let rec = r#"{{define "r"}}x{{template "r" .}}{{end}}{{template "r" .}}{{ .Messages }}"#;
    assert!(render(rec, &v).is_err());
    // Deep nesting inside a recursive template: bounded by depth, not by the stack.
    let nest = format!(
        "{{{{define \"r\"}}}}{}{{{{template \"r\" .}}}}{}{{{{end}}}}{{{{template \"r\" .}}}}{{{{ .Messages }}}}",
        "{{ if 1 }}".repeat(90),
        "{{ end }}".repeat(90)
    );
    let e = render(&nest, &v)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("maximum template depth"), "{e}");
    let big = "{{ range 1000000000 }}{{ end }}{{ .Messages }}";
    assert!(render(big, &v).is_err());
    let wide = "{{ range 1000000 }}{{ printf \"%0100d\" 1 }}{{ end }}{{ .Messages }}";
    let e = render(wide, &v)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("output exceeds"), "{e}");
}

#[test]
fn go_semantics() {
    let v = GoValues {
        messages: vec![GoMessage {
            role: "user".into(),
            content: "hi".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let r = |s: &str| render(s, &v).map_err(|e| e.to_string());
    assert_eq!(
        r("{{ range .Messages }}{{ end }}{{ or .System \"dflt\" }}|{{ and 1 0 }}|{{ or 0 \"\" }}")
            .as_deref(),
        Ok("dflt|0|")
    );
    assert_eq!(
        r("{{ $x := 1 }}{{ range .Messages }}{{ $x = 2 }}{{ end }}{{ $x }}{{ .Prompt }}")
            .as_deref(),
        Ok("2<no value>")
    );
    assert_eq!(r("{{ range $i, $m := .Messages }}{{ $i }}{{ len (slice $.Messages $i) }}{{ eq $m.Role \"a\" \"user\" }}{{ end }}").as_deref(), Ok("01true"));
    assert_eq!(
        r("{{ range .Messages }}{{ end }}{{ printf \"%q-%d-%5s|%v\" \"a\" 3 \"b\" 1.5 }}")
            .as_deref(),
        Ok("\"a\"-3-    b|1.5")
    );
    assert_eq!(
        r("{{ .Messages }}{{ json \"<&>\" }}").map(|s| s.ends_with(r#""\u003c\u0026\u003e""#)),
        Ok(true)
    );
    assert!(r("{{ .Messages }}{{ .Prompt.X }}").is_err());
}
