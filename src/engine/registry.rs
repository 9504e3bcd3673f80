//! Which models are loaded: loading on first use, one load at a time, keep-alive timers,
//! room for a new model under `max_loaded` and the memory budget (unloading idle models
//! least recently used first, waiting a bounded time for busy ones; see [`residency`]),
//! and what `/api/ps` reports.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use candle_core::Device;

use super::footprint::{self, Footprint};
use super::loads::{LoadStats, ModelLoads, UnloadReason};
use super::residency::{self, human_bytes, Limits, Plan, Resident};
use super::{
    template_capabilities, Caps, EmbedHandle, EngineConfig, EngineError, EngineHandle, Grammars,
    PromptModel, StatsSnapshot,
};
use crate::api::KeepAlive;
use crate::model::bert::{is_bert_dir, Embedder};
use crate::model::{Checkpoint, LoadOptions, Model};
use crate::store::{Format, ModelStore, StoredModel};
use crate::text::{HfTokenizer, Tokenizer};

/// How the registry loads and keeps models.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// `None` keeps models loaded forever.
    pub default_keep_alive: Option<Duration>,
    pub max_loaded: usize,
    /// Bytes all loaded models may take together (their [`Footprint`]s); `None`: no limit.
    pub memory_budget: Option<u64>,
    /// How long a load waits for busy models to free room; `None`: without bound.
    pub load_wait: Option<Duration>,
    pub default_num_ctx: usize,
    /// The operator's per-request caps, deadline and load timeout.
    pub caps: Caps,
    pub engine: EngineConfig,
    pub device: Device,
    pub load: LoadOptions,
}

/// A model ready to serve: what runs it, and facts for the API.
pub struct LoadedModel {
    pub stored: StoredModel,
    pub runner: Runner,
    pub architecture: String,
    pub context_length: usize,
    /// `num_ctx` is clamped to this: the trained window, or the KV budget if smaller.
    pub max_num_ctx: usize,
}

/// What a loaded model does.
pub enum Runner {
    /// Generates text: engine thread, tokenizer and chat template.
    Decoder(Arc<Decoder>),
    /// Embeds text (a BERT-family sentence embedder).
    Embedder(EmbedHandle),
}

pub struct Decoder {
    pub engine: EngineHandle,
    pub prompt: PromptModel,
    pub grammars: Grammars,
}

impl LoadedModel {
    /// The decoder, or Ollama's 400 `"<name>" does not support <what>` (`generate`, `chat`)
    /// for a model that cannot generate. `name` is the model as the request named it.
    pub fn decoder(&self, what: &str, name: &str) -> Result<&Arc<Decoder>, EngineError> {
        match &self.runner {
            Runner::Decoder(d) => Ok(d),
            Runner::Embedder(_) => Err(EngineError::BadRequest(format!(
                "\"{name}\" does not support {what}"
            ))),
        }
    }

    /// The embedder, or a 400 for a model that only generates. (Ollama embeds with any
    /// model; rollama's decoders do not pool hidden states yet.)
    pub fn embedder(&self, name: &str) -> Result<&EmbedHandle, EngineError> {
        match &self.runner {
            Runner::Embedder(e) => Ok(e),
            Runner::Decoder(_) => Err(EngineError::BadRequest(format!(
                "\"{name}\" does not support embeddings"
            ))),
        }
    }

    /// Ollama's capability names (`/api/show`).
    pub fn capabilities(&self) -> Vec<&'static str> {
        match &self.runner {
            Runner::Decoder(d) => template_capabilities(&d.prompt.template_source),
            Runner::Embedder(_) => vec!["embedding"],
        }
    }

    /// Queue, slots and KV use of the model's engine.
    pub fn stats(&self) -> StatsSnapshot {
        match &self.runner {
            Runner::Decoder(d) => d.engine.stats(),
            Runner::Embedder(e) => e.stats(),
        }
    }

    /// Whether the model's thread still runs (it ends only by panicking while loaded).
    fn is_alive(&self) -> bool {
        match &self.runner {
            Runner::Decoder(d) => d.engine.is_alive(),
            Runner::Embedder(e) => e.is_alive(),
        }
    }
}

/// Whether a stored model is a sentence embedder (else a decoder): the one place this is
/// decided, for loading and for describing it.
pub fn is_embedder(m: &StoredModel) -> bool {
    m.format == Format::Safetensors && is_bert_dir(&m.path)
}

/// One row of `/api/ps`.
#[derive(Debug, Clone)]
pub struct LoadedInfo {
    pub stored: StoredModel,
    pub architecture: String,
    /// `None`: kept forever, or still in use with no expiry set yet.
    pub expires_at: Option<SystemTime>,
    pub forever: bool,
    pub context_length: usize,
    /// The engine's queue, slots and KV use right now.
    pub stats: StatsSnapshot,
    /// Its estimated memory, as counted against the budget.
    pub footprint: Footprint,
}

struct Entry {
    model: Arc<LoadedModel>,
    footprint: Footprint,
    /// [`State::clock`] at its last acquire or release: idle models unload least recently
    /// used first.
    last_used: u64,
    /// Requests holding a [`Lease`]; the keep-alive timer only runs at zero.
    active: usize,
    keep_alive: Option<Duration>,
    expires_at: Option<SystemTime>,
    /// Bumped on every acquire/release so a stale timer knows it is stale.
    generation: u64,
}

#[derive(Default)]
struct State {
    loaded: HashMap<String, Entry>,
    /// Logical time for `last_used`, bumped on every acquire and release.
    clock: u64,
}

impl State {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

/// Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    store: ModelStore,
    config: RegistryConfig,
    state: Arc<Mutex<State>>,
    /// Only one model loads at a time, as in Ollama; also deduplicates concurrent loads
    /// (the second request for a model finds it loaded once it gets the lock).
    load_lock: Arc<tokio::sync::Mutex<()>>,
    /// Signalled whenever a model goes idle or unloads: a load waiting for room looks again.
    freed: Arc<tokio::sync::Notify>,
    /// Loads and unloads so far, for `/metrics`.
    loads: Arc<LoadStats>,
}

/// A request's hold on a loaded model. Dropping it starts the keep-alive countdown.
pub struct Lease {
    pub model: Arc<LoadedModel>,
    /// The model as the store has it now (its layers may be newer than the loaded copy's).
    pub stored: StoredModel,
    /// Time from the acquire call to a ready model (Ollama's `load_duration`).
    pub load_duration: Duration,
    registry: Registry,
    name: String,
}

impl Registry {
    pub fn new(store: ModelStore, config: RegistryConfig) -> Self {
        Self {
            store,
            config,
            state: Arc::default(),
            load_lock: Arc::default(),
            freed: Arc::default(),
            loads: Arc::default(),
        }
    }

    /// Every model's loads (with their times) and unloads (by reason) so far.
    pub fn loads(&self) -> Vec<ModelLoads> {
        self.loads.snapshot()
    }

    pub fn store(&self) -> &ModelStore {
        &self.store
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves `name` in the store and returns the loaded model, loading it if needed.
    /// `keep_alive`: `None` = the server default. A model whose thread died is loaded
    /// anew.
    pub async fn acquire(
        &self,
        name: &str,
        keep_alive: Option<KeepAlive>,
    ) -> Result<Lease, EngineError> {
        let started = Instant::now();
        let stored = self.store.resolve(name)?;
        let keep_alive = match keep_alive {
            None => self.config.default_keep_alive,
            Some(KeepAlive::For(d)) => Some(d),
            Some(KeepAlive::Forever) => None,
        };
        if let Some(lease) = self.try_lease(&stored, keep_alive, started) {
            return Ok(lease);
        }
        // Owned: a load that runs past its timeout takes the lock along (see below).
        let loading = Arc::clone(&self.load_lock).lock_owned().await;
        if let Some(lease) = self.try_lease(&stored, keep_alive, started) {
            return Ok(lease);
        }
        let load_error = |cause| EngineError::Load {
            model: stored.name.clone(),
            cause: Box::new(cause),
        };
        let (store, config, to_load) = (self.store.clone(), self.config.clone(), stored.clone());
        let footprint =
            tokio::task::spawn_blocking(move || footprint::estimate(&store, &to_load, &config))
                .await
                .unwrap_or_else(|e| Err(EngineError::Failed(format!("the estimate stopped: {e}"))))
                .map_err(load_error)?;
        self.make_room(&stored.name, footprint.total()).await?;
        // The load itself, without the wait for the lock or for room.
        let load_started = Instant::now();
        let config = self.config.clone();
        let to_load = stored.clone();
        let store = self.store.clone();
        let mut loader = tokio::task::spawn_blocking(move || {
            let layers = store.layers(&to_load)?;
            if let Some(what) = layers.unsupported.first() {
                return Err(EngineError::BadRequest(format!(
                    "the model uses {what}, which rollama does not support"
                )));
            }
            load(to_load, layers.template.as_deref(), &config)
        });
        let loaded = match self.config.caps.load_timeout {
            Some(limit) => tokio::time::timeout(limit, &mut loader)
                .await
                .map_err(|_| limit),
            None => Ok((&mut loader).await),
        };
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(after) => {
                // `OLLAMA_LOAD_TIMEOUT`: Ollama kills its runner; a loading thread cannot
                // be stopped, so it finishes unseen and its model is dropped. It keeps the
                // load lock until then: one load at a time keeps the memory budget true.
                tokio::spawn(async move {
                    let _ = loader.await;
                    drop(loading);
                });
                tracing::warn!(model = %stored.name, ?after, "model load timed out");
                return Err(EngineError::LoadTimeout { after });
            }
        };
        let model = loaded
            .unwrap_or_else(|e| Err(EngineError::Failed(format!("the loader stopped: {e}"))))
            .map_err(load_error)?;
        tracing::info!(
            model = %stored.name,
            elapsed = ?started.elapsed(),
            bytes = footprint.total(),
            "model loaded"
        );
        self.loads.loaded(&stored.name, load_started.elapsed());
        let mut state = self.state();
        let last_used = state.tick();
        state.loaded.insert(
            stored.name.clone(),
            Entry {
                model: Arc::new(model),
                footprint,
                last_used,
                active: 0,
                keep_alive,
                expires_at: None,
                generation: 0,
            },
        );
        drop(state);
        self.try_lease(&stored, keep_alive, started)
            .ok_or(EngineError::WorkerDied)
    }

    fn try_lease(
        &self,
        stored: &StoredModel,
        keep_alive: Option<Duration>,
        started: Instant,
    ) -> Option<Lease> {
        let name = stored.name.as_str();
        let mut state = self.state();
        if state.loaded.get(name).is_some_and(|e| !e.model.is_alive()) {
            tracing::warn!(model = %name, "the model's thread died; loading it again");
            state.loaded.remove(name);
            self.loads.unloaded(name, UnloadReason::Died);
            self.freed.notify_waiters();
            return None;
        }
        // Created, copied or pulled anew under the same name since it loaded: requests
        // already running keep the old copy; new ones get the new one.
        let changed = |e: &Entry| {
            e.model.stored.origin != stored.origin || e.model.stored.path != stored.path
        };
        if state.loaded.get(name).is_some_and(changed) {
            tracing::info!(model = %name, "the stored model changed; loading it again");
            state.loaded.remove(name);
            self.loads.unloaded(name, UnloadReason::Replaced);
            self.freed.notify_waiters();
            return None;
        }
        let now = state.tick();
        let entry = state.loaded.get_mut(name)?;
        entry.last_used = now;
        entry.active += 1;
        entry.generation += 1;
        entry.keep_alive = keep_alive;
        entry.expires_at = None;
        Some(Lease {
            model: Arc::clone(&entry.model),
            stored: stored.clone(),
            load_duration: started.elapsed(),
            registry: self.clone(),
            name: name.to_string(),
        })
    }

    /// Makes room for `name` needing `need` bytes (called holding the load lock, so no
    /// other load adds a model meanwhile): unloads idle models least recently used first
    /// when that lets it fit; else waits for busy ones to go idle, up to `load_wait`.
    /// Never leaves the loaded models past the budget.
    async fn make_room(&self, name: &str, need: u64) -> Result<(), EngineError> {
        let limits = Limits {
            max_loaded: self.config.max_loaded,
            memory: self.config.memory_budget,
        };
        let deadline = self
            .config
            .load_wait
            .map(|d| tokio::time::Instant::now() + d);
        loop {
            // Armed before looking, so a release between the look and the wait is not missed.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let shortfall = {
                let mut state = self.state();
                let resident: Vec<Resident> = state
                    .loaded
                    .iter()
                    .filter(|(n, _)| n.as_str() != name)
                    .map(|(n, e)| Resident {
                        name: n.clone(),
                        footprint: e.footprint.total(),
                        busy: e.active > 0,
                        last_used: e.last_used,
                    })
                    .collect();
                match residency::plan(&resident, need, limits) {
                    Plan::Fits { evict } => {
                        for victim in evict {
                            tracing::info!(model = %victim, for_model = %name, "unloading to make room");
                            state.loaded.remove(&victim);
                            self.loads.unloaded(&victim, UnloadReason::Evicted);
                        }
                        return Ok(());
                    }
                    Plan::TooLarge { need, budget } => {
                        tracing::warn!(model = %name, need, budget, "model larger than the memory budget");
                        return Err(EngineError::TooLarge {
                            memory: self.memory_kind(),
                            need: human_bytes(need),
                            available: human_bytes(budget),
                        });
                    }
                    Plan::Wait(shortfall) => shortfall,
                }
            };
            tracing::debug!(model = %name, busy = ?shortfall.busy, "waiting for room to load");
            let woken = match deadline {
                Some(at) => tokio::time::timeout_at(at, freed).await.is_ok(),
                None => {
                    freed.await;
                    true
                }
            };
            if !woken {
                tracing::warn!(model = %name, busy = ?shortfall.busy, "no room to load in time");
                return Err(EngineError::NoRoom {
                    model: name.to_string(),
                    reason: shortfall.describe(),
                });
            }
        }
    }

    /// Which memory the budget is about, as the error names it.
    fn memory_kind(&self) -> &'static str {
        match self.config.device.is_cpu() {
            true => "system memory",
            false => "GPU memory",
        }
    }

    /// `keep_alive: 0` with no prompt: unload now, or as soon as in-flight requests end.
    /// A model of the store that is not loaded is fine; an unknown one is `NotFound`.
    pub fn unload(&self, name: &str) -> Result<(), EngineError> {
        let stored = self.store.resolve(name)?;
        let mut state = self.state();
        if let Some(entry) = state.loaded.get_mut(&stored.name) {
            if entry.active == 0 {
                state.loaded.remove(&stored.name);
                tracing::info!(model = %stored.name, "model unloaded");
                self.loads.unloaded(&stored.name, UnloadReason::Requested);
                self.freed.notify_waiters();
            } else {
                entry.keep_alive = Some(Duration::ZERO);
            }
        }
        Ok(())
    }

    /// Loaded models, latest expiry first.
    pub fn ps(&self) -> Vec<LoadedInfo> {
        let state = self.state();
        let mut rows: Vec<LoadedInfo> = state
            .loaded
            .values()
            .map(|e| LoadedInfo {
                stored: e.model.stored.clone(),
                architecture: e.model.architecture.clone(),
                expires_at: e.expires_at,
                forever: e.keep_alive.is_none(),
                context_length: e.model.context_length,
                stats: e.model.stats(),
                footprint: e.footprint,
            })
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.expires_at));
        rows
    }

    /// A lease on `model` ended. An entry loaded anew since (the old thread died) is not
    /// the one the lease held, and is left alone.
    fn release(&self, name: &str, model: &Arc<LoadedModel>) {
        let mut state = self.state();
        let now = state.tick();
        let Some(entry) = state.loaded.get_mut(name) else {
            return;
        };
        if !Arc::ptr_eq(&entry.model, model) {
            return;
        }
        entry.active = entry.active.saturating_sub(1);
        entry.generation += 1;
        if entry.active > 0 {
            return;
        }
        entry.last_used = now;
        // Idle now (or unloaded just below): a load waiting for room looks again once the
        // state lock is released.
        self.freed.notify_waiters();
        match entry.keep_alive {
            None => entry.expires_at = None,
            Some(d) if d.is_zero() => {
                state.loaded.remove(name);
                tracing::info!(model = %name, "model unloaded (keep_alive 0)");
                self.loads.unloaded(name, UnloadReason::Requested);
            }
            Some(d) => {
                entry.expires_at = Some(SystemTime::now() + d);
                let generation = entry.generation;
                let registry = self.clone();
                let name = name.to_string();
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn(async move {
                        tokio::time::sleep(d).await;
                        registry.expire(&name, generation);
                    });
                }
            }
        }
    }

    fn expire(&self, name: &str, generation: u64) {
        let mut state = self.state();
        let idle_since_timer = state
            .loaded
            .get(name)
            .is_some_and(|e| e.active == 0 && e.generation == generation);
        if idle_since_timer {
            state.loaded.remove(name);
            tracing::info!(model = %name, "model unloaded (keep_alive expired)");
            self.loads.unloaded(name, UnloadReason::Expired);
            self.freed.notify_waiters();
        }
    }
}

impl Lease {
    /// The model's thread was found dead: the registry forgets it now, so the next
    /// request loads the model again (however soon it comes after this one's error).
    pub fn forget_dead_model(&self) {
        let mut state = self.registry.state();
        let same = state
            .loaded
            .get(&self.name)
            .is_some_and(|e| Arc::ptr_eq(&e.model, &self.model));
        if same {
            tracing::warn!(model = %self.name, "the model's thread died; it will be loaded again");
            state.loaded.remove(&self.name);
            self.registry.loads.unloaded(&self.name, UnloadReason::Died);
            self.registry.freed.notify_waiters();
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.registry.release(&self.name, &self.model);
    }
}

/// Loads what the store holds under the name and starts its thread.
/// `go_template`: the model's template layer, used instead of the weights' own.
fn load(
    stored: StoredModel,
    go_template: Option<&str>,
    config: &RegistryConfig,
) -> Result<LoadedModel, EngineError> {
    match is_embedder(&stored) {
        true => load_embedder(stored, config),
        false => load_decoder(stored, go_template, config),
    }
}

fn load_embedder(stored: StoredModel, config: &RegistryConfig) -> Result<LoadedModel, EngineError> {
    let tokenizer = HfTokenizer::from_file(&stored.path.join("tokenizer.json"))?;
    let model = Embedder::load(&stored.path, &config.device)?;
    let architecture = model.architecture().to_string();
    let handle = EmbedHandle::start(model, tokenizer, &config.engine)?;
    let context_length = handle.max_tokens();
    Ok(LoadedModel {
        stored,
        runner: Runner::Embedder(handle),
        architecture,
        context_length,
        max_num_ctx: context_length,
    })
}

/// Reads the GGUF file or Hugging Face directory, builds model, tokenizer and template,
/// and starts the engine thread.
fn load_decoder(
    stored: StoredModel,
    go_template: Option<&str>,
    config: &RegistryConfig,
) -> Result<LoadedModel, EngineError> {
    let file = Checkpoint::open(&stored.path)?;
    let architecture = file.architecture()?.to_string();
    let tokenizer = Arc::new(Tokenizer::from_gguf(file.metadata())?);
    let prompt = PromptModel::new(
        Arc::clone(&tokenizer),
        file.get_str("tokenizer.chat_template"),
        &architecture,
        go_template,
    )?;
    let model = Model::load_with(&file, &config.device, &config.load)?;
    let context_length = model.config().context_length;
    drop(file);
    let grammars = Grammars::new(Arc::clone(&tokenizer));
    let engine = EngineHandle::start(model, tokenizer, config.engine.clone())?;
    let decoder = Decoder {
        engine,
        prompt,
        grammars,
    };
    Ok(LoadedModel {
        stored,
        runner: Runner::Decoder(Arc::new(decoder)),
        architecture,
        context_length,
        max_num_ctx: context_length.min(config.engine.kv_tokens).max(1),
    })
}
