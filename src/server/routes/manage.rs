//! `POST /api/create`, `/api/pull`, `/api/push`, `/api/copy`, `DELETE /api/delete`,
//! `HEAD`/`POST /api/blobs/:digest`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::{stream, StreamExt, TryStreamExt};
use serde_json::Value;

use crate::api::{CopyRequest, CreateRequest, DeleteRequest, ProgressResponse, PullRequest};
use crate::engine::{self, EngineError, Progress, ProgressStream};
use crate::server::error::ApiError;
use crate::server::json::{ok_json, OllamaJson};
use crate::server::ndjson::ndjson_response;
use crate::server::AppState;

pub async fn create(
    State(state): State<AppState>,
    OllamaJson(req): OllamaJson<CreateRequest>,
) -> Result<Response, ApiError> {
    let streaming = req.stream.unwrap_or(true);
    let request = create_request(req)?;
    let progress = state.engine.create(request).await?;
    progress_reply(progress, streaming).await
}

fn create_request(req: CreateRequest) -> Result<engine::CreateRequest, ApiError> {
    let digests =
        |map: Option<serde_json::Map<String, Value>>| -> Result<Vec<(String, String)>, ApiError> {
            map.unwrap_or_default()
                .into_iter()
                .map(|(file, digest)| match digest {
                    Value::String(d) => Ok((file, d)),
                    _ => Err(ApiError::BadRequest(format!(
                        "the digest of {file:?} must be a string"
                    ))),
                })
                .collect()
        };
    let license = match req.license.clone() {
        None | Some(Value::Null) => vec![],
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(ApiError::BadRequest(
                    "license must be a string or a list of strings".into(),
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "license must be a string or a list of strings".into(),
            ))
        }
    };
    Ok(engine::CreateRequest {
        model: req.target(),
        from: req.from,
        files: digests(req.files)?,
        adapters: digests(req.adapters)?,
        template: req.template,
        system: req.system,
        license,
        parameters: req.parameters,
        messages: req.messages,
        quantize: req.quantize.or(req.quantization),
    })
}

pub async fn pull(
    State(state): State<AppState>,
    OllamaJson(req): OllamaJson<PullRequest>,
) -> Result<Response, ApiError> {
    let streaming = req.stream.unwrap_or(true);
    let progress = state.engine.pull(req.target(), req.insecure).await?;
    progress_reply(progress, streaming).await
}

/// Pushing needs a registry account rollama does not hold: a clear error, after the same
/// first line Ollama sends.
pub async fn push(
    State(state): State<AppState>,
    OllamaJson(req): OllamaJson<PullRequest>,
) -> Result<Response, ApiError> {
    let streaming = req.stream.unwrap_or(true);
    state.engine.model(req.target()).await?;
    let refusal =
        EngineError::Unsupported("pushing models to a registry is not supported by rollama".into());
    if !streaming {
        return Err(refusal.into());
    }
    let lines: ProgressStream =
        stream::iter([Ok(Progress::status("retrieving manifest")), Err(refusal)]).boxed();
    progress_reply(lines, true).await
}

pub async fn copy(
    State(state): State<AppState>,
    OllamaJson(req): OllamaJson<CopyRequest>,
) -> Result<Response, ApiError> {
    if req.source.is_empty() || req.destination.is_empty() {
        return Err(ApiError::BadRequest(
            "source and destination are required".into(),
        ));
    }
    state.engine.copy(req.source, req.destination).await?;
    Ok(StatusCode::OK.into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    OllamaJson(req): OllamaJson<DeleteRequest>,
) -> Result<Response, ApiError> {
    let name = req.target();
    if name.is_empty() {
        return Err(ApiError::BadRequest("model is required".into()));
    }
    state.engine.delete(name).await?;
    Ok(StatusCode::OK.into_response())
}

pub async fn head_blob(
    State(state): State<AppState>,
    Path(digest): Path<String>,
) -> Result<Response, ApiError> {
    match state.engine.has_blob(digest).await? {
        true => Ok(StatusCode::OK.into_response()),
        false => Ok(StatusCode::NOT_FOUND.into_response()),
    }
}

/// The body is streamed to disk (a model is gigabytes), checked against the digest.
pub async fn post_blob(
    State(state): State<AppState>,
    Path(digest): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let chunks = body
        .into_data_stream()
        .map_err(std::io::Error::other)
        .boxed();
    match state.engine.put_blob(digest, chunks).await? {
        true => Ok(StatusCode::CREATED.into_response()),
        false => Ok(StatusCode::OK.into_response()),
    }
}

/// Progress as NDJSON ending with `success` (ollama-js requires it) or an `{"error"}`
/// line; with `stream: false`, one `{"status":"success"}` or the error's status.
async fn progress_reply(progress: ProgressStream, streaming: bool) -> Result<Response, ApiError> {
    if !streaming {
        let mut progress = progress;
        while let Some(p) = progress.next().await {
            p?;
        }
        return Ok(ok_json(&ProgressResponse {
            status: "success".into(),
            ..ProgressResponse::default()
        }));
    }
    let lines = progress
        .map(Some)
        .chain(stream::once(async { None }))
        .scan(false, |failed, item| {
            let line = match (*failed, item) {
                (true, _) => None,
                (false, Some(Ok(p))) => Some(line(p)),
                (false, Some(Err(e))) => {
                    *failed = true;
                    Some(serde_json::json!({ "error": ApiError::from(e).to_string() }))
                }
                (false, None) => Some(serde_json::json!({ "status": "success" })),
            };
            futures::future::ready(Some(line))
        })
        .filter_map(futures::future::ready);
    Ok(ndjson_response(lines))
}

fn line(p: Progress) -> Value {
    serde_json::to_value(ProgressResponse {
        status: p.status,
        digest: p.digest.unwrap_or_default(),
        total: p.total,
        completed: p.completed,
    })
    .unwrap_or_default()
}
