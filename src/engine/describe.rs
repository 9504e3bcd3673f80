//! What the engine says about models: the store's listing, one model's details and
//! metadata (read from its file, not loaded), the loaded ones, and live counters.

use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use super::registry::{is_embedder, Registry};
use super::{grammar_counters, template_capabilities, EngineError, ModelLoads, StatsSnapshot};
use crate::api::ModelDetails;
use crate::model::bert::EmbedderInfo;
use crate::model::Checkpoint;
use crate::store::{manifest, Format, ModelStore, StoredModel};
use crate::text::{value_as_f64, value_as_i64, value_as_u64, TemplateChoice};

/// A model of the store, cheaply: no file read beyond the listing.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelEntry {
    /// Display name with tag, e.g. `smollm2:latest`.
    pub name: String,
    pub modified: SystemTime,
}

/// A model of the store with its digest and details.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub name: String,
    pub modified: SystemTime,
    /// Bytes on disk.
    pub size: u64,
    /// Hex sha256 of the file (or directory).
    pub digest: String,
    pub details: ModelDetails,
}

/// One model, read from its file.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelDescription {
    pub name: String,
    /// Where it is stored (what a Modelfile's `FROM` names).
    pub location: String,
    pub modified: SystemTime,
    pub details: ModelDetails,
    /// GGUF metadata keys (synthesized as llama.cpp names them for other formats).
    pub model_info: Map<String, Value>,
    /// The template applied: the model's Go template layer, else its Jinja chat
    /// template (empty for embedders).
    pub template: String,
    /// Whether `template` is a template layer (a Go template, a Modelfile's `TEMPLATE`)
    /// rather than the weights' own Jinja chat template, which `FROM` brings along.
    pub template_layer: bool,
    /// The system prompt layer.
    pub system: String,
    /// Default parameters (the params layer).
    pub parameters: Map<String, Value>,
    pub license: Vec<String>,
    /// Messages seeded before each chat.
    pub messages: Vec<Value>,
    /// Ollama's names: `completion`, `tools`, `thinking`, `embedding`.
    pub capabilities: Vec<String>,
    /// Every tensor, when asked for (verbose).
    pub tensors: Option<Vec<TensorInfo>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// The weight type, e.g. `Q4_1`, `F32`.
    pub kind: String,
    pub shape: Vec<usize>,
}

/// A loaded model.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningModel {
    pub info: ModelInfo,
    /// When it unloads if left idle (about 292 years ahead when kept forever, as Ollama
    /// shows it).
    pub expires_at: SystemTime,
    /// Estimated memory: weights as loaded plus the KV cache the engine may reserve (what
    /// the memory budget counts).
    pub size: u64,
    /// The part of `size` on the GPU.
    pub size_vram: u64,
    /// The default window its requests get.
    pub context_length: usize,
}

/// Live counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// Each loaded model's engine, by name.
    pub models: Vec<(String, StatsSnapshot)>,
    /// Tokens sampled under a grammar, server-wide.
    pub grammar_tokens: u64,
    /// Of those, tokens whose first draw the grammar refused (a full mask was computed).
    pub grammar_masks: u64,
    /// Loads (and their times) and unloads (by reason) of every model so far, loaded
    /// now or not.
    pub loads: Vec<ModelLoads>,
}

/// Runs blocking store or file work off the async runtime.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, EngineError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(EngineError::Failed(format!(
            "reading the store failed: {e}"
        )))
    })
}

pub fn entry(m: &StoredModel) -> ModelEntry {
    ModelEntry {
        name: m.name.clone(),
        modified: m.modified,
    }
}

pub fn entries(store: &ModelStore) -> Result<Vec<ModelEntry>, EngineError> {
    Ok(store.list()?.iter().map(entry).collect())
}

/// Every model whose details can be read; one that cannot is left out with a warning
/// (a broken file must not hide the rest of the store).
pub fn tags(store: &ModelStore) -> Result<Vec<ModelInfo>, EngineError> {
    let mut out = vec![];
    for m in store.list()? {
        match info(store, &m) {
            Ok(info) => out.push(info),
            Err(e) => {
                tracing::warn!(model = %m.name, error = %e, "leaving a model out of the listing")
            }
        }
    }
    Ok(out)
}

fn info(store: &ModelStore, m: &StoredModel) -> Result<ModelInfo, EngineError> {
    let mut details = cached_details(store, m)?;
    if let Some(layer) = m.manifest().and_then(|mf| mf.layer(manifest::MODEL)) {
        details.parent_model = layer.from.clone();
    }
    Ok(ModelInfo {
        name: m.name.clone(),
        modified: m.modified,
        size: m.size,
        digest: store.digest(m)?,
        details,
    })
}

pub fn describe(
    store: &ModelStore,
    name: &str,
    verbose: bool,
) -> Result<ModelDescription, EngineError> {
    let stored = store.resolve(name)?;
    let mut description = match is_embedder(&stored) {
        true => embedder(&stored)?,
        false => decoder(&stored, verbose)?,
    };
    let layers = store.layers(&stored)?;
    description.name = stored.name.clone();
    description.location = stored.path.display().to_string();
    description.modified = stored.modified;
    description.details.parent_model = layers.parent;
    if let Some(template) = layers.template {
        description.capabilities = template_capabilities(&template)
            .into_iter()
            .map(String::from)
            .collect();
        description.template = template;
        description.template_layer = true;
    }
    description.system = layers.system.unwrap_or_default();
    description.parameters = layers.params;
    description.license = layers.license;
    description.messages = layers.messages;
    Ok(description)
}

pub fn running(registry: &Registry) -> Result<Vec<RunningModel>, EngineError> {
    let config = registry.config();
    let on_gpu = !config.device.is_cpu();
    let now = SystemTime::now();
    registry
        .ps()
        .into_iter()
        .map(|l| {
            let expires_at = match (l.forever, l.expires_at) {
                (true, _) => now + Duration::from_secs(292 * 365 * 24 * 3600),
                (false, Some(at)) => at,
                // Still in use: it would expire one keep-alive after it ends.
                (false, None) => now + config.default_keep_alive.unwrap_or(Duration::ZERO),
            };
            // The estimate the memory budget counts (weights as loaded plus the KV the
            // engine may reserve), as Ollama reports what a runner allocated.
            let size = l.footprint.total();
            Ok(RunningModel {
                info: info(registry.store(), &l.stored)?,
                expires_at,
                size,
                size_vram: if on_gpu { size } else { 0 },
                context_length: config.default_num_ctx.min(l.context_length),
            })
        })
        .collect::<Result<Vec<_>, EngineError>>()
        .map(ollama_order)
}

/// Ollama's `/api/ps` order: latest `expires_at` first, compared in whole seconds (its
/// `Unix()`); ties, which Ollama leaves in map order, by name.
fn ollama_order(mut rows: Vec<RunningModel>) -> Vec<RunningModel> {
    let seconds = |t: SystemTime| match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i128,
        Err(e) => -(e.duration().as_secs() as i128),
    };
    rows.sort_by(|a, b| {
        seconds(b.expires_at)
            .cmp(&seconds(a.expires_at))
            .then_with(|| a.info.name.cmp(&b.info.name))
    });
    rows
}

pub fn counters(registry: &Registry) -> Counters {
    let (grammar_tokens, grammar_masks) = grammar_counters();
    Counters {
        models: registry
            .ps()
            .into_iter()
            .map(|m| (m.stored.name, m.stats))
            .collect(),
        grammar_tokens,
        grammar_masks,
        loads: registry.loads(),
    }
}

/// `details` without re-reading the model's header on every listing.
fn cached_details(store: &ModelStore, m: &StoredModel) -> Result<ModelDetails, EngineError> {
    store.memo(m, "details", || match is_embedder(m) {
        true => Ok(embedder(m)?.details),
        false => Ok(details(&Checkpoint::open(&m.path)?)),
    })
}

/// A decoder, from its GGUF file or Hugging Face directory.
fn decoder(stored: &StoredModel, verbose: bool) -> Result<ModelDescription, EngineError> {
    let file = Checkpoint::open(&stored.path)?;
    let architecture = file.architecture().unwrap_or("unknown");
    let template = TemplateChoice::for_model(file.get_str("tokenizer.chat_template"), architecture)
        .source()
        .to_string();
    // Sorted by name already.
    let tensors = verbose.then(|| {
        file.tensor_list()
            .into_iter()
            .map(|(name, kind, shape)| TensorInfo { name, kind, shape })
            .collect()
    });
    Ok(ModelDescription {
        details: details(&file),
        model_info: model_info(&file, verbose),
        capabilities: template_capabilities(&template)
            .into_iter()
            .map(String::from)
            .collect(),
        template,
        tensors,
        ..blank()
    })
}

fn blank() -> ModelDescription {
    ModelDescription {
        name: String::new(),
        location: String::new(),
        modified: SystemTime::UNIX_EPOCH,
        details: ModelDetails::default(),
        model_info: Map::new(),
        template: String::new(),
        template_layer: false,
        system: String::new(),
        parameters: Map::new(),
        license: vec![],
        messages: vec![],
        capabilities: vec![],
        tensors: None,
    }
}

/// A sentence embedder: no template, the `embedding` capability, GGUF-style keys as
/// llama.cpp names them for BERT.
fn embedder(stored: &StoredModel) -> Result<ModelDescription, EngineError> {
    let info = EmbedderInfo::read(&stored.path)?;
    let c = &info.config;
    let arch = c.model_type.clone();
    let mut model_info = Map::new();
    let mut put = |k: &str, v: Value| {
        model_info.insert(k.to_string(), v);
    };
    let key = |suffix: &str| format!("{arch}.{suffix}");
    put("general.architecture", Value::from(arch.clone()));
    put("general.parameter_count", Value::from(info.parameter_count));
    put(&key("block_count"), Value::from(c.num_hidden_layers));
    put(&key("context_length"), Value::from(info.max_tokens()));
    put(&key("embedding_length"), Value::from(c.hidden_size));
    put(
        &key("feed_forward_length"),
        Value::from(c.intermediate_size),
    );
    put(
        &key("attention.head_count"),
        Value::from(c.num_attention_heads),
    );
    put(
        &key("attention.layer_norm_epsilon"),
        Value::from(c.layer_norm_eps),
    );
    if let Some(p) = info.pooling_type() {
        put(&key("pooling_type"), Value::from(p));
    }
    put(
        &key("normalize_embeddings"),
        Value::from(info.sentence.normalize),
    );
    put("tokenizer.ggml.model", Value::from("bert"));
    Ok(ModelDescription {
        details: ModelDetails {
            parent_model: String::new(),
            format: Format::Safetensors.as_str().into(),
            families: vec![arch.clone()],
            family: arch,
            parameter_size: human_number(info.parameter_count),
            quantization_level: "F32".into(),
        },
        model_info,
        capabilities: vec!["embedding".into()],
        ..blank()
    })
}

pub(crate) fn details(file: &Checkpoint) -> ModelDetails {
    let family = file.architecture().unwrap_or("unknown").to_string();
    ModelDetails {
        parent_model: String::new(),
        format: file.format().into(),
        families: vec![family.clone()],
        family,
        parameter_size: human_number(file.parameter_count()),
        quantization_level: file.quantization_level(),
    }
}

/// GGUF metadata for `model_info`: long arrays elided unless verbose, the name and the
/// chat template left out (as Ollama does).
fn model_info(file: &Checkpoint, verbose: bool) -> Map<String, Value> {
    use candle_core::quantized::gguf_file::Value as G;
    fn convert(v: &G, verbose: bool) -> Value {
        match v {
            G::String(s) => Value::String(s.clone()),
            G::Bool(b) => Value::Bool(*b),
            G::F32(_) | G::F64(_) => value_as_f64(v).map(Value::from).unwrap_or(Value::Null),
            G::Array(items) if items.len() > 5 && !verbose => Value::Array(vec![]),
            G::Array(items) => Value::Array(items.iter().map(|i| convert(i, verbose)).collect()),
            G::I8(_) | G::I16(_) | G::I32(_) | G::I64(_) => {
                value_as_i64(v).map(Value::from).unwrap_or(Value::Null)
            }
            _ => value_as_u64(v).map(Value::from).unwrap_or(Value::Null),
        }
    }
    let mut keys: Vec<&String> = file.metadata().keys().collect();
    keys.sort();
    let mut info = Map::new();
    for key in keys {
        if key == "general.name" || key == "tokenizer.chat_template" {
            continue;
        }
        info.insert(key.clone(), convert(&file.metadata()[key], verbose));
    }
    info.insert(
        "general.parameter_count".into(),
        Value::from(file.parameter_count()),
    );
    info
}

/// Ollama's `format.HumanNumber`: `135M`, `134.52M`, `8B`, `3.2B`.
fn human_number(n: u64) -> String {
    let f = n as f64;
    let (value, unit, decimals) = match n {
        n if n >= 1_000_000_000 => (f / 1e9, "B", 1),
        n if n >= 1_000_000 => (f / 1e6, "M", 2),
        n if n >= 1_000 => (f / 1e3, "K", 0),
        _ => return n.to_string(),
    };
    if value.fract() == 0.0 {
        format!("{value:.0}{unit}")
    } else {
        format!("{value:.decimals$}{unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::human_number;

    #[test]
    fn human_numbers_match_ollama() {
        assert_eq!(human_number(134_515_008), "134.52M");
        assert_eq!(human_number(8_000_000_000), "8B");
        assert_eq!(human_number(3_212_749_888), "3.2B");
        assert_eq!(human_number(999), "999");
    }
}
