//! A model's tokenizer on raw text, and back (`/api/tokenize`, `/api/detokenize`): no
//! template, so a client can budget a prompt the way the model counts it.
//!
//! The model is loaded as a generation would load it (a [`Registry`] lease, with its
//! keep-alive), since its tokenizer comes with it. The work runs off the async runtime:
//! a long document takes a while to tokenize.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::registry::{Registry, Runner};
use super::EngineError;
use crate::api::KeepAlive;
use crate::text::{HfTokenizer, TokenType, Tokenizer};

/// Token ids of `content`.
#[derive(Debug, Clone, Default)]
pub struct TokenizeRequest {
    pub model: String,
    pub content: String,
    /// Add BOS/EOS where the model asks for them (`[CLS]`/`[SEP]` for an embedder), as
    /// a raw prompt gets them. Off by default, as llama.cpp's `/tokenize`
    /// (`add_special: false`): the ids of the text alone, which concatenate.
    /// Special-token text (`<|im_start|>`) becomes its id either way.
    pub add_special: bool,
    pub keep_alive: Option<KeepAlive>,
}

#[derive(Debug, Clone, Default)]
pub struct Tokenized {
    pub tokens: Vec<u32>,
    /// From the call to the model ready (0-ish when it was loaded).
    pub load_duration: Duration,
    pub total_duration: Duration,
}

/// The text of token ids.
#[derive(Debug, Clone, Default)]
pub struct DetokenizeRequest {
    pub model: String,
    pub tokens: Vec<u32>,
    pub keep_alive: Option<KeepAlive>,
}

#[derive(Debug, Clone, Default)]
pub struct Detokenized {
    /// Control tokens print as their text (`<|im_end|>`), as llama.cpp's
    /// `/detokenize` prints them, so tokenize then detokenize gives the text back.
    pub content: String,
    pub load_duration: Duration,
    pub total_duration: Duration,
}

/// Either kind of model's tokenizer.
enum Vocab {
    Decoder(Arc<Tokenizer>),
    Embedder(Arc<HfTokenizer>),
}

impl Vocab {
    fn of(runner: &Runner) -> Self {
        match runner {
            Runner::Decoder(d) => Self::Decoder(Arc::clone(&d.prompt.tokenizer)),
            Runner::Embedder(e) => Self::Embedder(Arc::clone(e.tokenizer())),
        }
    }

    fn encode(&self, text: &str, add_special: bool) -> Result<Vec<u32>, EngineError> {
        Ok(match self {
            Self::Decoder(t) => t.encode(text, add_special)?,
            Self::Embedder(t) => t.encode_with(text, add_special)?,
        })
    }

    fn decode(&self, ids: &[u32], model: &str) -> Result<String, EngineError> {
        let size = match self {
            Self::Decoder(t) => t.vocab_size(),
            Self::Embedder(t) => t.vocab_size(),
        };
        if let Some(bad) = ids.iter().find(|&&id| id as usize >= size) {
            return Err(EngineError::BadRequest(format!(
                "token {bad} is out of range: the vocabulary of \"{model}\" has {size} tokens"
            )));
        }
        Ok(match self {
            Self::Decoder(t) => decode_printing_control(t, ids)?,
            Self::Embedder(t) => t.decode_with_special(ids)?,
        })
    }
}

/// Like [`Tokenizer::decode`], but control tokens print as their text.
fn decode_printing_control(t: &Tokenizer, ids: &[u32]) -> Result<String, EngineError> {
    let mut bytes = Vec::new();
    // SentencePiece's space in front of the first word is dropped as in a plain decode,
    // also when BOS comes before it.
    let mut first = true;
    for &id in ids {
        match t.token_type(id) {
            TokenType::Control | TokenType::Unknown => {
                bytes.extend_from_slice(t.token_text(id).unwrap_or_default().as_bytes())
            }
            _ => {
                bytes.extend_from_slice(t.piece(id, first)?);
                first = false;
            }
        }
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

pub async fn tokenize(registry: &Registry, req: TokenizeRequest) -> Result<Tokenized, EngineError> {
    let started = Instant::now();
    let lease = registry.acquire(&req.model, req.keep_alive).await?;
    let vocab = Vocab::of(&lease.model.runner);
    let (content, add_special) = (req.content, req.add_special);
    let tokens = off_runtime(move || vocab.encode(&content, add_special)).await?;
    Ok(Tokenized {
        tokens,
        load_duration: lease.load_duration,
        total_duration: started.elapsed(),
    })
}

pub async fn detokenize(
    registry: &Registry,
    req: DetokenizeRequest,
) -> Result<Detokenized, EngineError> {
    let started = Instant::now();
    let lease = registry.acquire(&req.model, req.keep_alive).await?;
    let vocab = Vocab::of(&lease.model.runner);
    let (ids, model) = (req.tokens, req.model);
    let content = off_runtime(move || vocab.decode(&ids, &model)).await?;
    Ok(Detokenized {
        content,
        load_duration: lease.load_duration,
        total_duration: started.elapsed(),
    })
}

async fn off_runtime<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, EngineError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(EngineError::Failed(format!("the tokenizer stopped: {e}"))))
}
