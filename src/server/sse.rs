//! Server-Sent Events for `/v1` streams: `data: <json>\n\n` per event, `data: [DONE]\n\n` at
//! the end, `: keep-alive` comments while a stream is idle (queued, or a slow prefill).

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde::Serialize;

/// One event of a stream.
pub enum SseItem {
    /// A JSON payload.
    Data(serde_json::Value),
    /// The terminating `[DONE]`.
    Done,
}

impl SseItem {
    pub fn json<T: Serialize>(payload: &T) -> Self {
        match serde_json::to_value(payload) {
            Ok(v) => Self::Data(v),
            Err(e) => Self::Data(serde_json::json!({
                "error": {"message": e.to_string(), "type": "api_error", "param": null, "code": null}
            })),
        }
    }
}

/// `text/event-stream` of the items; a comment every `keep_alive` of silence.
pub fn sse_response<S>(items: S, keep_alive: Duration) -> Response
where
    S: Stream<Item = SseItem> + Send + 'static,
{
    let events = items.map(|item| {
        Ok::<_, Infallible>(match item {
            SseItem::Data(v) => Event::default().data(v.to_string()),
            SseItem::Done => Event::default().data("[DONE]"),
        })
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(keep_alive).text("keep-alive"))
        .into_response()
}
