//! An embedding request from model to vectors: the model leased (an unknown one is the
//! embed routes' own 404), the inputs tokenized with truncation off the async runtime, the
//! batch embedded, and the vectors cut to `dimensions` and normalized.

use std::time::Instant;

use super::registry::Registry;
use super::request::{EmbedRequest, Embeddings};
use super::EngineError;

/// Loads the model (even for no inputs, as Ollama does) and embeds the inputs.
pub async fn embed(
    registry: &Registry,
    req: EmbedRequest,
    started: Instant,
) -> Result<Embeddings, EngineError> {
    let trace = super::trace::current();
    let lease = registry
        .acquire(&req.model, req.keep_alive)
        .await
        .map_err(|e| match e {
            EngineError::NotFound(_) => EngineError::NotFound(format!(
                "model \"{}\" not found, try pulling it first",
                req.model
            )),
            e => e,
        })?;
    if let Some(t) = &trace {
        t.set_model(&lease.stored.name);
    }
    let embedder = lease.model.embedder(&req.model)?.clone();
    req.options.check().map_err(EngineError::InvalidOption)?;
    let limit = match req.options.num_ctx {
        Some(n) if n < 1 => {
            return Err(EngineError::BadRequest(format!(
                "num_ctx must be positive, got {n}"
            )))
        }
        n => n.map(|n| n as usize),
    };
    let (texts, truncate) = (req.inputs, req.truncate);
    let tokenizer = embedder.clone();
    let ids = tokio::task::spawn_blocking(move || {
        texts
            .iter()
            .map(|t| tokenizer.tokenize(t, truncate, limit))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .unwrap_or_else(|e| Err(EngineError::Failed(format!("tokenizing failed: {e}"))))?;
    let prompt_tokens = ids.iter().map(Vec::len).sum();
    registry
        .config()
        .caps
        .check_prompt("input", prompt_tokens)?;
    let vectors = embedder.embed(ids).await.inspect_err(|e| {
        if matches!(e, EngineError::WorkerDied) {
            lease.forget_dead_model();
        }
    })?;
    if vectors.iter().flatten().any(|x| !x.is_finite()) {
        return Err(EngineError::BadRequest(
            "embedding contains NaN or Inf values".into(),
        ));
    }
    if let Some(t) = &trace {
        t.finished(prompt_tokens, 0);
    }
    let (dims, normalize) = (req.dimensions, req.normalize);
    Ok(Embeddings {
        vectors: vectors
            .into_iter()
            .map(|v| shaped(v, dims, normalize))
            .collect(),
        prompt_tokens,
        load_duration: lease.load_duration,
        total_duration: started.elapsed(),
    })
}

/// The first `dimensions` values when fewer than there are, then L2-normalized if asked.
fn shaped(mut v: Vec<f32>, dimensions: Option<usize>, normalize: bool) -> Vec<f32> {
    if let Some(d) = dimensions.filter(|&d| d < v.len()) {
        v.truncate(d);
    }
    if !normalize {
        return v;
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

#[cfg(test)]
mod tests {
    use super::shaped;

    #[test]
    fn vectors_are_cut_then_normalized() {
        assert_eq!(shaped(vec![3.0, 4.0, 12.0], Some(2), true), vec![0.6, 0.8]);
        assert_eq!(shaped(vec![3.0, 4.0], None, false), vec![3.0, 4.0]);
        assert_eq!(shaped(vec![0.0, 0.0], None, true), vec![0.0, 0.0]);
        assert_eq!(shaped(vec![1.0], Some(5), true), vec![1.0]);
    }
}
