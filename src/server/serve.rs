//! The accept loop, in place of `axum::serve`: one task per connection (TLS first when
//! configured), each with its header and idle deadlines, and the drain: on shutdown the
//! listener closes at once, connections take no new requests, running responses get the
//! grace period, then whatever still streams is ended with an error line
//! ([`super::drain`]) and the server returns so the process exits 0.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tower::ServiceExt;

use super::activity::{Activity, Expired};
use super::gateway::lifecycle::{Drain, Lifecycle, Phase, FLUSH_TIMEOUT};
use super::AppState;

/// Serves `listener` until `shutdown` completes, then drains.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let lifecycle = state.gateway.lifecycle.clone();
    let drain = lifecycle.drain.clone();
    let connection = Arc::new(Connection::new(super::app(state), lifecycle.clone()));
    // Each connection's task holds a clone; `recv` returns `None` once all are gone.
    let (open_tx, mut open_rx) = mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let (connection, open) = (Arc::clone(&connection), open_tx.clone());
                    tokio::spawn(async move {
                        connection.serve(tcp, peer).await;
                        drop(open);
                    });
                }
                Err(e) => on_accept_error(e).await,
            },
            () = &mut shutdown => break,
        }
    }
    // New connections are refused from here on.
    drop(listener);
    drop(open_tx);
    drain.advance(Phase::Draining);
    tracing::info!(grace = ?lifecycle.shutdown_grace, "draining: no new connections; running responses may finish");
    let finished = match lifecycle.shutdown_grace {
        Some(grace) => tokio::time::timeout(grace, open_rx.recv()).await.is_ok(),
        None => open_rx.recv().await.is_none(),
    };
    if !finished {
        tracing::info!("grace period over: ending the streams still open");
        drain.advance(Phase::Cut);
        if tokio::time::timeout(FLUSH_TIMEOUT, open_rx.recv())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close in time; leaving them");
        }
    }
    Ok(())
}

/// What every connection of one server shares.
struct Connection {
    app: Router,
    builder: auto::Builder<TokioExecutor>,
    lifecycle: Lifecycle,
}

impl Connection {
    fn new(app: Router, lifecycle: Lifecycle) -> Self {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(lifecycle.header_timeout);
        builder.http2().timer(TokioTimer::new());
        Self {
            app,
            builder,
            lifecycle,
        }
    }

    /// One connection, to its end. Failures are the client's and end only this one.
    async fn serve(&self, tcp: TcpStream, peer: SocketAddr) {
        // Tokens are small writes: send each at once (Go, hence Ollama, does too).
        let _ = tcp.set_nodelay(true);
        let activity = Activity::new();
        let Some(tls) = &self.lifecycle.tls else {
            return self.http(tcp, peer, activity).await;
        };
        // The handshake counts as part of the first request's head.
        let limit = self
            .lifecycle
            .header_timeout
            .or(self.lifecycle.idle_timeout);
        let handshake = tls.accept(tcp);
        let accepted = match limit {
            Some(limit) => match tokio::time::timeout(limit, handshake).await {
                Ok(accepted) => accepted,
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            },
            None => handshake.await,
        };
        match accepted {
            Ok(stream) => self.http(stream, peer, activity).await,
            Err(e) => tracing::debug!(%peer, error = %e, "connection refused"),
        }
    }

    /// HTTP/1.1 or h2 (hyper-util sniffs which) over `io` until the connection ends, a
    /// deadline passes, or the drain closes it.
    async fn http<I>(&self, io: I, peer: SocketAddr, activity: Arc<Activity>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let service = {
            let (app, activity) = (self.app.clone(), Arc::clone(&activity));
            hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let in_flight = activity.begin();
                let mut req = req.map(axum::body::Body::new);
                // What `into_make_service_with_connect_info` gives handlers (the rate limit
                // keys by it).
                req.extensions_mut().insert(ConnectInfo(peer));
                let app = app.clone();
                async move {
                    let response = app.oneshot(req).await?;
                    Ok::<_, std::convert::Infallible>(super::gateway::on_finish(
                        response,
                        move |_| drop(in_flight),
                    ))
                }
            })
        };
        let conn = self.builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let (header, idle) = (self.lifecycle.header_timeout, self.lifecycle.idle_timeout);
        let drain: &Drain = &self.lifecycle.drain;
        let mut closing = false;
        loop {
            tokio::select! {
                served = conn.as_mut() => {
                    if let Err(e) = served {
                        tracing::debug!(%peer, error = %e, "connection ended");
                    }
                    return;
                }
                // hyper ends the response in progress, then closes (h2: GOAWAY).
                () = drain.reached(Phase::Draining), if !closing => {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
                why = activity.expired(header, idle), if !closing => match why {
                    Expired::Header => {
                        tracing::debug!(%peer, "no request head in time: dropped");
                        // Dropping `conn` closes the socket.
                        return;
                    }
                    Expired::Idle => {
                        tracing::debug!(%peer, "idle: closing");
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                },
            }
        }
    }
}

/// As `axum::serve`: a client that went away before `accept` is nothing; anything else
/// (out of file descriptors) is logged and retried after a pause instead of spinning.
async fn on_accept_error(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept error");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
