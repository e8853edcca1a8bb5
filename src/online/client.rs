//! A minimal HTTPS client for the agent: one request per connection, hyper over tokio-rustls,
//! the server verified against the CA bundle the agent was given, optionally with a client
//! certificate (renewal).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::error::{Error, Result};

/// The base URL parts of `https://host[:port]`.
#[derive(Debug, Clone)]
pub struct Target {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl Target {
    /// Parses `https://host[:port]`.
    pub fn parse(url: &str) -> Result<Target> {
        let bad = || {
            Error::invalid(
                "--server",
                url,
                "not an https:// URL",
                "give the CA's HTTPS address, e.g. https://ca.example.com:8443",
            )
        };
        let rest = url
            .trim()
            .trim_end_matches('/')
            .strip_prefix("https://")
            .ok_or_else(bad)?;
        if rest.is_empty() || rest.contains('/') {
            return Err(bad());
        }
        let (host, port) = if let Some(r) = rest.strip_prefix('[') {
            let (h, p) = r.split_once(']').ok_or_else(bad)?;
            (h.to_string(), p.strip_prefix(':').map(str::to_string))
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p.to_string())),
                None => (rest.to_string(), None),
            }
        };
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad())?,
            None => 443,
        };
        Ok(Target { host, port })
    }
}

/// What an answer was.
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Vec<u8>,
}

/// Why no HTTP answer came back.
#[derive(Debug)]
pub enum Unreachable {
    /// Connection, TLS or HTTP failed on the way (worth retrying).
    Down(String),
    /// The server's certificate does not chain to the CA bundle the client was given (after a
    /// rotation: the bundle predates the new root).
    ServerNotTrusted(String),
    /// The server refused the client certificate in the handshake (its issuer is no longer
    /// trusted there, e.g. after `ca rotate --finish`, or it expired).
    ClientCertRefused(String),
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unreachable::Down(m)
            | Unreachable::ServerNotTrusted(m)
            | Unreachable::ClientCertRefused(m) => f.write_str(m),
        }
    }
}

/// What a failed exchange says about TLS: the rustls error somewhere in `e`'s chain (inside an
/// `io::Error` too), sorted into the two refusals that retrying does not cure.
fn classify(what: &str, e: &(dyn std::error::Error + 'static)) -> Unreachable {
    use rustls::AlertDescription as A;
    let text = format!("{what}: {e}");
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let tls = err.downcast_ref::<rustls::Error>().or_else(|| {
            err.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        match tls {
            Some(rustls::Error::InvalidCertificate(_)) => {
                return Unreachable::ServerNotTrusted(text)
            }
            Some(rustls::Error::AlertReceived(
                A::UnknownCA
                | A::BadCertificate
                | A::CertificateExpired
                | A::CertificateRevoked
                | A::CertificateUnknown
                | A::UnsupportedCertificate
                | A::AccessDenied,
            )) => return Unreachable::ClientCertRefused(text),
            _ => {}
        }
        cur = err.source();
    }
    Unreachable::Down(text)
}

/// A client configuration trusting `roots` (DER), with a client certificate chain and PKCS#8 key
/// when given.
pub fn config(
    roots_pem: &[Vec<u8>],
    client: Option<(Vec<Vec<u8>>, Vec<u8>)>,
) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(super::tls_provider());
    let mut roots = rustls::RootCertStore::empty();
    for der in roots_pem {
        let _ = roots.add(CertificateDer::from(der.clone()));
    }
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Validity(format!("TLS setup failed ({e})"), "report a bug".into()))?
        .with_root_certificates(roots);
    let mut cfg = match client {
        Some((chain, key_pkcs8)) => b
            .with_client_auth_cert(
                chain.into_iter().map(CertificateDer::from).collect(),
                PrivateKeyDer::Pkcs8(key_pkcs8.into()),
            )
            .map_err(|e| {
                Error::Validity(
                    format!("the certificate and key cannot be used for TLS ({e})"),
                    "bootstrap again with --token".into(),
                )
            })?,
        None => b.with_no_client_auth(),
    };
    // One request per configuration: a session ticket would never be used (and the server
    // sends none).
    cfg.resumption = rustls::client::Resumption::disabled();
    Ok(cfg)
}

/// Sends one request; `Err(Unreachable)` when no HTTP answer came back.
pub async fn request(
    cfg: Arc<rustls::ClientConfig>,
    target: &Target,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> std::result::Result<Answer, Unreachable> {
    let fail = |what: &str, e: &dyn std::fmt::Display| Unreachable::Down(format!("{what}: {e}"));
    let addr = format!("{}:{}", target.host, target.port);
    let tcp = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect(&addr),
    )
    .await
    .map_err(|e| fail("connect", &e))?
    .map_err(|e| fail("connect", &e))?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from(target.host.clone()).map_err(|e| fail("server name", &e))?;
    let tls = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_rustls::TlsConnector::from(cfg).connect(name, tcp),
    )
    .await
    .map_err(|e| fail("TLS handshake", &e))?
    .map_err(|e| classify("TLS handshake", &e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| classify("HTTP", &e))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", format!("{}:{}", target.host, target.port))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| fail("request", &e))?;
    let resp = tokio::time::timeout(Duration::from_secs(60), sender.send_request(req))
        .await
        .map_err(|e| fail("request", &e))?
        .map_err(|e| classify("request", &e))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| classify("response", &e))?
        .to_bytes()
        .to_vec();
    Ok(Answer { status, body })
}
