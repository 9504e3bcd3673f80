//! HTTPS: a self-signed certificate (made with the `openssl` command), the real server on
//! it, a client that trusts the certificate served over HTTP/1.1 and h2, and clients that
//! get it wrong (plain HTTP, a failed handshake) refused without harm to anyone else.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::TestServer;
use rollama::server::gateway::lifecycle::{Lifecycle, Tls};
use rollama::server::gateway::Gateway;

/// A fresh self-signed certificate for 127.0.0.1 and its key, as PEM files.
fn self_signed() -> (PathBuf, PathBuf) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "rollama-tls-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=rollama test"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        // A leaf, not a CA: webpki refuses a CA certificate as a server's.
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl (needed by this test)");
    assert!(
        made.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    (cert, key)
}

/// The server over TLS with a fresh certificate; its `https://` base and the certificate.
async fn spawn_tls() -> (String, reqwest::Certificate) {
    let (cert, key) = self_signed();
    let tls = Tls::from_pem_files(&cert, &key).expect("usable certificate");
    let base = TestServer {
        gateway: Gateway {
            lifecycle: Lifecycle {
                tls: Some(tls),
                ..Lifecycle::default()
            },
            ..Gateway::default()
        },
        ..TestServer::default()
    }
    .spawn(&[])
    .await;
    let pem = std::fs::read(&cert).expect("read cert");
    let trusted = reqwest::Certificate::from_pem(&pem).expect("pem");
    (base.replacen("http://", "https://", 1), trusted)
}

fn trusting(cert: &reqwest::Certificate) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .add_root_certificate(cert.clone())
        .timeout(Duration::from_secs(60))
}

#[tokio::test(flavor = "multi_thread")]
async fn https_serves_a_client_that_trusts_the_certificate() {
    let (base, cert) = spawn_tls().await;
    let client = trusting(&cert).build().expect("client");
    let root = client.get(&base).send().await.expect("GET /");
    assert_eq!(root.version(), reqwest::Version::HTTP_2, "ALPN picks h2");
    assert_eq!(root.status(), 200);
    assert_eq!(root.text().await.expect("text"), "Ollama is running");
    let v: Value = client
        .get(format!("{base}/api/version"))
        .send()
        .await
        .expect("version")
        .json()
        .await
        .expect("json");
    assert_eq!(v["version"], "0.12.6");
    // HTTP/1.1 by ALPN too.
    let h1 = trusting(&cert).http1_only().build().expect("client");
    let r = h1
        .get(format!("{base}/api/version"))
        .send()
        .await
        .expect("h1");
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_clients_fail_cleanly_and_the_server_serves_on() {
    let (base, cert) = spawn_tls().await;
    let plain = base.replacen("https://", "http://", 1);
    // Plain HTTP to the TLS port: told so, as Go's servers tell it.
    let r = reqwest::get(format!("{plain}/api/version"))
        .await
        .expect("an answer");
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.text().await.expect("text"),
        "Client sent an HTTP request to an HTTPS server.\n"
    );
    // A client that does not trust the certificate fails its handshake.
    let untrusting = reqwest::Client::new();
    let e = untrusting
        .get(format!("{base}/api/version"))
        .send()
        .await
        .expect_err("an unknown certificate");
    assert!(e.is_connect(), "{e:?}");
    // Garbage where a handshake should be: the connection is dropped.
    let addr = base.trim_start_matches("https://");
    let mut junk = tokio::net::TcpStream::connect(addr).await.expect("connect");
    junk.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])
        .await
        .expect("write");
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match junk.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server never closed the bad handshake");
    // Everyone else is still served.
    let client = trusting(&cert).build().expect("client");
    let r = client
        .get(format!("{base}/api/version"))
        .send()
        .await
        .expect("version");
    assert_eq!(r.status(), 200);
}
