//! Shared by the integration tests: where the real test models are.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The model cache filled by `scripts/fetch-models` (fetched on first use if missing).
pub fn model_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let out = Command::new(root.join("scripts/fetch-models"))
            .output()
            .expect("run scripts/fetch-models");
        assert!(
            out.status.success(),
            "scripts/fetch-models failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
    .clone()
}

/// Path of a real test model: `smollm2` or `gemma3`.
pub fn model_path(name: &str) -> PathBuf {
    let path = model_dir().join(format!("{name}.gguf"));
    assert!(path.exists(), "{} missing after fetch", path.display());
    path
}

/// A golden fixture under `tests/fixtures/goldens/`, parsed.
pub fn golden(file: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/goldens")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("golden fixture is JSON")
}
