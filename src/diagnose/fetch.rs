//! Fetching the certificate chain a live TLS server presents, without trusting it.
//!
//! Used by `inspect HOST:PORT`: a rustls client (ring provider) with a verifier that accepts any
//! chain (handshake signatures are still checked, so the server proves it holds the key), SNI
//! set from the host name, and timeouts on connect and on every read and write. Nothing is sent
//! after the handshake.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::ServerName;

use crate::error::{Error, Result};

/// A target given on the command line: `HOST:PORT`, `[V6]:PORT` or `https://HOST[:PORT][/…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or IP address (without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The path of an `https://` URL (`/` otherwise), for the request `probe` sends.
    pub path: String,
}

impl Target {
    /// Parses a target; `None` when `s` does not look like one (then it is a file name).
    pub fn parse(s: &str) -> Option<Target> {
        if let Some(rest) = s.strip_prefix("https://") {
            let (hostport, path) = match rest.find(['/', '?', '#']) {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            let hostport = hostport.rsplit('@').next().unwrap_or(hostport);
            let mut t = split_host_port(hostport, Some(443))?;
            t.path = if path.starts_with('/') {
                path.to_string()
            } else {
                format!("/{path}")
            };
            return Some(t);
        }
        if s.contains('/') || s.contains('\\') {
            return None;
        }
        split_host_port(s, None)
    }
}

fn split_host_port(s: &str, default: Option<u16>) -> Option<Target> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default?,
            None => return None,
        };
        return Some(Target {
            host: host.to_string(),
            port,
            path: "/".into(),
        });
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !h.contains(':') => Some(Target {
            host: h.to_string(),
            port: p.parse().ok()?,
            path: "/".into(),
        }),
        None if !s.is_empty() => default.map(|port| Target {
            host: s.to_string(),
            port,
            path: "/".into(),
        }),
        _ => None,
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

fn net_err(target: &Target, what: String, hint: &str) -> Error {
    Error::bad_file(
        std::path::Path::new(&target.to_string()),
        what,
        hint.to_string(),
    )
}

/// Connects, completes a TLS handshake and returns the chain the server sent (DER, as sent).
/// `timeout` bounds the connection and every read and write.
pub fn fetch_chain(target: &Target, timeout: Duration) -> Result<Vec<Vec<u8>>> {
    let addrs: Vec<_> = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| {
            net_err(
                target,
                format!("cannot resolve {}: {e}", target.host),
                "check the host name",
            )
        })?
        .collect();
    let mut last = None;
    let mut sock = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                sock = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let mut sock = sock.ok_or_else(|| {
        net_err(
            target,
            format!(
                "cannot connect: {}",
                last.map(|e| e.to_string())
                    .unwrap_or_else(|| "no address".into())
            ),
            "check the host and port, and that the server is running",
        )
    })?;
    let io = |e: std::io::Error| {
        net_err(
            target,
            format!("connection failed: {e}"),
            "check that this port speaks TLS",
        )
    };
    sock.set_read_timeout(Some(timeout)).map_err(io)?;
    sock.set_write_timeout(Some(timeout)).map_err(io)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Crypto(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(crate::pki::tls::AcceptAnyChain(provider)))
        .with_no_client_auth();
    let name = ServerName::try_from(target.host.clone()).map_err(|_| {
        net_err(
            target,
            "not a valid host name".into(),
            "give HOST:PORT or https://HOST[:PORT]",
        )
    })?;
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name)
        .map_err(|e| Error::Crypto(e.to_string()))?;
    // Bounded number of round trips: a server that trickles bytes still hits the timeouts.
    let mut rounds = 0;
    while conn.is_handshaking() {
        rounds += 1;
        if rounds > 64 {
            return Err(net_err(
                target,
                "TLS handshake did not finish".into(),
                "check that this port speaks TLS",
            ));
        }
        match conn.complete_io(&mut sock) {
            Ok(_) => {}
            Err(e) => {
                // A server that asks for a client certificate may close after the handshake; keep
                // what it sent if we have it.
                if conn.peer_certificates().is_some() {
                    break;
                }
                let hint = if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut
                {
                    "the server did not answer in time: check that this port speaks TLS"
                } else {
                    "check that this port speaks TLS (not plain HTTP) and accepts TLS 1.2 or 1.3"
                };
                return Err(net_err(target, format!("TLS handshake failed: {e}"), hint));
            }
        }
    }
    let _ = sock.flush();
    let mut sink = [0u8; 0];
    let _ = sock.read(&mut sink);
    let certs = conn
        .peer_certificates()
        .map(|c| c.iter().map(|c| c.as_ref().to_vec()).collect::<Vec<_>>())
        .unwrap_or_default();
    if certs.is_empty() {
        return Err(net_err(
            target,
            "the server sent no certificate".into(),
            "check the server's TLS configuration",
        ));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::Target;

    fn t(host: &str, port: u16) -> Option<Target> {
        Some(Target {
            host: host.into(),
            port,
            path: "/".into(),
        })
    }

    #[test]
    fn targets() {
        assert_eq!(
            Target::parse("api.example.com:8443"),
            t("api.example.com", 8443)
        );
        assert_eq!(
            Target::parse("https://api.example.com"),
            t("api.example.com", 443)
        );
        assert_eq!(
            Target::parse("https://api.example.com:9443/x?y").map(|t| (t.port, t.path)),
            Some((9443, "/x?y".to_string()))
        );
        assert_eq!(
            Target::parse("https://user@api.example.com/"),
            t("api.example.com", 443)
        );
        assert_eq!(Target::parse("[::1]:443"), t("::1", 443));
        assert_eq!(Target::parse("https://[::1]"), t("::1", 443));
        assert_eq!(Target::parse("10.0.0.5:443"), t("10.0.0.5", 443));
        assert_eq!(Target::parse("server.crt"), None);
        assert_eq!(Target::parse("certs/server.crt"), None);
        assert_eq!(Target::parse("host:notaport"), None);
        assert_eq!(Target::parse("::1"), None);
        assert_eq!(t("::1", 443).unwrap().to_string(), "[::1]:443");
    }
}
