//! Bearer keys (`ROLLAMA_API_KEYS`, a keys file): off by default, as in Ollama. When on,
//! every route but `GET`/`HEAD /` and `/health/…` needs `Authorization: Bearer <token>`
//! (what ollama-python sends from `OLLAMA_API_KEY` and the OpenAI SDKs from `api_key`);
//! anything else is a 401 in the route family's shape ([`super::refusal`]).
//!
//! Only the keys' names leave this module (the request's [`KeyName`], its log span's
//! `key` field); tokens are hashed on reading ([`keys`]) and never logged.

mod keys;
mod reload;

pub use keys::KeyError;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;

use super::refusal::Refusal;
use crate::server::AppState;
use keys::{Key, KeySet};

/// The name of the key a request came with (logs, metrics and rate limits use it; the
/// key itself is never stored outside [`Auth`]). Set in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyName(pub std::sync::Arc<str>);

/// The keys in force. `Default` is off: no key asked for, as in Ollama. Cheap to clone:
/// clones share the live set, so a reload is seen by every one of them.
#[derive(Clone, Default)]
pub struct Auth {
    live: Option<Arc<Live>>,
}

/// What [`Auth`] shares between its clones and the keys file's watcher.
struct Live {
    /// The set in force. A reload builds a whole new set and swaps the `Arc`; a request
    /// clones the `Arc` out and never holds the lock while it checks.
    keys: RwLock<Arc<KeySet>>,
    /// From `ROLLAMA_API_KEYS`: fixed for the process's life, part of every reload.
    listed: Vec<Key>,
    /// Re-read when it changes ([`reload`]).
    file: Option<PathBuf>,
    /// The watcher is started once, by the first router built with this `Auth`.
    watching: std::sync::Once,
}

impl std::fmt::Debug for Auth {
    /// Names only: a `{:?}` of the config must be safe to log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.live {
            None => f.write_str("Auth(off)"),
            Some(live) => f
                .debug_struct("Auth")
                .field("keys", &self.names())
                .field("file", &live.file)
                .finish(),
        }
    }
}

impl Auth {
    /// Keys from a `ROLLAMA_API_KEYS` list and/or a keys file; off when both are `None`.
    /// A file that cannot be read or parsed, an empty token, a bad or repeated name and a
    /// token given twice are refused. A file with no key yet is accepted: auth is on and
    /// no token passes until one is added.
    pub fn new(list: Option<&str>, file: Option<&Path>) -> Result<Self, KeyError> {
        if list.is_none() && file.is_none() {
            return Ok(Self::default());
        }
        let listed = match list {
            Some(list) => keys::parse_list(list)?,
            None => vec![],
        };
        let filed = match file {
            Some(path) => read_file(path)?,
            None => vec![],
        };
        let set = KeySet::new(&listed, &filed)?;
        Ok(Self {
            live: Some(Arc::new(Live {
                keys: RwLock::new(Arc::new(set)),
                listed,
                file: file.map(Path::to_path_buf),
                watching: std::sync::Once::new(),
            })),
        })
    }

    /// Keys from a `ROLLAMA_API_KEYS`-style list: `name:token,token2,…`.
    pub fn from_list(list: &str) -> Result<Self, KeyError> {
        Self::new(Some(list), None)
    }

    /// Keys from a keys file (`name:token` lines), watched for changes once served.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        Self::new(None, Some(path))
    }

    /// Whether requests need a key.
    pub fn is_on(&self) -> bool {
        self.live.is_some()
    }

    /// The names of the keys in force.
    pub fn names(&self) -> Vec<Arc<str>> {
        match &self.live {
            Some(live) => live.current().names().cloned().collect(),
            None => vec![],
        }
    }

    /// Re-reads the keys file now (the watcher does this when the file changes, and on
    /// SIGHUP). On an error the keys in force stay. Returns how many keys are in force.
    pub fn reload(&self) -> Result<usize, KeyError> {
        match &self.live {
            Some(live) => live.reload(),
            None => Ok(0),
        }
    }

    /// The name of the key `headers` carry, or why they carry none.
    pub fn identify(&self, headers: &HeaderMap) -> Result<Arc<str>, Refusal> {
        let Some(live) = &self.live else {
            return Err(Refusal::NoKey);
        };
        let token = bearer(headers).ok_or(Refusal::NoKey)?;
        live.current().find(token).ok_or(Refusal::WrongKey)
    }
}

impl Live {
    fn current(&self) -> Arc<KeySet> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        Arc::clone(&keys)
    }

    fn reload(&self) -> Result<usize, KeyError> {
        let Some(path) = &self.file else {
            return Ok(self.current().len());
        };
        let set = KeySet::new(&self.listed, &read_file(path)?)?;
        let n = set.len();
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
        Ok(n)
    }
}

fn read_file(path: &Path) -> Result<Vec<Key>, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.display().to_string(),
        source,
    })?;
    keys::parse_file(&text)
}

/// The token of `Authorization: Bearer <token>` (the scheme in any case); `None` when the
/// header is missing, of another scheme, or the token is empty.
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let split = value.iter().position(|&b| b == b' ')?;
    let (scheme, token) = value.split_at(split);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let token = token.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// What needs no key (and is never rate limited): Ollama's `GET`/`HEAD /` heartbeat,
/// which its CLI calls before anything else, and the health probes a load balancer or
/// Kubernetes sends without credentials.
pub fn is_public(method: &Method, path: &str) -> bool {
    let heartbeat = path == "/" && (method == Method::GET || method == Method::HEAD);
    heartbeat || path.starts_with("/health/")
}

/// Every request but [`is_public`] ones needs a key, when keys are configured.
pub fn layer(router: Router, state: &AppState) -> Router {
    let auth = &state.gateway.auth;
    let Some(live) = &auth.live else {
        return router;
    };
    live.watching.call_once(|| reload::watch(live));
    router.layer(axum::middleware::from_fn_with_state(
        auth.clone(),
        require_key,
    ))
}

async fn require_key(State(auth): State<Auth>, mut req: Request, next: Next) -> Response {
    if is_public(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    match auth.identify(req.headers()) {
        Ok(name) => {
            tracing::Span::current().record("key", tracing::field::display(&name));
            req.extensions_mut().insert(KeyName(name));
            next.run(req).await
        }
        Err(refusal) => {
            tracing::debug!(?refusal, "no valid API key");
            refusal.response(req.uri().path())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("header"),
        );
        h
    }

    #[test]
    fn the_bearer_scheme_in_any_case() {
        let auth = Auth::from_list("alice:tok").expect("keys");
        assert_eq!(auth.identify(&with("Bearer tok")).as_deref(), Ok("alice"));
        assert_eq!(auth.identify(&with("bearer  tok ")).as_deref(), Ok("alice"));
        assert_eq!(auth.identify(&with("BEARER tok")).as_deref(), Ok("alice"));
        assert_eq!(auth.identify(&with("Bearer tok2")), Err(Refusal::WrongKey));
        assert_eq!(auth.identify(&with("Basic dG9r")), Err(Refusal::NoKey));
        assert_eq!(auth.identify(&with("Bearer ")), Err(Refusal::NoKey));
        assert_eq!(auth.identify(&with("tok")), Err(Refusal::NoKey));
        assert_eq!(auth.identify(&HeaderMap::new()), Err(Refusal::NoKey));
    }

    #[test]
    fn public_routes() {
        assert!(is_public(&Method::GET, "/"));
        assert!(is_public(&Method::HEAD, "/"));
        assert!(!is_public(&Method::OPTIONS, "/"));
        assert!(!is_public(&Method::POST, "/"));
        assert!(is_public(&Method::GET, "/health/ready"));
        assert!(!is_public(&Method::GET, "/healthz"));
        assert!(!is_public(&Method::GET, "/api/version"));
    }

    #[test]
    fn off_unless_configured() {
        assert!(!Auth::default().is_on());
        assert!(!Auth::new(None, None).expect("off").is_on());
        assert!(Auth::from_list("").expect("on, no key").is_on());
    }

    #[test]
    fn debug_shows_names_only() {
        let auth = Auth::from_list("alice:the-token-itself,other-token").expect("keys");
        let shown = format!("{auth:?}");
        assert!(shown.contains("alice") && shown.contains("key2"), "{shown}");
        assert!(!shown.contains("the-token-itself"), "{shown}");
        assert!(!shown.contains("other-token"), "{shown}");
    }
}
