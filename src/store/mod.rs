//! The model store on disk: the only code that knows the `models/` layout.
//!
//! A file `NAME.gguf` directly in the store directory is served as `NAME:latest`. Names are
//! validated (see [`ModelName`]) and matched case-insensitively against the directory
//! listing, so a request can only ever open a file that the listing itself returned.

mod name;

pub use name::ModelName;

use std::any::Any;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

/// A model file found in the store.
#[derive(Debug, Clone)]
pub struct StoredModel {
    /// Display name with tag, e.g. `smollm2:latest`.
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
    pub modified: SystemTime,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid model name")]
    InvalidName,
    #[error("model '{0}' not found")]
    NotFound(String),
    #[error("model store {0}: {1}")]
    Io(PathBuf, std::io::Error),
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

    /// Every `*.gguf` in the store, newest first. A missing directory is an empty store.
    pub fn list(&self) -> Result<Vec<StoredModel>, StoreError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(StoreError::Io(self.dir.clone(), e)),
        };
        let mut models = vec![];
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(stem) = gguf_stem(&path) else {
                continue;
            };
            if ModelName::parse(stem).is_none() {
                continue;
            }
            // Follows symlinks: the fetch script links the cache into the store.
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            models.push(StoredModel {
                name: format!("{stem}:latest"),
                path,
                size: meta.len(),
                modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
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

    /// Hex sha256 of the model file (64 chars, no prefix), cached while the file is unchanged.
    pub fn digest(&self, model: &StoredModel) -> Result<String, StoreError> {
        self.memo(model, "sha256", || {
            let io = |e| StoreError::Io(model.path.clone(), e);
            let mut file = std::fs::File::open(&model.path).map_err(io)?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = file.read(&mut buf).map_err(io)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
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

fn gguf_stem(path: &Path) -> Option<&str> {
    if path.extension()? != "gguf" {
        return None;
    }
    path.file_stem()?.to_str()
}
