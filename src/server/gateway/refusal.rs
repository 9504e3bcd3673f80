//! A request the gateway turns away before any route sees it (no key, a wrong key, over
//! its rate limit), answered in the shape of the route family it asked for: Ollama's
//! `{"error": "..."}` on native routes, OpenAI's error object under `/v1`, so each
//! family's clients raise their own error type (the OpenAI SDKs map 401 to
//! `AuthenticationError` and 429 to `RateLimitError`, and retry the latter).

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;

use crate::api::openai::{ErrorObject, ErrorResponse};
use crate::api::ErrorBody;
use crate::server::json::json_response;

/// What a rate limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    Requests,
    Tokens,
}

impl Budget {
    /// OpenAI's `type` of a 429 (`requests` / `tokens`), also our wording.
    fn as_str(self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::Tokens => "tokens",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization: Bearer` header (or an empty token).
    NoKey,
    /// A bearer token that is no configured key.
    WrongKey,
    /// The client's budget of `budget` (`limit` a minute) is used up; some is back after
    /// `retry_after`.
    OverLimit {
        budget: Budget,
        limit: u32,
        retry_after: Duration,
    },
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NoKey | Self::WrongKey => StatusCode::UNAUTHORIZED,
            Self::OverLimit { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// `Retry-After`: whole seconds, rounded up, at least 1 (a client that retries at 0
    /// would only be refused again).
    pub fn retry_after_secs(retry_after: Duration) -> u64 {
        retry_after.as_secs_f64().ceil().max(1.0) as u64
    }

    /// The answer to a request for `path`.
    pub fn response(&self, path: &str) -> Response {
        let mut response = match is_openai(path) {
            true => json_response(self.status(), &self.openai_body()),
            false => json_response(
                self.status(),
                &ErrorBody {
                    error: self.native_message(),
                },
            ),
        };
        let headers = response.headers_mut();
        match self {
            Self::NoKey => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::WrongKey => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            Self::OverLimit { retry_after, .. } => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(Self::retry_after_secs(*retry_after)),
                );
            }
        }
        response
    }

    /// Ollama's clients show `.error` as is: every 401 starts with `unauthorized`.
    fn native_message(&self) -> String {
        match self {
            Self::NoKey => "unauthorized: no API key (send Authorization: Bearer <key>)".into(),
            Self::WrongKey => "unauthorized: invalid API key".into(),
            Self::OverLimit {
                budget,
                limit,
                retry_after,
            } => format!(
                "rate limit exceeded: {limit} {} per minute, retry in {}s",
                budget.as_str(),
                Self::retry_after_secs(*retry_after)
            ),
        }
    }

    /// OpenAI's own bodies for these cases (it echoes a masked key in the 401; we never
    /// echo any part of one).
    fn openai_body(&self) -> ErrorResponse {
        let (message, kind, code) = match self {
            Self::NoKey => (
                "You didn't provide an API key. You need to provide your API key in an \
                 Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                    .to_string(),
                "invalid_request_error",
                None,
            ),
            Self::WrongKey => (
                "Incorrect API key provided.".to_string(),
                "invalid_request_error",
                Some("invalid_api_key"),
            ),
            Self::OverLimit {
                budget,
                limit,
                retry_after,
            } => (
                format!(
                    "Rate limit reached for {} per min: Limit {limit}. Please try again in {}s.",
                    budget.as_str(),
                    Self::retry_after_secs(*retry_after)
                ),
                budget.as_str(),
                Some("rate_limit_exceeded"),
            ),
        };
        ErrorResponse {
            error: ErrorObject {
                message,
                kind: kind.into(),
                param: None,
                code: code.map(Into::into),
            },
        }
    }
}

/// `/v1` and below speak OpenAI's dialect.
fn is_openai(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let s = |ms| Refusal::retry_after_secs(Duration::from_millis(ms));
        assert_eq!(s(0), 1);
        assert_eq!(s(1), 1);
        assert_eq!(s(1000), 1);
        assert_eq!(s(1001), 2);
        assert_eq!(s(59_999), 60);
    }

    #[test]
    fn the_family_is_the_path_prefix() {
        assert!(is_openai("/v1/chat/completions"));
        assert!(is_openai("/v1"));
        assert!(!is_openai("/v1beta"));
        assert!(!is_openai("/api/chat"));
    }
}
