//! The Host check against DNS rebinding, as Ollama's `allowedHostsMiddleware`: a server
//! bound to a loopback address serves only requests whose Host names this machine (a
//! local IP, `localhost`, its hostname, a `.localhost`/`.local`/`.internal` name), so a
//! web page whose own domain was re-pointed at 127.0.0.1 cannot talk to it. A server bound
//! elsewhere (or to nothing known) checks nothing, as Ollama; there is no switch to turn
//! the check off, as in Ollama.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::request_host;

/// What the check makes of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The route runs.
    Serve,
    /// An `OPTIONS` to an allowed host name: 204 here, no route runs (Ollama's).
    NoContent,
    /// 403 with an empty body.
    Forbidden,
}

/// The middleware; `bound` is the address the server listens on.
pub async fn check(State(bound): State<Option<SocketAddr>>, req: Request, next: Next) -> Response {
    if !guards(bound) {
        return next.run(req).await;
    }
    let host = String::from_utf8_lossy(request_host(&req)).into_owned();
    match verdict(&host, req.method()) {
        Verdict::Serve => next.run(req).await,
        Verdict::NoContent => StatusCode::NO_CONTENT.into_response(),
        Verdict::Forbidden => StatusCode::FORBIDDEN.into_response(),
    }
}

/// Whether a server bound to `bound` checks Host: only on a loopback address (an
/// IPv4-mapped one too, as Go's `netip` unmaps it).
pub fn guards(bound: Option<SocketAddr>) -> bool {
    bound.is_some_and(|a| is_loopback(a.ip()))
}

/// Ollama's rules for a Host header value (`host[:port]`) on a guarded server.
pub fn verdict(raw: &str, method: &Method) -> Verdict {
    let host = split_host_port(raw).unwrap_or(raw);
    if let Some((ip, zoned)) = parse_addr(host) {
        let local = is_loopback(ip) || is_private(ip) || ip.is_unspecified();
        // Go compares the interfaces' addresses as strings, which carry no zone.
        if local || (!zoned && is_local_ip(ip)) {
            return Verdict::Serve;
        }
    }
    match allowed_host(host) {
        true if method == Method::OPTIONS => Verdict::NoContent,
        true => Verdict::Serve,
        false => Verdict::Forbidden,
    }
}

/// Ollama's `allowedHost`: no host, `localhost`, the machine's hostname, or a name under
/// `.localhost`, `.local` or `.internal`; case does not matter.
fn allowed_host(host: &str) -> bool {
    let host = host.to_lowercase();
    if host.is_empty() || host == "localhost" {
        return true;
    }
    if hostname().is_some_and(|name| host == name.to_lowercase()) {
        return true;
    }
    ["localhost", "local", "internal"]
        .iter()
        .any(|tld| host.ends_with(&format!(".{tld}")))
}

/// Go's `net.SplitHostPort`, host part only: `None` where Go returns an error (then
/// Ollama checks the whole value), e.g. no port, `[::1]` alone, too many colons.
fn split_host_port(hostport: &str) -> Option<&str> {
    let colon = hostport.rfind(':')?;
    let (host, inner_from, after_bracket) = match hostport.strip_prefix('[') {
        Some(_) => {
            let end = hostport.find(']')?;
            // The first `]` must sit just before the last `:`.
            if end + 1 != colon {
                return None;
            }
            (&hostport[1..end], 1, end + 1)
        }
        None => {
            let host = &hostport[..colon];
            if host.contains(':') {
                return None;
            }
            (host, 0, 0)
        }
    };
    if hostport[inner_from..].contains('[') || hostport[after_bracket..].contains(']') {
        return None;
    }
    Some(host)
}

/// Go's `netip.ParseAddr`: dotted IPv4 (no leading zeros), or IPv6 with an optional
/// non-empty `%zone`. Returns the address and whether it had a zone.
fn parse_addr(s: &str) -> Option<(IpAddr, bool)> {
    if !s.contains(':') {
        return s
            .parse::<std::net::Ipv4Addr>()
            .ok()
            .map(|a| (IpAddr::V4(a), false));
    }
    let (addr, zoned) = match s.split_once('%') {
        Some((_, "")) => return None,
        Some((addr, _)) => (addr, true),
        None => (s, false),
    };
    addr.parse::<Ipv6Addr>()
        .ok()
        .map(|a| (IpAddr::V6(a), zoned))
}

/// An IPv4-mapped IPv6 address as its IPv4 address (Go's `Unmap`).
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Go's `netip.Addr.IsLoopback` (127/8, ::1, and their IPv4-mapped forms).
fn is_loopback(ip: IpAddr) -> bool {
    unmap(ip).is_loopback()
}

/// Go's `netip.Addr.IsPrivate`: RFC 1918 IPv4 and fc00::/7 (IPv4-mapped forms too).
fn is_private(ip: IpAddr) -> bool {
    match unmap(ip) {
        IpAddr::V4(v4) => v4.is_private(),
        IpAddr::V6(v6) => v6.octets()[0] & 0xfe == 0xfc,
    }
}

/// Ollama's `isLocalIP`: the address of one of this machine's interfaces, asked anew
/// each time as Ollama does (addresses come and go).
fn is_local_ip(ip: IpAddr) -> bool {
    interface_addresses().contains(&ip)
}

#[cfg(unix)]
fn interface_addresses() -> Vec<IpAddr> {
    let Ok(interfaces) = nix::ifaddrs::getifaddrs() else {
        return vec![];
    };
    interfaces
        .filter_map(|i| i.address)
        .filter_map(|a| {
            let v4 = a.as_sockaddr_in().map(|s| IpAddr::V4(s.ip()));
            v4.or_else(|| a.as_sockaddr_in6().map(|s| IpAddr::V6(s.ip())))
        })
        .collect()
}

#[cfg(not(unix))]
fn interface_addresses() -> Vec<IpAddr> {
    vec![]
}

/// The machine's hostname (Go's `os.Hostname`), asked anew each time as Ollama does.
#[cfg(unix)]
fn hostname() -> Option<String> {
    let name = nix::unistd::gethostname().ok()?;
    Some(name.to_string_lossy().into_owned())
}

#[cfg(not(unix))]
fn hostname() -> Option<String> {
    std::env::var("COMPUTERNAME").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_split_as_go_splits_them() {
        assert_eq!(split_host_port("localhost:11434"), Some("localhost"));
        assert_eq!(split_host_port("[::1]:11434"), Some("::1"));
        assert_eq!(split_host_port(":80"), Some(""));
        assert_eq!(split_host_port("localhost"), None);
        assert_eq!(split_host_port("[::1]"), None);
        assert_eq!(split_host_port("::1"), None);
        assert_eq!(split_host_port("[::1]x:80"), None);
        assert_eq!(split_host_port("a]:80"), None);
        assert_eq!(split_host_port("[a[b]:80"), None);
    }

    #[test]
    fn addresses_parse_as_netip_parses_them() {
        let v4 = |s: &str| parse_addr(s).map(|(ip, _)| ip.to_string());
        assert_eq!(v4("10.0.0.1"), Some("10.0.0.1".into()));
        assert_eq!(v4("010.0.0.1"), None, "leading zeros are not IPv4 in netip");
        assert_eq!(v4("1.2.3"), None);
        assert_eq!(parse_addr("fe80::1%eth0").map(|(_, z)| z), Some(true));
        assert_eq!(parse_addr("fe80::1%"), None);
        assert_eq!(
            parse_addr("::ffff:127.0.0.1").map(|(ip, _)| is_loopback(ip)),
            Some(true)
        );
    }

    #[test]
    fn only_a_server_on_loopback_checks() {
        let at = |s: &str| Some(s.parse::<SocketAddr>().expect("addr"));
        assert!(guards(at("127.0.0.1:11434")));
        assert!(guards(at("[::1]:11434")));
        assert!(guards(at("[::ffff:127.0.0.1]:11434")));
        assert!(!guards(at("0.0.0.0:11434")));
        assert!(!guards(at("[::]:11434")));
        assert!(!guards(at("192.168.1.5:11434")));
        assert!(!guards(None));
    }

    #[test]
    fn hosts_as_ollama_allows_them() {
        let get = |h: &str| verdict(h, &Method::GET);
        for ok in [
            "",
            "localhost",
            "localhost:11434",
            "LOCALHOST:11434",
            "127.0.0.1:11434",
            "127.1.2.3",
            "[::1]:11434",
            "0.0.0.0:11434",
            "[::]:11434",
            "10.0.0.1",
            "172.16.5.4:80",
            "192.168.1.1:11434",
            "[fd00::1]:11434",
            "[::ffff:192.168.1.1]:80",
            "app.localhost",
            "printer.local:631",
            "host.docker.internal:11434",
            "MyMac.LOCAL",
        ] {
            assert_eq!(get(ok), Verdict::Serve, "{ok:?} should be served");
        }
        for refused in [
            "example.com",
            "example.com:11434",
            "localhost.example.com",
            "local",
            "evil-local",
            "8.8.8.8:11434",
            "[2001:4860:4860::8888]:80",
            "172.32.0.1",
            "[::1]",
        ] {
            assert_eq!(
                get(refused),
                Verdict::Forbidden,
                "{refused:?} should be refused"
            );
        }
        assert_eq!(verdict("localhost", &Method::OPTIONS), Verdict::NoContent);
        assert_eq!(verdict("127.0.0.1", &Method::OPTIONS), Verdict::Serve);
        if let Some(name) = hostname().filter(|n| !n.is_empty() && parse_addr(n).is_none()) {
            assert_eq!(
                get(&format!("{}:11434", name.to_uppercase())),
                Verdict::Serve
            );
        }
    }
}
