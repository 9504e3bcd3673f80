//! `GET /api/tags`, `POST /api/show`, `GET /api/ps`.

use axum::extract::State;
use axum::response::Response;
use serde_json::json;

use crate::api::{PsModel, PsResponse, ShowRequest, ShowResponse, TagModel, TagsResponse};
use crate::engine::{ModelDescription, ModelInfo};
use crate::server::error::ApiError;
use crate::server::json::{ok_json, OllamaJson};
use crate::server::modelfile;
use crate::server::wire::local_time;
use crate::server::AppState;

pub async fn tags(State(state): State<AppState>) -> Result<Response, ApiError> {
    let models = state.engine.tags().await?.into_iter().map(tag).collect();
    Ok(ok_json(&TagsResponse { models }))
}

fn tag(m: ModelInfo) -> TagModel {
    TagModel {
        model: m.name.clone(),
        name: m.name,
        modified_at: local_time(m.modified),
        size: m.size,
        digest: m.digest,
        details: m.details,
    }
}

pub async fn show(
    State(state): State<AppState>,
    OllamaJson(req): OllamaJson<ShowRequest>,
) -> Result<Response, ApiError> {
    // `name` is the deprecated spelling of `model`.
    let name = match req.model.is_empty() {
        true => req.name,
        false => req.model,
    };
    if name.is_empty() {
        return Err(ApiError::BadRequest("model is required".into()));
    }
    let mut description = state.engine.describe(name, req.verbose).await?;
    if !req.system.is_empty() {
        description.system = req.system;
    }
    Ok(ok_json(&shown(description)))
}

fn shown(d: ModelDescription) -> ShowResponse {
    let modelfile = modelfile::modelfile(&d);
    let parameters = modelfile::parameters(&d.parameters);
    let tensors = d.tensors.map(|list| {
        list.into_iter()
            .map(|t| json!({"name": t.name, "type": t.kind, "shape": t.shape}))
            .collect()
    });
    ShowResponse {
        license: d.license.join("\n"),
        modelfile,
        parameters,
        template: d.template,
        system: d.system,
        messages: d.messages,
        details: d.details,
        model_info: d.model_info,
        capabilities: d.capabilities,
        modified_at: local_time(d.modified),
        tensors,
    }
}

pub async fn ps(State(state): State<AppState>) -> Result<Response, ApiError> {
    let models = state
        .engine
        .running()
        .await?
        .into_iter()
        .map(|r| PsModel {
            model: r.info.name.clone(),
            name: r.info.name,
            size: r.size,
            digest: r.info.digest,
            details: r.info.details,
            expires_at: local_time(r.expires_at),
            size_vram: r.size_vram,
            context_length: r.context_length,
        })
        .collect();
    Ok(ok_json(&PsResponse { models }))
}
