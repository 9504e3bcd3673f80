//! Ollama's native routes, as `#[utoipa::path]` declarations on functions that exist only
//! for their attribute (the handlers in `routes/` stay free of documentation plumbing, so the
//! two can change independently; `tests/openapi.rs` checks they still name the same routes).

#![allow(dead_code)]

use super::lines::{ChatLine, GenerateLine, ProgressLine};
use super::responses::{NativeErrors, NativeGateway};
use crate::api::{
    ChatChunk, ChatRequest, CopyRequest, CreateRequest, DeleteRequest, EmbedRequest, EmbedResponse,
    EmbeddingsRequest, EmbeddingsResponse, ErrorBody, GenerateChunk, GenerateRequest,
    ProgressResponse, PsResponse, PullRequest, ShowRequest, ShowResponse, TagsResponse,
    VersionResponse,
};

#[utoipa::path(
    get, path = "/", tag = "ollama", operation_id = "root",
    summary = "Liveness text, as Ollama's",
    security(()),
    responses(
        (status = 200, description = "The server is up.", body = String,
            content_type = "text/plain; charset=utf-8", example = "Ollama is running"),
    )
)]
fn root() {}

#[utoipa::path(
    get, path = "/api/version", tag = "ollama", operation_id = "version",
    summary = "The Ollama API version served",
    responses(
        (status = 200, description = "The version clients gate features on.",
            body = VersionResponse),
        NativeGateway,
    )
)]
fn version() {}

#[utoipa::path(
    post, path = "/api/generate", tag = "ollama", operation_id = "generate",
    summary = "Complete a prompt",
    description = "Streams NDJSON unless `stream` is false. An empty `prompt` (and `suffix`) \
        only loads the model, or with `keep_alive: 0` unloads it; that reply is one JSON \
        object even when streaming.",
    request_body = GenerateRequest,
    responses(
        (status = 200, description = "The whole reply (`stream: false`, or a load/unload), \
            or one chunk per line.",
            content(
                (GenerateChunk = "application/json"),
                (GenerateLine = "application/x-ndjson"),
            )),
        NativeErrors,
        NativeGateway,
    )
)]
fn generate() {}

#[utoipa::path(
    post, path = "/api/chat", tag = "ollama", operation_id = "chat",
    summary = "Chat with a model",
    description = "Streams NDJSON unless `stream` is false. Empty `messages` only load the \
        model, or with `keep_alive: 0` unload it.",
    request_body = ChatRequest,
    responses(
        (status = 200, description = "The whole reply, or one chunk per line.",
            content(
                (ChatChunk = "application/json"),
                (ChatLine = "application/x-ndjson"),
            )),
        NativeErrors,
        NativeGateway,
    )
)]
fn chat() {}

#[utoipa::path(
    post, path = "/api/embed", tag = "ollama", operation_id = "embed",
    summary = "Embed texts (L2-normalized)",
    request_body = EmbedRequest,
    responses(
        (status = 200, description = "One vector per input, in order.", body = EmbedResponse),
        NativeErrors,
        NativeGateway,
    )
)]
fn embed() {}

#[utoipa::path(
    post, path = "/api/embeddings", tag = "ollama", operation_id = "embeddings",
    summary = "Embed one text (legacy; not normalized)",
    request_body = EmbeddingsRequest,
    responses(
        (status = 200, description = "The model's pooled output.", body = EmbeddingsResponse),
        NativeErrors,
        NativeGateway,
    )
)]
fn embeddings() {}

#[utoipa::path(
    get, path = "/api/tags", tag = "ollama", operation_id = "tags",
    summary = "List the models of the store",
    responses(
        (status = 200, description = "Every model; `[]` when the store is empty.",
            body = TagsResponse),
        (status = 500, description = "The store cannot be read.", body = ErrorBody),
        NativeGateway,
    )
)]
fn tags() {}

#[utoipa::path(
    post, path = "/api/show", tag = "ollama", operation_id = "show",
    summary = "Describe a model",
    request_body = ShowRequest,
    responses(
        (status = 200, description = "Details, metadata, template, capabilities.",
            body = ShowResponse),
        (status = 400, description = "No model named, or a malformed body.", body = ErrorBody),
        (status = 404, description = "The model is not in the store.", body = ErrorBody),
        (status = 500, description = "The model file cannot be read.", body = ErrorBody),
        NativeGateway,
    )
)]
fn show() {}

#[utoipa::path(
    get, path = "/api/ps", tag = "ollama", operation_id = "ps",
    summary = "List the loaded models",
    responses(
        (status = 200, description = "`[]` when nothing is loaded.", body = PsResponse),
        (status = 500, description = "The engine failed to answer.", body = ErrorBody),
        NativeGateway,
    )
)]
fn ps() {}

#[utoipa::path(
    post, path = "/api/pull", tag = "ollama", operation_id = "pull",
    summary = "Download a model (an Ollama registry or `hf.co/...`)",
    request_body = PullRequest,
    responses(
        (status = 200, description = "The last step (`stream: false`), or one step per line.",
            content(
                (ProgressResponse = "application/json"),
                (ProgressLine = "application/x-ndjson"),
            )),
        (status = 400, description = "An invalid name or a malformed body.", body = ErrorBody),
        (status = 500, description = "The download failed.", body = ErrorBody),
        NativeGateway,
    )
)]
fn pull() {}

#[utoipa::path(
    post, path = "/api/push", tag = "ollama", operation_id = "push",
    summary = "Upload a model (not supported: always refused)",
    description = "rollama holds no registry account: a streamed push sends Ollama's first \
        line, then an error line; `stream: false` is a 501.",
    request_body = PullRequest,
    responses(
        (status = 200, description = "`retrieving manifest`, then the error line.",
            content((ProgressLine = "application/x-ndjson"))),
        (status = 400, description = "An invalid name or a malformed body.", body = ErrorBody),
        (status = 404, description = "The model is not in the store.", body = ErrorBody),
        (status = 501, description = "Pushing is not supported (`stream: false`).",
            body = ErrorBody),
        NativeGateway,
    )
)]
fn push() {}

#[utoipa::path(
    post, path = "/api/create", tag = "ollama", operation_id = "create",
    summary = "Create a model from another, or from uploaded blobs",
    request_body = CreateRequest,
    responses(
        (status = 200, description = "The last step (`stream: false`), or one step per line.",
            content(
                (ProgressResponse = "application/json"),
                (ProgressLine = "application/x-ndjson"),
            )),
        (status = 400, description = "An invalid name, neither `from` nor `files`, a \
            malformed body.", body = ErrorBody),
        (status = 404, description = "The source model or a blob is missing.",
            body = ErrorBody),
        (status = 500, description = "Creating failed.", body = ErrorBody),
        NativeGateway,
    )
)]
fn create() {}

#[utoipa::path(
    post, path = "/api/copy", tag = "ollama", operation_id = "copy",
    summary = "Copy a model under a new name",
    request_body = CopyRequest,
    responses(
        (status = 200, description = "Copied; empty body."),
        (status = 400, description = "A missing or invalid name.", body = ErrorBody),
        (status = 404, description = "The source is not in the store.", body = ErrorBody),
        (status = 500, description = "The store could not be written.", body = ErrorBody),
        NativeGateway,
    )
)]
fn copy() {}

#[utoipa::path(
    delete, path = "/api/delete", tag = "ollama", operation_id = "delete",
    summary = "Delete a model",
    request_body = DeleteRequest,
    responses(
        (status = 200, description = "Deleted; empty body."),
        (status = 400, description = "A missing or invalid name.", body = ErrorBody),
        (status = 404, description = "The model is not in the store.", body = ErrorBody),
        (status = 500, description = "The store could not be written.", body = ErrorBody),
        NativeGateway,
    )
)]
fn delete() {}

#[utoipa::path(
    head, path = "/api/blobs/{digest}", tag = "ollama", operation_id = "head_blob",
    summary = "Whether the store holds a blob",
    params(("digest" = String, Path, description = "`sha256:` and 64 hex digits.")),
    responses(
        (status = 200, description = "The blob exists."),
        (status = 400, description = "Not a valid digest."),
        (status = 404, description = "No such blob."),
        NativeGateway,
    )
)]
fn head_blob() {}

#[utoipa::path(
    post, path = "/api/blobs/{digest}", tag = "ollama", operation_id = "post_blob",
    summary = "Upload a blob (checked against its digest)",
    params(("digest" = String, Path, description = "`sha256:` and 64 hex digits.")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "The blob's bytes."),
    responses(
        (status = 201, description = "Stored."),
        (status = 200, description = "Already stored."),
        (status = 400, description = "Not a valid digest, or the bytes do not match it.",
            body = ErrorBody),
        (status = 500, description = "The store could not be written.", body = ErrorBody),
        NativeGateway,
    )
)]
fn post_blob() {}
