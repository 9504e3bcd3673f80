//! The CLI's contract with scripts that hold for every command: a server that is not
//! running is said clearly on stderr with status 1; a usage error is status 2.

mod cli_support;

use cli_support::{dead_host, output, stderr};

#[test]
fn every_client_command_says_clearly_when_no_server_runs() {
    let host = dead_host();
    let commands: &[&[&str]] = &[
        &["list"],
        &["ls"],
        &["ps"],
        &["show", "smollm2"],
        &["run", "smollm2", "hi"],
        &["pull", "smollm2"],
        &["push", "smollm2"],
        &["rm", "smollm2"],
        &["cp", "a", "b"],
        &["stop", "smollm2"],
        &["create", "x"],
    ];
    for args in commands {
        let out = output(&host, args, None);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?} wrote to stdout");
        assert_eq!(
            err.trim(),
            format!("Error: could not connect to rollama server at {host}, run 'rollama serve' to start it"),
            "{args:?}"
        );
    }
}

#[test]
fn usage_errors_are_status_2() {
    let host = dead_host();
    for args in [&["bogus"][..], &["run"], &["cp", "one"], &["rm"]] {
        let out = output(&host, args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn version_is_worded_as_ollama_words_it() {
    for flag in ["-v", "--version"] {
        let out = output(&dead_host(), &[flag], None);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(
            cli_support::stdout(&out),
            format!("rollama version is {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}
