//! Per-key rate limits: requests and tokens per minute (`ROLLAMA_RATE_LIMIT_RPM`,
//! `ROLLAMA_RATE_LIMIT_TPM`), answered 429 with `Retry-After` before the route runs, so a
//! refused request costs the engine nothing. Off by default, as in Ollama.
//!
//! Each client has its own buckets (GCRA, `governor`): the key it came with when keys are
//! on; else the peer's IP address where the server knows it; else one bucket for everyone.
//! A bucket holds a minute's worth and refills continuously: `RPM` requests can come at
//! once, then one every `60/RPM` seconds.
//!
//! Tokens are only known once a reply has ended, so a request is admitted while its
//! client has a token left (taking that one as a down payment), and charged its prompt and
//! generated tokens when its body ends, as far as the bucket holds: a GCRA bucket cannot
//! go into debt, so one long request can overshoot the budget, and the next request waits
//! until the bucket has refilled a token.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use super::auth::{is_public, KeyName};
use super::refusal::{Budget, Refusal};
use crate::engine::Trace;
use crate::server::AppState;

/// Whose budget a request spends.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Client {
    Key(Arc<str>),
    Peer(IpAddr),
    Anyone,
}

impl Client {
    fn of(req: &Request) -> Self {
        if let Some(KeyName(name)) = req.extensions().get::<KeyName>() {
            return Self::Key(Arc::clone(name));
        }
        match req.extensions().get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(addr)) => Self::Peer(bucket_ip(addr.ip())),
            None => Self::Anyone,
        }
    }
}

/// The address a client's bucket is kept under: an IPv6 host holds a whole /64 (SLAAC,
/// privacy addresses), so its bucket is the prefix's, or it could rotate addresses past its
/// limit (and grow the map by one entry a request). IPv4, and IPv4 mapped into IPv6, as is.
fn bucket_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !u128::from(u64::MAX),
            )),
        },
        v4 => v4,
    }
}

/// One per-minute budget of every client.
struct PerMinute<C: Clock = DefaultClock> {
    limit: NonZeroU32,
    buckets: RateLimiter<Client, DefaultKeyedStateStore<Client>, C, NoOpMiddleware<C::Instant>>,
}

impl<C: Clock> PerMinute<C> {
    fn new(limit: NonZeroU32, clock: C) -> Self {
        Self {
            limit,
            buckets: RateLimiter::new(Quota::per_minute(limit), Default::default(), clock),
        }
    }

    /// Takes one unit, or says how long until one is back.
    fn take_one(&self, client: &Client) -> Result<(), Duration> {
        self.buckets
            .check_key(client)
            .map_err(|not_until| not_until.wait_time_from(self.buckets.clock().now()))
    }

    /// Takes `n` units, or as many as the bucket holds: probes of halving size, so a
    /// charge of any size is a few dozen checks at most.
    fn take_up_to(&self, client: &Client, n: u64) -> u64 {
        let mut left = u32::try_from(n).unwrap_or(u32::MAX);
        let mut step = left;
        let mut taken = 0;
        while let Some(ask) = NonZeroU32::new(step.min(left)) {
            match self.buckets.check_key_n(client, ask) {
                Ok(Ok(_)) => {
                    left -= ask.get();
                    taken += u64::from(ask.get());
                }
                Ok(Err(_)) => step = ask.get() / 2,
                // More than a full bucket: ask for a full bucket.
                Err(too_many) => step = too_many.0.min(ask.get() - 1),
            }
        }
        taken
    }
}

/// Both limits and what they refused. `Default` is off: no limit at all.
#[derive(Clone, Default)]
pub struct Rate {
    inner: Arc<Limits>,
}

#[derive(Default)]
struct Limits {
    requests: Option<PerMinute>,
    tokens: Option<PerMinute>,
    /// Requests refused for each [`Budget`] (for `/metrics`).
    refused_requests: AtomicU64,
    refused_tokens: AtomicU64,
    /// Requests checked, to forget idle clients' buckets now and then.
    checked: AtomicU64,
}

/// Clients' buckets are forgotten once full again, every so many requests: a bucket per
/// peer address must not grow without bound.
const SWEEP_EVERY: u64 = 4096;

impl Rate {
    /// At most `requests` requests and `tokens` tokens per minute per client (0: no limit).
    pub fn new(requests: u32, tokens: u32) -> Self {
        let limit = |n| NonZeroU32::new(n).map(|n| PerMinute::new(n, DefaultClock::default()));
        Self {
            inner: Arc::new(Limits {
                requests: limit(requests),
                tokens: limit(tokens),
                ..Limits::default()
            }),
        }
    }

    pub fn is_on(&self) -> bool {
        self.inner.requests.is_some() || self.inner.tokens.is_some()
    }

    /// How many requests were refused for going over `budget` since the start.
    pub fn refused(&self, budget: Budget) -> u64 {
        match budget {
            Budget::Requests => self.inner.refused_requests.load(Relaxed),
            Budget::Tokens => self.inner.refused_tokens.load(Relaxed),
        }
    }

    /// Admits a request of `client`, or refuses it. Tokens are looked at first: a request
    /// refused for tokens spends none of the request budget.
    fn admit(&self, client: &Client) -> Result<(), Refusal> {
        let limits = &*self.inner;
        if limits.checked.fetch_add(1, Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            for l in [&limits.requests, &limits.tokens].into_iter().flatten() {
                l.buckets.retain_recent();
            }
        }
        let over = |per: &PerMinute, budget, count: &AtomicU64| {
            per.take_one(client).map_err(|retry_after| {
                count.fetch_add(1, Relaxed);
                Refusal::OverLimit {
                    budget,
                    limit: per.limit.get(),
                    retry_after,
                }
            })
        };
        if let Some(tokens) = &limits.tokens {
            over(tokens, Budget::Tokens, &limits.refused_tokens)?;
        }
        if let Some(requests) = &limits.requests {
            over(requests, Budget::Requests, &limits.refused_requests)?;
        }
        Ok(())
    }

    /// Charges what `trace` read and wrote, less the token [`admit`](Self::admit) took.
    fn charge(&self, client: &Client, trace: &Trace) {
        if let Some(tokens) = &self.inner.tokens {
            let (prompt, generated) = trace.tokens();
            let owed = (prompt + generated).saturating_sub(1);
            let taken = tokens.take_up_to(client, owed);
            if taken < owed {
                tracing::debug!(owed, taken, "token budget overshot");
            }
        }
    }
}

/// Limits every request but [`is_public`] ones, when a limit is set.
pub fn layer(router: Router, state: &AppState) -> Router {
    let rate = &state.gateway.rate;
    if !rate.is_on() {
        return router;
    }
    router.layer(axum::middleware::from_fn_with_state(rate.clone(), limit))
}

async fn limit(State(rate): State<Rate>, req: Request, next: Next) -> Response {
    if is_public(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    let client = Client::of(&req);
    if let Err(refusal) = rate.admit(&client) {
        tracing::debug!(?client, ?refusal, "rate limited");
        return refusal.response(req.uri().path());
    }
    let trace = req.extensions().get::<Arc<Trace>>().cloned();
    let response = next.run(req).await;
    match (rate.inner.tokens.is_some(), trace) {
        (true, Some(trace)) => super::on_finish(response, move |_| rate.charge(&client, &trace)),
        _ => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn per_minute(n: u32) -> (PerMinute<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let limit = NonZeroU32::new(n).expect("non-zero");
        (PerMinute::new(limit, clock.clone()), clock)
    }

    #[test]
    fn a_minute_of_requests_then_a_wait() {
        let (per, clock) = per_minute(3);
        let c = Client::Anyone;
        for _ in 0..3 {
            assert_eq!(per.take_one(&c), Ok(()));
        }
        assert_eq!(per.take_one(&c), Err(Duration::from_secs(20)));
        clock.advance(Duration::from_secs(5));
        assert_eq!(per.take_one(&c), Err(Duration::from_secs(15)));
        clock.advance(Duration::from_secs(15));
        assert_eq!(per.take_one(&c), Ok(()));
        assert_eq!(per.take_one(&Client::Peer([10, 0, 0, 1].into())), Ok(()));
    }

    #[test]
    fn a_charge_takes_what_the_bucket_holds() {
        let (per, _clock) = per_minute(100);
        let a = Client::Key("a".into());
        assert_eq!(per.take_up_to(&a, 30), 30);
        assert_eq!(per.take_up_to(&a, 0), 0);
        // 70 left: a charge of 1000 takes them all and leaves nothing.
        assert_eq!(per.take_up_to(&a, 1000), 70);
        assert!(per.take_one(&a).is_err());
        assert_eq!(per.take_up_to(&a, 5), 0);
        // More than a whole bucket at once, from full.
        let b = Client::Key("b".into());
        assert_eq!(per.take_up_to(&b, u64::MAX), 100);
    }

    #[test]
    fn an_ipv6_client_is_its_64_prefix() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(bucket_ip(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            bucket_ip(ip("2001:db8:1:2:ffff:1:2:3")),
            bucket_ip(ip("2001:db8:1:2::9"))
        );
        assert_ne!(
            bucket_ip(ip("2001:db8:1:3::1")),
            bucket_ip(ip("2001:db8:1:2::1"))
        );
        assert_eq!(bucket_ip(ip("10.1.2.3")), ip("10.1.2.3"));
        assert_eq!(bucket_ip(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
    }

    #[test]
    fn off_by_default() {
        assert!(!Rate::default().is_on());
        assert!(!Rate::new(0, 0).is_on());
        assert!(Rate::new(0, 10).is_on());
        let rate = Rate::new(1, 0);
        let c = Client::Anyone;
        assert!(rate.admit(&c).is_ok());
        assert!(matches!(
            rate.admit(&c),
            Err(Refusal::OverLimit {
                budget: Budget::Requests,
                limit: 1,
                ..
            })
        ));
        assert_eq!(rate.refused(Budget::Requests), 1);
        assert_eq!(rate.refused(Budget::Tokens), 0);
    }
}
