//! `GET /v1/models`, `GET /v1/models/{model}`.

use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::response::Response;

use crate::api::openai::{ModelList, ModelObject};
use crate::server::json::ok_json;
use crate::server::openai::OpenAiError;
use crate::server::AppState;
use crate::store::StoredModel;

pub async fn models(State(state): State<AppState>) -> Result<Response, OpenAiError> {
    let data = state
        .registry
        .store()
        .list()?
        .iter()
        .map(|m| object(m, m.name.clone()))
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
    let stored = state.registry.store().resolve(&name)?;
    Ok(ok_json(&object(&stored, name)))
}

fn object(m: &StoredModel, id: String) -> ModelObject {
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
