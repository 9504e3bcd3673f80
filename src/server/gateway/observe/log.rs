//! The one log line of each request, written when its body has been sent or dropped:
//! what a stream cost is only known then. It runs outside the request's span (the
//! connection polls the body), so it names the request id itself.

use super::Ending;
use crate::server::gateway::Ended;

pub(crate) fn request_ended(r: &Ending) {
    let took = r.started.elapsed();
    // Microsecond precision is plenty and keeps the number short.
    let duration_ms = (took.as_secs_f64() * 1e6).round() / 1e3;
    let (prompt_tokens, generated_tokens) = r.trace.as_ref().map_or((0, 0), |t| t.tokens());
    let id = r.trace.as_ref().map_or("", |t| t.id.as_str());
    let model = r.trace.as_ref().and_then(|t| t.model()).unwrap_or("");
    let key = r.key.as_ref().map_or("", |k| &*k.0);
    let ended = match r.ended {
        Ended::Complete => "complete",
        Ended::Dropped => "dropped",
    };
    tracing::info!(
        id,
        method = r.method,
        route = %r.route,
        path = %r.path,
        status = r.status,
        key,
        duration_ms,
        model,
        prompt_tokens,
        generated_tokens,
        ended,
        "request"
    );
}
