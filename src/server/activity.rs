//! What one connection is doing, for its deadlines: whether it has sent a request yet, how
//! many of its requests are in flight, and since when none is. A request is in flight from
//! the moment hyper hands over its head until its response body has been sent or dropped,
//! so a long prefill, a model load or a slow stream is never idle.
//!
//! hyper bounds an HTTP/1 connection's later request heads itself (its header timer runs
//! from the end of a response until the next head is read, so it is also the wait between
//! keep-alive requests). What it does not bound is the first head when the protocol is
//! still being sniffed (hyper-util's `auto`) or a TLS handshake comes first, and an HTTP/2
//! connection without streams: [`Activity::expired`] does.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// Shared by a connection's task and its requests.
pub struct Activity {
    /// Changes wake the task's deadline; the requests' guards change it.
    state: watch::Sender<State>,
}

#[derive(Clone, Copy)]
struct State {
    accepted: Instant,
    /// A request head has been read on this connection.
    served: bool,
    in_flight: usize,
    /// When the last request in flight ended (the accept, before any).
    idle_since: Instant,
}

/// Which deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// No request head in time on a new connection: drop it.
    Header,
    /// No request in flight for the idle timeout: close it gracefully.
    Idle,
}

/// A request in flight; dropping it ends it.
pub struct InFlight(Arc<Activity>);

impl Activity {
    pub fn new() -> Arc<Self> {
        let now = Instant::now();
        Arc::new(Self {
            state: watch::Sender::new(State {
                accepted: now,
                served: false,
                in_flight: 0,
                idle_since: now,
            }),
        })
    }

    /// A request's head has arrived.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.state.send_modify(|s| {
            s.served = true;
            s.in_flight += 1;
        });
        InFlight(Arc::clone(self))
    }

    /// Completes when the first passing deadline does: the first request's head not in
    /// within `header` of the accept, or `idle` without a request in flight. Never while
    /// a request is in flight.
    pub async fn expired(&self, header: Option<Duration>, idle: Option<Duration>) -> Expired {
        let mut changes = self.state.subscribe();
        loop {
            let next = deadline(*changes.borrow_and_update(), header, idle);
            let changed = changes.changed();
            match next {
                Some((at, why)) => tokio::select! {
                    () = tokio::time::sleep_until(at) => return why,
                    _ = changed => {}
                },
                None => {
                    if changed.await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            }
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.state.send_modify(|s| {
            s.in_flight -= 1;
            if s.in_flight == 0 {
                s.idle_since = Instant::now();
            }
        });
    }
}

/// The earliest deadline that applies to `s`, and what passing it means.
fn deadline(
    s: State,
    header: Option<Duration>,
    idle: Option<Duration>,
) -> Option<(Instant, Expired)> {
    if s.in_flight > 0 {
        return None;
    }
    let header = header
        .filter(|_| !s.served)
        .map(|d| (s.accepted + d, Expired::Header));
    let idle = idle.map(|d| (s.idle_since + d, Expired::Idle));
    match (header, idle) {
        (Some(h), Some(i)) => Some(if i.0 < h.0 { i } else { h }),
        (h, i) => h.or(i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    /// Paused time: the deadlines pass by the clock's auto-advance, exactly.
    #[tokio::test(start_paused = true)]
    async fn a_silent_new_connection_expires_on_the_header_timeout() {
        let a = Activity::new();
        assert_eq!(a.expired(Some(2 * S), Some(60 * S)).await, Expired::Header);
        assert_eq!(a.expired(None, Some(60 * S)).await, Expired::Idle);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_is_never_idle() {
        let a = Activity::new();
        let request = a.begin();
        let waiting = a.expired(Some(S), Some(S));
        tokio::pin!(waiting);
        let long = tokio::time::sleep(3600 * S);
        tokio::select! {
            why = &mut waiting => panic!("expired while busy: {why:?}"),
            () = long => {}
        }
        let ended = Instant::now();
        drop(request);
        // Served once: only the idle timeout applies, counted from the request's end.
        assert_eq!(waiting.await, Expired::Idle);
        assert_eq!(Instant::now() - ended, S);
    }

    #[test]
    fn the_earliest_deadline_wins() {
        let t = Instant::now();
        let fresh = State {
            accepted: t,
            served: false,
            in_flight: 0,
            idle_since: t,
        };
        assert_eq!(
            deadline(fresh, Some(S), Some(5 * S)),
            Some((t + S, Expired::Header))
        );
        assert_eq!(
            deadline(fresh, Some(5 * S), Some(S)),
            Some((t + S, Expired::Idle))
        );
        assert_eq!(deadline(fresh, None, None), None);
        let served = State {
            served: true,
            ..fresh
        };
        assert_eq!(deadline(served, Some(S), None), None);
        let busy = State {
            in_flight: 1,
            ..served
        };
        assert_eq!(deadline(busy, Some(S), Some(S)), None);
    }
}
