//! The official `ollama` and `openai` Python clients, unchanged, against a live server.
//!
//! The interpreter is `$ROLLAMA_PYTHON` (scripts/test points it at a venv with both
//! installed), else `python3`. Without the packages the tests fail, never skip.

mod common;
mod registry_support;

use common::{temp_store, templated_model, TestServer};

/// Runs `tests/py/SCRIPT BASE_URL` and expects "all checks passed".
async fn run_check(script: &str, base: String) {
    run_check_args(script, vec![base]).await
}

/// Runs `tests/py/SCRIPT ARGS…` and expects "all checks passed".
async fn run_check_args(script: &str, args: Vec<String>) {
    let python = std::env::var("ROLLAMA_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = format!("{}/tests/py/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python)
            .arg(script)
            .args(&args)
            .env_remove("OLLAMA_HOST")
            .env_remove("OLLAMA_API_KEY")
            .env_remove("OPENAI_API_KEY")
            .env_remove("OPENAI_BASE_URL")
            .output()
    })
    .await
    .expect("join")
    .expect("run python (set ROLLAMA_PYTHON to an interpreter with the clients installed)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python client failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn official_python_client_works_unchanged() {
    let base = TestServer::default()
        .spawn(&["smollm2", "all-minilm"])
        .await;
    run_check("ollama_client_check.py", base).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn official_openai_client_works_unchanged() {
    let base = TestServer::default()
        .spawn(&["smollm2", "all-minilm"])
        .await;
    run_check("openai_client_check.py", base).await;
}

/// SmolLM2 as itself, with Qwen 2.5's template (tools) and with a thinking template.
async fn tools_server() -> String {
    let store = temp_store(&["smollm2"]);
    templated_model("smollm2", "qwen2.5.jinja", &store, "smollm2-tools");
    templated_model("smollm2", "qwen3-open-think.jinja", &store, "smollm2-think");
    TestServer::default().spawn_store(store).await
}

#[tokio::test(flavor = "multi_thread")]
async fn official_python_client_calls_tools_thinks_and_follows_schemas() {
    run_check("ollama_tools_check.py", tools_server().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn official_openai_client_forces_tool_calls_and_parses_schemas() {
    run_check("openai_tools_check.py", tools_server().await).await;
}

/// Pull (streamed and not) from a local Ollama-shaped registry publishing SmolLM2, then
/// list, show, create (from a model, from an uploaded blob), copy, delete, ps, generate
/// with the created model's system prompt, and the errors, all through the client.
#[tokio::test(flavor = "multi_thread")]
async fn official_python_client_pulls_creates_copies_and_deletes() {
    let registry = registry_support::smollm2_registry(common::model_path("smollm2")).await;
    let base = TestServer::default().spawn_store(temp_store(&[])).await;
    let gguf = registry.gguf.display().to_string();
    run_check_args("ollama_models_check.py", vec![base, registry.host, gguf]).await;
}
