//! CORS as Ollama answers it: gin-contrib/cors v1.7.2 with `AllowWildcard`,
//! `AllowBrowserExtensions`, Ollama's header list and `envconfig.AllowedOrigins()`
//! (`OLLAMA_ORIGINS` before the defaults), ported rule for rule.
//!
//! Our own middleware rather than tower-http's `CorsLayer`: that one answers every preflight
//! 200 and never refuses a disallowed origin (it only leaves the headers out), where
//! Ollama's answers 204 and refuses with 403, and browser apps and tests see the difference.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::request_host;

/// The request headers a preflight may ask for: Ollama's list (`GenerateRoutes`), which
/// replaces gin's default; the `x-stainless-*` ones are what the OpenAI SDKs send.
const ALLOW_HEADERS: &[&str] = &[
    "Authorization",
    "Content-Type",
    "User-Agent",
    "Accept",
    "X-Requested-With",
    "OpenAI-Beta",
    "x-stainless-arch",
    "x-stainless-async",
    "x-stainless-custom-poll-interval",
    "x-stainless-helper-method",
    "x-stainless-lang",
    "x-stainless-os",
    "x-stainless-package-version",
    "x-stainless-poll-helper",
    "x-stainless-retry-count",
    "x-stainless-runtime",
    "x-stainless-runtime-version",
    "x-stainless-timeout",
];

/// gin's `DefaultConfig().AllowMethods`, upper-cased and joined.
const ALLOW_METHODS: &str = "GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS";

/// gin's default `MaxAge` (12 h) in seconds.
const MAX_AGE: &str = "43200";

/// Schemes an origin without `*` must start with (gin's `DefaultSchemas` plus
/// `ExtensionSchemas`, as `AllowBrowserExtensions` adds them; no files, no websockets).
const SCHEMES: &[&str] = &[
    "http://",
    "https://",
    "chrome-extension://",
    "safari-extension://",
    "moz-extension://",
    "ms-browser-extension://",
];

/// An `OLLAMA_ORIGINS` entry gin would refuse (Ollama panics at start-up on these).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    #[error("bad origin {0:?}: origins must contain '*' or include {schemes}", schemes = SCHEMES.join(","))]
    Scheme(String),
    #[error("bad origin {0:?}: only one * is allowed")]
    Wildcards(String),
}

/// Which origins may call the API from a browser, and the headers that say so.
#[derive(Debug, Clone)]
pub struct Cors {
    /// A lone `*` among the origins: every origin is allowed and answered with `*`.
    allow_all: bool,
    /// Trimmed, lower-cased, deduplicated (gin's `normalize`); compared as the browser
    /// sent the origin, so an upper-case `Origin` matches no exact entry, as in gin.
    exact: Vec<String>,
    /// `(before, after)` of each entry with a `*`, as written (gin parses them from the
    /// raw list): `("*", x)` is a suffix rule, `(x, "*")` a prefix rule.
    wildcards: Vec<(String, String)>,
    /// Added to an allowed preflight's 204 (before `Access-Control-Allow-Origin`).
    preflight: HeaderMap,
    /// Added to every other response to an allowed origin.
    normal: HeaderMap,
}

impl Default for Cors {
    /// Ollama's with `OLLAMA_ORIGINS` unset.
    fn default() -> Self {
        Self::build(&default_origins())
    }
}

impl Cors {
    /// `extra` (`OLLAMA_ORIGINS`, split at commas) before Ollama's defaults, checked as
    /// gin checks them.
    pub fn new(extra: &[String]) -> Result<Self, OriginError> {
        let mut origins = extra.to_vec();
        origins.extend(default_origins());
        for origin in &origins {
            validate(origin)?;
        }
        Ok(Self::build(&origins))
    }

    /// `origins` already valid (every `*` alone in its entry).
    fn build(origins: &[String]) -> Self {
        let allow_all = origins.iter().any(|o| o == "*");
        let wildcards = origins.iter().filter_map(|o| wildcard_rule(o)).collect();
        Self {
            allow_all,
            exact: normalize(origins),
            wildcards,
            preflight: preflight_headers(allow_all),
            normal: normal_headers(allow_all),
        }
    }

    /// gin's `validateOrigin`: everything when `*` is listed, else an exact entry or a
    /// wildcard rule.
    pub fn allows(&self, origin: &[u8]) -> bool {
        self.allow_all
            || self.exact.iter().any(|o| o.as_bytes() == origin)
            || self.wildcards.iter().any(|(before, after)| {
                let (before, after) = (before.as_bytes(), after.as_bytes());
                (before == b"*" && origin.ends_with(after))
                    || (after == b"*" && origin.starts_with(before))
                    || (origin.starts_with(before) && origin.ends_with(after))
            })
    }

    /// The 204 an allowed preflight gets; no route runs.
    fn preflight(&self, origin: &HeaderValue) -> Response {
        let mut response = StatusCode::NO_CONTENT.into_response();
        response.headers_mut().extend(self.preflight.clone());
        self.allow_origin(response.headers_mut(), origin);
        response
    }

    /// The route's response to an allowed origin, with the headers that let the page read
    /// it (a stream's too: they go out with the status line).
    fn decorate(&self, response: &mut Response, origin: &HeaderValue) {
        let headers = response.headers_mut();
        for (name, value) in &self.normal {
            if name == header::VARY {
                headers.append(name, value.clone());
            } else {
                headers.insert(name, value.clone());
            }
        }
        self.allow_origin(headers, origin);
    }

    /// The origin echoed back, unless every origin is allowed (then `*`, set already).
    fn allow_origin(&self, headers: &mut HeaderMap, origin: &HeaderValue) {
        if !self.allow_all {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        }
    }
}

/// Ollama's `AllowedOrigins()` without `OLLAMA_ORIGINS`: the loopback names on any port,
/// and the schemes of desktop apps and editors' webviews.
pub fn default_origins() -> Vec<String> {
    let mut origins = vec![];
    for host in ["localhost", "127.0.0.1", "0.0.0.0"] {
        for scheme in ["http", "https"] {
            origins.push(format!("{scheme}://{host}"));
        }
        for scheme in ["http", "https"] {
            origins.push(format!("{scheme}://{host}:*"));
        }
    }
    for scheme in ["app", "file", "tauri", "vscode-webview", "vscode-file"] {
        origins.push(format!("{scheme}://*"));
    }
    origins
}

/// gin's `Config.Validate` for one entry, and `parseWildcardRules`' one-`*` rule.
fn validate(origin: &str) -> Result<(), OriginError> {
    match origin.matches('*').count() {
        0 if !SCHEMES.iter().any(|s| origin.starts_with(s)) => {
            Err(OriginError::Scheme(origin.to_string()))
        }
        0 | 1 => Ok(()),
        _ => Err(OriginError::Wildcards(origin.to_string())),
    }
}

/// gin's `parseWildcardRules` for one entry (at most one `*`, checked before): the
/// text around the `*`, the `*` itself standing for an empty side.
fn wildcard_rule(origin: &str) -> Option<(String, String)> {
    let (before, after) = origin.split_once('*')?;
    Some(match (before, after) {
        ("", after) => ("*".into(), after.into()),
        (before, "") => (before.into(), "*".into()),
        (before, after) => (before.into(), after.into()),
    })
}

/// gin's `normalize`: trimmed, lower-cased, first occurrence kept.
fn normalize(values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for v in values {
        let v = v.trim().to_lowercase();
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// gin's `generatePreflightHeaders` for Ollama's config (no credentials, no private
/// network).
fn preflight_headers(allow_all: bool) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOW_METHODS),
    );
    let names: Vec<String> = normalize(
        &ALLOW_HEADERS
            .iter()
            .map(|h| h.to_string())
            .collect::<Vec<_>>(),
    )
    .iter()
    .map(|h| canonical_header_key(h))
    .collect();
    if let Ok(value) = HeaderValue::from_str(&names.join(",")) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, value);
    }
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(MAX_AGE),
    );
    match allow_all {
        true => {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
        false => {
            for vary in [
                "Origin",
                "Access-Control-Request-Method",
                "Access-Control-Request-Headers",
            ] {
                headers.append(header::VARY, HeaderValue::from_static(vary));
            }
        }
    }
    headers
}

/// gin's `generateNormalHeaders` for Ollama's config.
fn normal_headers(allow_all: bool) -> HeaderMap {
    let mut headers = HeaderMap::new();
    match allow_all {
        true => headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        ),
        false => headers.insert(header::VARY, HeaderValue::from_static("Origin")),
    };
    headers
}

/// Go's `http.CanonicalHeaderKey` for a valid token: upper case at the start and after
/// each `-`, lower case elsewhere (`x-stainless-os` → `X-Stainless-Os`).
fn canonical_header_key(key: &str) -> String {
    let mut upper = true;
    key.chars()
        .map(|c| {
            let c = match upper {
                true => c.to_ascii_uppercase(),
                false => c.to_ascii_lowercase(),
            };
            upper = c == '-';
            c
        })
        .collect()
}

/// gin's `applyCors`: no `Origin`, or the page's own (`http(s)://` + Host), passes
/// untouched; a disallowed origin gets 403 with an empty body; an allowed preflight
/// gets its 204 here; any other request runs and carries the allow headers back.
pub async fn apply(State(cors): State<std::sync::Arc<Cors>>, req: Request, next: Next) -> Response {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .filter(|o| !o.is_empty())
        .cloned()
    else {
        return next.run(req).await;
    };
    let host = request_host(&req);
    let same_origin = ["http://", "https://"]
        .iter()
        .any(|scheme| origin.as_bytes().strip_prefix(scheme.as_bytes()) == Some(host));
    if same_origin {
        return next.run(req).await;
    }
    if !cors.allows(origin.as_bytes()) {
        return StatusCode::FORBIDDEN.into_response();
    }
    if req.method() == Method::OPTIONS {
        return cors.preflight(&origin);
    }
    let mut response = next.run(req).await;
    cors.decorate(&mut response, &origin);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(extra: &[&str]) -> Cors {
        Cors::new(&extra.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("valid")
    }

    #[test]
    fn defaults_are_ollamas_in_its_order() {
        // envconfig's TestOrigins, case "".
        assert_eq!(
            default_origins(),
            [
                "http://localhost",
                "https://localhost",
                "http://localhost:*",
                "https://localhost:*",
                "http://127.0.0.1",
                "https://127.0.0.1",
                "http://127.0.0.1:*",
                "https://127.0.0.1:*",
                "http://0.0.0.0",
                "https://0.0.0.0",
                "http://0.0.0.0:*",
                "https://0.0.0.0:*",
                "app://*",
                "file://*",
                "tauri://*",
                "vscode-webview://*",
                "vscode-file://*",
            ]
        );
    }

    #[test]
    fn origins_as_gin_matches_them() {
        let c = cors(&[]);
        for ok in [
            "http://localhost",
            "http://localhost:3000",
            "https://127.0.0.1:8443",
            "http://0.0.0.0:1",
            "app://obsidian.md",
            "file://",
            "tauri://localhost",
            "vscode-webview://abc",
            "vscode-file://vscode-app",
        ] {
            assert!(c.allows(ok.as_bytes()), "{ok} should be allowed");
        }
        for refused in [
            "http://example.com",
            "http://localhost.evil.com",
            "https://127.0.0.2",
            "chrome-extension://abcdef",
            "null",
            "HTTP://LOCALHOST",
        ] {
            assert!(!c.allows(refused.as_bytes()), "{refused} should be refused");
        }
    }

    #[test]
    fn extra_origins_and_their_wildcards() {
        let c = cors(&[
            "https://*.example.com",
            "chrome-extension://*",
            "http://app.test",
            "http://Upper.Test",
        ]);
        assert!(c.allows(b"https://api.example.com"));
        assert!(!c.allows(b"http://api.example.com"));
        assert!(c.allows(b"chrome-extension://abcdef"));
        assert!(!c.allows(b"moz-extension://abcdef"));
        assert!(c.allows(b"http://app.test"));
        assert!(!c.allows(b"http://app.test.evil"));
        // Exact entries are normalized, the request's origin is not.
        assert!(c.allows(b"http://upper.test"));
        assert!(!c.allows(b"http://Upper.Test"));
        // gin-contrib/cors' TestValidateOrigin wildcard cases.
        let w = cors(&["https://*.google.com", "http://*", "*.microsoft.com"]);
        assert!(w.allows(b"https://maps.google.com"));
        assert!(w.allows(b"http://anything"));
        assert!(w.allows(b"https://www.microsoft.com"));
        assert!(!w.allows(b"https://google.com.evil"));
    }

    #[test]
    fn wildcard_rules_as_gin_parses_them() {
        // gin-contrib/cors' TestParseWildcardRules.
        let rule = wildcard_rule;
        let pair = |a: &str, b: &str| Some((a.to_string(), b.to_string()));
        assert_eq!(rule("http://example.com"), None);
        assert_eq!(
            rule("http://*.example.com"),
            pair("http://", ".example.com")
        );
        assert_eq!(rule("*.example.com"), pair("*", ".example.com"));
        assert_eq!(
            rule("http://example.*.com"),
            pair("http://example.", ".com")
        );
        assert_eq!(
            rule("http://example.com/*"),
            pair("http://example.com/", "*")
        );
        assert_eq!(rule("*"), pair("*", ""));
    }

    #[test]
    fn extension_wildcards() {
        // gin-contrib/cors' TestValidateOrigin, its AllowBrowserExtensions case.
        let c = cors(&[
            "chrome-extension://*",
            "safari-extension://my-extension-*-app",
            "*.some-domain.com",
        ]);
        assert!(c.allows(b"chrome-extension://random-extension-id"));
        assert!(c.allows(b"chrome-extension://another-one"));
        assert!(c.allows(b"safari-extension://my-extension-one-app"));
        assert!(c.allows(b"safari-extension://my-extension-two-app"));
        assert!(!c.allows(b"moz-extension://ext-id-we-not-allow"));
        assert!(c.allows(b"http://api.some-domain.com"));
        assert!(!c.allows(b"http://api.another-domain.com"));
    }

    #[test]
    fn a_lone_star_allows_everything() {
        let c = cors(&["*"]);
        assert!(c.allow_all);
        assert!(c.allows(b"http://anything.example"));
        assert!(c.allows(b"null"));
    }

    #[test]
    fn entries_gin_refuses() {
        let bad = |s: &str| Cors::new(&[s.to_string()]).expect_err("invalid");
        assert_eq!(
            bad("example.com"),
            OriginError::Scheme("example.com".into())
        );
        // The scheme is compared as written.
        assert_eq!(
            bad("HTTP://a.test"),
            OriginError::Scheme("HTTP://a.test".into())
        );
        assert_eq!(bad(""), OriginError::Scheme(String::new()));
        // Validate runs on the raw entry: a space after a comma is not `http://`.
        assert_eq!(
            bad(" http://example.com"),
            OriginError::Scheme(" http://example.com".into())
        );
        assert_eq!(
            bad("http://*.*.com"),
            OriginError::Wildcards("http://*.*.com".into())
        );
        assert!(Cors::new(&["ftp://*".into(), "*".into()]).is_ok());
    }

    #[test]
    fn header_names_as_go_writes_them() {
        assert_eq!(canonical_header_key("x-stainless-os"), "X-Stainless-Os");
        assert_eq!(canonical_header_key("openai-beta"), "Openai-Beta");
        let c = cors(&[]);
        let allow = c.preflight[header::ACCESS_CONTROL_ALLOW_HEADERS]
            .to_str()
            .expect("ascii");
        assert!(allow.starts_with("Authorization,Content-Type,User-Agent,Accept,X-Requested-With,Openai-Beta,X-Stainless-Arch,"));
        assert!(allow.ends_with(",X-Stainless-Timeout"));
    }
}
