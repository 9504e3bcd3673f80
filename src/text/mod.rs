//! Text in and out of the model: tokenizers (from GGUF metadata or a `tokenizer.json`),
//! incremental detokenization for streaming, and chat templates.
//!
//! A leaf module: it knows nothing of the engine, the server or candle tensors (it only reads
//! GGUF metadata values).
//!
//! - [`HfTokenizer`] (`hf_tokenizer.rs`): a Hugging Face `tokenizer.json` used as-is, for
//!   safetensors model directories (BERT embedders).
//! - [`Tokenizer`] (`tokenizer.rs`): llama.cpp-exact encode/decode from `tokenizer.ggml.*`;
//!   conversion to a `tokenizers` pipeline in `convert.rs`, `pre` profiles in
//!   `pretokenize.rs`, special ids and the stop set in `special.rs`.
//! - [`StreamDecoder`] (`stream.rs`): UTF-8-safe streaming deltas.
//! - [`ChatTemplate`] (`template.rs`): HF-compatible Jinja rendering.
//! - [`GoTemplate`] (`gotemplate/`): Ollama's Go `text/template` chat templates, rendered as
//!   Ollama renders them.
//! - [`tok_env`] (`trie.rs`): the tokenizer as llguidance's token trie, for grammars.
//! - [`ToolCallParser`] / [`ToolSyntax`] (`tool_calls/`): a model's native tool-call syntax,
//!   parsed from streamed text, and grammars that force a call.
//! - [`ThinkingParser`] / [`ThinkingSyntax`] (`thinking.rs`): reasoning split from the answer.

mod convert;
mod error;
pub mod gotemplate;
mod hf_tokenizer;
mod meta;
mod pretokenize;
mod special;
mod stream;
mod template;
mod thinking;
mod tokenizer;
mod tool_calls;
mod trie;

pub use error::TextError;
pub use gotemplate::{GoMessage, GoTemplate, GoValues};
pub use hf_tokenizer::HfTokenizer;
pub use meta::{value_as_f64, value_as_i64, value_as_u64, TokenType};
pub use pretokenize::{pre_for_regexes, GPT2_REGEX};
pub use stream::StreamDecoder;
pub use template::{ChatTemplate, TemplateChoice};
pub use thinking::{ThinkingParser, ThinkingSyntax};
pub use tokenizer::{Tokenizer, VocabKind};
pub use tool_calls::{ParsedToolCall, ToolCallParser, ToolOutput, ToolSyntax};
pub use trie::tok_env;
