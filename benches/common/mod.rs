//! Shared by the criterion benches.

use std::path::PathBuf;
use std::process::Command;

/// The test model `name` (`smollm2`, `gemma3`), fetched and verified by
/// `scripts/fetch-models` into its cache.
pub fn model_path(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join("scripts/fetch-models"))
        .output()
        .expect("run scripts/fetch-models");
    assert!(out.status.success(), "scripts/fetch-models failed");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join(format!("{name}.gguf"))
}
