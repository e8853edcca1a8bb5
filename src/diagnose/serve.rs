//! `serve`: a small rustls HTTPS server that demands (or requests) a client certificate and
//! answers each request with who the client is: the readable `openssl s_server -Verify`.
//!
//! The library reports what happens through a callback ([`Event`]); the CLI prints. One thread
//! per connection, with read timeouts so a silent client cannot pin a thread forever.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ServerConfig, ServerConnection};

use crate::error::{Error, Result};
use crate::x509;

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Server chain (leaf first).
    pub chain: Vec<CertificateDer<'static>>,
    /// Server key, PKCS#8 DER.
    pub key_pkcs8: Vec<u8>,
    /// CAs whose client certificates are accepted.
    pub client_cas: Vec<CertificateDer<'static>>,
    /// CRLs to check client certificates against.
    pub crls: Vec<CertificateRevocationListDer<'static>>,
    /// Request but do not require a client certificate.
    pub optional: bool,
}

/// The verified client of a connection.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClientInfo {
    /// Subject DN.
    pub subject: String,
    /// SANs.
    pub sans: Vec<String>,
    /// Serial, hex.
    pub serial: String,
    /// Issuer DN.
    pub issuer: String,
}

/// What happened on the server.
#[derive(Debug, Clone)]
pub enum Event {
    /// Listening on this address.
    Listening(SocketAddr),
    /// A request was answered.
    Served {
        /// Peer address.
        peer: SocketAddr,
        /// The verified client, None when it sent no certificate (optional mode).
        client: Option<ClientInfo>,
        /// The request line.
        request: String,
    },
    /// A handshake failed.
    HandshakeFailed {
        /// Peer address.
        peer: SocketAddr,
        /// Why, in plain words.
        reason: String,
    },
}

/// Builds the rustls server configuration.
pub fn config(opts: &ServeOptions) -> Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in &opts.client_cas {
        roots.add(c.clone()).map_err(|e| {
            Error::invalid(
                "--ca",
                "",
                format!("unusable CA certificate ({e})"),
                "give a CA certificate",
            )
        })?;
    }
    let mut vb = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .with_crls(opts.crls.clone());
    if opts.optional {
        vb = vb.allow_unauthenticated();
    }
    let verifier = vb.build().map_err(|e| {
        Error::invalid(
            "--ca",
            "",
            format!("cannot build the client verifier ({e})"),
            "give a CA certificate and valid CRLs",
        )
    })?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Crypto(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            opts.chain.clone(),
            PrivateKeyDer::Pkcs8(opts.key_pkcs8.clone().into()),
        )
        .map_err(|e| {
            Error::invalid(
                "--server",
                "",
                format!("unusable server certificate or key ({e})"),
                "give a STEM with STEM.crt and STEM.key that belong together",
            )
        })?;
    Ok(Arc::new(config))
}

/// Binds and serves until the process ends.
pub fn serve(opts: &ServeOptions, on_event: Arc<dyn Fn(Event) + Send + Sync>) -> Result<()> {
    let config = config(opts)?;
    let listener = TcpListener::bind(opts.listen).map_err(|e| Error::Connect {
        target: opts.listen.to_string(),
        reason: format!("cannot listen ({e})"),
        hint: "choose another --listen address or port".into(),
    })?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::io(std::path::Path::new("socket"), e))?;
    on_event(Event::Listening(local));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let config = config.clone();
        let on_event = on_event.clone();
        std::thread::spawn(move || handle(stream, config, on_event));
    }
    Ok(())
}

fn handle(
    mut sock: TcpStream,
    config: Arc<ServerConfig>,
    on_event: Arc<dyn Fn(Event) + Send + Sync>,
) {
    let Ok(peer) = sock.peer_addr() else { return };
    let _ = sock.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = sock.set_write_timeout(Some(Duration::from_secs(10)));
    let Ok(mut conn) = ServerConnection::new(config) else {
        return;
    };
    while conn.is_handshaking() {
        match conn.complete_io(&mut sock) {
            Ok((0, 0)) if conn.is_handshaking() => return,
            Ok(_) => {}
            Err(e) => {
                // Send the alert rustls queued, then report.
                let _ = conn.write_tls(&mut sock);
                let reason = match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                    Some(t) => explain_server_error(t),
                    None => format!("connection error: {e}"),
                };
                on_event(Event::HandshakeFailed { peer, reason });
                return;
            }
        }
    }
    let client = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|leaf| client_info(leaf.as_ref()));
    // Read the request head.
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match conn.reader().read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                match conn.complete_io(&mut sock) {
                    Ok((0, 0)) => break,
                    Ok(_) => {}
                    Err(e) => {
                        let reason =
                            match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                                Some(t) => explain_server_error(t),
                                None => format!("connection error: {e}"),
                            };
                        on_event(Event::HandshakeFailed { peer, reason });
                        return;
                    }
                }
            }
            Err(_) => break,
        }
    }
    if head.is_empty() {
        // A connection that only did a handshake (a resumption test, a port check).
        conn.send_close_notify();
        let _ = conn.complete_io(&mut sock);
        return;
    }
    let request = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>();
    let body = match &client {
        Some(c) => format!(
            "hello {}\nsubject: {}\nsans: {}\nserial: {}\nissuer: {}\nverify: SUCCESS\n",
            c.subject,
            c.subject,
            c.sans.join(", "),
            c.serial,
            c.issuer
        ),
        None => "no client certificate (optional mode)\nverify: NONE\n".to_string(),
    };
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.writer().write_all(resp.as_bytes());
    conn.send_close_notify();
    let _ = conn.complete_io(&mut sock);
    on_event(Event::Served {
        peer,
        client,
        request,
    });
}

fn client_info(der: &[u8]) -> Option<ClientInfo> {
    let c = x509::parse_cert(der, std::path::Path::new("<client>")).ok()?;
    Some(ClientInfo {
        subject: c.subject().to_string(),
        sans: x509::san_strings(&c),
        serial: crate::serial::Serial::from_bytes(c.raw_serial()).hex(),
        issuer: c.issuer().to_string(),
    })
}

/// A server-side handshake error in plain words.
pub fn explain_server_error(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::NoCertificatesPresented => {
            "the client sent no certificate (it needs --cert/--key, or its certificate is not from a CA this server names)".into()
        }
        rustls::Error::InvalidCertificate(ce) => match ce {
            C::UnknownIssuer => "the client certificate is from a CA this server does not trust (or its intermediate was not sent)".into(),
            C::Expired | C::ExpiredContext { .. } => "the client certificate has expired".into(),
            C::NotValidYet | C::NotValidYetContext { .. } => "the client certificate is not valid yet".into(),
            C::Revoked => "the client certificate is revoked".into(),
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => "the client certificate is not for clients (no clientAuth EKU)".into(),
            C::BadSignature => "the client certificate's signature is bad".into(),
            C::UnknownRevocationStatus => "no CRL covers the client certificate's issuer".into(),
            C::ExpiredRevocationList | C::ExpiredRevocationListContext { .. } => "the CRL has expired: renew it (mtls-ca crl)".into(),
            other => format!("the client certificate is invalid ({other:?})"),
        },
        rustls::Error::AlertReceived(a) => format!("the client aborted with alert {a:?} (it does not trust this server's certificate?)"),
        other => format!("handshake failed: {other}"),
    }
}
