//! `rollama run`: the real binary against the real server, as a user types it. A one-shot
//! prompt, stdin piped in, `--verbose` and `--format json`, an unknown model, and the
//! interactive chat in a pseudo-terminal, Ctrl-C included.

mod cli_support;
mod common;

use std::time::Duration;

use cli_support::{output, pty, stderr, stdout};
use common::{post, TestServer};
use serde_json::{json, Value};

/// A server with `smollm2` and `greedy` (smollm2 with temperature 0, so a one-shot run, which
/// has no flag for options, answers deterministically).
async fn server() -> String {
    let host = TestServer::default().spawn(&["smollm2"]).await;
    let reply = post(
        &format!("{host}/api/create"),
        json!({"model": "greedy", "from": "smollm2", "parameters": {"temperature": 0, "num_predict": 40}, "stream": false}),
    )
    .await;
    assert!(
        reply.status().is_success(),
        "create greedy: {}",
        reply.status()
    );
    host
}

/// The answer the API gives for `prompt` (greedy `greedy`).
async fn api_generate(host: &str, prompt: &str) -> String {
    let reply: Value = post(
        &format!("{host}/api/generate"),
        json!({"model": "greedy", "prompt": prompt, "stream": false}),
    )
    .await
    .json()
    .await
    .expect("generate reply");
    reply["response"].as_str().expect("response").to_string()
}

/// The chat answer to `messages` with temperature 0.
async fn api_chat(host: &str, messages: Value) -> String {
    let reply: Value = post(
        &format!("{host}/api/chat"),
        json!({"model": "smollm2", "messages": messages, "options": {"temperature": 0.0, "num_predict": 30}, "stream": false}),
    )
    .await
    .json()
    .await
    .expect("chat reply");
    reply["message"]["content"]
        .as_str()
        .expect("content")
        .to_string()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prompt_is_answered_once_as_the_api_answers_it() {
    let host = server().await;
    let prompt = "Why is the sky blue?";
    let want = api_generate(&host, prompt).await;
    let h = host.clone();
    let out = blocking(move || output(&h, &["run", "greedy", prompt], None)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!want.is_empty());
    // Ollama ends a one-shot answer with an empty line.
    assert_eq!(stdout(&out), format!("{want}\n\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn piped_stdin_is_the_prompt_and_comes_before_the_words() {
    let host = server().await;
    let text = "The capital of France is\n";
    let want = api_generate(&host, text).await;
    let h = host.clone();
    let out = blocking(move || output(&h, &["run", "greedy"], Some(text))).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{want}\n\n"));

    let joined = format!("{text} Answer in one word.");
    let want = api_generate(&host, &joined).await;
    let h = host.clone();
    let out =
        blocking(move || output(&h, &["run", "greedy", "Answer in one word."], Some(text))).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{want}\n\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn verbose_prints_the_timings_on_stderr() {
    let host = server().await;
    let h = host.clone();
    let out = blocking(move || output(&h, &["run", "greedy", "--verbose", "Hello"], None)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    for label in [
        "total duration:       ",
        "prompt eval count:    ",
        "prompt eval rate:     ",
        "eval count:           ",
        "eval duration:        ",
        "eval rate:            ",
    ] {
        assert!(err.contains(label), "no {label:?} in {err:?}");
    }
    let rate = line_starting(&err, "eval rate:");
    assert!(rate.ends_with(" tokens/s"), "{rate}");
    assert!(
        !stdout(&out).contains("duration"),
        "timings leaked to stdout"
    );
}

fn line_starting(text: &str, prefix: &str) -> String {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn format_json_answers_parseable_json() {
    let host = server().await;
    let h = host.clone();
    let out = blocking(move || {
        output(
            &h,
            &[
                "run",
                "greedy",
                "--format",
                "json",
                "A person's name and age, as JSON.",
            ],
            None,
        )
    })
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    serde_json::from_str::<Value>(text.trim()).unwrap_or_else(|e| panic!("{e}: {text:?}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_model_is_an_error_after_the_pull_fails() {
    let host = server().await;
    let h = host.clone();
    let out = blocking(move || output(&h, &["run", "no-such-model", "hi"], None)).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Error: "), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_flags_are_refused_as_ollama_refuses_them() {
    let host = server().await;
    let h = host.clone();
    let out =
        blocking(move || output(&h, &["run", "smollm2", "--keepalive", "5", "hi"], None)).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        "Error: time: missing unit in duration \"5\""
    );
    let h = host.clone();
    let out = blocking(move || output(&h, &["run", "smollm2", "--think=maybe", "hi"], None)).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("invalid value for --think: \"maybe\""));
}

/// The sum of a gauge over its label sets in the server's `/metrics`.
async fn gauge(host: &str, name: &str) -> u64 {
    let text = reqwest::get(format!("{host}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Polls until `want(gauge)` holds (bounded: a stuck server fails the test, never hangs it).
async fn wait_gauge(host: &str, name: &str, want: impl Fn(u64) -> bool) {
    for _ in 0..2400 {
        if want(gauge(host, name).await) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} never reached the expected value");
}

/// Text as a terminal shows it: CRLF as LF and without escape sequences.
fn plain(raw: &str) -> String {
    // rexpect hands over each byte as a char: put the UTF-8 back together first.
    let raw = match raw.chars().all(|c| (c as u32) < 256) {
        true => String::from_utf8_lossy(&raw.chars().map(|c| c as u32 as u8).collect::<Vec<u8>>())
            .into_owned(),
        false => raw.to_string(),
    };
    let mut out = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    while let Some(&n) = chars.peek() {
                        chars.next();
                        if n.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// The start of an answer, before any word wrap could touch it.
fn head(answer: &str) -> String {
    answer
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(50)
        .collect()
}

/// The chat ends and the process exits with status 0.
fn exits_0(p: &mut rexpect::session::PtySession) {
    p.exp_eof().expect("exit");
    let status = p.process().wait().expect("wait");
    assert!(
        matches!(status, rexpect::process::WaitStatus::Exited(_, 0)),
        "{status:?}"
    );
}

/// Sends `line` at the chat's prompt, expects `want`, then the next prompt.
fn ask(p: &mut rexpect::session::PtySession, line: &str, want: &str) {
    p.send_line(line).expect("send");
    p.exp_string(want)
        .unwrap_or_else(|e| panic!("{line:?} → {want:?}: {e}"));
    p.exp_string(">>> ").expect("prompt");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_interactive_chat_behaves_as_ollamas() {
    let host = server().await;
    let first = api_chat(
        &host,
        json!([{"role": "user", "content": "What is the capital of France?"}]),
    )
    .await;
    let multi = api_chat(
        &host,
        json!([{"role": "user", "content": "Name a colour\nand a fruit."}]),
    )
    .await;
    assert!(!head(&first).is_empty() && !head(&multi).is_empty());

    let h = host.clone();
    let mut p = blocking(move || {
        let mut p = pty(&h, &["run", "smollm2"], 300_000);
        p.exp_string(">>> ").expect("prompt");
        ask(&mut p, "/?", "Use \"\"\" to begin a multi-line message.");

        ask(
            &mut p,
            "/set parameter num_predict 30",
            "Set parameter 'num_predict' to '30'",
        );
        ask(
            &mut p,
            "/set parameter temperature 0",
            "Set parameter 'temperature' to '0'",
        );

        p.send_line("What is the capital of France?").expect("send");
        p.exp_string("France?").expect("echo");
        let answer = p.exp_string(">>> ").expect("answer, then the prompt");
        let answer = plain(&answer);
        assert!(answer.contains(&head(&first)), "{answer:?} vs {first:?}");

        ask(&mut p, "/clear", "Cleared session context");

        p.send_line("\"\"\"Name a colour").expect("send");
        p.exp_string("... ").expect("continuation prompt");
        p.send_line("and a fruit.\"\"\"").expect("send");
        p.exp_string("fruit.\"\"\"").expect("echo");
        let answer = plain(&p.exp_string(">>> ").expect("multi-line answer"));
        assert!(answer.contains(&head(&multi)), "{answer:?} vs {multi:?}");

        p.send_line("/set system You are a pirate.").expect("send");
        p.exp_string("Set system message.").expect("system");
        p.send_line("/show system").expect("send");
        p.exp_string("You are a pirate.").expect("show system");
        ask(&mut p, "/show info", "Model");

        ask(
            &mut p,
            "/frobnicate now",
            "Unknown command '/frobnicate'. Type /? for help",
        );

        p.send_control('c').expect("ctrl-c at the prompt");
        p.exp_string("Use Ctrl + d or /bye to exit.")
            .expect("ctrl-c hint");
        p.exp_string(">>> ").expect("prompt");

        ask(
            &mut p,
            "/set parameter num_predict 4000",
            "Set parameter 'num_predict' to '4000'",
        );
        p
    })
    .await;
    let before = gauge(&host, "rollama_generated_tokens_total").await;
    p.send_line("Count from 1 to 1000, one number per line.")
        .expect("send");
    // The answer is being generated, and some of it has streamed.
    wait_gauge(&host, "rollama_sequences_running", |n| n >= 1).await;
    wait_gauge(&host, "rollama_generated_tokens_total", |n| n >= before + 3).await;
    p.send_control('c').expect("ctrl-c during the answer");
    // The server stopped generating: the dropped stream cancelled the sequence.
    wait_gauge(&host, "rollama_sequences_running", |n| n == 0).await;
    let after = gauge(&host, "rollama_generated_tokens_total").await;
    assert!(after < before + 4000, "the answer ran to its end");

    blocking(move || {
        p.exp_string(">>> ").expect("the prompt is back");
        ask(
            &mut p,
            "/save pirate-session",
            "Created new model 'pirate-session'",
        );
        p.send_line("/bye").expect("send");
        exits_0(&mut p);
    })
    .await;

    let tags: Value = reqwest::get(format!("{host}/api/tags"))
        .await
        .expect("tags")
        .json()
        .await
        .expect("tags json");
    let names: Vec<&str> = tags["models"]
        .as_array()
        .expect("models")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("pirate-session")),
        "{names:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_d_ends_the_chat() {
    let host = server().await;
    let h = host.clone();
    blocking(move || {
        let mut p = pty(&h, &["run", "smollm2"], 300_000);
        p.exp_string(">>> ").expect("prompt");
        p.send_control('d').expect("ctrl-d");
        exits_0(&mut p);
    })
    .await;
}
