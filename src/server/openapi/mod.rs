//! The OpenAPI 3.1 document of the whole HTTP surface, generated from the wire types
//! (`utoipa` derives in `crate::api`) and served at `GET /openapi.json`, a path that will
//! not move: client generators and fuzzers (`scripts/fuzz-api`) read it from there.
//!
//! The operations are declared apart from the handlers ([`native`], [`openai`],
//! [`gateway`]); `tests/openapi.rs` keeps the two in step (every route documented, nothing
//! documented that is not routed) and checks real replies against the schemas.

mod any_value;
mod gateway;
mod lines;
mod native;
mod openai;
mod responses;

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use self::any_value::AnyValueTyped;
use super::error::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "rollama",
        description = "A self-hosted LLM server that speaks the Ollama HTTP API (native routes, \
            and OpenAI's `/v1` as Ollama serves it), plus its own gateway routes (probes, \
            status, tokenizer, metrics). Every gateway feature is opt-in: with none enabled the \
            server answers exactly as Ollama does.\n\n\
            Authentication is optional: when the operator configures API keys \
            (`ROLLAMA_API_KEYS`), every route but `GET /` and `/health/*` needs \
            `Authorization: Bearer <key>`.",
        license(name = "MIT OR Apache-2.0"),
    ),
    paths(
        native::root, native::version, native::generate, native::chat, native::embed,
        native::embeddings, native::tags, native::show, native::ps, native::pull, native::push,
        native::create, native::copy, native::delete, native::head_blob, native::post_blob,
        openai::chat_completions, openai::completions, openai::embeddings, openai::models,
        openai::model, openai::not_implemented,
        gateway::live, gateway::ready, gateway::status, gateway::tokenize, gateway::detokenize,
        gateway::metrics, gateway::openapi,
    ),
    // The error bodies are named by the shared responses (`responses.rs`), which utoipa
    // cannot see into.
    components(schemas(crate::api::ErrorBody, crate::api::openai::ErrorResponse)),
    modifiers(&BearerScheme, &AnyValueTyped),
    security((), ("bearer" = [])),
    tags(
        (name = "ollama", description = "Ollama's native API."),
        (name = "openai", description = "OpenAI's API under `/v1`, as Ollama serves it."),
        (name = "rollama", description = "rollama's own routes: Ollama has none of these."),
    )
)]
struct ApiDoc;

/// The `bearer` scheme the operations name; optional (`security: [{}, {bearer: []}]`).
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.description = Some(
            "An API key of the operator's (`ROLLAMA_API_KEYS` or the keys file); only checked \
             when keys are configured."
                .into(),
        );
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}

/// The document, built from the types.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// `GET /openapi.json`: the document, written once.
pub async fn serve() -> Result<Response, ApiError> {
    static JSON: OnceLock<Result<Bytes, String>> = OnceLock::new();
    let json = JSON.get_or_init(|| {
        serde_json::to_vec(&document())
            .map(Bytes::from)
            .map_err(|e| e.to_string())
    });
    match json {
        Ok(bytes) => Ok((
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            )],
            bytes.clone(),
        )
            .into_response()),
        Err(e) => Err(ApiError::Internal(format!(
            "writing the OpenAPI document: {e}"
        ))),
    }
}
