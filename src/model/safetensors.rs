//! The `*.safetensors` files of a checkpoint directory, memory-mapped: what the decoder
//! ([`super::hf`]) and the embedder ([`super::bert`]) both read.

use std::path::{Path, PathBuf};

use candle_core::safetensors::MmapedSafetensors;
use serde_json::Value as Json;

use super::ModelError;

/// Every weight file of `dir`, mapped as one set of tensors.
pub(crate) fn map_dir(dir: &Path) -> Result<MmapedSafetensors, ModelError> {
    map_weights(&weight_files(dir)?)
}

/// The safetensors files of a checkpoint: the index's shards, else `model.safetensors`,
/// else every `*.safetensors` in name order.
pub(crate) fn weight_files(dir: &Path) -> Result<Vec<PathBuf>, ModelError> {
    let index = dir.join("model.safetensors.index.json");
    if index.exists() {
        let text = std::fs::read_to_string(&index).map_err(|e| ModelError::Io(index.clone(), e))?;
        let index: Json = serde_json::from_str(&text)
            .map_err(|e| ModelError::Format(format!("model.safetensors.index.json: {e}")))?;
        let map = index["weight_map"].as_object().ok_or_else(|| {
            ModelError::Format("model.safetensors.index.json: no weight_map".into())
        })?;
        let mut files: Vec<&str> = map.values().filter_map(Json::as_str).collect();
        files.sort_unstable();
        files.dedup();
        return Ok(files.into_iter().map(|f| dir.join(f)).collect());
    }
    let single = dir.join("model.safetensors");
    if single.exists() {
        return Ok(vec![single]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| ModelError::Io(dir.to_path_buf(), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ModelError::Format(format!(
            "{}: no safetensors files",
            dir.display()
        )));
    }
    Ok(files)
}

/// Maps the shards. Memory-mapping is `unsafe` because another process could change the
/// files underneath; the store's files are never rewritten in place (they are replaced
/// whole), which is the same assumption every mmap-based loader makes.
#[allow(unsafe_code)]
fn map_weights(files: &[PathBuf]) -> Result<MmapedSafetensors, ModelError> {
    // SAFETY: see above; candle checks the header and every tensor's bounds.
    Ok(unsafe { MmapedSafetensors::multi(files) }?)
}
