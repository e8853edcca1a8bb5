//! What `ca serve` is given (`ServeOptions`, the clock) and what it tells its caller
//! (`ServeEvent`s): the types the binary sees.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::pki::aia::PublicUrls;

/// The clock the binary hands in (the library never reads it on its own).
pub type Clock = fn() -> OffsetDateTime;

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// HTTPS listener.
    pub listen: SocketAddr,
    /// Optional plain-HTTP listener (CA bundle, CRL, OCSP, health only).
    pub http_listen: Option<SocketAddr>,
    /// Base URL put into issued certificates (CRL DP, AIA).
    pub public_url: Option<PublicUrls>,
    /// The server's certificate stem (None: `DIR/serve/server`).
    pub server_stem: Option<PathBuf>,
    /// Validity of certificates bought with a token that does not set one.
    pub default_valid: Duration,
    /// Validity of the server's own certificate.
    pub server_valid: Duration,
    /// Largest request body, bytes.
    pub max_body: usize,
    /// Requests per second allowed per client (token requests per address, renewals per
    /// certificate), sustained.
    pub rate: f64,
    /// Requests a client may make in a burst.
    pub burst: f64,
    /// nextUpdate distance of the CRLs served.
    pub crl_valid: Duration,
    /// Worker threads of the runtime (default: the machine's cores, at most 64); the CA is
    /// opened twice as many times (at most 32) and 12 connections per thread are admitted at
    /// once.
    pub threads: usize,
}

impl ServeOptions {
    /// Defaults for a listener address.
    pub fn new(listen: SocketAddr) -> ServeOptions {
        ServeOptions {
            listen,
            http_listen: None,
            public_url: None,
            server_stem: None,
            default_valid: Duration::days(30),
            server_valid: Duration::days(30),
            max_body: 64 * 1024,
            rate: 5.0,
            burst: 20.0,
            crl_valid: Duration::days(1),
            threads: std::thread::available_parallelism()
                .map(|n| n.get().min(64))
                .unwrap_or(2),
        }
    }
}

/// What the server tells its caller (the CLI prints these; none holds a token or a key).
#[derive(Debug, Clone)]
pub enum ServeEvent {
    /// Listening.
    Listening {
        /// HTTPS address.
        https: SocketAddr,
        /// Plain-HTTP address, if any.
        http: Option<SocketAddr>,
    },
    /// The server's certificate was issued or renewed (or is in use as it is).
    ServerCert {
        /// Its serial.
        serial: String,
        /// Its notAfter.
        not_after: OffsetDateTime,
        /// issued, renewed or loaded.
        what: &'static str,
    },
    /// A request was answered.
    Request {
        /// Method.
        method: String,
        /// Path (no query: a query never holds a secret here, but stays out anyway).
        path: String,
        /// Status code.
        status: u16,
        /// Client address.
        client: SocketAddr,
        /// Error code, when refused.
        code: Option<String>,
        /// Time taken.
        ms: f64,
    },
    /// The CA files of the directory changed (`ca rotate`, `ca rotate --finish`) and were
    /// loaded: new requests use them.
    CaReloaded {
        /// The serial of the CA that now signs.
        serial: String,
        /// Whether that is another CA than before (a rotation), or the same one with another
        /// bundle (the end of an overlap).
        changed: bool,
    },
    /// Something failed outside a request (renewing the server certificate, a listener).
    Warning(String),
}

/// Receives [`ServeEvent`]s.
pub type Events = Arc<dyn Fn(ServeEvent) + Send + Sync>;
