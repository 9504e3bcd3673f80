//! The connections' life: how long a client may take to send a request's head, how long a
//! connection may sit without a request, TLS, and the drain on SIGTERM. [`crate::server::run`]'s
//! accept loop reads these settings; the [`Drain`] is shared with the routes (readiness)
//! and with the streams it ends.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

pub use crate::server::tls::{Tls, TlsError};

/// Default [`Lifecycle::header_timeout`]: hyper's own default. No real client takes
/// seconds to send a few hundred bytes of headers; a slowloris client holds a connection
/// at most this long. (Ollama, on Go's `net/http` without `ReadHeaderTimeout`, has none.)
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Default [`Lifecycle::idle_timeout`]: longer than any client pool keeps a connection
/// unused (reqwest and Go: 90 s; httpx: 5 s; undici: 4 s), so a client never reuses a
/// connection the server has just closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Default [`Lifecycle::shutdown_grace`]: with the final error lines' flush
/// ([`FLUSH_TIMEOUT`]) the drain is over within 9 s, before `docker stop` sends SIGKILL
/// (10 s by default; Kubernetes waits 30 s, systemd 90 s). A stream cut by SIGKILL ends
/// without a word; one cut by the drain ends with an error line the client can act on.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

/// After the grace, how long the streams' final error lines get to reach their clients
/// before the server returns anyway (a client that stopped reading must not hold it).
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

/// Settings of the accept loop.
#[derive(Clone)]
pub struct Lifecycle {
    /// A request's head (request line and headers) must be complete this long after the
    /// connection was accepted, or on a keep-alive connection after the previous response
    /// ended; else the connection is dropped. `None`: no bound.
    pub header_timeout: Option<Duration>,
    /// A connection with no request in flight for this long is closed (HTTP/2: GOAWAY).
    /// A response being generated or streamed is never idle. `None`: no bound.
    pub idle_timeout: Option<Duration>,
    /// On shutdown, how long running responses may go on before open streams are ended
    /// with an error line. `None`: as long as they take.
    pub shutdown_grace: Option<Duration>,
    /// Serve HTTPS (HTTP/1.1 and h2 by ALPN) instead of plain HTTP.
    pub tls: Option<Tls>,
    /// Where the server is in its shutdown, shared by every clone of these settings.
    pub drain: Drain,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            header_timeout: Some(HEADER_TIMEOUT),
            idle_timeout: Some(IDLE_TIMEOUT),
            shutdown_grace: Some(SHUTDOWN_GRACE),
            tls: None,
            drain: Drain::default(),
        }
    }
}

/// How far the server is in its shutdown; the phases only move forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Serving,
    /// No new connections or requests; running responses may finish.
    Draining,
    /// The grace is over: open streams end now with an error line.
    Cut,
}

/// The shutdown's state, shared: the accept loop moves it forward, `/health/ready` reads
/// it, streams and handlers wait on it. Cheap to clone.
#[derive(Clone)]
pub struct Drain {
    /// A sender, not a mutex: waiters are woken when the phase moves, and reading it is
    /// one uncontended read lock.
    phase: Arc<watch::Sender<Phase>>,
}

impl Default for Drain {
    fn default() -> Self {
        Self {
            phase: Arc::new(watch::Sender::new(Phase::Serving)),
        }
    }
}

impl Drain {
    /// The server has begun to shut down: a load balancer should send nothing more.
    pub fn is_draining(&self) -> bool {
        self.phase() != Phase::Serving
    }

    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// Moves to `phase` unless the drain is already past it.
    pub(crate) fn advance(&self, phase: Phase) {
        self.phase.send_if_modified(|now| {
            let moves = phase > *now;
            if moves {
                *now = phase;
            }
            moves
        });
    }

    /// Completes once the drain has reached `phase`.
    pub async fn reached(&self, phase: Phase) {
        let mut phases = self.phase.subscribe();
        if phases.wait_for(|now| *now >= phase).await.is_err() {
            // The sender lives as long as `self`: never here.
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn phases_only_move_forward_and_wake_waiters() {
        let drain = Drain::default();
        assert!(!drain.is_draining());
        let waiter = tokio::spawn({
            let drain = drain.clone();
            async move { drain.reached(Phase::Cut).await }
        });
        drain.advance(Phase::Draining);
        assert!(drain.is_draining());
        assert!(!waiter.is_finished());
        drain.advance(Phase::Cut);
        drain.advance(Phase::Draining);
        assert_eq!(drain.phase(), Phase::Cut);
        tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("woken")
            .expect("joined");
        // Already there: completes at once.
        drain.reached(Phase::Draining).await;
    }
}
