//! `manifests/<host>/<namespace>/<model>/<tag>`: which names exist and what they hold.
//!
//! Paths are only ever built from a validated [`ModelName`] (no part can be `..`, empty
//! or contain a separator), and names are matched case-insensitively against what the
//! directory listing returns, so a request can only open an entry the listing returned.
//! Symlinks inside `manifests/` are not followed: a link leading out of the store is
//! never read.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::blobs::unique;
use super::{Digest, Manifest, ModelName, StoreError};

/// The largest manifest read (real ones are a few KiB).
const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// A manifest found on disk.
#[derive(Debug, Clone)]
pub struct FoundManifest {
    /// The name with the stored spelling of each part.
    pub name: ModelName,
    pub path: PathBuf,
    pub manifest: Manifest,
    /// Sha256 of the manifest's bytes (the model's digest in `/api/tags`).
    pub digest: Digest,
    pub modified: SystemTime,
}

/// The `manifests/` directory of an Ollama-layout store.
#[derive(Debug, Clone)]
pub struct Manifests {
    dir: PathBuf,
}

impl Manifests {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Every readable manifest. Entries that are not valid names, symlinks, or not
    /// manifests (not JSON, wrong schema, bad digests) are skipped with a warning.
    pub fn list(&self) -> Vec<FoundManifest> {
        let mut out = vec![];
        for host in dirs(&self.dir) {
            for ns in dirs(&host) {
                for model in dirs(&ns) {
                    for tag in files(&model) {
                        let parts = [&host, &ns, &model, &tag].map(|p| file_name(p));
                        let Some(name) = ModelName::from_parts(&parts) else {
                            continue;
                        };
                        match read(&tag) {
                            Ok((manifest, digest, modified)) => out.push(FoundManifest {
                                name,
                                path: tag,
                                manifest,
                                digest,
                                modified,
                            }),
                            Err(e) => {
                                tracing::warn!(name = %name.display(), error = %e, "skipping a manifest")
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// The manifest for `name`, matched case-insensitively part by part.
    pub fn find(&self, name: &ModelName) -> Option<FoundManifest> {
        self.list().into_iter().find(|f| f.name.eq_fold(name))
    }

    /// Writes (or replaces) the manifest of `name` atomically. An existing entry whose
    /// spelling differs only in case is replaced in place, keeping its spelling.
    pub fn write(&self, name: &ModelName, manifest: &Manifest) -> Result<Digest, StoreError> {
        self.write_bytes(name, &manifest.to_bytes())
    }

    /// Writes `source`'s bytes as they are under `name` (Ollama's copy: the same bytes,
    /// so the same digest in `/api/tags`, whatever fields or spacing they hold).
    pub fn copy(&self, source: &FoundManifest, name: &ModelName) -> Result<Digest, StoreError> {
        let (_, digest, _) = read(&source.path)?;
        if digest != source.digest {
            return Err(StoreError::Corrupt(format!(
                "the manifest of {} changed while being copied",
                source.name.display()
            )));
        }
        let bytes =
            std::fs::read(&source.path).map_err(|e| StoreError::Io(source.path.clone(), e))?;
        self.write_bytes(name, &bytes)
    }

    fn write_bytes(&self, name: &ModelName, bytes: &[u8]) -> Result<Digest, StoreError> {
        let path = match self.find(name) {
            Some(existing) => existing.path,
            None => self.path_for(name),
        };
        let io = |p: &Path, e| StoreError::Io(p.to_path_buf(), e);
        let parent = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        let temp = parent.join(format!(".manifest-{}", unique()));
        std::fs::write(&temp, bytes).map_err(|e| io(&temp, e))?;
        std::fs::rename(&temp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            io(&path, e)
        })?;
        Ok(Digest::of_bytes(bytes))
    }

    /// Removes the manifest of `name` and the directories it leaves empty.
    pub fn remove(&self, found: &FoundManifest) -> Result<(), StoreError> {
        std::fs::remove_file(&found.path).map_err(|e| StoreError::Io(found.path.clone(), e))?;
        let mut dir = found.path.parent();
        while let Some(d) = dir {
            if d == self.dir || std::fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
        Ok(())
    }

    fn path_for(&self, name: &ModelName) -> PathBuf {
        self.dir
            .join(&name.host)
            .join(&name.namespace)
            .join(&name.model)
            .join(&name.tag)
    }
}

fn read(path: &Path) -> Result<(Manifest, Digest, SystemTime), StoreError> {
    let io = |e| StoreError::Io(path.to_path_buf(), e);
    let meta = std::fs::symlink_metadata(path).map_err(io)?;
    if meta.len() > MAX_MANIFEST_BYTES {
        return Err(StoreError::Corrupt("manifest too large".into()));
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| StoreError::Corrupt(format!("manifest is not valid: {e}")))?;
    let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    Ok((manifest, Digest::of_bytes(&bytes), modified))
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Real (not symlinked) subdirectories, sorted; none if `dir` is missing.
fn dirs(dir: &Path) -> Vec<PathBuf> {
    entries(dir, |m| m.is_dir())
}

/// Real (not symlinked) regular files, sorted, hidden ones skipped (our temporaries).
fn files(dir: &Path) -> Vec<PathBuf> {
    entries(dir, |m| m.is_file())
}

fn entries(dir: &Path, keep: impl Fn(&std::fs::Metadata) -> bool) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut out: Vec<PathBuf> = read
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        // `DirEntry::metadata` does not follow symlinks: a link is neither dir nor file.
        .filter(|e| e.metadata().is_ok_and(|m| keep(&m)))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}
