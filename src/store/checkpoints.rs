//! A safetensors model of the Ollama layout is a set of blobs, one per checkpoint file
//! (the layer's `name` is its path in the checkpoint). The loaders read a directory, so the
//! store assembles one: `.rollama/checkpoints/<manifest hex>/` of symlinks to the blobs,
//! made once per manifest version and replaced atomically.

use std::path::{Component, Path, PathBuf};

use super::blobs::unique;
use super::manifest::{self, Manifest};
use super::{Blobs, Digest, StoreError};

/// Under the store directory; hidden, so it is never listed as a loose model.
pub const DIR: &str = ".rollama/checkpoints";

/// The directory of the checkpoint `manifest` describes, assembled if missing.
pub fn assemble(
    root: &Path,
    manifest: &Manifest,
    digest: &Digest,
    blobs: &Blobs,
) -> Result<PathBuf, StoreError> {
    let mut files = vec![];
    for layer in manifest
        .layers
        .iter()
        .filter(|l| l.media_type == manifest::CHECKPOINT_FILE)
    {
        let rel = safe_relative(&layer.name).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "checkpoint file name {:?} is not a safe relative path",
                layer.name
            ))
        })?;
        let (blob, _) = blobs
            .find(&layer.digest)
            .ok_or_else(|| StoreError::MissingBlob(layer.digest.clone()))?;
        files.push((rel, blob));
    }
    if files.is_empty() {
        return Err(StoreError::Corrupt("the manifest names no weights".into()));
    }
    let dir = root.join(digest.hex());
    if dir.is_dir() {
        return Ok(dir);
    }
    let io = |p: &Path, e| StoreError::Io(p.to_path_buf(), e);
    std::fs::create_dir_all(root).map_err(|e| io(root, e))?;
    let temp = root.join(format!(".assembling-{}", unique()));
    let built = (|| {
        for (rel, blob) in &files {
            let link = temp.join(rel);
            if let Some(parent) = link.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
            }
            symlink(blob, &link).map_err(|e| io(&link, e))?;
        }
        std::fs::rename(&temp, &dir).map_err(|e| io(&dir, e))
    })();
    if built.is_err() {
        let _ = std::fs::remove_dir_all(&temp);
        // Another thread may have assembled it meanwhile.
        if dir.is_dir() {
            return Ok(dir);
        }
    }
    built.map(|()| dir)
}

/// `name` as a path of at most two plain components (`config.json`,
/// `1_Pooling/config.json`): no `..`, no root, no hidden parts.
fn safe_relative(name: &str) -> Option<PathBuf> {
    let path = Path::new(name);
    let parts: Vec<_> = path.components().collect();
    let plain = |c: &Component| match c {
        Component::Normal(s) => s.to_str().is_some_and(|s| {
            !s.starts_with('.')
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        }),
        _ => false,
    };
    (!parts.is_empty() && parts.len() <= 2 && parts.iter().all(plain) && !name.contains('\\'))
        .then(|| path.to_path_buf())
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::fs::copy(target, link).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::safe_relative;

    #[test]
    fn only_plain_relative_names() {
        assert!(safe_relative("config.json").is_some());
        assert!(safe_relative("1_Pooling/config.json").is_some());
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            ".hidden",
            "a/b/c",
            "a\\b",
            "./x",
        ] {
            assert!(safe_relative(bad).is_none(), "{bad:?}");
        }
    }
}
