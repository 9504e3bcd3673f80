//! `blobs/sha256-<hex>`: content-addressed files. A blob becomes visible under its name
//! only once its bytes hash to it, so a reader never sees a partial or wrong blob.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::{Digest, StoreError};

/// The `blobs/` directory of an Ollama-layout store.
#[derive(Debug, Clone)]
pub struct Blobs {
    dir: PathBuf,
}

/// What [`Blobs::write`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub digest: Digest,
    pub size: u64,
    /// `false` when a blob with that digest was already there.
    pub created: bool,
}

impl Blobs {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the blob lives (whether or not it exists).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(digest.file_name())
    }

    /// A fresh path inside `blobs/` for a file written there before it is hashed and
    /// [`commit`](Self::commit)ted (same filesystem, so the rename is atomic).
    pub fn temp_path(&self, what: &str) -> PathBuf {
        self.dir.join(format!(".{what}-{}", unique()))
    }

    /// Where a blob being downloaded grows until it is verified.
    pub fn partial_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(format!("{}-partial", digest.file_name()))
    }

    /// The blob's path if it is a regular file inside `blobs/` (a symlink leading out of
    /// the store is refused), with its size.
    pub fn find(&self, digest: &Digest) -> Option<(PathBuf, u64)> {
        let path = self.path(digest);
        let meta = std::fs::metadata(&path).ok()?;
        if !meta.is_file() || !self.inside(&path) {
            return None;
        }
        Some((path, meta.len()))
    }

    pub fn exists(&self, digest: &Digest) -> bool {
        self.find(digest).is_some()
    }

    /// Reads a small blob (template, params, config) whole, at most `limit` bytes.
    pub fn read_small(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>, StoreError> {
        let (path, size) = self
            .find(digest)
            .ok_or_else(|| StoreError::MissingBlob(digest.clone()))?;
        if size > limit {
            return Err(StoreError::Corrupt(format!(
                "blob {digest} is {size} bytes, larger than expected"
            )));
        }
        std::fs::read(&path).map_err(|e| StoreError::Io(path, e))
    }

    /// Streams `reader` into the store. With `expected`, the bytes must hash to it
    /// (else `DigestMismatch` and nothing is kept).
    pub fn write(
        &self,
        reader: impl Read,
        expected: Option<&Digest>,
    ) -> Result<Written, StoreError> {
        let io = |p: &Path, e| StoreError::Io(p.to_path_buf(), e);
        std::fs::create_dir_all(&self.dir).map_err(|e| io(&self.dir, e))?;
        let temp = self.dir.join(format!(".incoming-{}", unique()));
        let result = (|| {
            let mut file = File::create(&temp).map_err(|e| io(&temp, e))?;
            let (digest, size) = copy_hashing(reader, &mut file).map_err(|e| io(&temp, e))?;
            file.sync_all().map_err(|e| io(&temp, e))?;
            if let Some(expected) = expected {
                if *expected != digest {
                    return Err(StoreError::DigestMismatch {
                        expected: expected.clone(),
                        actual: digest,
                    });
                }
            }
            self.commit(&temp, digest, size)
        })();
        let _ = std::fs::remove_file(&temp);
        result
    }

    /// Writes bytes already in memory (small layers: template, params, config).
    pub fn write_bytes(&self, bytes: &[u8]) -> Result<Written, StoreError> {
        self.write(bytes, None)
    }

    /// Moves a fully written, verified temporary file into place as `digest`.
    pub fn commit(&self, temp: &Path, digest: Digest, size: u64) -> Result<Written, StoreError> {
        let target = self.path(&digest);
        if self.find(&digest).is_some_and(|(_, s)| s == size) {
            return Ok(Written {
                digest,
                size,
                created: false,
            });
        }
        std::fs::rename(temp, &target).map_err(|e| StoreError::Io(target.clone(), e))?;
        Ok(Written {
            digest,
            size,
            created: true,
        })
    }

    /// Creates `blobs/` if it is missing.
    pub fn ensure_dir(&self) -> Result<(), StoreError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| StoreError::Io(self.dir.clone(), e))
    }

    /// Bytes already downloaded for `digest` (0 when there is no partial file).
    pub fn partial_len(&self, digest: &Digest) -> u64 {
        std::fs::symlink_metadata(self.partial_path(digest))
            .ok()
            .filter(|m| m.is_file())
            .map_or(0, |m| m.len())
    }

    /// Deletes the partial download of `digest` (no error if there is none).
    pub fn remove_partial(&self, digest: &Digest) -> Result<(), StoreError> {
        let path = self.partial_path(digest);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::Io(path, e)),
            _ => Ok(()),
        }
    }

    /// The hasher state after the first `len` bytes of `path`: a resumed download goes on
    /// hashing from there instead of reading the file twice at the end.
    pub fn hash_prefix(path: &Path, len: u64) -> Result<Sha256, StoreError> {
        let io = |e| StoreError::Io(path.to_path_buf(), e);
        let file = File::open(path).map_err(io)?;
        let mut hasher = Sha256::new();
        let read = copy_hashing_into(file.take(len), &mut hasher).map_err(io)?;
        if read != len {
            return Err(StoreError::Corrupt(format!(
                "{} is shorter than {len} bytes",
                path.display()
            )));
        }
        Ok(hasher)
    }

    /// Makes the partial download of `digest` visible as the blob, once its bytes are known
    /// to hash to `actual` and number `size`. A mismatch deletes the partial: its bytes are
    /// wrong somewhere, and resuming would only append to them.
    pub fn commit_partial(
        &self,
        digest: &Digest,
        size: u64,
        actual: Digest,
    ) -> Result<Written, StoreError> {
        let partial = self.partial_path(digest);
        if actual != *digest {
            let _ = std::fs::remove_file(&partial);
            return Err(StoreError::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        let len = self.partial_len(digest);
        if len != size {
            return Err(StoreError::Corrupt(format!(
                "partial blob {digest} is {len} bytes, expected {size}"
            )));
        }
        self.commit(&partial, actual, size)
    }

    /// Hashes a file already on disk (a partial download, a blob to re-verify).
    pub fn hash_file(path: &Path) -> Result<(Digest, u64), StoreError> {
        let file = File::open(path).map_err(|e| StoreError::Io(path.to_path_buf(), e))?;
        Digest::of_reader(file).map_err(|e| StoreError::Io(path.to_path_buf(), e))
    }

    /// Deletes a blob (no error if it is already gone).
    pub fn remove(&self, digest: &Digest) -> Result<(), StoreError> {
        let path = self.path(digest);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::Io(path, e)),
            _ => Ok(()),
        }
    }

    fn inside(&self, path: &Path) -> bool {
        match (path.canonicalize(), self.dir.canonicalize()) {
            (Ok(p), Ok(dir)) => p.starts_with(dir),
            _ => false,
        }
    }
}

/// Feeds everything `reader` yields to `hasher`; returns how many bytes that was.
fn copy_hashing_into(mut reader: impl Read, hasher: &mut Sha256) -> std::io::Result<u64> {
    let mut total = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
}

fn copy_hashing(mut reader: impl Read, out: &mut impl Write) -> std::io::Result<(Digest, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok((Digest::from_hasher(hasher), total)),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// A name no other writer in this or another process picks at the same time.
pub(crate) fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        nanos,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
