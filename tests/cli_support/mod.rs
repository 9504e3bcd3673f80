//! Driving the real `rollama` binary as a user does: as a child process with captured
//! output, or in a pseudo-terminal (rexpect) for the interactive parts, always against the
//! server at `host` and with a temporary `HOME` (history and keys stay out of the real one).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// `rollama ARGS` for the server at `host` (`http://127.0.0.1:PORT`).
pub fn rollama(host: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollama"));
    cmd.args(args)
        .env("OLLAMA_HOST", host)
        .env("HOME", temp_home())
        .env_remove("OLLAMA_API_KEY")
        .env_remove("NO_COLOR")
        .env("TERM", "xterm-256color");
    cmd
}

/// Runs `rollama ARGS` to the end with `stdin` (nothing: closed) and returns what it wrote.
pub fn output(host: &str, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut cmd = rollama(host, args);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(match stdin {
        Some(_) => Stdio::piped(),
        None => Stdio::null(),
    });
    let mut child = cmd.spawn().expect("spawn rollama");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("wait for rollama")
}

/// `rollama ARGS` in a pseudo-terminal (80 columns), answering within `timeout_ms` per
/// expectation.
pub fn pty(host: &str, args: &[&str], timeout_ms: u64) -> rexpect::session::PtySession {
    rexpect::session::spawn_command(rollama(host, args), Some(timeout_ms)).expect("spawn in a pty")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh empty directory to stand for `$HOME`.
pub fn temp_home() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "rollama-cli-home-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create temp home");
    dir
}

/// A port nothing listens on (bound, then released).
pub fn dead_host() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}
