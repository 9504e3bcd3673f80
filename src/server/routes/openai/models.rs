//! `GET /v1/models`, `GET /v1/models/{model}`.

use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::response::Response;

use crate::api::openai::{ModelList, ModelObject};
use crate::engine::ModelEntry;
use crate::server::json::ok_json;
use crate::server::openai::OpenAiError;
use crate::server::AppState;

pub async fn models(State(state): State<AppState>) -> Result<Response, OpenAiError> {
    let data = state
        .engine
        .models()
        .await?
        .into_iter()
        .map(|m| object(&m, m.name.clone()))
        .collect();
    Ok(ok_json(&ModelList {
        object: "list".into(),
        data,
    }))
}

/// The model as named in the path (namespaced names too: the route takes the rest).
pub async fn model(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, OpenAiError> {
    let entry = state.engine.model(name.clone()).await?;
    Ok(ok_json(&object(&entry, name)))
}

fn object(m: &ModelEntry, id: String) -> ModelObject {
    let created = m
        .modified
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    ModelObject {
        id,
        object: "model".into(),
        created,
        owned_by: "library".into(),
    }
}
