//! Runs a closure once a response's body has been sent, or dropped unsent (the client went
//! away): what a request cost is only known then, for a stream long after its handler
//! returned. Rate limits charge the tokens, metrics observe the duration.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::response::Response;
use http_body::{Body as _, Frame, SizeHint};

/// How a response's body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Every byte was handed to the connection.
    Complete,
    /// The body was dropped before its end: the client disconnected, or the server is
    /// going down.
    Dropped,
}

type Callback = Box<dyn FnOnce(Ended) + Send>;

/// `response` with `f` called exactly once when its body ends.
pub fn on_finish(response: Response, f: impl FnOnce(Ended) + Send + 'static) -> Response {
    let (parts, body) = response.into_parts();
    let body = Finishing {
        inner: body,
        callback: Some(Box::new(f)),
    };
    Response::from_parts(parts, Body::new(body))
}

struct Finishing {
    inner: Body,
    callback: Option<Callback>,
}

impl Finishing {
    fn finish(&mut self, how: Ended) {
        if let Some(f) = self.callback.take() {
            f(how);
        }
    }
}

impl http_body::Body for Finishing {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.finish(Ended::Complete),
            Poll::Ready(Some(Err(_))) => self.finish(Ended::Dropped),
            // A body of known length is not polled past its last frame.
            Poll::Ready(Some(Ok(_))) if self.inner.is_end_stream() => self.finish(Ended::Complete),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Finishing {
    fn drop(&mut self) {
        // An empty body (a 204, a HEAD) may never be polled at all.
        let how = match self.inner.is_end_stream() {
            true => Ended::Complete,
            false => Ended::Dropped,
        };
        self.finish(how);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::sync::{Arc, Mutex};

    fn record() -> (Arc<Mutex<Vec<Ended>>>, impl FnOnce(Ended) + Send + 'static) {
        let seen = Arc::new(Mutex::new(vec![]));
        let s = Arc::clone(&seen);
        (seen, move |e| s.lock().expect("lock").push(e))
    }

    #[tokio::test]
    async fn a_read_body_completes_once() {
        let (seen, f) = record();
        let r = on_finish(Response::new(Body::from("hello")), f);
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 10)
            .await
            .expect("body");
        assert_eq!(&bytes[..], b"hello");
        assert_eq!(*seen.lock().expect("lock"), vec![Ended::Complete]);
    }

    #[tokio::test]
    async fn a_stream_dropped_midway_is_dropped() {
        let (seen, f) = record();
        let chunks = futures::stream::iter(vec![Ok::<_, std::io::Error>("a"), Ok("b")])
            .chain(futures::stream::pending());
        let r = on_finish(Response::new(Body::from_stream(chunks)), f);
        let mut body = r.into_body().into_data_stream();
        assert!(body.next().await.is_some());
        drop(body);
        assert_eq!(*seen.lock().expect("lock"), vec![Ended::Dropped]);
    }
}
