//! What the three embedding routes share (`/api/embed`, `/api/embeddings`,
//! `/v1/embeddings`): input validation, tokenizing with truncation, the engine call,
//! normalization and `dimensions`.

use std::time::Duration;

use serde_json::{Map, Value};

use super::error::ApiError;
use super::AppState;
use crate::engine::{EngineError, Lease};
use crate::store::StoreError;

/// Vectors of one request.
pub struct Embedded {
    pub vectors: Vec<Vec<f32>>,
    /// Tokens of all inputs (after truncation).
    pub prompt_tokens: usize,
    pub lease: Lease,
}

/// How to embed.
pub struct EmbedJob<'a> {
    pub model: &'a str,
    pub inputs: Vec<String>,
    pub truncate: bool,
    pub options: Option<&'a Map<String, Value>>,
    pub keep_alive: Option<Option<Duration>>,
}

/// `input` as strings: one string or a list of them (`invalid input type` otherwise).
pub fn inputs(input: &Value) -> Result<Vec<String>, ApiError> {
    let invalid = || ApiError::BadRequest("invalid input type".into());
    match input {
        Value::Null => Ok(vec![]),
        Value::String(s) if s.is_empty() => Ok(vec![]),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or_else(invalid))
            .collect(),
        _ => Err(invalid()),
    }
}

/// Loads the model (even for no inputs, as Ollama does) and embeds the inputs, pooled and
/// not normalized. An unknown model is Ollama's embed-specific 404.
pub async fn embed(state: &AppState, job: EmbedJob<'_>) -> Result<Embedded, ApiError> {
    let lease = state
        .registry
        .acquire(job.model, job.keep_alive)
        .await
        .map_err(|e| match e {
            EngineError::Store(StoreError::NotFound(name)) => {
                ApiError::NotFound(format!("model \"{name}\" not found, try pulling it first"))
            }
            e => e.into(),
        })?;
    let embedder = lease.model.embedder(job.model)?.clone();
    let limit = match job.options.and_then(|o| o.get("num_ctx")) {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            ApiError::Internal("option \"num_ctx\" must be of type integer".into())
        })? as usize),
    };
    let (texts, truncate) = (job.inputs, job.truncate);
    let tokenizer = embedder.clone();
    let ids = tokio::task::spawn_blocking(move || {
        texts
            .iter()
            .map(|t| tokenizer.tokenize(t, truncate, limit))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    let prompt_tokens = ids.iter().map(Vec::len).sum();
    let vectors = embedder.embed(ids).await?;
    if vectors.iter().flatten().any(|x| !x.is_finite()) {
        return Err(ApiError::BadRequest(
            "embedding contains NaN or Inf values".into(),
        ));
    }
    Ok(Embedded {
        vectors,
        prompt_tokens,
        lease,
    })
}

/// `dimensions` of a request: `None` for 0 or absent.
pub fn dimensions(d: Option<i64>) -> Result<Option<usize>, ApiError> {
    match d {
        Some(d) if d < 0 => Err(ApiError::BadRequest(
            "dimensions must be a positive integer".into(),
        )),
        Some(0) | None => Ok(None),
        Some(d) => Ok(Some(d as usize)),
    }
}

/// L2-normalized, after keeping the first `dimensions` values when fewer than there are.
pub fn normalized(mut v: Vec<f32>, dimensions: Option<usize>) -> Vec<f32> {
    if let Some(d) = dimensions.filter(|&d| d < v.len()) {
        v.truncate(d);
    }
    let norm = v
        .iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt();
    if norm > 0.0 {
        for x in &mut v {
            *x = (f64::from(*x) / norm) as f32;
        }
    }
    v
}
