//! Text in and out of the model: the tokenizer built from GGUF metadata, incremental
//! detokenization for streaming, and chat templates.
//!
//! A leaf module: it knows nothing of the engine, the server or candle tensors (it only reads
//! GGUF metadata values).

mod error;

pub use error::TextError;

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;

/// A tokenizer converted from the vocabulary inside a GGUF file.
pub struct Tokenizer {}

impl Tokenizer {
    /// Builds the tokenizer from `tokenizer.ggml.*` metadata. Unknown models or `pre`
    /// profiles are refused with [`TextError::Unsupported`], never guessed.
    pub fn from_gguf(metadata: &HashMap<String, Value>) -> Result<Self, TextError> {
        let _ = metadata;
        Err(TextError::Unsupported("not implemented yet".into()))
    }

    /// Token ids of `text`. Special-token text (`<|im_start|>`) becomes its special id, as
    /// llama.cpp does with `parse_special`. `add_bos` prepends BOS when the model wants one.
    pub fn encode(&self, text: &str, add_bos: bool) -> Result<Vec<u32>, TextError> {
        let _ = (text, add_bos);
        Ok(vec![])
    }

    /// Text of `ids`, control tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TextError> {
        let _ = ids;
        Ok(String::new())
    }

    /// Whether the model expects BOS in front of a prompt (`tokenizer.ggml.add_bos_token`).
    pub fn add_bos(&self) -> bool {
        false
    }

    /// BOS token text, for chat templates, if the model has one.
    pub fn bos_token(&self) -> Option<&str> {
        None
    }

    /// EOS token text, for chat templates, if the model has one.
    pub fn eos_token(&self) -> Option<&str> {
        None
    }

    /// Tokens that end generation: EOS, EOT and the end-of-turn control tokens.
    pub fn stop_ids(&self) -> &[u32] {
        &[]
    }

    pub fn vocab_size(&self) -> usize {
        0
    }
}

/// Turns generated ids into text deltas that are always whole UTF-8 and decode exactly as
/// the full sequence does.
pub struct StreamDecoder {}

impl StreamDecoder {
    pub fn new() -> Self {
        Self {}
    }

    /// Feeds one token; returns the new text that is now stable (possibly empty).
    pub fn push(&mut self, tokenizer: &Tokenizer, id: u32) -> Result<String, TextError> {
        let _ = (tokenizer, id);
        Ok(String::new())
    }
}

impl Default for StreamDecoder {
    fn default() -> Self {
        Self::new()
    }
}

/// A Jinja chat template (HF-compatible) rendered with minijinja.
pub struct ChatTemplate {}

impl ChatTemplate {
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, TextError> {
        let _ = (source, bos_token, eos_token);
        Ok(Self {})
    }

    /// The template to use for an architecture whose GGUF carries none (Gemma 3).
    pub fn builtin(architecture: &str) -> Option<&'static str> {
        let _ = architecture;
        None
    }

    /// Renders `messages` (a JSON array of `{role, content, ...}`), with optional `tools`.
    pub fn render(
        &self,
        messages: &serde_json::Value,
        tools: Option<&serde_json::Value>,
        add_generation_prompt: bool,
    ) -> Result<String, TextError> {
        let _ = (messages, tools, add_generation_prompt);
        Ok(String::new())
    }
}
