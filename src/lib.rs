//! rollama: a self-hosted LLM inference server that speaks the Ollama HTTP API.
//!
//! # Layout
//!
//! Dependencies point one way: `server` → `engine` → `model`; `api`, `text`, `store` and
//! `pull` are leaves (`tests/layering.rs` checks it on the source).
//!
//! - [`server`]: axum routes, the only code that knows HTTP; it talks to the engine through
//!   [`engine::Engine`] and translates the wire, nothing more.
//! - [`engine`]: the typed engine API and its implementation: prompts, grammars, tool calls
//!   and reasoning, the model's own thread, scheduling, sampling, stop handling.
//! - [`model`]: our decoder on candle tensors, weights from GGUF or HF safetensors.
//! - [`convert`]: `rollama convert`, a GGUF decoder written out as an HF checkpoint.
//! - [`store`]: the model store on disk (`NAME.gguf` → `NAME:latest`).
//! - [`pull`]: `POST /api/pull`'s transfers: an Ollama registry or the Hugging Face hub into
//!   the store (a leaf beside `store`).
//! - [`api`]: Ollama wire types.
//! - [`text`]: tokenizer from GGUF metadata, streaming detokenizer, chat templates.
//! - [`memory`]: giving freed memory back to the OS after a model unloads.
//! - [`cli`]: the client commands (`run`, `pull`, `list`, `ps`, `show`, …), Ollama's CLI over
//!   HTTP to a running server (a client; uses `api` wire types and `store` names only).
//! - [`loadgen`]: `rollama bench`, an HTTP load generator (a client; uses none of the above).

pub mod api;
pub mod cli;
pub mod config;
pub mod convert;
pub mod engine;
pub mod loadgen;
pub mod memory;
pub mod model;
pub mod perf;
pub mod pull;
pub mod server;
pub mod shutdown;
pub mod store;
pub mod text;
