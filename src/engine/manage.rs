//! Managing the store's models: create (from a model or uploaded blobs, with template,
//! system, parameters, messages and license layers), copy, delete, and blob uploads. What
//! is written follows Ollama's layout, so Ollama reads it back.

use std::collections::BTreeSet;

use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::describe::details;
use super::registry::Registry;
use super::EngineError;
use crate::model::Checkpoint;
use crate::store::manifest::{self, Layer, Manifest, ModelConfig};
use crate::store::{Digest, ModelName, ModelStore, Origin, StoredModel, Written};

/// One line of a create or pull progress stream (Ollama's `ProgressResponse`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Progress {
    pub status: String,
    /// `sha256:<hex>` of the layer it is about.
    pub digest: Option<String>,
    pub total: u64,
    pub completed: u64,
}

impl Progress {
    pub fn status(status: impl Into<String>) -> Self {
        Self {
            status: status.into(),
            ..Self::default()
        }
    }
}

/// Progress lines, then `Ok` (the server adds `success`) or the error that ended it.
pub type ProgressStream = futures::stream::BoxStream<'static, Result<Progress, EngineError>>;

/// `POST /api/create`, typed.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub model: String,
    pub from: Option<String>,
    /// File name in the model → `sha256:<hex>` of a blob uploaded first.
    pub files: Vec<(String, String)>,
    pub adapters: Vec<(String, String)>,
    pub template: Option<String>,
    pub system: Option<String>,
    pub license: Vec<String>,
    pub parameters: Option<Map<String, Value>>,
    pub messages: Option<Vec<Value>>,
    pub quantize: Option<String>,
}

/// Checks what can be refused before anything streams (Ollama's 400s), then creates the
/// model on a blocking thread, reporting each step.
pub fn create(registry: &Registry, req: CreateRequest) -> Result<ProgressStream, EngineError> {
    let name = ModelName::parse(&req.model).ok_or(EngineError::InvalidName)?;
    check_name_free(registry.store(), &name)?;
    if req.from.as_deref().is_none_or(str::is_empty) && req.files.is_empty() {
        return Err(EngineError::BadRequest(
            "neither 'from' or 'files' was specified".into(),
        ));
    }
    if !req.adapters.is_empty() {
        return Err(EngineError::BadRequest(
            "adapters (LoRA) are not supported by rollama".into(),
        ));
    }
    for (file, _) in req.files.iter().chain(&req.adapters) {
        if !safe_file_name(file) {
            return Err(EngineError::BadRequest(format!(
                "invalid file name {file:?}: paths must be relative and inside the model"
            )));
        }
    }
    let quantize = super::quantize::check(registry.store(), &req)?;
    let store = registry.store().clone();
    let registry = registry.clone();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::task::spawn_blocking(move || {
        let report = |p: Progress| {
            let _ = tx.send(Ok(p));
        };
        let result = build(&store, &name, &req, quantize, &report);
        if result.is_ok() {
            // A loaded model of that name now has other weights or layers.
            let _ = registry.unload(&name.display());
        }
        if let Err(e) = result {
            let _ = tx.send(Err(e));
        }
    });
    Ok(Box::pin(
        tokio_stream::wrappers::UnboundedReceiverStream::new(rx),
    ))
}

fn build(
    store: &ModelStore,
    name: &ModelName,
    req: &CreateRequest,
    quantize: Option<super::quantize::Quantize>,
    report: &dyn Fn(Progress),
) -> Result<(), EngineError> {
    let (mut layers, mut config) = match req.files.is_empty() {
        false => from_files(store, &req.files, report)?,
        true => from_model(store, req.from.as_deref().unwrap_or_default(), report)?,
    };
    if let Some(quantize) = quantize {
        let written = quantize.run(store, &mut layers, report)?;
        report(layer_status(&written));
        config.file_type = quantize.target.name().into();
    }
    let blobs = store.blobs();
    // Each given layer replaces the inherited one of its type (parameters are merged
    // over the inherited ones first, as Ollama does).
    let mut new: Vec<(&str, Vec<u8>, &str)> = vec![];
    // An empty template keeps the inherited one, and one that does not parse is refused
    // here (400 `template error: …`, as Ollama's `setTemplate`), not stored to fail
    // every later load.
    if let Some(template) = req.template.as_ref().filter(|t| !t.is_empty()) {
        crate::text::GoTemplate::parse(template)
            .map_err(|e| EngineError::BadRequest(format!("template error: {e}")))?;
        new.push((
            manifest::TEMPLATE,
            template.clone().into_bytes(),
            "template",
        ));
    }
    if let Some(system) = &req.system {
        new.push((manifest::SYSTEM, system.clone().into_bytes(), "system"));
    }
    if let Some(parameters) = &req.parameters {
        let mut params = inherited_params(store, &layers)?;
        params.extend(parameters.clone());
        new.push((
            manifest::PARAMS,
            serde_json::to_vec(&params).unwrap_or_default(),
            "parameters",
        ));
    }
    if let Some(messages) = &req.messages {
        new.push((
            manifest::MESSAGES,
            serde_json::to_vec(messages).unwrap_or_default(),
            "messages",
        ));
    }
    if !req.license.is_empty() {
        layers.retain(|l| l.media_type != manifest::LICENSE);
    }
    for license in &req.license {
        new.push((manifest::LICENSE, license.clone().into_bytes(), "license"));
    }
    for (media_type, bytes, what) in new {
        report(Progress::status(format!("creating {what} layer")));
        let written = blobs.write_bytes(&bytes)?;
        report(layer_status(&written));
        if media_type != manifest::LICENSE {
            layers.retain(|l| l.media_type != media_type);
        }
        layers.push(layer(media_type, &written));
    }
    let config = blobs.write_bytes(&config.to_bytes())?;
    report(Progress::status("writing manifest"));
    let manifest = Manifest::new(layer(manifest::CONFIG, &config), layers);
    let old = store.manifests().find(name);
    store.manifests().write(name, &manifest)?;
    if let Some(old) = old {
        let dropped: Vec<Digest> = old.manifest.digests().cloned().collect();
        store.remove_unreferenced(dropped)?;
    }
    Ok(())
}

/// The layers and config of an existing model (`from`): a manifest's, or a loose file
/// put into `blobs/`.
fn from_model(
    store: &ModelStore,
    from: &str,
    report: &dyn Fn(Progress),
) -> Result<(Vec<Layer>, ModelConfig), EngineError> {
    let base = store.resolve(from)?;
    match &base.origin {
        Origin::Manifest { manifest, .. } => {
            let layers = store.layers(&base)?;
            let mut inherited = manifest.layers.clone();
            for l in &mut inherited {
                if l.from.is_empty() && l.media_type == manifest::MODEL {
                    l.from = base.model_name().display();
                }
                report(Progress::status(format!(
                    "using existing layer {}",
                    l.digest
                )));
            }
            Ok((inherited, layers.config))
        }
        Origin::Loose => {
            report(Progress::status("parsing GGUF"));
            let (layers, config) = import_loose(store, &base)?;
            Ok((layers, config))
        }
    }
}

fn import_loose(
    store: &ModelStore,
    base: &StoredModel,
) -> Result<(Vec<Layer>, ModelConfig), EngineError> {
    if base.format != crate::store::Format::Gguf {
        return Err(EngineError::BadRequest(format!(
            "model '{}' is a loose checkpoint directory; upload its files with /api/blobs and create from 'files'",
            base.name
        )));
    }
    let config = gguf_config(&base.path)?;
    let written = store.import_file(base)?;
    let mut weights = layer(manifest::MODEL, &written);
    weights.from = base.name.clone();
    Ok((vec![weights], config))
}

/// Layers from uploaded blobs: one GGUF, or the files of a safetensors checkpoint.
fn from_files(
    store: &ModelStore,
    files: &[(String, String)],
    report: &dyn Fn(Progress),
) -> Result<(Vec<Layer>, ModelConfig), EngineError> {
    let blobs = store.blobs();
    let mut found = vec![];
    for (file, digest) in files {
        let digest = Digest::parse(digest)
            .ok_or_else(|| EngineError::BadRequest(format!("invalid digest {digest:?}")))?;
        let (path, size) = blobs.find(&digest).ok_or_else(|| {
            EngineError::BadRequest(format!(
                "missing blob {digest}: upload it with POST /api/blobs first"
            ))
        })?;
        found.push((file.clone(), digest, path, size));
    }
    let ggufs: Vec<_> = found.iter().filter(|f| f.0.ends_with(".gguf")).collect();
    match ggufs.as_slice() {
        [(_, digest, path, size)] if found.len() == 1 => {
            report(Progress::status("parsing GGUF"));
            let config = gguf_config(path)?;
            let written = Written {
                digest: digest.clone(),
                size: *size,
                created: false,
            };
            report(layer_status(&written));
            Ok((vec![layer(manifest::MODEL, &written)], config))
        }
        [] if found.iter().any(|f| f.0 == "config.json") => {
            report(Progress::status("reading model metadata"));
            let layers = found
                .iter()
                .map(|(file, digest, _, size)| Layer {
                    media_type: manifest::CHECKPOINT_FILE.into(),
                    digest: digest.clone(),
                    size: *size,
                    from: String::new(),
                    name: file.clone(),
                })
                .collect();
            let config = ModelConfig {
                model_format: "safetensors".into(),
                ..base_config()
            };
            Ok((layers, config))
        }
        _ => Err(EngineError::BadRequest(
            "files must be one GGUF file, or a safetensors checkpoint with its config.json".into(),
        )),
    }
}

/// The config blob of a GGUF: what Ollama shows in `details` without opening the weights.
fn gguf_config(path: &std::path::Path) -> Result<ModelConfig, EngineError> {
    let file = Checkpoint::open(path)?;
    let d = details(&file);
    Ok(ModelConfig {
        model_format: d.format,
        model_family: d.family.clone(),
        model_families: Some(d.families),
        model_type: d.parameter_size,
        file_type: d.quantization_level,
        ..base_config()
    })
}

fn base_config() -> ModelConfig {
    ModelConfig {
        architecture: "amd64".into(),
        os: "linux".into(),
        ..ModelConfig::default()
    }
}

fn inherited_params(
    store: &ModelStore,
    layers: &[Layer],
) -> Result<Map<String, Value>, EngineError> {
    let Some(params) = layers.iter().find(|l| l.media_type == manifest::PARAMS) else {
        return Ok(Map::new());
    };
    let bytes = store.blobs().read_small(&params.digest, 16 << 20)?;
    Ok(serde_json::from_slice(&bytes).unwrap_or_default())
}

fn layer(media_type: &str, written: &Written) -> Layer {
    Layer {
        media_type: media_type.into(),
        digest: written.digest.clone(),
        size: written.size,
        from: String::new(),
        name: String::new(),
    }
}

fn layer_status(written: &Written) -> Progress {
    let verb = if written.created {
        "creating new layer"
    } else {
        "using existing layer"
    };
    Progress::status(format!("{verb} {}", written.digest))
}

/// A file of a model: relative, plain parts, at most one directory deep.
fn safe_file_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    !name.is_empty()
        && parts.len() <= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        })
}

/// Ollama's `checkNameExists`: a name that differs from a stored one only in case is
/// refused (the same name is replaced).
fn check_name_free(store: &ModelStore, name: &ModelName) -> Result<(), EngineError> {
    match store.manifests().find(name) {
        Some(found) if found.name != *name => Err(EngineError::BadRequest(
            "a model with that name already exists".into(),
        )),
        _ => Ok(()),
    }
}

/// `POST /api/copy`: the destination names the same manifest (a loose source is put into
/// the Ollama layout first).
pub fn copy(registry: &Registry, source: &str, destination: &str) -> Result<(), EngineError> {
    let store = registry.store();
    let dest = ModelName::parse(destination).ok_or(EngineError::InvalidName)?;
    ModelName::parse(source).ok_or(EngineError::InvalidName)?;
    check_name_free(store, &dest)?;
    let src = store.resolve(source).map_err(|e| match e {
        crate::store::StoreError::NotFound(_) => {
            EngineError::NotFound(format!("model \"{source}\" not found"))
        }
        e => e.into(),
    })?;
    match &src.origin {
        // Ollama copies the manifest's bytes: the copy lists with the same digest.
        Origin::Manifest { name, .. } => {
            let found = store
                .manifests()
                .find(name)
                .ok_or_else(|| EngineError::NotFound(format!("model \"{source}\" not found")))?;
            store.manifests().copy(&found, &dest)?;
        }
        Origin::Loose => {
            let (layers, config) = import_loose(store, &src)?;
            let config = store.blobs().write_bytes(&config.to_bytes())?;
            let manifest = Manifest::new(layer(manifest::CONFIG, &config), layers);
            store.manifests().write(&dest, &manifest)?;
        }
    }
    registry.unload(&dest.display()).or_else(ignore_not_found)
}

/// `DELETE /api/delete`: the manifest goes, then the blobs no other manifest uses. The
/// model is unloaded first (running requests finish on the weights they hold).
pub fn delete(registry: &Registry, name: &str) -> Result<(), EngineError> {
    let store = registry.store();
    let parsed = ModelName::parse(name).ok_or(EngineError::InvalidName)?;
    // A manifest the listing leaves out (a blob missing or truncated, a config that does
    // not parse) is still deleted, as by Ollama: else a broken download could never go.
    if let Some(found) = store.manifests().find(&parsed) {
        registry.unload(name).or_else(ignore_not_found)?;
        store.manifests().remove(&found)?;
        let digests: BTreeSet<Digest> = found.manifest.digests().cloned().collect();
        store.remove_unreferenced(digests)?;
        return Ok(());
    }
    let model = store.resolve(name)?;
    let Origin::Manifest {
        name: stored,
        manifest,
        ..
    } = &model.origin
    else {
        return Err(EngineError::BadRequest(format!(
            "'{}' is a loose file in the model store; delete {} yourself",
            model.name,
            model
                .path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        )));
    };
    registry.unload(name).or_else(ignore_not_found)?;
    if let Some(found) = store.manifests().find(stored) {
        store.manifests().remove(&found)?;
    }
    let digests: BTreeSet<Digest> = manifest.digests().cloned().collect();
    store.remove_unreferenced(digests)?;
    Ok(())
}

fn ignore_not_found(e: EngineError) -> Result<(), EngineError> {
    match e {
        EngineError::NotFound(_) => Ok(()),
        e => Err(e),
    }
}

/// `HEAD /api/blobs/:digest`.
pub fn has_blob(store: &ModelStore, digest: &str) -> Result<bool, EngineError> {
    let digest = parse_digest(digest)?;
    Ok(store.blobs().exists(&digest))
}

pub fn parse_digest(digest: &str) -> Result<Digest, EngineError> {
    Digest::parse(digest)
        .ok_or_else(|| EngineError::BadRequest(format!("invalid digest format: {digest:?}")))
}

/// The body of a blob upload, chunk by chunk; an `Err` is the connection failing.
pub type ByteStream = futures::stream::BoxStream<'static, Result<bytes::Bytes, std::io::Error>>;

/// `POST /api/blobs/:digest`: streams the body to disk while hashing it; visible only if
/// it hashes to `digest`. `Ok(true)` when stored now, `Ok(false)` when it was there.
pub async fn put_blob(
    store: &ModelStore,
    digest: &str,
    body: ByteStream,
) -> Result<bool, EngineError> {
    use futures::StreamExt;
    let digest = parse_digest(digest)?;
    let blobs = store.blobs();
    if blobs.exists(&digest) {
        return Ok(false);
    }
    // A few chunks in flight: the network side waits for the disk, memory stays bounded.
    let (tx, rx) = mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(8);
    let writer = tokio::task::spawn_blocking(move || {
        blobs.write(
            ChannelReader {
                rx,
                chunk: bytes::Bytes::new(),
            },
            Some(&digest),
        )
    });
    let mut body = body;
    while let Some(chunk) = body.next().await {
        let failed = chunk.is_err();
        if tx.send(chunk).await.is_err() || failed {
            break;
        }
    }
    drop(tx);
    let written = writer
        .await
        .map_err(|e| EngineError::Failed(format!("writing the blob failed: {e}")))??;
    Ok(written.created)
}

/// Blocking reads over the chunks a request body delivers.
struct ChannelReader {
    rx: mpsc::Receiver<Result<bytes::Bytes, std::io::Error>>,
    chunk: bytes::Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => return Err(e),
                // The body ended.
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

/// `POST /api/pull`: the model's manifest and blobs fetched into the store (see
/// [`crate::pull`]). The download stops when the stream is dropped (the client went
/// away); blobs other pulls share keep downloading for them.
pub fn pull(
    registry: &Registry,
    model: &str,
    insecure: bool,
) -> Result<ProgressStream, EngineError> {
    let name = ModelName::parse(model).ok_or(EngineError::InvalidName)?;
    let store = registry.store().clone();
    let options = crate::pull::PullOptions {
        insecure,
        ..crate::pull::PullOptions::from_env()
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let (progress_tx, mut progress_rx) = mpsc::channel::<crate::pull::Progress>(64);
    let forward = tx.clone();
    let task = tokio::spawn(async move {
        let pulling = crate::pull::pull(&store, &name, &options, progress_tx);
        let relay = async {
            while let Some(p) = progress_rx.recv().await {
                // The server ends every progress stream with its own `success`.
                if p.status != "success" {
                    let _ = forward.send(Ok(Progress {
                        status: p.status,
                        digest: p.digest.map(|d| d.to_string()),
                        total: p.total,
                        completed: p.completed,
                    }));
                }
            }
        };
        let (result, ()) = tokio::join!(pulling, relay);
        if let Err(e) = result {
            let e = match e {
                crate::pull::PullError::NotFound => EngineError::NotFound(e.to_string()),
                e => EngineError::Failed(e.to_string()),
            };
            let _ = tx.send(Err(e));
        }
    });
    let abort = AbortOnDrop(task.abort_handle());
    let stream = tokio_stream::wrappers::UnboundedReceiverStream::new(rx);
    Ok(Box::pin(futures::StreamExt::map(stream, move |item| {
        let _held = &abort;
        item
    })))
}

/// Stops a spawned task when whoever waits for it goes away.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::safe_file_name;

    #[test]
    fn file_names_stay_inside_the_model() {
        for ok in ["model.gguf", "config.json", "1_Pooling/config.json"] {
            assert!(safe_file_name(ok), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x.gguf",
            "a/../b",
            ".x",
            "a/b/c",
            "a\\b",
            "a//b",
        ] {
            assert!(!safe_file_name(bad), "{bad}");
        }
    }
}
