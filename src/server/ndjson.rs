//! Streams of JSON objects as `application/x-ndjson`: one compact object per line.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde::Serialize;

pub fn ndjson_response<S, T>(items: S) -> Response
where
    S: Stream<Item = T> + Send + 'static,
    T: Serialize,
{
    let lines = items.map(|item| {
        let mut line = serde_json::to_vec(&item).unwrap_or_else(|e| {
            serde_json::to_vec(&serde_json::json!({ "error": e.to_string() }))
                .unwrap_or_default()
        });
        line.push(b'\n');
        Ok::<_, Infallible>(Bytes::from(line))
    });
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        )],
        Body::from_stream(lines),
    )
        .into_response()
}
