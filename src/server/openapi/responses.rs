//! Responses many operations share, written once: the errors of each route family and the
//! gateway's refusals (a key, the browser checks, a rate limit), which every route but `/`
//! and the health probes can answer when the operator turns them on.

use std::collections::BTreeMap;

use utoipa::openapi::header::Header;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Content, Ref, RefOr};
use utoipa::IntoResponses;

const NATIVE_ERROR: &str = "#/components/schemas/ErrorBody";
const OPENAI_ERROR: &str = "#/components/schemas/ErrorResponse";

fn with_body(description: &str, schema: &str) -> ResponseBuilder {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", Content::new(Some(Ref::new(schema))))
}

fn retry_after(description: &str) -> Header {
    let mut header = Header::new(
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1)),
    );
    header.description = Some(description.into());
    header
}

fn responses(list: Vec<(&str, Response)>) -> BTreeMap<String, RefOr<Response>> {
    list.into_iter()
        .map(|(status, r)| (status.to_string(), RefOr::T(r)))
        .collect()
}

/// The operator's generation deadline (`ROLLAMA_REQUEST_TIMEOUT`) passed before the first
/// byte of the reply (after it, a stream ends with an error line or event instead).
fn deadline() -> Response {
    ResponseBuilder::new()
        .description(
            "The generation deadline (`ROLLAMA_REQUEST_TIMEOUT`) passed before the reply \
             began.",
        )
        .build()
}

/// What an operation's caller may meet before the route runs, when the operator enabled it.
fn gateway(schema: &str) -> BTreeMap<String, RefOr<Response>> {
    responses(vec![
        (
            "401",
            with_body(
                "API keys are configured (`ROLLAMA_API_KEYS`) and the request has no \
                 `Authorization: Bearer <key>` or an unknown key.",
                schema,
            )
            .header("WWW-Authenticate", Header::default())
            .build(),
        ),
        (
            "403",
            ResponseBuilder::new()
                .description(
                    "A browser's `Origin` is not allowed (`OLLAMA_ORIGINS`) or the `Host` \
                     header is not an allowed host (DNS rebinding). Empty body, as Ollama's.",
                )
                .build(),
        ),
        (
            "413",
            ResponseBuilder::new()
                .description("The body is over the operator's cap (`ROLLAMA_MAX_BODY_BYTES`).")
                .build(),
        ),
        (
            "429",
            with_body(
                "The key's rate limit (requests or tokens per minute) is spent.",
                schema,
            )
            .header(
                "Retry-After",
                retry_after("Seconds until the request would be admitted."),
            )
            .build(),
        ),
    ])
}

/// The gateway's refusals on a native route: Ollama's `{"error": "..."}` body.
pub struct NativeGateway;

impl IntoResponses for NativeGateway {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        gateway(NATIVE_ERROR)
    }
}

/// The gateway's refusals on a `/v1` route: OpenAI's error object.
pub struct OpenAiGateway;

impl IntoResponses for OpenAiGateway {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        gateway(OPENAI_ERROR)
    }
}

/// The errors of a native route that runs a model (generate, chat, embed), before the
/// first byte of a reply: Ollama's statuses and `{"error": "..."}`.
pub struct NativeErrors;

impl IntoResponses for NativeErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(vec![
            (
                "400",
                with_body(
                    "Malformed or missing body, a field of the wrong type, a value out of \
                     range, a capability the model lacks, a prompt over the context.",
                    NATIVE_ERROR,
                )
                .build(),
            ),
            (
                "404",
                with_body("The model is not in the store.", NATIVE_ERROR).build(),
            ),
            (
                "500",
                with_body(
                    "The model failed (load, generation), or, as in Ollama, a `format` that \
                     is neither \"json\" nor a schema object or an option of the wrong type.",
                    NATIVE_ERROR,
                )
                .build(),
            ),
            (
                "503",
                with_body(
                    "The model's queue is full (`OLLAMA_MAX_QUEUE`) or it cannot be loaded \
                     within the memory budget now.",
                    NATIVE_ERROR,
                )
                .build(),
            ),
            ("504", deadline()),
        ])
    }
}

/// The errors of a `/v1` route that runs a model, with OpenAI's body; 503 says when to retry.
pub struct OpenAiErrors;

impl IntoResponses for OpenAiErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(vec![
            (
                "400",
                with_body(
                    "Malformed body or an unsupported value (`invalid_request_error`).",
                    OPENAI_ERROR,
                )
                .build(),
            ),
            (
                "404",
                with_body(
                    "The model is not in the store (`not_found_error`).",
                    OPENAI_ERROR,
                )
                .build(),
            ),
            (
                "500",
                with_body("The model failed (`api_error`).", OPENAI_ERROR).build(),
            ),
            (
                "503",
                with_body("The model's queue is full (`api_error`).", OPENAI_ERROR)
                    .header("Retry-After", retry_after("Seconds to wait: always 1."))
                    .build(),
            ),
            ("504", deadline()),
        ])
    }
}
