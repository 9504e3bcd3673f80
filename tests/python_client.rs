//! The official `ollama` Python client, unchanged, against a live server.
//!
//! The interpreter is `$ROLLAMA_PYTHON` (scripts/test points it at a venv with `ollama`
//! installed), else `python3`. Without the package the test fails, never skips.

mod common;

use common::TestServer;

#[tokio::test(flavor = "multi_thread")]
async fn official_python_client_works_unchanged() {
    let base = TestServer::default().spawn(&["smollm2"]).await;
    let python = std::env::var("ROLLAMA_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/ollama_client_check.py");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python)
            .arg(script)
            .arg(&base)
            .env_remove("OLLAMA_HOST")
            .env_remove("OLLAMA_API_KEY")
            .output()
    })
    .await
    .expect("join")
    .expect("run python (set ROLLAMA_PYTHON to an interpreter with `ollama` installed)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python client failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
