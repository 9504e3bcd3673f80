//! `quantize` in `/api/create`: checked before the stream starts (Ollama's 400s), then
//! the base model's GGUF layer is quantized into a new blob (see
//! [`crate::model::quantize`]) that replaces it.

use std::io::BufWriter;

use super::manage::{CreateRequest, Progress};
use super::EngineError;
use crate::model::quantize::{quantize_gguf, source_type, Target, ONLY_FLOAT};
use crate::model::GgufFile;
use crate::store::manifest::{self, Layer};
use crate::store::{Blobs, Digest, Format, ModelStore, StoreError, Written};

/// What Ollama puts in its quantizing progress lines' `digest`.
const PROGRESS_DIGEST: &str = "0000000000000000000";

/// A quantization the request asked for, known to apply to its base model.
#[derive(Debug, Clone, Copy)]
pub struct Quantize {
    pub target: Target,
    /// `F32`, `F16` or `BF16`: the base's type, for the status line.
    source: &'static str,
}

/// `None` without `quantize`; a 400 for an unknown target, for weights that are not one
/// GGUF (a safetensors checkpoint) and for a GGUF already quantized.
pub fn check(store: &ModelStore, req: &CreateRequest) -> Result<Option<Quantize>, EngineError> {
    let Some(q) = req.quantize.as_deref().filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    let target = Target::parse(q).ok_or_else(|| {
        EngineError::BadRequest(format!(
            "unsupported quantization type {q} - supported types are Q4_K_M, Q4_K_S, Q8_0"
        ))
    })?;
    let not_gguf = || {
        EngineError::BadRequest(
            "quantize needs GGUF weights; rollama cannot quantize a safetensors checkpoint (convert it to GGUF first)".into(),
        )
    };
    let path = match req.files.is_empty() {
        false => {
            let (_, digest) = req
                .files
                .iter()
                .find(|(file, _)| file.ends_with(".gguf"))
                .ok_or_else(not_gguf)?;
            let digest = Digest::parse(digest)
                .ok_or_else(|| EngineError::BadRequest(format!("invalid digest {digest:?}")))?;
            let (path, _) = store.blobs().find(&digest).ok_or_else(|| {
                EngineError::BadRequest(format!(
                    "missing blob {digest}: upload it with POST /api/blobs first"
                ))
            })?;
            path
        }
        true => {
            let base = store.resolve(req.from.as_deref().unwrap_or_default())?;
            if base.format != Format::Gguf {
                return Err(not_gguf());
            }
            base.path
        }
    };
    // The header only: enough to refuse before streaming.
    let file = GgufFile::open(&path)?;
    let source =
        source_type(&file.content).ok_or_else(|| EngineError::BadRequest(ONLY_FLOAT.into()))?;
    Ok(Some(Quantize { target, source }))
}

impl Quantize {
    /// Quantizes the model layer of `layers` into a new blob and puts it in its place.
    pub fn run(
        &self,
        store: &ModelStore,
        layers: &mut [Layer],
        report: &dyn Fn(Progress),
    ) -> Result<Written, EngineError> {
        let layer = layers
            .iter_mut()
            .find(|l| l.media_type == manifest::MODEL)
            .ok_or_else(|| EngineError::BadRequest("the model has no GGUF weights".into()))?;
        let blobs = store.blobs();
        let (input, size) = blobs
            .find(&layer.digest)
            .ok_or_else(|| StoreError::MissingBlob(layer.digest.clone()))?;
        let status = format!("quantizing {} model to {}", self.source, self.target.name());
        let temp = blobs.temp_path("quantizing");
        let result = (|| {
            let io = |e| StoreError::Io(temp.clone(), e);
            let file = std::fs::File::create(&temp).map_err(io)?;
            let mut out = BufWriter::new(file);
            // As Ollama: `total` is the layer's size, `completed` the share done of it.
            let mut progress = |done: u64, total: u64| {
                let completed = u128::from(done) * u128::from(size) / u128::from(total.max(1));
                report(Progress {
                    status: status.clone(),
                    digest: Some(PROGRESS_DIGEST.into()),
                    total: size,
                    completed: u64::try_from(completed).unwrap_or(size),
                });
            };
            quantize_gguf(&input, &mut out, self.target, &mut progress)?;
            let file = out.into_inner().map_err(|e| io(e.into_error()))?;
            file.sync_all().map_err(io)?;
            report(Progress::status("verifying conversion"));
            let (digest, len) = Blobs::hash_file(&temp)?;
            Ok::<_, EngineError>(blobs.commit(&temp, digest, len)?)
        })();
        // Gone after the commit's rename; left over only on a failure.
        let _ = std::fs::remove_file(&temp);
        let written = result?;
        layer.digest = written.digest.clone();
        layer.size = written.size;
        // The weights are new: no longer the base model's layer.
        layer.from = String::new();
        Ok(written)
    }
}
