//! Shared by the benches; each uses part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The cache `scripts/fetch-models` fills with the test models (fetched and verified).
pub fn model_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join("scripts/fetch-models"))
        .output()
        .expect("run scripts/fetch-models");
    assert!(out.status.success(), "scripts/fetch-models failed");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// The test model `name` (`smollm2`, `gemma3`).
pub fn model_path(name: &str) -> PathBuf {
    model_dir().join(format!("{name}.gguf"))
}
