//! Size caps and deadlines (per-key rate limits are [`super::rate`]'s). The body cap is
//! here; the prompt and `num_ctx` caps, the generation deadline and the load timeout are
//! the engine's ([`crate::engine::Caps`]), carried here so that one place holds every
//! limit an operator set.

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::engine::Caps;
use crate::server::error::ApiError;
use crate::server::openai::OpenAiError;
use crate::server::AppState;

#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// Bytes a request body may have (`ROLLAMA_MAX_BODY_BYTES`); `None`: any, as Ollama
    /// (base64 images make large bodies legitimate). Blob uploads are exempt: they stream
    /// to disk, never into memory, and a model is gigabytes.
    pub max_body_bytes: Option<u64>,
    /// What the engine enforces; whoever builds the engine passes it on.
    pub engine: Caps,
}

/// The body cap: axum's own limit on the extractors that buffer a body (every JSON
/// route; the blob route streams its body and is not capped by it), and a Content-Length
/// over the cap refused before the route runs. Either way the 413 is a JSON error in the
/// route family's shape. Without a cap, no limit at all (axum's default is 2 MB).
pub fn layer(router: Router, state: &AppState) -> Router {
    let Some(cap) = state.gateway.limits.max_body_bytes else {
        return router.layer(DefaultBodyLimit::disable());
    };
    let limit = usize::try_from(cap).unwrap_or(usize::MAX);
    router
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(cap, cap_body))
}

async fn cap_body(State(cap): State<u64>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path.starts_with("/api/blobs/") {
        return next.run(req).await;
    }
    let openai = path == "/v1" || path.starts_with("/v1/");
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > cap) {
        return too_large(cap, openai);
    }
    let response = next.run(req).await;
    // A body without Content-Length stopped by the extractor: same words.
    match response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        true => too_large(cap, openai),
        false => response,
    }
}

fn too_large(cap: u64, openai: bool) -> Response {
    let e = ApiError::TooLarge(format!(
        "request body too large: the server accepts at most {cap} bytes"
    ));
    match openai {
        true => OpenAiError(e).into_response(),
        false => e.into_response(),
    }
}
