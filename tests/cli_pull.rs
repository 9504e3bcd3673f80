//! `rollama pull` and `rollama push` as a user runs them, against a live server that pulls
//! from a local Ollama-shaped registry publishing SmolLM2: plain progress lines in a log,
//! bars on a terminal, the server's errors as `Error: …` with status 1, and Ctrl-C ending
//! a pull without harming the server.

mod cli_support;
mod common;
mod registry_support;

use cli_support::{output, pty, stderr, stdout};
use common::{temp_store, TestServer};
use registry_support::{smollm2_registry, Published};
use rexpect::process::WaitStatus;
use rollama::cli::format::human_bytes;
use serde_json::Value;

/// How long one expectation in a pty may wait (a pull copies ~100 MB on a busy machine).
const PTY_TIMEOUT_MS: u64 = 120_000;

async fn setup() -> (Published, String) {
    let registry = smollm2_registry(common::model_path("smollm2")).await;
    let base = TestServer::default().spawn_store(temp_store(&[])).await;
    (registry, base)
}

/// `rollama ARGS` to its end, off the runtime that serves the server.
async fn run(base: &str, args: &[&str]) -> std::process::Output {
    let (base, args) = (
        base.to_string(),
        args.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
    );
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        output(&base, &args, None)
    })
    .await
    .expect("join")
}

async fn tags(base: &str) -> Vec<String> {
    let v: Value = reqwest::get(format!("{base}/api/tags"))
        .await
        .expect("tags")
        .json()
        .await
        .expect("tags json");
    v["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|m| m["name"].as_str().expect("name").to_string())
        .collect()
}

/// Each layer's label and size as the CLI shows it: `pulling <12 hex>:` and `134 MB`.
fn layers(registry: &Published) -> Vec<(String, String)> {
    let m = &registry.manifest;
    m.layers
        .iter()
        .chain(std::iter::once(&m.config))
        .map(|l| {
            let hex = l.digest.to_string();
            let hex = hex.strip_prefix("sha256:").expect("sha256 digest");
            (format!("pulling {}:", &hex[..12]), human_bytes(l.size))
        })
        .collect()
}

/// What a pty showed, as text: rexpect hands each byte over as a `char`.
fn utf8(shown: &str) -> String {
    let bytes: Vec<u8> = shown.chars().map(|c| c as u32 as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Whether `shown` has `LABEL 100% ▕█…█▏ SIZE`, a layer's bar drawn full.
fn full_bar(shown: &str, label: &str, size: &str) -> bool {
    let start = format!("{label} 100% ▕");
    shown.match_indices(&start).any(|(at, _)| {
        let rest = &shown[at + start.len()..];
        let Some((bar, after)) = rest.split_once('▏') else {
            return false;
        };
        !bar.is_empty() && bar.chars().all(|c| c == '█') && after.trim_start().starts_with(size)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_without_a_terminal_writes_plain_lines_then_the_model_is_listed() {
    let (registry, base) = setup().await;
    let name = format!("{}/library/tiny:latest", registry.host);
    let out = run(&base, &["pull", "--insecure", &name]).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        stdout(&out).is_empty(),
        "pull writes its progress to stderr"
    );
    assert!(!err.contains('\x1b'), "escape codes in a log: {err:?}");
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines.len() < 30,
        "a handful of lines, not a redraw each: {err}"
    );
    assert_eq!(lines.first(), Some(&"pulling manifest"), "{err}");
    let tail = &lines[lines.len().saturating_sub(3)..];
    assert_eq!(
        tail,
        ["verifying sha256 digest", "writing manifest", "success"],
        "{err}"
    );
    for (label, size) in layers(&registry) {
        let done = format!("{label} 100% {size}");
        let n = lines.iter().filter(|l| **l == done).count();
        assert_eq!(n, 1, "one line for {label} done, {done:?}:\n{err}");
    }
    assert!(
        tags(&base).await.contains(&name),
        "{name} not listed after the pull"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_in_a_terminal_draws_a_bar_per_layer_then_success() {
    let (registry, base) = setup().await;
    let name = format!("{}/library/tiny:latest", registry.host);
    let host = base.clone();
    let (shown, status) = tokio::task::spawn_blocking(move || {
        let mut p = pty(&host, &["pull", "--insecure", &name], PTY_TIMEOUT_MS);
        p.exp_string("pulling manifest").expect("pulling manifest");
        let shown = utf8(&p.exp_string("success").expect("success"));
        p.exp_eof().expect("exit");
        (shown, p.process().wait().expect("wait"))
    })
    .await
    .expect("join");
    assert!(
        matches!(status, WaitStatus::Exited(_, 0)),
        "{status:?}: {shown}"
    );
    for (label, size) in layers(&registry) {
        assert!(
            full_bar(&shown, &label, &size),
            "no full bar for {label} ({size}): {shown:?}"
        );
    }
    assert!(shown.contains("verifying sha256 digest"), "{shown:?}");
    assert!(shown.contains("writing manifest"), "{shown:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_of_a_model_the_registry_lacks_fails_with_the_servers_message() {
    let (registry, base) = setup().await;
    let name = format!("{}/library/nothing:latest", registry.host);
    let out = run(&base, &["pull", "--insecure", &name]).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(stdout(&out).is_empty());
    assert_eq!(
        err.lines().last(),
        Some("Error: pull model manifest: file does not exist"),
        "{err}"
    );
    assert!(!tags(&base).await.contains(&name));
}

#[tokio::test(flavor = "multi_thread")]
async fn push_fails_with_the_servers_message() {
    let base = TestServer::default().spawn(&["smollm2"]).await;
    let out = run(&base, &["push", "smollm2"]).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert_eq!(
        err.lines().last(),
        Some("Error: pushing models to a registry is not supported by rollama"),
        "{err}"
    );
    // A model that is not there: the server's 404, as Ollama's client prints a status.
    let out = run(&base, &["push", "nothing"]).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("Error: 404 Not Found: ") && last.contains("nothing"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_ends_a_pull_and_the_server_pulls_on_unharmed() {
    let (registry, base) = setup().await;
    let stall = format!("{}/library/stall:latest", registry.host);
    let host = base.clone();
    let (shown, status) = tokio::task::spawn_blocking(move || {
        let mut p = pty(&host, &["pull", "--insecure", &stall], PTY_TIMEOUT_MS);
        // The model layer under way (its first MiB arrived; the rest never will).
        let (shown, _) = p
            .exp_regex(r"pulling [0-9a-f]{12}: +[0-9]{1,2}% ")
            .expect("a bar under way");
        p.send_control('c').expect("ctrl-c");
        p.exp_eof().expect("exit after ctrl-c");
        (utf8(&shown), p.process().wait().expect("wait"))
    })
    .await
    .expect("join");
    match status {
        WaitStatus::Exited(_, code) => assert_ne!(code, 0, "{shown}"),
        WaitStatus::Signaled(..) => {}
        other => panic!("{other:?}: {shown}"),
    }
    let stall = format!("{}/library/stall:latest", registry.host);
    assert!(!tags(&base).await.contains(&stall));
    // The same model blob, pulled under another name: it would wait forever on the
    // stalled download had the server not dropped it with the client.
    let tiny = format!("{}/library/tiny:latest", registry.host);
    let out = run(&base, &["pull", "--insecure", &tiny]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(tags(&base).await.contains(&tiny));
}

/// `run` of a model the store lacks pulls it first, with progress, then answers, as
/// Ollama's `run` does.
#[tokio::test(flavor = "multi_thread")]
async fn run_pulls_a_missing_model_first_then_answers() {
    let (registry, base) = setup().await;
    // `brief` answers in at most 8 greedy tokens, so the answer costs nothing.
    let name = format!("{}/library/brief:latest", registry.host);
    let out = run(&base, &["run", "--insecure", &name, "Say hi."]).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("pulling manifest"), "{err}");
    assert!(err.contains("success"), "{err}");
    assert!(!stdout(&out).trim().is_empty(), "no answer: {err}");
    let short = name.trim_end_matches(":latest").to_string();
    let listed = tags(&base).await;
    assert!(
        listed.iter().any(|n| n == &name || n == &short),
        "{listed:?}"
    );
}
