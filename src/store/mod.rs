//! The model store on disk: the only code that knows the `models/` layout.
//!
//! A file `NAME.gguf` directly in the store directory is served as `NAME:latest`, and so is
//! a directory `NAME/` holding a Hugging Face checkpoint (`config.json` and `*.safetensors`).
//! Names are validated (see [`ModelName`]) and matched case-insensitively against the
//! directory listing, so a request can only ever open what the listing itself returned.

mod blobs;
mod digest;
pub mod manifest;
mod manifests;
mod name;

pub use blobs::{Blobs, Written};
pub use digest::Digest;
pub use manifest::{Layer, Manifest, ModelConfig};
pub use manifests::{FoundManifest, Manifests};
pub use name::ModelName;

use std::any::Any;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use sha2::{Digest as _, Sha256};

/// A model found in the store.
#[derive(Debug, Clone)]
pub struct StoredModel {
    /// Display name with tag, e.g. `smollm2:latest`.
    pub name: String,
    /// The `.gguf` file, or the checkpoint directory.
    pub path: PathBuf,
    pub format: Format,
    /// Bytes of the file, or of every file in the directory.
    pub size: u64,
    /// The file's mtime, or the newest of the directory's files.
    pub modified: SystemTime,
}

/// How a stored model is laid out (`details.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Gguf,
    /// A Hugging Face directory: `config.json`, tokenizer files, `*.safetensors`.
    Safetensors,
}

impl Format {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Gguf => "gguf",
            Self::Safetensors => "safetensors",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid model name")]
    InvalidName,
    #[error("model '{0}' not found")]
    NotFound(String),
    #[error("model store {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("blob {0} is missing from the store")]
    MissingBlob(Digest),
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("{0}")]
    Corrupt(String),
}

/// A fact derived from a file (its digest, its GGUF details), with the (size, mtime) it
/// was computed for.
type Cached = (u64, SystemTime, Arc<dyn Any + Send + Sync>);

/// Handle on the store directory; cheap to clone.
#[derive(Clone)]
pub struct ModelStore {
    dir: PathBuf,
    /// Facts derived from each file, keyed by path and what they are, valid while the
    /// file's (size, mtime) is unchanged: hashing a GGUF takes seconds, reading its header
    /// (a 262k-token vocabulary for Gemma 3) a good part of one.
    memo: Arc<Mutex<HashMap<(PathBuf, &'static str), Cached>>>,
}

impl ModelStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            memo: Arc::default(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `blobs/` of the Ollama layout under the store.
    pub fn blobs(&self) -> Blobs {
        Blobs::new(self.dir.join("blobs"))
    }

    /// `manifests/` of the Ollama layout under the store.
    pub fn manifests(&self) -> Manifests {
        Manifests::new(self.dir.join("manifests"))
    }

    /// Every `*.gguf` and checkpoint directory in the store, newest first. A missing
    /// directory is an empty store.
    pub fn list(&self) -> Result<Vec<StoredModel>, StoreError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(StoreError::Io(self.dir.clone(), e)),
        };
        let mut models = vec![];
        for entry in entries.flatten() {
            let path = entry.path();
            // Follows symlinks: the fetch script links the cache into the store.
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let found = match meta.is_dir() {
                true => checkpoint(&path),
                false => gguf(&path, &meta),
            };
            let Some((stem, format, size, modified)) = found else {
                continue;
            };
            if ModelName::parse(&stem).is_none() {
                continue;
            }
            models.push(StoredModel {
                name: format!("{stem}:latest"),
                path,
                format,
                size,
                modified,
            });
        }
        models.sort_by(|a, b| b.modified.cmp(&a.modified).then(a.name.cmp(&b.name)));
        Ok(models)
    }

    /// Finds the file for a requested name. `NotFound` carries the name as sent.
    pub fn resolve(&self, raw: &str) -> Result<StoredModel, StoreError> {
        let name = ModelName::parse(raw).ok_or(StoreError::InvalidName)?;
        let not_found = || StoreError::NotFound(raw.to_string());
        if !name.is_local() || !name.tag.eq_ignore_ascii_case("latest") {
            return Err(not_found());
        }
        let wanted = format!("{}:latest", name.model);
        self.list()?
            .into_iter()
            .find(|m| m.name.eq_ignore_ascii_case(&wanted))
            .ok_or_else(not_found)
    }

    /// Hex sha256 of the model (64 chars, no prefix), cached while it is unchanged: of the
    /// file, or for a directory of each file's relative path and bytes in name order.
    pub fn digest(&self, model: &StoredModel) -> Result<String, StoreError> {
        self.memo(model, "sha256", || {
            let mut hasher = Sha256::new();
            match model.format {
                Format::Gguf => hash_file(&model.path, &mut hasher)?,
                Format::Safetensors => {
                    for (rel, path) in files(&model.path) {
                        hasher.update(rel.as_bytes());
                        hash_file(&path, &mut hasher)?;
                    }
                }
            }
            Ok(hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>())
        })
    }

    /// `compute(model)` once per version of the file: the value is reused until the
    /// file's size or mtime changes. `what` names the fact, so several share a file.
    pub fn memo<T, E>(
        &self,
        model: &StoredModel,
        what: &'static str,
        compute: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E>
    where
        T: Clone + Send + Sync + 'static,
    {
        let key = (model.path.clone(), what);
        let version = (model.size, model.modified);
        if let Ok(memo) = self.memo.lock() {
            if let Some((size, modified, value)) = memo.get(&key) {
                if (*size, *modified) == version {
                    if let Some(v) = value.downcast_ref::<T>() {
                        return Ok(v.clone());
                    }
                }
            }
        }
        let value = compute()?;
        if let Ok(mut memo) = self.memo.lock() {
            memo.insert(key, (version.0, version.1, Arc::new(value.clone())));
        }
        Ok(value)
    }
}

/// Name stem, format, size and mtime of an entry of the store.
type Found = (String, Format, u64, SystemTime);

fn gguf(path: &Path, meta: &std::fs::Metadata) -> Option<Found> {
    if path.extension()? != "gguf" {
        return None;
    }
    let stem = path.file_stem()?.to_str()?.to_string();
    let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    Some((stem, Format::Gguf, meta.len(), modified))
}

/// A directory with `config.json` and at least one `*.safetensors`.
fn checkpoint(dir: &Path) -> Option<Found> {
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
fn files(dir: &Path) -> Vec<(String, PathBuf)> {
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

fn hash_file(path: &Path, hasher: &mut Sha256) -> Result<(), StoreError> {
    let io = |e| StoreError::Io(path.to_path_buf(), e);
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buf[..n]);
    }
}
