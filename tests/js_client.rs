//! The official `ollama` npm package (ollama-js), unchanged, against a live server.
//!
//! `node` runs `tests/js/SCRIPT` with the package from `$ROLLAMA_NODE_MODULES` (scripts/test
//! installs it into `$ROLLAMA_CACHE/node`), else `~/.cache/rollama/node/node_modules`.
//! Without node or the package the tests fail, never skip.

mod common;
mod registry_support;

use std::path::PathBuf;

use common::{temp_store, TestServer};

fn node_modules() -> PathBuf {
    if let Ok(dir) = std::env::var("ROLLAMA_NODE_MODULES") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var("ROLLAMA_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/rollama")
        });
    cache.join("node/node_modules")
}

/// Runs `node tests/js/SCRIPT ARGS…` and expects "all checks passed". ES modules resolve
/// bare imports from the script's own directory upwards (NODE_PATH is ignored), so the
/// script runs from a temp directory holding a copy of it and a `node_modules` link.
async fn run_check(script: &str, args: Vec<String>) {
    let modules = node_modules();
    assert!(
        modules.join("ollama/package.json").exists(),
        "the ollama npm package is missing from {} (run scripts/test, or set ROLLAMA_NODE_MODULES)",
        modules.display()
    );
    let dir = std::env::temp_dir().join(format!("rollama-js-{}-{script}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create script dir");
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/js")
        .join(script);
    std::fs::copy(&source, dir.join(script)).expect("copy script");
    std::os::unix::fs::symlink(&modules, dir.join("node_modules")).expect("link node_modules");
    let script = script.to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(&script)
            .args(&args)
            .current_dir(&dir)
            .env_remove("OLLAMA_HOST")
            .output()
    })
    .await
    .expect("join")
    .expect("run node (install Node.js 18 or later)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "ollama-js failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

/// Pull (streamed to its `success` line, and not) from a local Ollama-shaped registry
/// publishing SmolLM2, then list, show, copy, delete and their errors.
#[tokio::test(flavor = "multi_thread")]
async fn official_js_client_pulls_lists_shows_copies_and_deletes() {
    let registry = registry_support::smollm2_registry(common::model_path("smollm2")).await;
    let base = TestServer::default().spawn_store(temp_store(&[])).await;
    run_check("ollama_pull_check.mjs", vec![base, registry.host]).await;
}
