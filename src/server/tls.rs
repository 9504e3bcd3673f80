//! HTTPS for a server on a network without a proxy in front: rustls (ring) with the
//! operator's PEM certificate chain and key, HTTP/1.1 and h2 offered by ALPN. A client that
//! fails its handshake loses only its own connection; one that speaks plain HTTP to the TLS
//! port is told so, as Go's `net/http` tells it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// A server's TLS settings, ready to accept connections. Cheap to clone.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
}

/// Why the certificate or key cannot be used; the server does not start.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} holds no PEM certificate")]
    NoCertificate(PathBuf),
    #[error("{0} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey(PathBuf),
    #[error("the certificate and key cannot be used: {0}")]
    Config(#[from] rustls::Error),
}

/// Why a connection was not handed to HTTP.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("plain HTTP on the TLS port")]
    PlainHttp,
    #[error("TLS handshake failed: {0}")]
    Handshake(#[from] std::io::Error),
}

/// What a plain-HTTP client gets on the TLS port, in Go's words, instead of a reset.
const PLAIN_HTTP_REPLY: &[u8] = b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 48\r\nconnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

impl Tls {
    /// Reads the certificate chain (leaf first) and the private key from PEM files.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.to_path_buf(),
                source,
            })
        };
        let cert_pem = read(cert)?;
        let chain = rustls_pemfile::certs(&mut cert_pem.as_slice())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| TlsError::Read {
                path: cert.to_path_buf(),
                source,
            })?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate(cert.to_path_buf()));
        }
        let key_pem = read(key)?;
        let key_der = rustls_pemfile::private_key(&mut key_pem.as_slice())
            .map_err(|source| TlsError::Read {
                path: key.to_path_buf(),
                source,
            })?
            .ok_or_else(|| TlsError::NoKey(key.to_path_buf()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// The TLS side of a new connection. The caller bounds how long this may take.
    pub async fn accept(&self, mut tcp: TcpStream) -> Result<TlsStream<TcpStream>, Refused> {
        let mut first = [0u8; 1];
        let n = tcp.peek(&mut first).await?;
        if n == 1 && first[0] != TLS_HANDSHAKE && first[0].is_ascii_alphabetic() {
            answer_plain_http(&mut tcp).await;
            return Err(Refused::PlainHttp);
        }
        Ok(self.acceptor.accept(tcp).await?)
    }
}

/// Reads the request's head (so closing does not reset the connection under the reply),
/// answers 400 and closes.
async fn answer_plain_http(tcp: &mut TcpStream) {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while head.len() < 16 * 1024 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let _ = tcp.write_all(PLAIN_HTTP_REPLY).await;
    let _ = tcp.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_http_reply_says_its_length() {
        let text = std::str::from_utf8(PLAIN_HTTP_REPLY).expect("ascii");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(head.contains(&format!("content-length: {}", body.len())));
    }

    #[test]
    fn files_without_pem_are_refused() {
        let dir = std::env::temp_dir().join(format!("rollama-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not pem\n").expect("write");
        let missing = dir.join("missing.pem");
        assert!(matches!(
            Tls::from_pem_files(&missing, &empty),
            Err(TlsError::Read { .. })
        ));
        assert!(matches!(
            Tls::from_pem_files(&empty, &empty),
            Err(TlsError::NoCertificate(_))
        ));
    }
}
