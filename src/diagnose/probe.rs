//! `probe`: connect to a live TLS endpoint as a client and explain, in the seed's words, whether
//! mutual TLS works and why not.
//!
//! One rustls client (ring provider) does everything: a recording server-certificate verifier
//! keeps the chain the server presented and what rustls' own `WebPkiServerVerifier` thinks of it
//! (but lets the handshake go on, so client authentication can still be observed); a recording
//! client-certificate resolver learns whether the server asked for a certificate and which CA
//! names it accepts. After the handshake an HTTP request is sent and the answer read, because in
//! TLS 1.3 a server's verdict on the client certificate arrives only then (as an alert, or as an
//! nginx/Kong error page). A second connection reports session resumption. All network steps
//! share one deadline. Never sends a client key unless given one.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{
    AlertDescription, ClientConfig, ClientConnection, DigitallySignedStruct, HandshakeKind,
    SignatureScheme,
};

use crate::diagnose::finding::{Code, Scope, Side};
use crate::error::{Error, Result};
use crate::x509;

pub use crate::fetch::Target;

/// Parses a probe target: `https://HOST[:PORT][/PATH]`, `HOST:PORT`, `[V6]:PORT`, or a bare host
/// (port 443).
pub fn parse_target(s: &str) -> Result<Target> {
    if s.starts_with("http://") {
        return Err(Error::invalid(
            "target",
            s,
            "plain http:// has no TLS to probe",
            "give HOST:PORT or https://HOST[:PORT]/PATH",
        ));
    }
    Target::parse(s)
        .or_else(|| Target::parse(&format!("{s}:443")))
        .filter(|t| !t.host.is_empty() && t.port != 0)
        .ok_or_else(|| {
            Error::invalid(
                "target",
                s,
                "not HOST:PORT or https://HOST[:PORT]/PATH",
                "give HOST:PORT or https://HOST[:PORT]/PATH",
            )
        })
}

/// What to present and trust.
#[derive(Debug)]
pub struct ProbeOptions {
    /// The endpoint.
    pub target: Target,
    /// SNI and the name the server certificate must match (default: the host).
    pub servername: Option<String>,
    /// Trust anchors for judging the server chain; empty = the chain is shown but not judged.
    pub roots: Vec<CertificateDer<'static>>,
    /// Client certificate chain (leaf first) and PKCS#8 key, if any.
    pub client: Option<(Vec<CertificateDer<'static>>, Vec<u8>)>,
    /// Deadline for the whole probe.
    pub timeout: Duration,
    /// Also try a second, resumed connection.
    pub resumption: bool,
    /// curl's `--resolve HOST:PORT:ADDR`: connect to ADDR for HOST:PORT (SNI and Host stay).
    pub resolve: Vec<(String, u16, std::net::IpAddr)>,
    /// CA certificates to check our client certificate against when the server refuses it
    /// (the CA directory's certificates and `--ca`); only those whose names the server accepts
    /// are used as trust anchors.
    pub client_trust: Vec<CertificateDer<'static>>,
    /// CRLs (DER) for that local check.
    pub crls: Vec<Vec<u8>>,
    /// How to name the client certificate file in hints (its `--cert` path).
    pub client_label: String,
    /// The caller's CA directories, for fix commands.
    pub fix: crate::diagnose::finding::FixContext,
}

/// Parses curl's `--resolve HOST:PORT:ADDR` (ADDR may be `[v6]`).
pub fn parse_resolve(s: &str) -> Result<(String, u16, std::net::IpAddr)> {
    let bad = |why: &str| {
        Error::invalid(
            "--resolve",
            s,
            why.to_string(),
            "write it as curl does: --resolve api.example.com:443:127.0.0.1",
        )
    };
    let (host, rest) = s.split_once(':').ok_or_else(|| bad("not HOST:PORT:ADDR"))?;
    let (port, addr) = rest
        .split_once(':')
        .ok_or_else(|| bad("not HOST:PORT:ADDR"))?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?;
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let ip: std::net::IpAddr = addr
        .parse()
        .map_err(|_| bad("the address is not an IP address"))?;
    if host.is_empty() {
        return Err(bad("the host is empty"));
    }
    Ok((host.to_ascii_lowercase(), port, ip))
}

/// One certificate of the server's chain, as presented.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChainEntry {
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial, hex.
    pub serial: String,
    /// notAfter RFC 3339.
    pub not_after: String,
    /// Days until expiry (negative: expired).
    pub expires_in_days: i64,
    /// SANs.
    pub sans: Vec<String>,
}

/// One finding: a stable code, the side that must act, what is wrong, and how to fix it.
pub type Finding = crate::diagnose::finding::Finding;

/// Everything a probe learned.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProbeReport {
    /// The endpoint probed.
    pub target: String,
    /// The TCP connection was established.
    pub connected: bool,
    /// The TLS handshake completed.
    pub handshake_completed: bool,
    /// Negotiated version, e.g. `TLSv1.3`.
    pub tls_version: Option<String>,
    /// Negotiated cipher suite.
    pub cipher_suite: Option<String>,
    /// Negotiated ALPN protocol.
    pub alpn: Option<String>,
    /// Handshake time in milliseconds.
    pub handshake_ms: Option<f64>,
    /// The server's chain as presented (leaf first).
    pub server_chain: Vec<ChainEntry>,
    /// The server's chain passed rustls verification against the given CAs (None: no CA given).
    pub server_chain_valid: Option<bool>,
    /// The server asked for a client certificate.
    pub client_cert_requested: bool,
    /// CA names the server accepts for client certificates.
    pub acceptable_client_cas: Vec<String>,
    /// A client certificate was sent.
    pub client_cert_sent: bool,
    /// Whether the server accepted it (None: not determined).
    pub client_cert_accepted: Option<bool>,
    /// TLS alert received from the server, if any.
    pub alert: Option<String>,
    /// HTTP status of the answer, if any.
    pub http_status: Option<u16>,
    /// A second connection resumed the session (None: not tried).
    pub resumed: Option<bool>,
    /// Handshake time of the resumed connection.
    pub resumed_handshake_ms: Option<f64>,
    /// Milliseconds the resumed handshake saved against the full one (never negative: a
    /// resumed handshake that happened to take longer, timing noise, saved 0).
    pub resumption_saved_ms: Option<f64>,
    /// Every problem found.
    pub diagnosis: Vec<Finding>,
    /// Things worth knowing that are not failures.
    pub warnings: Vec<String>,
}

impl ProbeReport {
    /// True when mutual TLS works end to end (exit 0).
    pub fn ok(&self) -> bool {
        self.diagnosis.is_empty()
    }
}

fn finding(code: Code, message: impl Into<String>, hint: impl Into<String>) -> Finding {
    Finding::new(code, side_of(code), message, hint)
}

/// Who must act on a probe finding about the client side (server-chain findings are the
/// server's, set where they are made).
fn side_of(code: Code) -> Side {
    match code {
        Code::ClientCertNotRequested | Code::NoAnswer | Code::HandshakeFailed => Side::Gateway,
        Code::ServerNoCertificate | Code::ServerCertInvalid | Code::ServerMissingIntermediate => {
            Side::Server
        }
        _ => Side::Client,
    }
}

/// Records the server chain and rustls' verdict on it, then lets the handshake continue
/// (handshake signatures are still checked, by [`crate::pki::tls::AcceptAnyChain`]).
#[derive(Debug)]
struct ChainRecorder {
    inner: Option<Arc<WebPkiServerVerifier>>,
    signatures: crate::pki::tls::AcceptAnyChain,
    seen: Mutex<Option<(Vec<CertificateDer<'static>>, Option<rustls::Error>)>>,
}

impl ServerCertVerifier for ChainRecorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let verdict = self.inner.as_ref().and_then(|v| {
            v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
                .err()
        });
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some((chain, verdict));
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.signatures.supported_verify_schemes()
    }
}

/// Records whether (and with which CA hints) the server asked for a client certificate.
#[derive(Debug)]
struct ClientRecorder {
    key: Option<Arc<CertifiedKey>>,
    asked: Mutex<Option<Vec<Vec<u8>>>>,
}

impl ResolvesClientCert for ClientRecorder {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        *self.asked.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(root_hint_subjects.iter().map(|h| h.to_vec()).collect());
        self.key.clone()
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// What one connection attempt observed.
#[derive(Debug, Default)]
struct Attempt {
    handshake: Option<Duration>,
    version: Option<String>,
    suite: Option<String>,
    alpn: Option<String>,
    resumed: bool,
    error: Option<rustls::Error>,
    eof_without_answer: bool,
    timed_out: bool,
    http: Option<(u16, String)>,
}

/// Probes the endpoint. `Err` only when the probe could not run (bad arguments, refused,
/// unreachable, timed out before TLS started); every TLS-level outcome is in the report.
pub fn probe(opts: &ProbeOptions, now: time::OffsetDateTime) -> Result<ProbeReport> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let deadline = Instant::now() + opts.timeout;
    let target_s = opts.target.to_string();
    let sni = opts
        .servername
        .clone()
        .unwrap_or_else(|| opts.target.host.clone());
    let server_name = ServerName::try_from(sni.clone()).map_err(|_| {
        Error::invalid(
            "--servername",
            sni.clone(),
            "not a valid DNS name or IP address",
            "give the host name the server certificate is for",
        )
    })?;
    let inner = if opts.roots.is_empty() {
        None
    } else {
        let mut store = rustls::RootCertStore::empty();
        for r in &opts.roots {
            store.add(r.clone()).map_err(|e| {
                Error::invalid(
                    "--ca",
                    "",
                    format!("unusable trust anchor ({e})"),
                    "give a CA certificate",
                )
            })?;
        }
        Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                .build()
                .map_err(|e| Error::Crypto(e.to_string()))?,
        )
    };
    let recorder = Arc::new(ChainRecorder {
        inner,
        signatures: crate::pki::tls::AcceptAnyChain(provider.clone()),
        seen: Mutex::new(None),
    });
    let key = match &opts.client {
        Some((chain, pkcs8)) => {
            let der = PrivateKeyDer::Pkcs8(pkcs8.clone().into());
            let signer = provider.key_provider.load_private_key(der).map_err(|e| {
                Error::invalid(
                    "--key",
                    "",
                    format!("unusable client key ({e})"),
                    "give the key of --cert",
                )
            })?;
            Some(Arc::new(CertifiedKey::new(chain.clone(), signer)))
        }
        None => None,
    };
    let client_rec = Arc::new(ClientRecorder {
        key,
        asked: Mutex::new(None),
    });
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Crypto(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_client_cert_resolver(client_rec.clone());
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let config = Arc::new(config);

    let addr = match opts
        .resolve
        .iter()
        .find(|(h, p, _)| h.eq_ignore_ascii_case(&opts.target.host) && *p == opts.target.port)
    {
        Some((_, p, ip)) => SocketAddr::new(*ip, *p),
        None => resolve(&opts.target, &target_s)?,
    };
    let first = attempt(
        &config,
        &server_name,
        addr,
        &opts.target,
        &sni,
        deadline,
        true,
        &target_s,
    )?;

    let mut report = ProbeReport {
        target: target_s.clone(),
        connected: true,
        handshake_completed: first.handshake.is_some(),
        tls_version: first.version.clone(),
        cipher_suite: first.suite.clone(),
        alpn: first.alpn.clone(),
        handshake_ms: first.handshake.map(ms),
        server_chain: Vec::new(),
        server_chain_valid: None,
        client_cert_requested: false,
        acceptable_client_cas: Vec::new(),
        client_cert_sent: false,
        client_cert_accepted: None,
        alert: None,
        http_status: first.http.as_ref().map(|h| h.0),
        resumed: None,
        resumed_handshake_ms: None,
        resumption_saved_ms: None,
        diagnosis: Vec::new(),
        warnings: Vec::new(),
    };

    // The server's side: its chain, judged like `verify` would.
    let seen = recorder
        .seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    if let Some((chain, verdict)) = &seen {
        report.server_chain = chain.iter().filter_map(|c| chain_entry(c, now)).collect();
        if !opts.roots.is_empty() {
            // The same judgement as `mtls-ca verify` (rustls' verifier underneath), so probe and
            // verify never disagree about a chain.
            let judged = judge_server_chain(chain, &opts.roots, &sni, now);
            report.server_chain_valid = Some(verdict.is_none() && judged.is_empty());
            report.diagnosis.extend(judged);
        } else {
            report.warnings.push(
                "the server chain was not judged: pass --ca with the CA that should have issued it"
                    .into(),
            );
        }
        if let Some(leaf) = report.server_chain.first() {
            if (0..30).contains(&leaf.expires_in_days) {
                report.warnings.push(format!(
                    "the server certificate expires in {} ({}): renew it",
                    crate::inspect::days_text(leaf.expires_in_days),
                    leaf.not_after
                ));
            }
        }
    }

    // The client side: was a certificate asked for, sent, accepted?
    let asked = client_rec
        .asked
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    report.client_cert_requested = asked.is_some();
    report.acceptable_client_cas = asked
        .unwrap_or_default()
        .iter()
        .map(|dn| dn_text(dn))
        .collect();
    report.client_cert_sent = report.client_cert_requested && opts.client.is_some();
    report.alert = first.error.as_ref().and_then(|e| match e {
        rustls::Error::AlertReceived(a) => Some(alert_name(*a)),
        _ => None,
    });
    judge_client(&mut report, &first, opts);
    let hints = client_rec
        .asked
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or_default();
    refine_refusal(&mut report, opts, &hints, now);
    if !report.handshake_completed
        && matches!(first.error, Some(rustls::Error::InvalidMessage(_)))
        && plain_http(addr, &opts.target, deadline)
    {
        report.diagnosis.clear();
        report.diagnosis.push(finding(
            Code::NotTls,
            format!("{target_s} speaks plain HTTP, not TLS"),
            format!(
                "use http://{target_s}/ for it, or the server's TLS port; on the server, a TLS listener needs `listen PORT ssl` (nginx) / `bind :PORT ssl crt …` (HAProxy)"
            ),
        ));
    }

    // Resumption, when the first connection worked.
    if opts.resumption
        && report.handshake_completed
        && first.error.is_none()
        && Instant::now() < deadline
    {
        if let Ok(second) = attempt(
            &config,
            &server_name,
            addr,
            &opts.target,
            &sni,
            deadline,
            false,
            &target_s,
        ) {
            if second.handshake.is_some() {
                report.resumed = Some(second.resumed);
                report.resumed_handshake_ms = second.handshake.map(ms);
                if let (true, Some(full), Some(resumed)) = (
                    second.resumed,
                    report.handshake_ms,
                    report.resumed_handshake_ms,
                ) {
                    report.resumption_saved_ms =
                        Some(((full - resumed).max(0.0) * 100.0).round() / 100.0);
                }
                if !second.resumed {
                    report.warnings.push(
                        "the server did not resume the TLS session: every request pays a full handshake (nginx: ssl_session_cache shared:SSL:10m; ssl_session_tickets on)".into(),
                    );
                }
            }
        }
    }
    Ok(report)
}

/// True when the port answers a plain HTTP request with an HTTP response.
fn plain_http(addr: SocketAddr, target: &Target, deadline: Instant) -> bool {
    let Some(left) = remaining(deadline) else {
        return false;
    };
    let Ok(mut s) = TcpStream::connect_timeout(&addr, left) else {
        return false;
    };
    let left = remaining(deadline).unwrap_or(Duration::from_millis(1));
    let _ = s.set_read_timeout(Some(left));
    let _ = s.set_write_timeout(Some(left));
    let req = format!(
        "HEAD / HTTP/1.0\r\nHost: {}\r\nUser-Agent: mtls-ca-probe\r\n\r\n",
        target.host
    );
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).is_ok() && &buf == b"HTTP/"
}

/// When the server refused our client certificate, we hold it: check it locally against the
/// CAs the server names (and the CRLs given) and name the cause with `verify`'s code
/// (`client_cert_expired`, `client_cert_wrong_purpose`, `client_cert_missing_intermediate`,
/// `client_cert_unknown_issuer`, `client_cert_revoked`, `client_cert_not_yet_valid`). A
/// certificate the local check accepts keeps the server's own answer.
fn refine_refusal(
    report: &mut ProbeReport,
    opts: &ProbeOptions,
    hints: &[Vec<u8>],
    now: time::OffsetDateTime,
) {
    if !report.client_cert_sent || report.client_cert_accepted != Some(false) {
        return;
    }
    let Some((chain, _)) = &opts.client else {
        return;
    };
    let Some(leaf) = chain.first() else {
        return;
    };
    let refused = [
        Code::ClientCertUntrusted,
        Code::ClientCertRejected,
        Code::Expired,
        Code::Revoked,
        Code::WrongPurpose,
    ];
    let Some(pos) = report
        .diagnosis
        .iter()
        .position(|f| refused.contains(&f.code))
    else {
        return;
    };
    let subject = |d: &[u8]| {
        x509::parse_cert(d, std::path::Path::new("<ca>"))
            .ok()
            .map(|c| c.subject().as_raw().to_vec())
    };
    let mut known: Vec<Vec<u8>> = Vec::new();
    for c in opts.client_trust.iter().chain(opts.roots.iter()) {
        if !known.iter().any(|k| k.as_slice() == c.as_ref()) {
            known.push(c.as_ref().to_vec());
        }
    }
    let anchors: Vec<Vec<u8>> = if hints.is_empty() {
        known.clone()
    } else {
        known
            .iter()
            .filter(|c| subject(c).is_some_and(|s| hints.contains(&s)))
            .cloned()
            .collect()
    };
    let label = if opts.client_label.is_empty() {
        "client.crt".to_string()
    } else {
        opts.client_label.clone()
    };
    let cas = if report.acceptable_client_cas.is_empty() {
        "any CA it trusts".to_string()
    } else {
        report.acceptable_client_cas.join("; ")
    };
    let found = if anchors.is_empty() {
        // We hold none of the CAs the server names: is ours among them at all?
        let top_issuer = chain.last().and_then(|c| {
            x509::parse_cert(c.as_ref(), std::path::Path::new("<cert>"))
                .ok()
                .map(|c| c.issuer().as_raw().to_vec())
        });
        if !hints.is_empty() && top_issuer.is_some_and(|i| !hints.contains(&i)) {
            Some(Finding::new(
                Code::UnknownIssuer,
                Side::Client,
                format!("your certificate's CA is not among the CAs the server accepts ({cas})"),
                "use a certificate issued by one of them, or add your CA to the server's trusted CA file",
            ))
        } else {
            None
        }
    } else {
        let input = crate::verify::Input {
            leaf: leaf.as_ref().to_vec(),
            intermediates: chain[1..].iter().map(|c| c.as_ref().to_vec()).collect(),
            roots: anchors,
            crls: opts.crls.clone(),
            purpose: Some(crate::verify::Purpose::Client),
            host: None,
            key_spki: None,
            at: now,
            cert_label: label.clone(),
            candidates: known.clone(),
            candidate_files: Vec::new(),
        };
        crate::verify::verify_with(&input, &opts.fix)
            .ok()
            .and_then(|r| {
                r.errors
                    .into_iter()
                    .find(|e| e.code != Code::RevocationUnknown)
            })
    };
    let Some(mut f) = found else {
        return;
    };
    if f.code == Code::UnknownIssuer {
        let issuing = opts
            .fix
            .issuing_dir(|c| {
                // A CA the server names, or an issuing CA right below one.
                let issuer = x509::parse_cert(c, std::path::Path::new("<ca>"))
                    .ok()
                    .map(|c| c.issuer().as_raw().to_vec());
                hints.is_empty()
                    || subject(c).is_some_and(|s| hints.contains(&s))
                    || issuer.is_some_and(|s| hints.contains(&s))
            })
            .map(|p| p.to_path_buf());
        let leaf_cert = x509::parse_cert(leaf.as_ref(), std::path::Path::new("<cert>")).ok();
        let cn = leaf_cert.as_ref().and_then(|c| {
            c.subject()
                .iter_common_name()
                .next()
                .and_then(|n| n.as_str().ok())
                .map(str::to_string)
        });
        f.message = format!("{} (the server accepts {cas})", f.message);
        match (issuing, cn) {
            (Some(dir), Some(cn)) => {
                let stem = crate::diagnose::finding::stem_of(&label).to_string();
                let cmd = opts.fix.mtls(
                    &dir,
                    &[
                        "issue",
                        "client",
                        "--cn",
                        cn.as_str(),
                        "--out",
                        stem.as_str(),
                        "--force",
                    ],
                );
                f.hint = format!("get a certificate from a CA the server accepts (the old files kept as .bak): {cmd}; or add your CA to the server's trusted CA file (ssl_client_certificate / ca-file / trusted_ca_cert_file)");
                f.command = Some(cmd);
            }
            _ => {
                f.hint = format!("get a certificate from a CA the server accepts ({cas}), or add your CA to the server's trusted CA file (ssl_client_certificate / ca-file / trusted_ca_cert_file)");
            }
        }
    }
    f.message = format!("the server refused your client certificate: {}", f.message);
    f.side = Side::Client;
    report.diagnosis[pos] = f.scoped(Scope::ClientCert);
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

fn resolve(t: &Target, shown: &str) -> Result<SocketAddr> {
    (t.host.as_str(), t.port)
        .to_socket_addrs()
        .map_err(|e| Error::Connect {
            target: shown.into(),
            reason: format!("cannot resolve the host ({e})"),
            hint: "check the host name".into(),
        })?
        .next()
        .ok_or_else(|| Error::Connect {
            target: shown.into(),
            reason: "the host has no address".into(),
            hint: "check the host name".into(),
        })
}

fn remaining(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}

#[allow(clippy::too_many_arguments)]
fn attempt(
    config: &Arc<ClientConfig>,
    server_name: &ServerName<'static>,
    addr: SocketAddr,
    target: &Target,
    host_header: &str,
    deadline: Instant,
    send_request: bool,
    shown: &str,
) -> Result<Attempt> {
    let timeout_err = |what: &str| {
        Error::Connect {
        target: shown.into(),
        reason: format!("timed out {what}"),
        hint: "the server accepted the connection but did not answer: is it speaking TLS on this port? raise --timeout for slow links".into(),
    }
    };
    let left = remaining(deadline).ok_or_else(|| timeout_err("before connecting"))?;
    let mut sock = TcpStream::connect_timeout(&addr, left).map_err(|e| Error::Connect {
        target: shown.into(),
        reason: match e.kind() {
            ErrorKind::ConnectionRefused => {
                "connection refused: nothing listens on this port".into()
            }
            ErrorKind::TimedOut | ErrorKind::WouldBlock => "timed out connecting".into(),
            _ => format!("cannot connect ({e})"),
        },
        hint: "check the host and port, and that the server is running".into(),
    })?;
    let _ = sock.set_nodelay(true);
    let mut conn = ClientConnection::new(config.clone(), server_name.clone())
        .map_err(|e| Error::Crypto(e.to_string()))?;
    let mut at = Attempt::default();
    let start = Instant::now();
    while conn.is_handshaking() {
        let left = remaining(deadline).ok_or_else(|| timeout_err("during the TLS handshake"))?;
        let _ = sock.set_read_timeout(Some(left));
        let _ = sock.set_write_timeout(Some(left));
        match conn.complete_io(&mut sock) {
            Ok((0, 0)) if conn.is_handshaking() && !conn.wants_write() => {
                at.eof_without_answer = true;
                at.error = Some(rustls::Error::General(
                    "connection closed during handshake".into(),
                ));
                return Ok(at);
            }
            Ok(_) => {}
            Err(e) => {
                if is_timeout(&e) {
                    return Err(timeout_err("during the TLS handshake"));
                }
                at.error = Some(tls_error(e));
                fill_session(&mut at, &conn);
                return Ok(at);
            }
        }
    }
    at.handshake = Some(start.elapsed());
    fill_session(&mut at, &conn);
    at.resumed = conn.handshake_kind() == Some(HandshakeKind::Resumed);
    if !send_request {
        conn.send_close_notify();
        let _ = conn.complete_io(&mut sock);
        return Ok(at);
    }
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: mtls-ca-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        target.path, host_header
    );
    if let Err(e) = conn.writer().write_all(req.as_bytes()) {
        at.error = Some(rustls::Error::General(e.to_string()));
        return Ok(at);
    }
    let mut body = Vec::new();
    loop {
        let Some(left) = remaining(deadline) else {
            at.timed_out = true;
            break;
        };
        let _ = sock.set_read_timeout(Some(left));
        let _ = sock.set_write_timeout(Some(left));
        if conn.wants_write() {
            if let Err(e) = conn.write_tls(&mut sock) {
                if !is_timeout(&e) {
                    at.error = Some(tls_error(e));
                }
                break;
            }
            continue;
        }
        match conn.read_tls(&mut sock) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {
                at.timed_out = true;
                break;
            }
            Err(e) => {
                if body.is_empty() {
                    at.error = Some(rustls::Error::General(e.to_string()));
                }
                break;
            }
        }
        match conn.process_new_packets() {
            Ok(state) => {
                let n = state.plaintext_bytes_to_read();
                if n > 0 {
                    let mut buf = vec![0u8; n];
                    let _ = conn.reader().read_exact(&mut buf);
                    body.extend_from_slice(&buf);
                }
                if state.peer_has_closed() || body.len() > 64 * 1024 {
                    break;
                }
                if http_complete(&body) {
                    break;
                }
            }
            Err(e) => {
                at.error = Some(e);
                break;
            }
        }
    }
    if !body.is_empty() {
        at.http = parse_http(&body);
    } else if at.error.is_none() && !at.timed_out {
        at.eof_without_answer = true;
    }
    Ok(at)
}

fn fill_session(at: &mut Attempt, conn: &ClientConnection) {
    at.version = conn.protocol_version().map(|v| match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_string(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_string(),
        other => format!("{other:?}"),
    });
    at.suite = conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()));
    at.alpn = conn
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

fn tls_error(e: std::io::Error) -> rustls::Error {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(t) => t.clone(),
        None => rustls::Error::General(e.to_string()),
    }
}

/// True when `body` holds a complete HTTP response (headers and a Content-Length body).
fn http_complete(body: &[u8]) -> bool {
    http_complete_inner(body).is_some()
}

fn http_complete_inner(body: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(body);
    let (head, rest) = text.split_once("\r\n\r\n")?;
    let len = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())
            .flatten()
    })?;
    (rest.len() >= len).then(|| parse_http(body)).flatten()
}

fn parse_http(body: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(body).into_owned();
    let status = text
        .lines()
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((status, text))
}

fn alert_name(a: AlertDescription) -> String {
    match a {
        AlertDescription::CertificateRequired => "certificate_required".into(),
        AlertDescription::UnknownCA => "unknown_ca".into(),
        AlertDescription::BadCertificate => "bad_certificate".into(),
        AlertDescription::CertificateExpired => "certificate_expired".into(),
        AlertDescription::UnsupportedCertificate => "unsupported_certificate".into(),
        AlertDescription::CertificateRevoked => "certificate_revoked".into(),
        AlertDescription::CertificateUnknown => "certificate_unknown".into(),
        AlertDescription::HandshakeFailure => "handshake_failure".into(),
        AlertDescription::AccessDenied => "access_denied".into(),
        AlertDescription::DecryptError => "decrypt_error".into(),
        AlertDescription::ProtocolVersion => "protocol_version".into(),
        AlertDescription::UnrecognisedName => "unrecognized_name".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn dn_text(der: &[u8]) -> String {
    use x509_parser::prelude::FromDer;
    // Hints are the DER of a Name (a SEQUENCE); rustls hands them over as is.
    match x509_parser::x509::X509Name::from_der(der) {
        Ok((_, n)) => n.to_string(),
        Err(_) => format!("(unparseable name, {} bytes)", der.len()),
    }
}

fn chain_entry(der: &CertificateDer<'_>, now: time::OffsetDateTime) -> Option<ChainEntry> {
    let c = x509::parse_cert(der.as_ref(), std::path::Path::new("<server>")).ok()?;
    let (_, na) = x509::validity(&c);
    Some(ChainEntry {
        subject: c.subject().to_string(),
        issuer: c.issuer().to_string(),
        serial: crate::serial::Serial::from_bytes(c.raw_serial()).hex(),
        not_after: na
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        expires_in_days: (na - now).whole_days(),
        sans: x509::san_strings(&c),
    })
}

/// Judges the server chain with [`crate::verify::verify`]; each problem becomes a finding
/// whose code is verify's code prefixed with `server_`.
fn judge_server_chain(
    chain: &[CertificateDer<'static>],
    roots: &[CertificateDer<'static>],
    sni: &str,
    now: time::OffsetDateTime,
) -> Vec<Finding> {
    let Some(leaf) = chain.first() else {
        return vec![finding(
            Code::ServerNoCertificate,
            "the server sent no certificate",
            "configure the server's certificate (nginx ssl_certificate)",
        )];
    };
    let input = crate::verify::Input {
        leaf: leaf.as_ref().to_vec(),
        intermediates: chain[1..].iter().map(|c| c.as_ref().to_vec()).collect(),
        roots: roots.iter().map(|c| c.as_ref().to_vec()).collect(),
        crls: Vec::new(),
        purpose: Some(crate::verify::Purpose::Server),
        host: Some(sni.to_string()),
        key_spki: None,
        at: now,
        cert_label: "server.crt".into(),
        candidates: Vec::new(),
        candidate_files: Vec::new(),
    };
    // What only a live connection knows: the server sent nothing but its leaf, and that leaf's
    // issuer is not a trusted root, so the intermediate is what is missing on the server.
    let leaf_only_below_root = chain.len() == 1
        && x509::parse_cert(leaf.as_ref(), std::path::Path::new("<server>")).is_ok_and(|l| {
            !roots.iter().any(|r| {
                x509::parse_cert(r.as_ref(), std::path::Path::new("<ca>"))
                    .is_ok_and(|rc| rc.subject().as_raw() == l.issuer().as_raw())
            })
        });
    match crate::verify::verify(&input) {
        Ok(r) => r
            .errors
            .into_iter()
            .map(|p| {
                if p.code == Code::UnknownIssuer && leaf_only_below_root {
                    finding(
                        Code::ServerMissingIntermediate,
                        format!("the server sent its certificate without the intermediate ({})", p.message),
                        "serve the full chain: point ssl_certificate (nginx) / crt (HAProxy) at STEM.fullchain.crt",
                    )
                } else {
                    Finding {
                        side: Side::Server,
                        ..p
                    }
                    .scoped(Scope::ServerChain)
                }
            })
            .collect(),
        Err(e) => vec![finding(
            Code::ServerCertInvalid,
            format!("the server certificate could not be checked ({e})"),
            "inspect it with mtls-ca inspect HOST:PORT",
        )],
    }
}

/// Decides what happened to client authentication.
fn judge_client(report: &mut ProbeReport, at: &Attempt, opts: &ProbeOptions) {
    let have_cert = opts.client.is_some();
    let cas = if report.acceptable_client_cas.is_empty() {
        "any CA (it sent no names)".to_string()
    } else {
        report.acceptable_client_cas.join("; ")
    };
    let http = at.http.as_ref();
    let http_text = http.map(|h| h.1.as_str()).unwrap_or("");
    let alert = match &at.error {
        Some(rustls::Error::AlertReceived(a)) => Some(*a),
        _ => None,
    };
    let required_not_sent = |r: &mut ProbeReport| {
        r.client_cert_accepted = Some(false);
        r.diagnosis.push(finding(
            Code::ClientCertRequired,
            "the server requires a client certificate and none was sent",
            if have_cert {
                format!("the server accepts certificates from: {cas}; yours is from another CA, so none was offered")
            } else {
                "pass --cert FILE --key FILE (or --p12 FILE)".to_string()
            },
        ));
    };
    if let Some(a) = alert {
        let sent = report.client_cert_sent;
        match a {
            AlertDescription::CertificateRequired => return required_not_sent(report),
            AlertDescription::HandshakeFailure if report.client_cert_requested && !sent => {
                return required_not_sent(report)
            }
            _ => {}
        }
        report.client_cert_accepted = if sent { Some(false) } else { None };
        let f = match a {
            AlertDescription::UnknownCA => finding(
                Code::ClientCertUntrusted,
                format!("the server does not trust the issuer of your certificate: it accepts {cas}"),
                "add your CA (and intermediates) to the server's ssl_client_certificate / ca-file, or use a certificate from the CA it trusts",
            ),
            AlertDescription::CertificateExpired => finding(
                Code::Expired,
                "the server rejected your client certificate as expired",
                "renew it: mtls-ca renew --cert FILE",
            )
            .scoped(Scope::ClientCert),
            AlertDescription::CertificateRevoked => finding(
                Code::Revoked,
                "the server rejected your client certificate as revoked",
                "issue a new client certificate: mtls-ca issue client --cn NAME",
            )
            .scoped(Scope::ClientCert),
            AlertDescription::UnsupportedCertificate => finding(
                Code::WrongPurpose,
                "the server rejected your certificate's purpose (no clientAuth: a server certificate used as a client?)",
                "issue a client certificate: mtls-ca issue client --cn NAME",
            )
            .scoped(Scope::ClientCert),
            AlertDescription::BadCertificate | AlertDescription::CertificateUnknown => finding(
                Code::ClientCertRejected,
                format!("the server rejected your client certificate ({})", alert_name(a)),
                "check it with mtls-ca verify FILE --purpose client --ca SERVER_CA; a missing intermediate or expired CRL on the server side gives the same alert",
            ),
            AlertDescription::DecryptError => finding(
                Code::ClientKeyMismatch,
                "the server could not verify the handshake signature: the key may not belong to the certificate",
                "check with mtls-ca verify CERT --key KEY",
            ),
            other => finding(
                Code::HandshakeFailed,
                format!("the server aborted the handshake with alert {}", alert_name(other)),
                "look at the server's error log; mtls-ca explain LOG turns its lines into causes",
            ),
        };
        report.diagnosis.push(f);
        return;
    }
    if let Some(e) = &at.error {
        report.diagnosis.push(finding(
            Code::HandshakeFailed,
            format!("the TLS connection failed ({e})"),
            "look at the server's error log; mtls-ca explain LOG turns its lines into causes",
        ));
        return;
    }
    if let Some((status, _)) = http {
        if *status == 400 && http_text.contains("No required SSL certificate was sent") {
            return required_not_sent(report);
        }
        if *status == 400 && http_text.contains("The SSL certificate error") {
            report.client_cert_accepted = Some(false);
            report.diagnosis.push(finding(
                Code::ClientCertRejected,
                "nginx rejected your client certificate (HTTP 400 \"The SSL certificate error\")",
                format!("nginx's error log says why (mtls-ca explain); it trusts {cas}; check ssl_verify_depth, ssl_crl freshness and the certificate's expiry"),
            ));
            return;
        }
        if *status == 401 && http_text.contains("No required TLS certificate was sent") {
            return required_not_sent(report);
        }
        if *status == 401 && http_text.contains("TLS certificate failed verification") {
            report.client_cert_accepted = Some(false);
            report.diagnosis.push(finding(
                Code::ClientCertRejected,
                "Kong rejected your client certificate (401 \"TLS certificate failed verification\")",
                "add your CA to the mtls-auth plugin's ca_certificates (mtls-ca export kong)",
            ));
            return;
        }
        if *status == 403 && http_text.contains("Access denied. Reason:") {
            report.client_cert_accepted = Some(false);
            report.diagnosis.push(finding(
                Code::ClientCertRejected,
                "AWS API Gateway rejected your client certificate (403 Access denied)",
                "upload a truststore with your root and intermediates (mtls-ca export aws)",
            ));
            return;
        }
    }
    if !report.client_cert_requested {
        report.diagnosis.push(finding(
            Code::ClientCertNotRequested,
            "the server did not ask for a client certificate: mutual TLS is not enabled",
            "nginx: ssl_verify_client on; HAProxy: verify required; then retry",
        ));
        return;
    }
    if !have_cert {
        // Asked but optional: the server let us in without a certificate.
        report.diagnosis.push(finding(
            Code::NoClientCertGiven,
            "the server asks for a client certificate but does not require one; none was sent",
            "pass --cert FILE --key FILE to test mutual TLS; make the server require it (ssl_verify_client on)",
        ));
        return;
    }
    if !report.client_cert_sent {
        return required_not_sent(report);
    }
    if at.eof_without_answer {
        // No alert, no answer: some servers drop a rejected client silently.
        report.diagnosis.push(finding(
            Code::NoAnswer,
            "the server closed the connection after the handshake without answering the request",
            "look at the server's log (mtls-ca explain LOG): it may have rejected the client certificate silently; for a non-HTTP service this is expected",
        ));
        return;
    }
    if at.timed_out && http.is_none() {
        report
            .warnings
            .push("the server sent no HTTP answer before the timeout".into());
    }
    report.client_cert_accepted = Some(true);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        let t = parse_target("https://api.example.com:8443/health").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("api.example.com", 8443, "/health")
        );
        let t = parse_target("127.0.0.1:443").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 443));
        let t = parse_target("[::1]:8443").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 8443));
        assert_eq!(parse_target("example.com").unwrap().port, 443);
        assert!(parse_target("http://x").is_err());
        assert!(parse_target("x:notaport").is_err());
    }
}
