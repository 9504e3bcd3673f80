//! `rollama list/ls`, `ps`, `show`, `cp`, `rm`, `stop` against a real server, as a user
//! runs them: the tables Ollama prints (columns padded to the widest cell, four spaces
//! between, the header's last cell followed by one space, data lines by four), its
//! messages, and status 1 with `Error: …` on stderr and nothing on stdout on failure.

mod cli_support;
mod common;

use std::process::Output;

use cli_support::{output, stderr, stdout};
use common::TestServer;
use rollama::cli::format::human_bytes;
use rollama::cli::wire::ShowResponse;
use serde_json::{json, Value};

/// `rollama ARGS` run off the runtime's worker threads, so the in-process server keeps
/// answering it.
async fn cli(host: &str, args: &[&str]) -> Output {
    let host = host.to_string();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        output(&host, &args, None)
    })
    .await
    .expect("cli thread")
}

/// Success with nothing on stderr; its stdout.
fn ok(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(out));
    assert_eq!(stderr(out), "");
    stdout(out)
}

/// Failure: status 1, nothing on stdout; its stderr.
fn failed(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "stdout: {}", stdout(out));
    assert_eq!(stdout(out), "");
    stderr(out)
}

async fn get(url: String) -> Value {
    reqwest::get(url)
        .await
        .expect("get")
        .json()
        .await
        .expect("json")
}

/// The server's own `error` for a request, so the CLI is checked to pass it on verbatim.
async fn server_error(method: reqwest::Method, url: String, body: Value) -> String {
    let r = reqwest::Client::new()
        .request(method, url)
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.expect("json");
    v["error"].as_str().expect("error text").to_string()
}

/// Ollama's layout of `rows` under `header`, built independently of the CLI's table code.
fn layout(header: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (c, h) in header.iter().enumerate() {
        let sep = if c + 1 == header.len() { " " } else { "    " };
        out.push_str(&format!("{h:<w$}{sep}", w = widths[c]));
    }
    out.push('\n');
    for row in rows {
        for (c, cell) in row.iter().enumerate() {
            out.push_str(&format!("{cell:<w$}    ", w = widths[c]));
        }
        out.push('\n');
    }
    out
}

/// The cells of a data line (cells hold single spaces only, columns are 4+ apart).
fn cells(line: &str) -> Vec<String> {
    line.split("    ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

fn is_short_id(id: &str) -> bool {
    id.len() == 12 && id.chars().all(|c| c.is_ascii_hexdigit())
}

const LIST_HEADER: [&str; 4] = ["NAME", "ID", "SIZE", "MODIFIED"];
const PS_HEADER: [&str; 6] = ["NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"];

#[tokio::test(flavor = "multi_thread")]
async fn list_prints_ollamas_table() {
    let host = TestServer::default().spawn(&["smollm2"]).await;
    let tags = get(format!("{host}/api/tags")).await;
    let digest = tags["models"][0]["digest"].as_str().expect("digest");
    let file_size = std::fs::metadata(common::model_path("smollm2"))
        .expect("model file")
        .len();

    for command in ["list", "ls"] {
        let text = ok(&cli(&host, &[command]).await);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        let row = cells(lines[1]);
        assert_eq!(row.len(), 4, "{text}");
        assert_eq!(row[0], "smollm2:latest");
        assert!(is_short_id(&row[1]), "{text}");
        assert_eq!(row[1], digest[..12]);
        assert_eq!(row[2], human_bytes(file_size));
        assert!(row[2].ends_with(" MB"), "{text}");
        assert!(row[3].ends_with(" ago"), "{text}");
        assert_eq!(text, layout(&LIST_HEADER, &[row]), "{command}");
    }

    // The prefix is matched ignoring case; no match leaves the header alone.
    let text = ok(&cli(&host, &["list", "SMOL"]).await);
    assert_eq!(text.lines().count(), 2, "{text}");
    let text = ok(&cli(&host, &["ls", "nothing"]).await);
    assert_eq!(text, "NAME    ID    SIZE    MODIFIED \n");
}

#[tokio::test(flavor = "multi_thread")]
async fn ps_shows_loaded_models_and_stop_unloads_them() {
    let host = TestServer::default().spawn(&["smollm2"]).await;
    let empty = "NAME    ID    SIZE    PROCESSOR    CONTEXT    UNTIL \n";
    assert_eq!(ok(&cli(&host, &["ps"]).await), empty);

    // Stopping a model that exists but is not loaded does nothing, quietly.
    assert_eq!(ok(&cli(&host, &["stop", "smollm2"]).await), "");

    let r = common::post(
        &format!("{host}/api/generate"),
        json!({"model": "smollm2", "prompt": "Hi", "options": {"num_predict": 1}, "stream": false}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let ps = get(format!("{host}/api/ps")).await;
    let loaded = &ps["models"][0];

    let text = ok(&cli(&host, &["ps"]).await);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let row = cells(lines[1]);
    assert_eq!(row.len(), 6, "{text}");
    assert_eq!(row[0], "smollm2:latest");
    assert!(is_short_id(&row[1]), "{text}");
    assert_eq!(row[2], human_bytes(loaded["size"].as_u64().expect("size")));
    assert_eq!(row[3], "100% CPU");
    assert_eq!(row[4], loaded["context_length"].to_string());
    assert!(row[5].ends_with(" from now"), "{text}");
    assert_eq!(text, layout(&PS_HEADER, &[row]));
    // ps's prefix is case-sensitive, as Ollama's.
    assert_eq!(ok(&cli(&host, &["ps", "smol"]).await).lines().count(), 2);
    assert_eq!(ok(&cli(&host, &["ps", "SMOL"]).await), empty);

    assert_eq!(ok(&cli(&host, &["stop", "smollm2"]).await), "");
    assert_eq!(ok(&cli(&host, &["ps"]).await), empty);
    assert_eq!(get(format!("{host}/api/ps")).await, json!({"models": []}));
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_of_an_unknown_model_says_so() {
    let host = TestServer::default().spawn(&["smollm2"]).await;
    let err = failed(&cli(&host, &["stop", "nope"]).await);
    assert_eq!(err, "Error: couldn't find model \"nope\" to stop\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn cp_then_rm() {
    let host = TestServer::default().spawn(&["smollm2"]).await;
    let out = ok(&cli(&host, &["cp", "smollm2", "mine:copy"]).await);
    assert_eq!(out, "copied 'smollm2' to 'mine:copy'\n");

    let text = ok(&cli(&host, &["list"]).await);
    let names: Vec<String> = text.lines().skip(1).map(|l| cells(l)[0].clone()).collect();
    assert_eq!(names.len(), 2, "{text}");
    assert!(names.contains(&"mine:copy".to_string()), "{text}");
    assert!(names.contains(&"smollm2:latest".to_string()), "{text}");
    let only = ok(&cli(&host, &["list", "MINE"]).await);
    assert_eq!(only.lines().count(), 2, "{only}");
    assert!(only
        .lines()
        .nth(1)
        .is_some_and(|l| l.starts_with("mine:copy    ")));

    // A loaded model is unloaded before it is deleted.
    let r = common::post(
        &format!("{host}/api/generate"),
        json!({"model": "mine:copy", "stream": false}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        ok(&cli(&host, &["rm", "mine:copy"]).await),
        "deleted 'mine:copy'\n"
    );
    assert_eq!(get(format!("{host}/api/ps")).await, json!({"models": []}));
    let text = ok(&cli(&host, &["list"]).await);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(!text.contains("mine:copy"), "{text}");

    // An unknown one: no "unable to stop" warning, the server's error, status 1.
    let message = server_error(
        reqwest::Method::DELETE,
        format!("{host}/api/delete"),
        json!({"model": "nope"}),
    )
    .await;
    assert!(message.contains("not found"), "{message}");
    let err = failed(&cli(&host, &["rm", "nope"]).await);
    assert_eq!(err, format!("Error: {message}\n"));

    // cp of an unknown source.
    let message = server_error(
        reqwest::Method::POST,
        format!("{host}/api/copy"),
        json!({"source": "nope", "destination": "other"}),
    )
    .await;
    let err = failed(&cli(&host, &["cp", "nope", "other"]).await);
    assert_eq!(err, format!("Error: {message}\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn show_prints_the_summary_and_each_part() {
    let host = TestServer::default().spawn(&["smollm2"]).await;
    let reply = |verbose: bool| {
        let host = host.clone();
        async move {
            common::post(
                &format!("{host}/api/show"),
                json!({"model": "smollm2", "verbose": verbose}),
            )
            .await
            .json::<Value>()
            .await
            .expect("show json")
        }
    };
    let raw = reply(false).await;
    let resp: ShowResponse = serde_json::from_value(raw.clone()).expect("show reply");

    let text = ok(&cli(&host, &["show", "smollm2"]).await);
    assert_eq!(text, rollama::cli::show::info(&resp, false));
    assert!(
        text.starts_with("  Model\n    architecture        llama "),
        "{text}"
    );
    for row in [
        "parameters",
        "context length",
        "embedding length",
        "quantization",
    ] {
        assert!(text.contains(&format!("    {row} ")), "{row}: {text}");
    }
    assert!(
        text.contains("\n  Capabilities\n    completion    \n"),
        "{text}"
    );
    assert!(!text.contains("Metadata"), "{text}");
    assert!(text.ends_with("\n\n"), "{text}");

    let verbose = ok(&cli(&host, &["show", "smollm2", "-v"]).await);
    let full: ShowResponse = serde_json::from_value(reply(true).await).expect("show reply");
    assert_eq!(verbose, rollama::cli::show::info(&full, true));
    assert!(
        verbose.contains("\n  Metadata\n    general.architecture "),
        "{verbose}"
    );
    assert_eq!(
        ok(&cli(&host, &["show", "--verbose", "smollm2"]).await),
        verbose
    );

    // Each part verbatim; license, Modelfile and parameters with a final newline, system
    // and template without (Println vs Print in Ollama).
    let field = |k: &str| raw[k].as_str().unwrap_or("").to_string();
    assert!(!field("modelfile").is_empty() && !field("template").is_empty());
    for (flag, want) in [
        ("--modelfile", format!("{}\n", field("modelfile"))),
        ("--parameters", format!("{}\n", field("parameters"))),
        ("--license", format!("{}\n", field("license"))),
        ("--template", field("template")),
        ("--system", field("system")),
    ] {
        assert_eq!(
            ok(&cli(&host, &["show", "smollm2", flag]).await),
            want,
            "{flag}"
        );
    }

    let err = failed(&cli(&host, &["show", "smollm2", "--license", "--template"]).await);
    assert_eq!(
        err,
        "Error: only one of '--license', '--modelfile', '--parameters', '--system', or '--template' can be specified\n"
    );

    let message = server_error(
        reqwest::Method::POST,
        format!("{host}/api/show"),
        json!({"model": "nope"}),
    )
    .await;
    assert_eq!(message, "model 'nope' not found");
    let err = failed(&cli(&host, &["show", "nope"]).await);
    assert_eq!(err, "Error: model 'nope' not found\n");
    let err = failed(&cli(&host, &["show", "nope", "--modelfile"]).await);
    assert_eq!(err, "Error: model 'nope' not found\n");
}

/// `rollama list | head -0`: a reader that leaves before the table is written ends the
/// command quietly by SIGPIPE, as a Go binary ends, never with a Rust panic message.
#[tokio::test(flavor = "multi_thread")]
async fn a_closed_pipe_ends_list_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let host = TestServer::default().spawn(&["smollm2"]).await;
    let out = tokio::task::spawn_blocking(move || {
        let mut child = cli_support::rollama(&host, &["list"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        drop(child.stdout.take());
        child.wait_with_output().expect("wait")
    })
    .await
    .expect("cli thread");
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{err}");
}
