//! Ollama's parser tests (`parser/parser_test.go`), the cases that apply to rollama.

use super::*;
use serde_json::json;

fn cmds(pairs: &[(&str, &str)]) -> Vec<Command> {
    pairs.iter().map(|(n, a)| Command::new(n, a)).collect()
}

fn parse(text: &str) -> Result<Vec<Command>, ModelfileError> {
    Modelfile::parse(text).map(|m| m.commands)
}

const LLAMA3: &str = "{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}<|eot_id|>";

#[test]
fn parses_every_command() {
    let input = format!(
        "\nFROM model1\nADAPTER adapter1\nLICENSE MIT\nPARAMETER param1 value1\nPARAMETER param2 value2\nTEMPLATE \"\"\"{LLAMA3}\"\"\"    \n"
    );
    assert_eq!(
        parse(&input).expect("ok"),
        cmds(&[
            ("model", "model1"),
            ("adapter", "adapter1"),
            ("license", "MIT"),
            ("param1", "value1"),
            ("param2", "value2"),
            ("template", LLAMA3),
        ])
    );
}

#[test]
fn trims_space_outside_quotes_only() {
    let input = format!(
        "\nFROM \"     model 1\"\nADAPTER      adapter3\nLICENSE \"MIT       \"\nPARAMETER param1        value1\nPARAMETER param2    value2\nTEMPLATE \"\"\"   {LLAMA3}   \"\"\"    \n"
    );
    assert_eq!(
        parse(&input).expect("ok"),
        cmds(&[
            ("model", "     model 1"),
            ("adapter", "adapter3"),
            ("license", "MIT       "),
            ("param1", "value1"),
            ("param2", "value2"),
            ("template", &format!("   {LLAMA3}   ")),
        ])
    );
}

#[test]
fn from_lines() {
    let ok: &[(&str, &[(&str, &str)])] = &[
        ("FROM \"FOO  BAR  \"", &[("model", "FOO  BAR  ")]),
        (
            "FROM \"FOO BAR\"\nPARAMETER param1 value1",
            &[("model", "FOO BAR"), ("param1", "value1")],
        ),
        ("FROM     FOOO BAR    ", &[("model", "FOOO BAR")]),
        ("FROM /what/is/the path ", &[("model", "/what/is/the path")]),
        ("FROM foo", &[("model", "foo")]),
        (
            "FROM /path/to/model/fp16.bin",
            &[("model", "/path/to/model/fp16.bin")],
        ),
        ("FROM llama3:latest", &[("model", "llama3:latest")]),
        (
            "FROM llama3:7b-instruct-q4_K_M",
            &[("model", "llama3:7b-instruct-q4_K_M")],
        ),
        (
            "PARAMETER param1 value1\nFROM foo",
            &[("param1", "value1"), ("model", "foo")],
        ),
        (
            "PARAMETER what the \nFROM lemons make lemonade ",
            &[("what", "the"), ("model", "lemons make lemonade")],
        ),
    ];
    for (input, want) in ok {
        assert_eq!(parse(input).expect("ok"), cmds(want), "{input:?}");
    }
    for input in ["", "PARAMETER param1 value1", "# only a comment\n"] {
        assert_eq!(parse(input), Err(ModelfileError::MissingFrom), "{input:?}");
    }
    assert_eq!(ModelfileError::MissingFrom.to_string(), "no FROM line");
}

#[test]
fn commands_are_case_insensitive() {
    assert_eq!(
        parse("from foo\nSystem hi\nparameter top_k 1\nMeSsAgE user hello").expect("ok"),
        cmds(&[
            ("model", "foo"),
            ("system", "hi"),
            ("top_k", "1"),
            ("message", "user: hello")
        ])
    );
}

#[test]
fn a_parameter_without_a_value_is_unexpected_eof() {
    let err = parse("\nFROM foo\nPARAMETER param1\n").expect_err("an error");
    assert_eq!(err, ModelfileError::UnexpectedEof("param1".into()));
    assert_eq!(err.to_string(), "unexpected EOF: param1");
    let err = parse("FROM foo\nPARAMETER param1").expect_err("an error");
    assert!(matches!(err, ModelfileError::UnexpectedEof(_)), "{err}");
}

#[test]
fn an_unknown_command_names_its_line() {
    let err = parse("\nFROM foo\nBADCOMMAND param1 value1\n").expect_err("an error");
    assert_eq!(
        err,
        ModelfileError::Syntax {
            line: 3,
            message: INVALID_COMMAND
        }
    );
    assert_eq!(
        err.to_string(),
        "(line 3): command must be one of \"from\", \"license\", \"template\", \"system\", \"adapter\", \"draft\", \"renderer\", \"parser\", \"parameter\", \"message\", or \"requires\""
    );
    // A name must be letters followed by a space.
    assert!(matches!(
        parse("FROM foo\nFROM2 bar").expect_err("an error"),
        ModelfileError::Syntax { line: 2, .. }
    ));
}

#[test]
fn renderer_and_parser_parse() {
    assert_eq!(
        parse("\nFROM foo\nRENDERER renderer1\nPARSER parser1\n").expect("ok"),
        cmds(&[
            ("model", "foo"),
            ("renderer", "renderer1"),
            ("parser", "parser1")
        ])
    );
}

#[test]
fn messages() {
    let ok: &[(&str, &[(&str, &str)])] = &[
        (
            "\nFROM foo\nMESSAGE system You are a file parser. Always parse things.\n",
            &[
                ("model", "foo"),
                ("message", "system: You are a file parser. Always parse things."),
            ],
        ),
        (
            "\nFROM foo\nMESSAGE system You are a file parser. Always parse things.",
            &[
                ("model", "foo"),
                ("message", "system: You are a file parser. Always parse things."),
            ],
        ),
        (
            "\nFROM foo\nMESSAGE system You are a file parser. Always parse things.\nMESSAGE user Hey there!\nMESSAGE assistant Hello, I want to parse all the things!\n",
            &[
                ("model", "foo"),
                ("message", "system: You are a file parser. Always parse things."),
                ("message", "user: Hey there!"),
                ("message", "assistant: Hello, I want to parse all the things!"),
            ],
        ),
        (
            "\nFROM foo\nMESSAGE system \"\"\"\nYou are a multiline file parser. Always parse things.\n\"\"\"\n\t\t\t",
            &[
                ("model", "foo"),
                (
                    "message",
                    "system: \nYou are a multiline file parser. Always parse things.\n",
                ),
            ],
        ),
    ];
    for (input, want) in ok {
        assert_eq!(parse(input).expect("ok"), cmds(want), "{input:?}");
    }
    let err = parse("\nFROM foo\nMESSAGE badguy I'm a bad guy!\n").expect_err("an error");
    assert_eq!(
        err.to_string(),
        "(line 3): message role must be one of \"system\", \"user\", or \"assistant\""
    );
    for input in ["\nFROM foo\nMESSAGE system\n", "\nFROM foo\nMESSAGE system"] {
        assert!(
            matches!(parse(input), Err(ModelfileError::UnexpectedEof(_))),
            "{input:?}"
        );
    }
}

#[test]
fn quoted_values() {
    let ok: &[(&str, &str)] = &[
        (
            "\nFROM foo\nSYSTEM \"\"\"\nThis is a\nmultiline system.\n\"\"\"\n\t\t\t",
            "\nThis is a\nmultiline system.\n",
        ),
        (
            "\nFROM foo\nSYSTEM \"\"\"\nThis is a\nmultiline system.\"\"\"\n\t\t\t",
            "\nThis is a\nmultiline system.",
        ),
        (
            "\nFROM foo\nSYSTEM \"\"\"This is a\nmultiline system.\"\"\"\n\t\t\t",
            "This is a\nmultiline system.",
        ),
        (
            "\nFROM foo\nSYSTEM \"\"\"This is a multiline system.\"\"\"\n\t\t\t",
            "This is a multiline system.",
        ),
        (
            "\nFROM foo\nSYSTEM \"\"\"\nThis is a multiline system with \"quotes\".\n\"\"\"\n",
            "\nThis is a multiline system with \"quotes\".\n",
        ),
        ("\nFROM foo\nSYSTEM \"\"\"\"\"\"\n", ""),
        ("\nFROM foo\nSYSTEM \"\"\n", ""),
        ("\nFROM foo\nSYSTEM \"'\"\n", "'"),
        (
            "\nFROM foo\nSYSTEM \"\"\"''\"'\"\"'\"\"'\"'''''\"\"'\"\"'\"\"\"\n",
            "''\"'\"\"'\"\"'\"'''''\"\"'\"\"'",
        ),
        // No backslash escapes, as in Ollama: a backslash is kept.
        ("FROM foo\nSYSTEM \"a \\n b\"", "a \\n b"),
    ];
    for (input, want) in ok {
        assert_eq!(
            parse(input).expect("ok"),
            cmds(&[("model", "foo"), ("system", want)]),
            "{input:?}"
        );
    }
    assert_eq!(
        parse("\nFROM foo\nTEMPLATE \"\"\"\n{{ .Prompt }}\n\"\"\"").expect("ok"),
        cmds(&[("model", "foo"), ("template", "\n{{ .Prompt }}\n")])
    );
    for input in [
        "\nFROM foo\nSYSTEM \"\"\"This is a multiline system.\"\"\n\t\t\t",
        "\nFROM foo\nSYSTEM \"\n\t\t\t",
    ] {
        assert!(
            matches!(parse(input), Err(ModelfileError::UnexpectedEof(_))),
            "{input:?}"
        );
    }
    assert_eq!(
        parse("FROM foo\n\nTEMPLATE \"\"\"{{ .Prompt }}\nPARAMETER top_k 1\n")
            .expect_err("an error")
            .to_string(),
        "unexpected EOF: the \"\"\" opened on line 3 is never closed"
    );
}

#[test]
fn parameter_values_as_written() {
    let cases = [
        ("num_ctx 1", "num_ctx", "1"),
        ("use_mmap true", "use_mmap", "true"),
        ("top_p 1.0", "top_p", "1.0"),
        ("min_p 0.05", "min_p", "0.05"),
        ("stop ### User:", "stop", "### User:"),
        ("stop ### User: ", "stop", "### User:"),
        ("stop \"### User:\"", "stop", "### User:"),
        ("stop \"### User: \"", "stop", "### User: "),
        ("stop \"\"\"### User:\"\"\"", "stop", "### User:"),
        ("stop \"\"\"### User:\n\"\"\"", "stop", "### User:\n"),
        ("stop <|endoftext|>", "stop", "<|endoftext|>"),
        ("stop </s>", "stop", "</s>"),
    ];
    for (line, name, value) in cases {
        let input = format!("FROM foo\nPARAMETER {line}\n");
        assert_eq!(
            parse(&input).expect("ok"),
            cmds(&[("model", "foo"), (name, value)]),
            "{line:?}"
        );
    }
}

#[test]
fn comments() {
    assert_eq!(
        parse("\n# comment\nFROM foo\n\t").expect("ok"),
        cmds(&[("model", "foo")])
    );
    assert_eq!(
        parse("FROM foo\n  # indented comment\nSYSTEM hi # not a comment\n").expect("ok"),
        cmds(&[("model", "foo"), ("system", "hi # not a comment")])
    );
}

#[test]
fn printing_parses_back_to_the_same_commands() {
    let cases = [
        "\nFROM foo\nADAPTER adapter1\nLICENSE MIT\nPARAMETER param1 value1\nPARAMETER param2 value2\nTEMPLATE template1\nMESSAGE system You are a file parser. Always parse things.\nMESSAGE user Hey there!\nMESSAGE assistant Hello, I want to parse all the things!\n",
        "\nFROM foo\nADAPTER adapter1\nLICENSE MIT\nPARAMETER param1 value1\nPARAMETER param2 value2\nTEMPLATE template1\nMESSAGE system \"\"\"\nYou are a store greeter. Always respond with \"Hello!\".\n\"\"\"\nMESSAGE user Hey there!\nMESSAGE assistant Hello, I want to parse all the things!\n",
        "\nFROM foo\nADAPTER adapter1\nLICENSE \"\"\"\nVery long and boring legal text.\nBlah blah blah.\n\"Oh look, a quote!\"\n\"\"\"\n\nPARAMETER param1 value1\nPARAMETER param2 value2\nTEMPLATE template1\nMESSAGE system \"\"\"\nYou are a store greeter. Always respond with \"Hello!\".\n\"\"\"\nMESSAGE user Hey there!\nMESSAGE assistant Hello, I want to parse all the things!\n",
        "\nFROM foo\nSYSTEM \"\"\n",
    ];
    for input in cases {
        let first = Modelfile::parse(input).expect("ok");
        let second = Modelfile::parse(&first.to_string()).expect("ok");
        assert_eq!(first, second, "{input:?}");
    }
}

#[test]
fn utf16_and_multibyte() {
    let data =
        "FROM bob\nPARAMETER param1 1\nPARAMETER param2 4096\nSYSTEM You are a utf16 file.\n";
    let want = cmds(&[
        ("model", "bob"),
        ("param1", "1"),
        ("param2", "4096"),
        ("system", "You are a utf16 file."),
    ]);
    let units: Vec<u16> = data.encode_utf16().collect();
    let mut le = vec![0xff, 0xfe];
    let mut be = vec![0xfe, 0xff];
    for u in &units {
        le.extend(u.to_le_bytes());
        be.extend(u.to_be_bytes());
    }
    assert_eq!(Modelfile::parse_bytes(&le).expect("ok").commands, want);
    assert_eq!(Modelfile::parse_bytes(&be).expect("ok").commands, want);
    let mut bom = vec![0xef, 0xbb, 0xbf];
    bom.extend(data.as_bytes());
    assert_eq!(Modelfile::parse_bytes(&bom).expect("ok").commands, want);
    assert_eq!(
        parse("FROM test\n\tSYSTEM 你好👋").expect("ok"),
        cmds(&[("model", "test"), ("system", "你好👋")])
    );
}

fn request(text: &str) -> Result<CreateRequest, ModelfileError> {
    let dir = std::env::temp_dir().join("rollama-modelfile-tests-nothing-here");
    Modelfile::parse(text)?.to_create_request(&dir)
}

#[test]
fn create_requests() {
    assert_eq!(
        request("FROM test").expect("ok"),
        CreateRequest {
            from: Some("test".into()),
            ..CreateRequest::default()
        }
    );
    let req = request(
        "FROM test\nPARAMETER temperature 0.5\nPARAMETER top_k 1\nSYSTEM You are a bot.\nLICENSE license1\nLICENSE license2\nMESSAGE user Hello there!\nMESSAGE assistant Hi! How are you?\n",
    )
    .expect("ok");
    assert_eq!(req.from.as_deref(), Some("test"));
    assert_eq!(req.system.as_deref(), Some("You are a bot."));
    assert_eq!(req.license, ["license1", "license2"]);
    assert_eq!(
        Value::Object(req.parameters),
        json!({"temperature": 0.5, "top_k": 1})
    );
    assert_eq!(
        req.messages,
        [
            ("user".to_string(), "Hello there!".to_string()),
            ("assistant".to_string(), "Hi! How are you?".to_string())
        ]
    );
}

#[test]
fn parameters_are_typed_as_ollama_types_them() {
    let req = request(
        "FROM m\nPARAMETER temperature 0.7\nPARAMETER num_ctx 4096\nPARAMETER stop <|im_end|>\nPARAMETER stop \"User:\"\nPARAMETER use_mmap false\nPARAMETER seed -1\nPARAMETER mirostat 2\n",
    )
    .expect("ok");
    assert_eq!(
        Value::Object(req.parameters),
        json!({"temperature": 0.7, "num_ctx": 4096, "stop": ["<|im_end|>", "User:"],
               "use_mmap": false, "seed": -1})
    );
    assert_eq!(req.warnings, ["warning: parameter mirostat is deprecated"]);

    let err = |text: &str| request(text).expect_err("an error").to_string();
    assert_eq!(
        err("FROM m\nPARAMETER temperature hot"),
        "invalid float value [hot]"
    );
    assert_eq!(
        err("FROM m\nPARAMETER num_ctx 4k"),
        "invalid int value [4k]"
    );
    assert_eq!(
        err("FROM m\nPARAMETER num_ctx 1.5"),
        "invalid int value [1.5]"
    );
    assert_eq!(
        err("FROM m\nPARAMETER use_mmap yes"),
        "invalid bool value [yes]"
    );
    assert_eq!(
        err("FROM m\nPARAMETER Temperature 1"),
        "unknown parameter 'Temperature'"
    );
    assert_eq!(
        err("FROM m\nPARAMETER num_gqa 1"),
        "unknown parameter 'num_gqa'"
    );
}

#[test]
fn what_rollama_cannot_do_is_refused_by_name() {
    let err = |text: &str| request(text).expect_err("an error").to_string();
    assert_eq!(
        err("FROM m\nADAPTER ./lora.gguf"),
        "ADAPTER is not supported by rollama"
    );
    assert_eq!(
        err("FROM m\nDRAFT small"),
        "DRAFT is not supported by rollama"
    );
    assert_eq!(
        request("FROM m\nREQUIRES 0.14.0")
            .expect("ok")
            .requires
            .as_deref(),
        Some("0.14.0")
    );
    assert_eq!(
        err("FROM m\nREQUIRES soon"),
        "requires must be a valid semver (e.g. 0.14.0)"
    );
}

#[test]
fn from_paths_that_exist_are_local_files() {
    let dir = std::env::temp_dir().join(format!("rollama-modelfile-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).expect("ok");
    std::fs::write(dir.join("sub/model.gguf"), b"GGUF").expect("ok");
    let mf = Modelfile::parse("FROM ./sub/model.gguf\nFROM ../elsewhere/x.gguf").expect("ok");
    let req = mf.to_create_request(&dir).expect("ok");
    assert_eq!(req.local, [dir.join("sub/model.gguf")]);
    assert_eq!(req.from.as_deref(), Some("../elsewhere/x.gguf"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn paths_expand_as_ollama_expands_them() {
    let home = PathBuf::from(std::env::var("HOME").unwrap_or_default());
    let rel = Path::new("/base/dir");
    assert_eq!(
        expand_path("/abs/x", rel).expect("ok"),
        PathBuf::from("/abs/x")
    );
    assert_eq!(expand_path("~", rel).expect("ok"), clean(&home));
    assert_eq!(
        expand_path("~/m.gguf", rel).expect("ok"),
        clean(&home.join("m.gguf"))
    );
    assert_eq!(
        expand_path("m.gguf", rel).expect("ok"),
        PathBuf::from("/base/dir/m.gguf")
    );
    assert_eq!(
        expand_path("../m", rel).expect("ok"),
        PathBuf::from("/base/m")
    );
    assert_eq!(
        expand_path("~root/x", rel).expect("ok"),
        PathBuf::from("/root/x")
    );
    assert_eq!(
        expand_path("~nosuchuser-rollama/x", rel)
            .expect_err("an error")
            .to_string(),
        "failed to find user 'nosuchuser-rollama': user: unknown user nosuchuser-rollama"
    );
}
