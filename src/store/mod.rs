//! The model store on disk (`OLLAMA_MODELS`): the only code that knows its layout.
//!
//! Ollama's layout first: `manifests/<host>/<namespace>/<model>/<tag>` naming blobs in
//! `blobs/sha256-<hex>`, so a store written by Ollama is served as it is and what rollama
//! writes Ollama reads back. Beside it, loose models (see [`loose`]): a file `NAME.gguf`
//! directly in the store directory, or a Hugging Face checkpoint directory `NAME/`, served
//! as `NAME:latest` (a manifest of the same name wins). Names are validated (see
//! [`ModelName`]) and matched case-insensitively against the listing, so a request can only
//! ever open what the listing itself returned.

mod blobs;
mod checkpoints;
mod digest;
mod layers;
mod loose;
pub mod manifest;
mod manifests;
mod name;

pub use blobs::{Blobs, Written};
pub use digest::Digest;
pub use layers::Layers;
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
    /// The file's mtime, or the newest of the directory's files; a manifest's mtime.
    pub modified: SystemTime,
    pub origin: Origin,
}

/// Where a stored model comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// A loose `NAME.gguf` or checkpoint directory.
    Loose,
    /// A manifest of the Ollama layout.
    Manifest {
        name: ModelName,
        manifest: Box<Manifest>,
        /// Sha256 of the manifest's bytes.
        digest: Digest,
    },
}

impl StoredModel {
    /// The parsed name (the stored spelling).
    pub fn model_name(&self) -> ModelName {
        match &self.origin {
            Origin::Manifest { name, .. } => name.clone(),
            Origin::Loose => {
                ModelName::parse(&self.name).unwrap_or_else(|| ModelName::local(&self.name))
            }
        }
    }

    pub fn manifest(&self) -> Option<&Manifest> {
        match &self.origin {
            Origin::Manifest { manifest, .. } => Some(manifest.as_ref()),
            Origin::Loose => None,
        }
    }
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

    /// Every model of the store, newest first: the Ollama layout's, then loose files and
    /// directories whose names no manifest has. A missing directory is an empty store.
    pub fn list(&self) -> Result<Vec<StoredModel>, StoreError> {
        let mut models = self.ollama_models();
        for m in self.loose_models()? {
            if !models.iter().any(|o| o.name.eq_ignore_ascii_case(&m.name)) {
                models.push(m);
            }
        }
        models.sort_by(|a, b| b.modified.cmp(&a.modified).then(a.name.cmp(&b.name)));
        Ok(models)
    }

    /// Models of the Ollama layout whose weights are in `blobs/`. A manifest whose weights
    /// are missing, or that names no weights, is skipped with a warning.
    fn ollama_models(&self) -> Vec<StoredModel> {
        let blobs = self.blobs();
        self.manifests()
            .list()
            .into_iter()
            .filter_map(|found| self.checked(found, &blobs))
            .collect()
    }

    /// The model a manifest describes, if its blobs and layers check out (see
    /// [`Self::weights`]); a warning says why not.
    fn checked(&self, found: FoundManifest, blobs: &Blobs) -> Option<StoredModel> {
        let shown = found.name.display();
        match self.weights(&found.manifest, &found.digest, blobs) {
            Ok((path, format)) => Some(StoredModel {
                name: shown,
                path,
                format,
                size: found.manifest.size(),
                modified: found.modified,
                origin: Origin::Manifest {
                    name: found.name,
                    manifest: Box::new(found.manifest),
                    digest: found.digest,
                },
            }),
            Err(e) => {
                tracing::warn!(model = %shown, error = %e, "skipping a model");
                None
            }
        }
    }

    /// The GGUF blob, or the checkpoint directory assembled from the layers' files.
    fn weights(
        &self,
        manifest: &Manifest,
        digest: &Digest,
        blobs: &Blobs,
    ) -> Result<(PathBuf, Format), StoreError> {
        check_blobs(manifest, blobs)?;
        // As Ollama's listing: a model whose config (or another layer) cannot be read is
        // left out, not listed and then refused on every request.
        Layers::read(manifest, blobs)?;
        if let Some(layer) = manifest.layer(manifest::MODEL) {
            let (path, _) = blobs
                .find(&layer.digest)
                .ok_or_else(|| StoreError::MissingBlob(layer.digest.clone()))?;
            return Ok((path, Format::Gguf));
        }
        let dir = checkpoints::assemble(&self.dir.join(checkpoints::DIR), manifest, digest, blobs)?;
        Ok((dir, Format::Safetensors))
    }

    /// `*.gguf` files and checkpoint directories directly in the store directory.
    fn loose_models(&self) -> Result<Vec<StoredModel>, StoreError> {
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
                true => loose::checkpoint(&path),
                false => loose::gguf(&path, &meta),
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
                origin: Origin::Loose,
            });
        }
        Ok(models)
    }

    /// Finds the model for a requested name, case-insensitively. `NotFound` carries the
    /// name as sent.
    pub fn resolve(&self, raw: &str) -> Result<StoredModel, StoreError> {
        let name = ModelName::parse(raw).ok_or(StoreError::InvalidName)?;
        // Only the manifests of this name are checked (hashing small blobs, reading
        // layers), not the whole store on every request; the answer is the listing's.
        let blobs = self.blobs();
        let mut manifests: Vec<StoredModel> = self
            .manifests()
            .list()
            .into_iter()
            .filter(|f| f.name.eq_fold(&name))
            .filter_map(|f| self.checked(f, &blobs))
            .collect();
        manifests.sort_by_key(|m| std::cmp::Reverse(m.modified));
        if let Some(m) = manifests.into_iter().next() {
            return Ok(m);
        }
        let wanted = name.display();
        let mut loose = self.loose_models()?;
        loose.sort_by(|a, b| b.modified.cmp(&a.modified).then(a.name.cmp(&b.name)));
        loose
            .into_iter()
            .find(|m| m.name.eq_ignore_ascii_case(&wanted))
            .ok_or_else(|| StoreError::NotFound(raw.to_string()))
    }

    /// The layers applied to the model's requests (empty for a loose model).
    pub fn layers(&self, model: &StoredModel) -> Result<Layers, StoreError> {
        match &model.origin {
            Origin::Loose => Ok(Layers::default()),
            Origin::Manifest { manifest, .. } => Layers::read(manifest, &self.blobs()),
        }
    }

    /// Puts a loose model's file into `blobs/` (a hard link when the store's filesystem
    /// allows, else a verified copy), for a manifest to reference.
    pub fn import_file(&self, model: &StoredModel) -> Result<Written, StoreError> {
        let digest = Digest::from_hex(&self.digest(model)?)
            .ok_or_else(|| StoreError::Corrupt("bad digest".into()))?;
        let blobs = self.blobs();
        if let Some((_, size)) = blobs.find(&digest) {
            return Ok(Written {
                digest,
                size,
                created: false,
            });
        }
        std::fs::create_dir_all(blobs.dir())
            .map_err(|e| StoreError::Io(blobs.dir().to_path_buf(), e))?;
        // The loose file may be a symlink (the fetch script links its cache): link its target.
        let source = std::fs::canonicalize(&model.path)
            .map_err(|e| StoreError::Io(model.path.clone(), e))?;
        if std::fs::hard_link(&source, blobs.path(&digest)).is_ok() {
            return Ok(Written {
                digest,
                size: model.size,
                created: true,
            });
        }
        let file = std::fs::File::open(&source).map_err(|e| StoreError::Io(source.clone(), e))?;
        blobs.write(file, Some(&digest))
    }

    /// Every blob some manifest references.
    pub fn referenced(&self) -> std::collections::HashSet<Digest> {
        self.manifests()
            .list()
            .iter()
            .flat_map(|f| f.manifest.digests().cloned().collect::<Vec<_>>())
            .collect()
    }

    /// Deletes those of `candidates` no manifest references any more (Ollama's "removing
    /// unused layers"); how many went.
    pub fn remove_unreferenced(
        &self,
        candidates: impl IntoIterator<Item = Digest>,
    ) -> Result<usize, StoreError> {
        let referenced = self.referenced();
        let blobs = self.blobs();
        let mut removed = 0;
        for digest in candidates {
            if !referenced.contains(&digest) && blobs.exists(&digest) {
                blobs.remove(&digest)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Hex sha256 of the model (64 chars, no prefix), cached while it is unchanged: of the
    /// file, or for a directory of each file's relative path and bytes in name order.
    /// A manifest's model: the sha256 of the manifest (as Ollama reports it).
    pub fn digest(&self, model: &StoredModel) -> Result<String, StoreError> {
        if let Origin::Manifest { digest, .. } = &model.origin {
            return Ok(digest.hex().to_string());
        }
        self.memo(model, "sha256", || {
            let mut hasher = Sha256::new();
            match model.format {
                Format::Gguf => hash_file(&model.path, &mut hasher)?,
                Format::Safetensors => {
                    for (rel, path) in loose::files(&model.path) {
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

/// Every blob the manifest names is in the store at the size it says (a truncated copy
/// is refused), and the small ones (config, template, params, …) hash to their digests.
/// Weights are too large to hash on every listing: their size is checked, their bytes
/// were verified when they were written.
fn check_blobs(manifest: &Manifest, blobs: &Blobs) -> Result<(), StoreError> {
    for layer in std::iter::once(&manifest.config).chain(&manifest.layers) {
        let (path, size) = blobs
            .find(&layer.digest)
            .ok_or_else(|| StoreError::MissingBlob(layer.digest.clone()))?;
        if size != layer.size {
            return Err(StoreError::Corrupt(format!(
                "blob {} is {size} bytes, the manifest says {}",
                layer.digest, layer.size
            )));
        }
        let weights = matches!(
            layer.media_type.as_str(),
            manifest::MODEL | manifest::CHECKPOINT_FILE | manifest::PROJECTOR | manifest::ADAPTER
        );
        if !weights && size <= SMALL_BLOB {
            let (actual, _) = Blobs::hash_file(&path)?;
            if actual != layer.digest {
                return Err(StoreError::DigestMismatch {
                    expected: layer.digest.clone(),
                    actual,
                });
            }
        }
    }
    Ok(())
}

/// Blobs hashed whenever the store is listed.
const SMALL_BLOB: u64 = 1 << 20;
