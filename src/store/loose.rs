//! Loose models: a `NAME.gguf` file directly in the store directory, or a directory
//! `NAME/` holding a Hugging Face checkpoint (`config.json` and `*.safetensors`), served as
//! `NAME:latest` beside the Ollama-layout models.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::Format;

/// Name stem, format, size and mtime of an entry of the store.
pub type Found = (String, Format, u64, SystemTime);

pub fn gguf(path: &Path, meta: &std::fs::Metadata) -> Option<Found> {
    if path.extension()? != "gguf" {
        return None;
    }
    let stem = path.file_stem()?.to_str()?.to_string();
    let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    Some((stem, Format::Gguf, meta.len(), modified))
}

/// A directory with `config.json` and at least one `*.safetensors`.
pub fn checkpoint(dir: &Path) -> Option<Found> {
    let stem = dir.file_name()?.to_str()?.to_string();
    let files = files(dir);
    let has = |pred: &dyn Fn(&str) -> bool| files.iter().any(|(rel, _)| pred(rel));
    if !has(&|r| r == "config.json") || !has(&|r| !r.contains('/') && r.ends_with(".safetensors")) {
        return None;
    }
    let (mut size, mut modified) = (0, SystemTime::UNIX_EPOCH);
    for (_, path) in &files {
        if let Ok(meta) = std::fs::metadata(path) {
            size += meta.len();
            modified = modified.max(meta.modified().unwrap_or(SystemTime::UNIX_EPOCH));
        }
    }
    Some((stem, Format::Safetensors, size, modified))
}

/// Regular files of a checkpoint directory and its direct subdirectories (such as
/// sentence-transformers' `1_Pooling/`), by relative path, sorted; hidden ones skipped.
pub fn files(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = vec![];
    for (prefix, sub) in list_into(dir, "", &mut out) {
        list_into(&sub, &prefix, &mut out);
    }
    out.sort();
    out
}

/// Pushes the files of `dir` (as `prefix` + name) and returns its subdirectories.
fn list_into(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut dirs = vec![];
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => out.push((format!("{prefix}{name}"), path)),
            Ok(m) if m.is_dir() => dirs.push((format!("{prefix}{name}/"), path)),
            _ => {}
        }
    }
    dirs
}
