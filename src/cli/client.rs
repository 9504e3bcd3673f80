//! The HTTP client of the CLI: the server at `OLLAMA_HOST`, read as Ollama's client reads
//! it, JSON calls and NDJSON streams with Ollama's error semantics.

use futures::StreamExt;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::CliError;

/// NDJSON lines can carry whole answers (a non-streamed reply, an embedding): Ollama's
/// client allows 8 MB a line, and so do we.
const MAX_LINE: usize = 8 * 1000 * 1000;

#[derive(Debug, Clone)]
pub struct Client {
    base: Url,
    http: reqwest::Client,
    token: Option<String>,
}

impl Client {
    /// The server named by `OLLAMA_HOST` (default `http://127.0.0.1:11434`); a token in
    /// `OLLAMA_API_KEY` is sent as `Authorization: Bearer` for servers that require one.
    pub fn from_env() -> Self {
        let host = std::env::var("OLLAMA_HOST").unwrap_or_default();
        let token = std::env::var("OLLAMA_API_KEY")
            .ok()
            .filter(|t| !t.trim().is_empty());
        Self::new(base_url(&host), token)
    }

    pub fn new(base: Url, token: Option<String>) -> Self {
        let http = reqwest::Client::builder()
            .user_agent(concat!("rollama/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self { base, http, token }
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let joined = format!("{}{}", url.path().trim_end_matches('/'), path);
        url.set_path(&joined);
        url
    }

    /// A request to `path` with the headers every call carries.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, self.url(path));
        match &self.token {
            Some(token) => req.bearer_auth(token),
            None => req,
        }
    }

    /// `HEAD /`: is a server there at all? Client commands call it first, so "not running"
    /// is said once and clearly instead of as a connection error of the first real call.
    pub async fn heartbeat(&self) -> Result<(), CliError> {
        let resp = self.send(self.request(Method::HEAD, "/")).await?;
        check(resp).await.map(drop)
    }

    /// Sends a request; a refused or unreachable connection is [`CliError::NotRunning`].
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, CliError> {
        req.send().await.map_err(|e| self.connect_error(e))
    }

    fn connect_error(&self, e: reqwest::Error) -> CliError {
        match e.is_connect() {
            true => CliError::NotRunning {
                host: self.base.as_str().trim_end_matches('/').to_string(),
            },
            false => CliError::Http(e),
        }
    }

    /// `GET path` → JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        let resp = self.send(self.request(Method::GET, path)).await?;
        json(check(resp).await?).await
    }

    /// `method path` with a JSON body → JSON (`Value::Null` for an empty reply body).
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, CliError> {
        let resp = self.send(self.request(method, path).json(body)).await?;
        json(check(resp).await?).await
    }

    /// `POST path` → JSON.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, CliError> {
        self.call(Method::POST, path, body).await
    }

    /// `POST path` answered as NDJSON: the lines one by one. Dropping the [`Lines`] closes
    /// the connection, which is how the server learns to stop generating.
    pub async fn stream(&self, path: &str, body: &impl Serialize) -> Result<Lines, CliError> {
        let req = self
            .request(Method::POST, path)
            .header(reqwest::header::ACCEPT, "application/x-ndjson")
            .json(body);
        let resp = self.send(req).await?;
        let status = resp.status();
        Ok(Lines {
            status,
            body: Box::pin(resp.bytes_stream()),
            buf: Vec::new(),
            done: false,
        })
    }
}

/// An NDJSON reply read line by line.
pub struct Lines {
    status: StatusCode,
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: Vec<u8>,
    done: bool,
}

impl Lines {
    /// The next object; a line with `error` (or any line of a 4xx/5xx reply) is an `Err`,
    /// as in Ollama's client: a stream that fails half way is not mistaken for a short one.
    pub async fn next(&mut self) -> Option<Result<Value, CliError>> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                match self.parse(&line) {
                    None => continue,
                    some => return some,
                }
            }
            if self.done {
                let rest = std::mem::take(&mut self.buf);
                return self.parse(&rest);
            }
            match self.body.next().await {
                Some(Ok(chunk)) => {
                    self.buf.extend_from_slice(&chunk);
                    if self.buf.len() > MAX_LINE && !self.buf.contains(&b'\n') {
                        self.done = true;
                        self.buf.clear();
                        return Some(Err(CliError::Protocol("reply line too long".into())));
                    }
                }
                Some(Err(e)) => {
                    self.done = true;
                    self.buf.clear();
                    return Some(Err(CliError::Http(e)));
                }
                None => self.done = true,
            }
        }
    }

    fn parse(&self, line: &[u8]) -> Option<Result<Value, CliError>> {
        let text = String::from_utf8_lossy(line);
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(_) => return Some(Err(self.status_error(text.to_string()))),
        };
        let error = value.get("error").and_then(Value::as_str).unwrap_or("");
        if self.status.is_client_error() || self.status.is_server_error() {
            return Some(Err(self.status_error(error.to_string())));
        }
        if !error.is_empty() {
            return Some(Err(CliError::Server {
                status: None,
                message: error.to_string(),
            }));
        }
        Some(Ok(value))
    }

    fn status_error(&self, message: String) -> CliError {
        CliError::Server {
            status: Some(self.status),
            message,
        }
    }
}

/// A 4xx/5xx reply as Ollama's client reports it: the body's `error`, else the body.
pub async fn check(resp: reqwest::Response) -> Result<reqwest::Response, CliError> {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_default();
    let message = match serde_json::from_str::<Value>(&body) {
        Ok(v) => v
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        Err(_) => body,
    };
    Err(CliError::Status { status, message })
}

async fn json<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, CliError> {
    let bytes = resp.bytes().await.map_err(CliError::Http)?;
    let bytes: &[u8] = match bytes.iter().all(u8::is_ascii_whitespace) {
        true => b"null",
        false => &bytes,
    };
    serde_json::from_slice(bytes).map_err(|e| CliError::Protocol(e.to_string()))
}

/// `OLLAMA_HOST` as Ollama's client reads it: scheme optional (`http`; `https` and `http`
/// given explicitly default to 443/80), port 11434 otherwise, a path kept, and the
/// unspecified addresses a server binds (`0.0.0.0`, `::`) reached at loopback.
pub fn base_url(raw: &str) -> Url {
    let s = raw.trim().trim_matches(|c| c == '"' || c == '\'');
    let (scheme, rest, default_port) = match s.split_once("://") {
        None => ("http", s, 11434),
        Some(("https", rest)) => ("https", rest, 443),
        Some(("http", rest)) => ("http", rest, 80),
        Some((scheme, rest)) => (scheme, rest, 11434),
    };
    let (hostport, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = split_host_port(hostport, default_port);
    let host = match host.parse::<std::net::IpAddr>() {
        Ok(ip) if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
        Ok(ip) if ip.is_unspecified() => "[::1]".to_string(),
        Ok(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
        _ => host,
    };
    let text = format!("{scheme}://{host}:{port}/{path}");
    Url::parse(&text).unwrap_or_else(|_| default_url())
}

fn default_url() -> Url {
    // A constant that parses; `expect` cannot fire.
    #[allow(clippy::expect_used)]
    Url::parse("http://127.0.0.1:11434/").expect("default URL")
}

/// `host:port`, `[v6]:port`, `host`, `:port` (empty host = 127.0.0.1); a port that is
/// not a number falls back to the default, as Ollama's does.
fn split_host_port(s: &str, default_port: u16) -> (String, u16) {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, p)) => (h.to_string(), p.strip_prefix(':')),
            None => (rest.to_string(), None),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h.to_string(), Some(p)),
            _ => (s.to_string(), None),
        }
    };
    let port = port.and_then(|p| p.parse().ok()).unwrap_or(default_port);
    let host = match host.is_empty() {
        true => "127.0.0.1".to_string(),
        false => host,
    };
    (host, port)
}

#[cfg(test)]
mod tests {
    use super::base_url;

    #[test]
    fn ollama_host_is_read_as_ollama_reads_it() {
        let cases = [
            ("", "http://127.0.0.1:11434/"),
            ("1.2.3.4", "http://1.2.3.4:11434/"),
            (":1234", "http://127.0.0.1:1234/"),
            ("0.0.0.0:11434", "http://127.0.0.1:11434/"),
            ("example.com", "http://example.com:11434/"),
            ("http://example.com", "http://example.com/"),
            ("https://example.com", "https://example.com/"),
            (
                "https://example.com:8443/ollama",
                "https://example.com:8443/ollama",
            ),
            ("[::1]:5000", "http://[::1]:5000/"),
            ("[::]:5000", "http://[::1]:5000/"),
            ("host:notaport", "http://host:11434/"),
        ];
        for (raw, want) in cases {
            assert_eq!(base_url(raw).as_str(), want, "OLLAMA_HOST={raw:?}");
        }
    }
}
