//! The end of the shutdown's grace, for what is still running: a handler that has not
//! answered yet is answered 503, and a stream still open (NDJSON or SSE) gets a last error
//! line or event and ends, the way a stream that fails midway ends, so every client learns
//! why its reply stopped. Until the cut, nothing here changes a byte.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body::{Frame, SizeHint};

use super::error::ApiError;
use super::gateway::lifecycle::{Drain, Phase};
use super::openai::OpenAiError;
use super::AppState;

/// Why a reply was cut short.
pub const SHUTTING_DOWN: &str = "server is shutting down";

/// Around the routes: every response can be ended by the drain.
pub fn layer(router: Router, state: &AppState) -> Router {
    router.layer(axum::middleware::from_fn_with_state(
        state.gateway.lifecycle.drain.clone(),
        cut_at_grace,
    ))
}

async fn cut_at_grace(State(drain): State<Drain>, req: Request, next: Next) -> Response {
    let openai = req.uri().path().starts_with("/v1/");
    let response = tokio::select! {
        response = next.run(req) => response,
        // Dropping the handler cancels its work (a queued or running generation).
        () = drain.reached(Phase::Cut) => return refused(openai),
    };
    match Framing::of(&response) {
        Some(framing) => {
            let (parts, body) = response.into_parts();
            let body = Cut::new(body, framing.last_words(), drain);
            Response::from_parts(parts, Body::new(body))
        }
        None => response,
    }
}

/// The answer to a request still waiting for its reply at the cut, in its route's shape.
fn refused(openai: bool) -> Response {
    let error = ApiError::Busy(SHUTTING_DOWN.into());
    match openai {
        true => OpenAiError(error).into_response(),
        false => error.into_response(),
    }
}

/// How a streamed body frames its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Ndjson,
    Sse,
}

impl Framing {
    fn of(response: &Response) -> Option<Self> {
        let kind = response.headers().get(CONTENT_TYPE)?.to_str().ok()?;
        if kind.starts_with("application/x-ndjson") {
            Some(Self::Ndjson)
        } else if kind.starts_with("text/event-stream") {
            Some(Self::Sse)
        } else {
            None
        }
    }

    /// The stream's last item: Ollama's error line, or OpenAI's error object as the last
    /// event with no `[DONE]` after it (as `/v1` ends a stream that fails midway).
    fn last_words(self) -> Bytes {
        match self {
            Self::Ndjson => {
                let line = serde_json::json!({ "error": SHUTTING_DOWN });
                Bytes::from(format!("{line}\n"))
            }
            Self::Sse => {
                let body = OpenAiError(ApiError::Busy(SHUTTING_DOWN.into())).body();
                let data = serde_json::to_string(&body).unwrap_or_default();
                Bytes::from(format!("data: {data}\n\n"))
            }
        }
    }
}

/// A streamed body that the drain's cut ends with `last_words`. Frames are whole lines or
/// events, so the last words never land inside one.
struct Cut {
    inner: Option<Body>,
    last_words: Option<Bytes>,
    cut: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl Cut {
    fn new(inner: Body, last_words: Bytes, drain: Drain) -> Self {
        Self {
            inner: Some(inner),
            last_words: Some(last_words),
            cut: Box::pin(async move { drain.reached(Phase::Cut).await }),
        }
    }
}

impl http_body::Body for Cut {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(this.last_words.take().map(|b| Ok(Frame::data(b))));
        };
        // The cut first: a stream that always has a token ready must still end.
        if this.cut.as_mut().poll(cx).is_ready() {
            // Dropping the stream cancels its generation and frees its KV.
            this.inner = None;
            return Poll::Ready(this.last_words.take().map(|b| Ok(Frame::data(b))));
        }
        let polled = Pin::new(inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            this.inner = None;
            this.last_words = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Some(inner) => inner.is_end_stream(),
            None => self.last_words.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        // Unknown: the last words may be added.
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn endless(kind: &'static str) -> Response {
        let items = futures::stream::iter(["a\n", "b\n"])
            .map(Ok::<_, std::convert::Infallible>)
            .chain(futures::stream::pending());
        let mut r = Response::new(Body::from_stream(items));
        r.headers_mut()
            .insert(CONTENT_TYPE, kind.parse().expect("header value"));
        r
    }

    async fn cut_after_two(kind: &'static str) -> Vec<Bytes> {
        let drain = Drain::default();
        let response = endless(kind);
        let framing = Framing::of(&response).expect("a stream");
        let body = Cut::new(response.into_body(), framing.last_words(), drain.clone());
        let mut frames = Body::new(body).into_data_stream();
        let mut seen = vec![];
        for _ in 0..2 {
            seen.push(frames.next().await.expect("frame").expect("data"));
        }
        drain.advance(Phase::Cut);
        while let Some(frame) = frames.next().await {
            seen.push(frame.expect("data"));
        }
        seen
    }

    #[tokio::test]
    async fn an_ndjson_stream_ends_with_the_error_line() {
        let seen = cut_after_two("application/x-ndjson").await;
        assert_eq!(seen.len(), 3);
        let last: serde_json::Value = serde_json::from_slice(&seen[2]).expect("json line");
        assert_eq!(
            last,
            serde_json::json!({"error": "server is shutting down"})
        );
        assert!(seen[2].ends_with(b"\n"));
    }

    #[tokio::test]
    async fn an_sse_stream_ends_with_an_openai_error_event() {
        let seen = cut_after_two("text/event-stream").await;
        assert_eq!(seen.len(), 3);
        let text = std::str::from_utf8(&seen[2]).expect("utf-8");
        let data = text
            .strip_prefix("data: ")
            .and_then(|t| t.strip_suffix("\n\n"))
            .expect("one event");
        let event: serde_json::Value = serde_json::from_str(data).expect("json");
        assert_eq!(event["error"]["message"], "server is shutting down");
        assert_eq!(event["error"]["type"], "api_error");
    }

    #[test]
    fn whole_replies_are_left_alone() {
        let mut r = Response::new(Body::from("{}"));
        r.headers_mut()
            .insert(CONTENT_TYPE, "application/json".parse().expect("value"));
        assert_eq!(Framing::of(&r), None);
    }
}
