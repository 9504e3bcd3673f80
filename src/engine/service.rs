//! [`Engine`]: everything a server asks of the engine, as typed calls; [`Service`] is the
//! real one (models from the store, loaded on demand by the [`Registry`]). A server holds an
//! `Arc<dyn Engine>`, so its handlers can be tested against a scripted fake.

use std::time::Instant;

use futures::future::BoxFuture;
use futures::FutureExt;

use super::describe::{self, Counters, ModelDescription, ModelEntry, ModelInfo, RunningModel};
use super::generate::generate;
use super::manage::{self, ByteStream, CreateRequest, ProgressStream};
use super::registry::{Registry, RegistryConfig};
use super::request::{EmbedRequest, Embeddings, GenerateRequest, Pieces};
use super::tokens::{self, DetokenizeRequest, Detokenized, TokenizeRequest, Tokenized};
use super::{embed, EngineError};
use crate::api::KeepAlive;
use crate::store::ModelStore;

/// The engine as a server sees it.
pub trait Engine: Send + Sync {
    /// Runs a chat or prompt. An error before the first piece is returned; one after it
    /// is the stream's last piece.
    fn generate(&self, request: GenerateRequest) -> BoxFuture<'_, Result<Pieces, EngineError>>;

    fn embed(&self, request: EmbedRequest) -> BoxFuture<'_, Result<Embeddings, EngineError>>;

    /// Loads `model` (a request with nothing to generate) and keeps it `keep_alive`.
    fn load(
        &self,
        model: String,
        keep_alive: Option<KeepAlive>,
    ) -> BoxFuture<'_, Result<(), EngineError>>;

    /// Unloads `model` now, or as soon as its running requests end.
    fn unload(&self, model: String) -> BoxFuture<'_, Result<(), EngineError>>;

    /// Every model of the store, cheaply (names and dates).
    fn models(&self) -> BoxFuture<'_, Result<Vec<ModelEntry>, EngineError>>;

    /// One model of the store, by name.
    fn model(&self, name: String) -> BoxFuture<'_, Result<ModelEntry, EngineError>>;

    /// Every model of the store with its digest and details (`/api/tags`).
    fn tags(&self) -> BoxFuture<'_, Result<Vec<ModelInfo>, EngineError>>;

    /// What a model is: details, metadata, template, capabilities (`/api/show`).
    fn describe(
        &self,
        model: String,
        verbose: bool,
    ) -> BoxFuture<'_, Result<ModelDescription, EngineError>>;

    /// The loaded models (`/api/ps`).
    fn running(&self) -> BoxFuture<'_, Result<Vec<RunningModel>, EngineError>>;

    /// Live counters of every loaded model and of the grammar engine (`/metrics`).
    fn counters(&self) -> Counters;

    /// Creates a model (`/api/create`). Refusals before any work are `Err`; the stream
    /// reports the steps and ends with the error that stopped it, if one did.
    fn create(&self, request: CreateRequest) -> BoxFuture<'_, Result<ProgressStream, EngineError>> {
        let _ = request;
        unsupported("creating models")
    }

    /// Downloads a model (`/api/pull`) from a registry or the Hugging Face hub.
    fn pull(
        &self,
        model: String,
        insecure: bool,
    ) -> BoxFuture<'_, Result<ProgressStream, EngineError>> {
        let _ = (model, insecure);
        unsupported("pulling models")
    }

    fn copy(&self, source: String, destination: String) -> BoxFuture<'_, Result<(), EngineError>> {
        let _ = (source, destination);
        unsupported("copying models")
    }

    fn delete(&self, model: String) -> BoxFuture<'_, Result<(), EngineError>> {
        let _ = model;
        unsupported("deleting models")
    }

    /// Whether the store holds a blob (`HEAD /api/blobs/:digest`).
    fn has_blob(&self, digest: String) -> BoxFuture<'_, Result<bool, EngineError>> {
        let _ = digest;
        unsupported("blobs")
    }

    /// Stores an uploaded blob; `true` when it is new.
    fn put_blob(
        &self,
        digest: String,
        body: ByteStream,
    ) -> BoxFuture<'_, Result<bool, EngineError>> {
        let _ = (digest, body);
        unsupported("blobs")
    }

    /// The model's token ids of raw text (`/api/tokenize`), loading the model if needed.
    fn tokenize(&self, request: TokenizeRequest) -> BoxFuture<'_, Result<Tokenized, EngineError>> {
        let _ = request;
        unsupported("tokenizing")
    }

    /// The text of token ids (`/api/detokenize`); an id outside the vocabulary is a 400.
    fn detokenize(
        &self,
        request: DetokenizeRequest,
    ) -> BoxFuture<'_, Result<Detokenized, EngineError>> {
        let _ = request;
        unsupported("detokenizing")
    }
}

fn unsupported<T: Send + 'static>(what: &str) -> BoxFuture<'static, Result<T, EngineError>> {
    let e = EngineError::Unsupported(format!("{what} is not supported by this engine"));
    async move { Err(e) }.boxed()
}

/// The engine over a model store.
#[derive(Clone)]
pub struct Service {
    registry: Registry,
}

impl Service {
    pub fn new(store: ModelStore, config: RegistryConfig) -> Self {
        Self {
            registry: Registry::new(store, config),
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

impl Engine for Service {
    fn generate(&self, request: GenerateRequest) -> BoxFuture<'_, Result<Pieces, EngineError>> {
        generate(&self.registry, request).boxed()
    }

    fn embed(&self, request: EmbedRequest) -> BoxFuture<'_, Result<Embeddings, EngineError>> {
        embed::embed(&self.registry, request, Instant::now()).boxed()
    }

    fn load(
        &self,
        model: String,
        keep_alive: Option<KeepAlive>,
    ) -> BoxFuture<'_, Result<(), EngineError>> {
        async move {
            drop(self.registry.acquire(&model, keep_alive).await?);
            Ok(())
        }
        .boxed()
    }

    fn unload(&self, model: String) -> BoxFuture<'_, Result<(), EngineError>> {
        async move { self.registry.unload(&model) }.boxed()
    }

    fn models(&self) -> BoxFuture<'_, Result<Vec<ModelEntry>, EngineError>> {
        let store = self.registry.store().clone();
        describe::blocking(move || describe::entries(&store)).boxed()
    }

    fn model(&self, name: String) -> BoxFuture<'_, Result<ModelEntry, EngineError>> {
        let store = self.registry.store().clone();
        describe::blocking(move || Ok(describe::entry(&store.resolve(&name)?))).boxed()
    }

    fn tags(&self) -> BoxFuture<'_, Result<Vec<ModelInfo>, EngineError>> {
        let store = self.registry.store().clone();
        describe::blocking(move || describe::tags(&store)).boxed()
    }

    fn describe(
        &self,
        model: String,
        verbose: bool,
    ) -> BoxFuture<'_, Result<ModelDescription, EngineError>> {
        let store = self.registry.store().clone();
        describe::blocking(move || describe::describe(&store, &model, verbose)).boxed()
    }

    fn running(&self) -> BoxFuture<'_, Result<Vec<RunningModel>, EngineError>> {
        let registry = self.registry.clone();
        describe::blocking(move || describe::running(&registry)).boxed()
    }

    fn counters(&self) -> Counters {
        describe::counters(&self.registry)
    }

    fn create(&self, request: CreateRequest) -> BoxFuture<'_, Result<ProgressStream, EngineError>> {
        async move { manage::create(&self.registry, request) }.boxed()
    }

    fn pull(
        &self,
        model: String,
        insecure: bool,
    ) -> BoxFuture<'_, Result<ProgressStream, EngineError>> {
        async move { manage::pull(&self.registry, &model, insecure) }.boxed()
    }

    fn copy(&self, source: String, destination: String) -> BoxFuture<'_, Result<(), EngineError>> {
        let registry = self.registry.clone();
        describe::blocking(move || manage::copy(&registry, &source, &destination)).boxed()
    }

    fn delete(&self, model: String) -> BoxFuture<'_, Result<(), EngineError>> {
        let registry = self.registry.clone();
        describe::blocking(move || manage::delete(&registry, &model)).boxed()
    }

    fn has_blob(&self, digest: String) -> BoxFuture<'_, Result<bool, EngineError>> {
        let store = self.registry.store().clone();
        describe::blocking(move || manage::has_blob(&store, &digest)).boxed()
    }

    fn put_blob(
        &self,
        digest: String,
        body: ByteStream,
    ) -> BoxFuture<'_, Result<bool, EngineError>> {
        async move { manage::put_blob(self.registry.store(), &digest, body).await }.boxed()
    }

    fn tokenize(&self, request: TokenizeRequest) -> BoxFuture<'_, Result<Tokenized, EngineError>> {
        tokens::tokenize(&self.registry, request).boxed()
    }

    fn detokenize(
        &self,
        request: DetokenizeRequest,
    ) -> BoxFuture<'_, Result<Detokenized, EngineError>> {
        tokens::detokenize(&self.registry, request).boxed()
    }
}
