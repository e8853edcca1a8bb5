//! `ca serve`: the CA of a directory online.
//!
//! HTTPS (rustls, ring) carries everything that authenticates or issues: `POST /v1/sign` (a
//! bootstrap token + CSR), `POST /v1/renew` (mutual TLS + CSR), and `GET /metrics`. The signed
//! public data — `GET /v1/ca`, `/v1/crl`, `/v1/ocsp` — and `/healthz` are served on both
//! listeners; the optional plain-HTTP one has nothing else. Requests are size-limited and
//! rate-limited per client (token requests per address, renewals per certificate); every
//! refusal is a JSON body `{"error": {"code", "message", "hint"}}` and changes nothing. Work
//! that touches the store or signs runs on tokio's blocking pool, one request at a time under
//! the CA's lock (the store is one connection), with the ordering of the CLI; renewals are
//! recorded by group commit (`online::commit`), many in one durable transaction.
//!
//! The server's own certificate (`DIR/serve/server.*`, or `--server STEM`) is issued from the
//! CA on first start and renewed by the server itself when a third of its life is left; the
//! TLS configuration picks up the new one without a restart.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use time::{Duration, OffsetDateTime};

use crate::ca::audit::{self, Event as AuditEvent};
use crate::ca::{Ca, LeafKey, LeafRequest};
use crate::error::{Error, Result};
use crate::names::San;
use crate::pki::aia::PublicUrls;
use crate::profile::{self, Profile};
use crate::store::TokenRefusal;

use super::api;
use super::commit::{AuditLine, Committer};
use super::ocsp;
use super::pool::{CaPool, Lease};

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
    /// Something failed outside a request (renewing the server certificate, a listener).
    Warning(String),
}

/// Receives [`ServeEvent`]s.
pub type Events = Arc<dyn Fn(ServeEvent) + Send + Sync>;

/// Latency histogram bucket bounds, seconds.
const BUCKETS: [f64; 9] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

#[derive(Default)]
struct Metrics {
    issued: AtomicU64,
    renewed: AtomicU64,
    ocsp: AtomicU64,
    crl: AtomicU64,
    /// HTTPS connections served without an admission slot (see [`admit`]).
    unadmitted: AtomicU64,
    refused: Mutex<std::collections::BTreeMap<String, u64>>,
    /// Per bucket (last = +Inf), plus sum in microseconds and count, for sign+renew.
    latency: [AtomicU64; 10],
    latency_sum_us: AtomicU64,
    latency_count: AtomicU64,
}

impl Metrics {
    fn refuse(&self, code: &str) {
        if let Ok(mut m) = self.refused.lock() {
            *m.entry(code.to_string()).or_default() += 1;
        }
    }

    fn observe(&self, secs: f64) {
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.latency[i].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us
            .fetch_add((secs * 1e6) as u64, Ordering::Relaxed);
        self.latency_count.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text; `commits` is (group commits, renewals they recorded).
    fn render(&self, commits: (u64, u64)) -> String {
        let mut s = String::new();
        let c = |s: &mut String, name: &str, help: &str, v: u64| {
            s.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"
            ));
        };
        c(
            &mut s,
            "mtls_ca_issued_total",
            "Certificates issued with a bootstrap token.",
            self.issued.load(Ordering::Relaxed),
        );
        c(
            &mut s,
            "mtls_ca_renewed_total",
            "Certificates renewed over mutual TLS.",
            self.renewed.load(Ordering::Relaxed),
        );
        c(
            &mut s,
            "mtls_ca_ocsp_responses_total",
            "OCSP responses sent.",
            self.ocsp.load(Ordering::Relaxed),
        );
        c(
            &mut s,
            "mtls_ca_crl_signed_total",
            "CRLs signed for serving.",
            self.crl.load(Ordering::Relaxed),
        );
        c(
            &mut s,
            "mtls_ca_commit_batches_total",
            "Store transactions of the renewal group commit.",
            commits.0,
        );
        c(
            &mut s,
            "mtls_ca_commit_records_total",
            "Renewals recorded by the group commit (divided by batches: the mean batch).",
            commits.1,
        );
        c(
            &mut s,
            "mtls_ca_connections_unadmitted_total",
            "HTTPS connections served after waiting 250 ms for an admission slot (overload, or clients that stall).",
            self.unadmitted.load(Ordering::Relaxed),
        );
        s.push_str("# HELP mtls_ca_refused_total Requests refused, by reason.\n# TYPE mtls_ca_refused_total counter\n");
        if let Ok(m) = self.refused.lock() {
            for (k, v) in m.iter() {
                s.push_str(&format!("mtls_ca_refused_total{{reason=\"{k}\"}} {v}\n"));
            }
        }
        s.push_str("# HELP mtls_ca_issue_seconds Time to answer sign and renew requests.\n# TYPE mtls_ca_issue_seconds histogram\n");
        let mut acc = 0;
        for (i, b) in BUCKETS.iter().enumerate() {
            acc += self.latency[i].load(Ordering::Relaxed);
            s.push_str(&format!(
                "mtls_ca_issue_seconds_bucket{{le=\"{b}\"}} {acc}\n"
            ));
        }
        acc += self.latency[BUCKETS.len()].load(Ordering::Relaxed);
        s.push_str(&format!(
            "mtls_ca_issue_seconds_bucket{{le=\"+Inf\"}} {acc}\n"
        ));
        s.push_str(&format!(
            "mtls_ca_issue_seconds_sum {}\nmtls_ca_issue_seconds_count {}\n",
            self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6,
            self.latency_count.load(Ordering::Relaxed)
        ));
        s
    }
}

/// A token bucket per client.
struct Limiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Limiter {
    fn allow(&self, key: &str) -> bool {
        let Ok(mut m) = self.buckets.lock() else {
            return true;
        };
        let now = Instant::now();
        if m.len() > 100_000 {
            m.retain(|_, (_, t)| now.duration_since(*t).as_secs() < 60);
        }
        let (tokens, last) = m.entry(key.to_string()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct CrlCache {
    der: Vec<u8>,
    revoked: usize,
    made: OffsetDateTime,
}

/// Connections in their handshake and first request at once, per runtime thread (see
/// [`admit`]).
const ADMIT_PER_THREAD: usize = 12;

/// At most this many copies of the CA (each a store connection, and a token session for a
/// key in a PKCS#11 token), whatever the threads.
const MAX_CA_COPIES: usize = 32;

/// How long a new HTTPS connection waits for admission before it is served anyway.
const ADMIT_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// Serials reserved per store transaction for the requests of `ca serve`, by each copy of
/// the CA in its [`CaPool`] (a server stopped leaves at most 1¼ times this many per copy
/// reserved and never used: not listed, never reused). A reservation waits for SQLite's one write lock,
/// which the group commit holds most of the time under load (20 ms to 1.3 s now and then), so
/// a copy's pool is refilled by the group commit's thread between two batches when a lease
/// ends and the pool is below a quarter, with no request waiting (`pool::Lease`). Before that, the renewal that emptied the pool waited: at 64 per
/// reservation, 1 renewal in 200 over 20 ms in the signing step and maxima of 0.4–0.5 s
/// (benches/online.rs, 64 clients, timestamps in the server). 256 keeps a copy out of service
/// for a refill 4× less often; more would leave more unused serials per restart and cost a
/// PostgreSQL store (one round trip per serial) tens of milliseconds per reservation.
const SERIAL_POOL: usize = 256;

struct State {
    /// Admission slots of the HTTPS listener (see [`admit`]).
    admission: Arc<tokio::sync::Semaphore>,
    /// The CA, opened once per concurrent signer (see [`CaPool`]).
    cas: CaPool,
    /// Where signed renewals wait to be recorded (see [`super::commit`]).
    commits: Arc<Committer>,
    clock: Clock,
    opts: ServeOptions,
    metrics: Metrics,
    limiter: Limiter,
    crl: Mutex<Option<CrlCache>>,
    bundle_pem: String,
    issuer: ocsp::Issuer,
    events: Events,
}

/// A refusal: status, code, message, hint.
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    hint: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>, hint: &str) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            hint: Some(hint.to_string()),
        }
    }

    fn from_lib(e: &Error, status: StatusCode) -> Self {
        ApiError {
            status,
            code: e.code(),
            message: e.to_string(),
            hint: e.hint(),
        }
    }
}

type Resp = Response<Full<Bytes>>;

fn json_response(status: StatusCode, v: &impl serde::Serialize) -> Resp {
    let body = serde_json::to_vec(v).unwrap_or_default();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn error_response(e: &ApiError) -> Resp {
    json_response(
        e.status,
        &api::ErrorBody {
            error: api::ErrorDetail {
                code: e.code.to_string(),
                message: e.message.clone(),
                hint: e.hint.clone(),
            },
        },
    )
}

fn bytes_response(status: StatusCode, ctype: &str, body: Vec<u8>) -> Resp {
    Response::builder()
        .status(status)
        .header("content-type", ctype)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// Serves the CA `ca` (opened by the caller) until the process is told to stop (SIGINT,
/// SIGTERM). Binding the listeners and issuing the server certificate happen before the first
/// event, so an address in use or a CA that cannot issue is an error here.
pub fn serve(mut ca: Ca, opts: ServeOptions, clock: Clock, events: Events) -> Result<()> {
    // Everything that touches the store or files happens here, outside the runtime (the
    // PostgreSQL client blocks on its own runtime), or later on tokio's blocking pool.
    ca.set_public_urls(opts.public_url.clone());
    let dir = ca.dir().to_path_buf();
    let stem = opts
        .server_stem
        .clone()
        .unwrap_or_else(|| crate::ca::layout::serve_stem(&dir));
    let names = server_names(&opts);
    let (key, what) = server_cert(&mut ca, &stem, &names, opts.server_valid, clock())?;
    emit_server_cert(&events, &key, what);
    let resolver = Arc::new(Resolver(RwLock::new(Arc::new(key.certified))));
    let tls = Arc::new(tls_config(&ca, resolver.clone())?);
    let bundle_pem = bundle(&ca)?;
    let issuer = ocsp::Issuer::of(ca.cert_der())?;
    let bind = |flag: &'static str, a: SocketAddr| {
        std::net::TcpListener::bind(a)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| bind_error(flag, a, e))
    };
    let https = bind("--listen", opts.listen)?;
    let http = opts
        .http_listen
        .map(|a| bind("--http-listen", a))
        .transpose()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.threads.max(1))
        .max_blocking_threads(opts.threads.max(1) * 4)
        .enable_all()
        .build()
        .map_err(|e| Error::io(Path::new("<tokio runtime>"), e))?;
    let warn = events.clone();
    let commits = Arc::new(Committer::start(ca.dir(), clock, move |m| {
        warn(ServeEvent::Warning(m));
    })?);
    // Renewals take their serials from a pool reserved ahead, one transaction per pool.
    ca.pool_serials(SERIAL_POOL);
    let cas = CaPool::open(
        ca,
        (opts.threads.max(1) * 2).min(MAX_CA_COPIES),
        commits.clone(),
    )?;
    let state = Arc::new(State {
        admission: Arc::new(tokio::sync::Semaphore::new(
            opts.threads.max(1) * ADMIT_PER_THREAD,
        )),
        cas,
        commits,
        clock,
        limiter: Limiter {
            rate: opts.rate,
            burst: opts.burst,
            buckets: Mutex::new(HashMap::new()),
        },
        opts,
        metrics: Metrics::default(),
        crl: Mutex::new(None),
        bundle_pem,
        issuer,
        events: events.clone(),
    });
    let out = rt.block_on(run(state.clone(), https, http, tls, resolver, stem, names));
    // The tasks (and their references to the CA) end with the runtime; the CA and its store
    // are dropped here, outside it.
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    drop(state);
    out
}

async fn run(
    state: Arc<State>,
    https: std::net::TcpListener,
    http: Option<std::net::TcpListener>,
    tls: Arc<rustls::ServerConfig>,
    resolver: Arc<Resolver>,
    stem: PathBuf,
    names: Vec<String>,
) -> Result<()> {
    let events = state.events.clone();
    let https = tokio::net::TcpListener::from_std(https)
        .map_err(|e| bind_error("--listen", state.opts.listen, e))?;
    let http = match http {
        Some(h) => Some(tokio::net::TcpListener::from_std(h).map_err(|e| {
            bind_error(
                "--http-listen",
                state.opts.http_listen.unwrap_or(state.opts.listen),
                e,
            )
        })?),
        None => None,
    };
    events(ServeEvent::Listening {
        https: https.local_addr().unwrap_or(state.opts.listen),
        http: http.as_ref().and_then(|h| h.local_addr().ok()),
    });
    if let Some(h) = http {
        let st = state.clone();
        tokio::spawn(async move { accept_plain(h, st).await });
    }
    {
        let st = state.clone();
        let res = resolver.clone();
        tokio::spawn(async move { renew_loop(st, res, stem, names).await });
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            conn = https.accept() => {
                let Ok((tcp, peer)) = conn else { continue };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let st = state.clone();
                tokio::spawn(async move {
                    let admitted = admit(&st).await;
                    let accept = tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp));
                    let Ok(Ok(stream)) = accept.await else { return };
                    let client_cert = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| c.as_ref().to_vec());
                    serve_connection(stream, st, peer, true, Arc::new(client_cert), admitted).await;
                });
            }
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

fn bind_error(flag: &'static str, addr: SocketAddr, e: std::io::Error) -> Error {
    Error::invalid(
        flag,
        addr.to_string(),
        format!("cannot listen there ({e})"),
        "pick a free address and port, e.g. 127.0.0.1:8443",
    )
}

async fn accept_plain(listener: tokio::net::TcpListener, state: Arc<State>) {
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            continue;
        };
        let st = state.clone();
        tokio::spawn(serve_connection(
            tcp,
            st,
            peer,
            false,
            Arc::new(None),
            Admitted::default(),
        ));
    }
}

/// An HTTPS connection's admission slot, given back once its first request is answered (or
/// the connection ends); empty when it was served without one.
#[derive(Clone, Default)]
struct Admitted(Arc<Mutex<Option<tokio::sync::OwnedSemaphorePermit>>>);

impl Admitted {
    fn release(&self) {
        if let Ok(mut p) = self.0.lock() {
            p.take();
        }
    }
}

/// Admission of a new HTTPS connection: at most `threads * ADMIT_PER_THREAD` connections are
/// in their handshake and first request at once, the others wait for a slot in arrival order
/// (the semaphore is fair). Under load this serves renewals first come, first served instead
/// of interleaving every connection's handshake with every other's: a fifth off p99 for 6 %
/// of throughput at 64 clients (benches/online.rs, docs/performance.md). A connection that has waited
/// [`ADMIT_WAIT`] is served anyway (counted in `/metrics`), so clients that open connections
/// and stall can slow others by that much at most, never lock them out.
async fn admit(st: &State) -> Admitted {
    let slot = tokio::time::timeout(ADMIT_WAIT, st.admission.clone().acquire_owned()).await;
    match slot {
        Ok(Ok(permit)) => Admitted(Arc::new(Mutex::new(Some(permit)))),
        _ => {
            st.metrics.unadmitted.fetch_add(1, Ordering::Relaxed);
            Admitted::default()
        }
    }
}

/// HTTP/1.1 on one accepted connection (TLS with the client's certificate, or plain), every
/// request through [`handle`]; a client that sends no header in 10 s is dropped.
async fn serve_connection<IO>(
    io: IO,
    st: Arc<State>,
    peer: SocketAddr,
    tls: bool,
    client_cert: Arc<Option<Vec<u8>>>,
    admitted: Admitted,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req| {
        let st = st.clone();
        let cc = client_cert.clone();
        let admitted = admitted.clone();
        async move {
            let resp = handle(st, req, peer, tls, cc).await;
            admitted.release();
            Ok::<_, Infallible>(resp)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(10))
        .serve_connection(TokioIo::new(io), svc)
        .await;
}

async fn handle(
    st: Arc<State>,
    req: Request<Incoming>,
    peer: SocketAddr,
    https: bool,
    client_cert: Arc<Option<Vec<u8>>>,
) -> Resp {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let result = route(&st, req, peer, https, client_cert).await;
    let (resp, code) = match result {
        Ok(r) => (r, None),
        Err(e) => {
            st.metrics.refuse(e.code);
            (error_response(&e), Some(e.code.to_string()))
        }
    };
    let secs = start.elapsed().as_secs_f64();
    if method == Method::POST && (path == "/v1/sign" || path == "/v1/renew") {
        st.metrics.observe(secs);
    }
    (st.events)(ServeEvent::Request {
        method: method.to_string(),
        path: if path.starts_with("/v1/ocsp/") {
            "/v1/ocsp/…".into()
        } else {
            path
        },
        status: resp.status().as_u16(),
        client: peer,
        code,
        ms: secs * 1000.0,
    });
    resp
}

async fn route(
    st: &Arc<State>,
    req: Request<Incoming>,
    peer: SocketAddr,
    https: bool,
    client_cert: Arc<Option<Vec<u8>>>,
) -> std::result::Result<Resp, ApiError> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    match (method, path.as_str()) {
        (Method::GET, "/healthz") => Ok(bytes_response(
            StatusCode::OK,
            "text/plain",
            b"ok\n".to_vec(),
        )),
        (Method::GET, "/v1/ca") => Ok(bytes_response(
            StatusCode::OK,
            "application/pem-certificate-chain",
            st.bundle_pem.clone().into_bytes(),
        )),
        (Method::GET, "/v1/crl") => {
            let pem = wants_pem(&req);
            let st2 = st.clone();
            let ca = st.cas.lease().await;
            let der = blocking(move || crl(&st2, ca)).await?;
            Ok(if pem {
                bytes_response(
                    StatusCode::OK,
                    "application/x-pem-file",
                    crate::pem::encode("X509 CRL", &der).into_bytes(),
                )
            } else {
                bytes_response(StatusCode::OK, "application/pkix-crl", der)
            })
        }
        (Method::POST, "/v1/ocsp") | (Method::POST, "/v1/ocsp/") => {
            let body = read_body(req, ocsp::MAX_REQUEST).await?;
            ocsp_answer(st, body).await
        }
        (Method::GET, p) if p.starts_with("/v1/ocsp/") => {
            let enc = &p["/v1/ocsp/".len()..];
            let decoded = percent_decode(enc);
            use base64::Engine;
            let der = base64::engine::general_purpose::STANDARD
                .decode(decoded.trim())
                .map_err(|_| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "bad_ocsp_request",
                        "the OCSP GET request is not base64",
                        "send the DER request base64- and URL-encoded after /v1/ocsp/ (RFC 6960 appendix A), or POST it",
                    )
                })?;
            ocsp_answer(st, der).await
        }
        (Method::GET, "/metrics") if https => Ok(bytes_response(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            st.metrics.render(st.commits.counts()).into_bytes(),
        )),
        (Method::POST, "/v1/sign") if https => {
            let key = format!("addr:{}", peer.ip());
            if !st.limiter.allow(&key) {
                return Err(rate_limited());
            }
            let body = read_body(req, st.opts.max_body).await?;
            let r: api::SignRequest = parse_json(&body)?;
            let st2 = st.clone();
            let who = peer.to_string();
            let ca = st.cas.lease().await;
            let c = blocking(move || sign(&st2, ca, &r, &who)).await?;
            st.metrics.issued.fetch_add(1, Ordering::Relaxed);
            Ok(json_response(StatusCode::OK, &c))
        }
        (Method::POST, "/v1/renew") if https => {
            let Some(cert) = client_cert.as_ref().clone() else {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "client_certificate_required",
                    "renewal needs the current certificate as the TLS client certificate",
                    "connect with the certificate and key to renew (mtls-ca agent does), or bootstrap with a token at /v1/sign",
                ));
            };
            let serial = x509_parser::parse_x509_certificate(&cert)
                .map(|(_, c)| crate::serial::Serial::from_bytes(c.raw_serial()).hex())
                .unwrap_or_default();
            if !st.limiter.allow(&format!("cert:{serial}")) {
                return Err(rate_limited());
            }
            let body = read_body(req, st.opts.max_body).await?;
            let r: api::RenewRequest = parse_json(&body)?;
            // Read and its signature checked before a copy of the CA is leased (it needs none).
            let csr = crate::csr::parse(r.csr.as_bytes(), Path::new("<request>"));
            let ca = st.cas.lease().await;
            let st2 = st.clone();
            let who = peer.to_string();
            let c = match blocking(move || renew(&st2, ca, &cert, csr, &who)).await? {
                Renewed::Again(c) => c,
                Renewed::Signed {
                    record,
                    audit,
                    answer,
                } => {
                    // Answered only once the group commit has made it durable.
                    st.commits
                        .commit(*record, audit)
                        .await
                        .map_err(|e| match e {
                            // The predecessor was revoked or renewed meanwhile.
                            Error::InvalidValue { .. } => ApiError::from_lib(&e, StatusCode::CONFLICT),
                            _ => store_error(&e),
                        })?;
                    answer
                }
            };
            st.metrics.renewed.fetch_add(1, Ordering::Relaxed);
            Ok(json_response(StatusCode::OK, &c))
        }
        (_, "/v1/sign" | "/v1/renew" | "/metrics") if !https => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "https_only",
            "this endpoint exists only on the HTTPS listener",
            "use the https:// address of the CA (--listen), not the plain-HTTP one",
        )),
        (_, "/v1/sign" | "/v1/renew" | "/v1/ocsp" | "/v1/crl" | "/v1/ca" | "/healthz" | "/metrics") => {
            Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{} is not allowed on {path}", req.method()),
                "POST /v1/sign and /v1/renew; GET /v1/ca, /v1/crl, /healthz, /metrics; GET or POST /v1/ocsp",
            ))
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no endpoint {path}"),
            "the endpoints are /v1/sign, /v1/renew, /v1/ca, /v1/crl, /v1/ocsp, /healthz, /metrics",
        )),
    }
}

fn rate_limited() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many requests from this client",
        "retry after a second; agents back off on their own",
    )
}

fn wants_pem(req: &Request<Incoming>) -> bool {
    let q = req.uri().query().unwrap_or("");
    if q.split('&').any(|p| p == "format=pem") {
        return true;
    }
    req.headers()
        .get_all("accept")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/x-pem-file") || v.contains("text/plain"))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How much of a too-large body is read and thrown away before the 413 answer, and for how
/// long: a connection closed with unread data in it is reset by the kernel, and a client can
/// lose the answer to that reset (curl then reports "connection reset" instead of the 413).
/// Beyond these bounds the connection is answered and closed at once.
const DRAIN_MAX: usize = 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

async fn read_body(req: Request<Incoming>, max: usize) -> std::result::Result<Vec<u8>, ApiError> {
    let too_big = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is larger than {max} bytes"),
            "send one CSR (a few kilobytes) per request",
        )
    };
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let mut body = req.into_body();
    if declared.is_some_and(|len| len > max) {
        if declared.is_some_and(|len| len <= DRAIN_MAX) {
            let _ = tokio::time::timeout(DRAIN_TIME, drain(&mut body, DRAIN_MAX)).await;
        }
        return Err(too_big());
    }
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the request body could not be read",
                "retry",
            ));
        };
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > max {
                // Chunked, without a declared length: the rest is read and thrown away too.
                let _ = tokio::time::timeout(DRAIN_TIME, drain(&mut body, DRAIN_MAX)).await;
                return Err(too_big());
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf)
}

/// Reads and discards `body` until its end, an error, or `limit` bytes.
async fn drain(body: &mut Incoming, limit: usize) {
    let mut seen = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen > limit {
                return;
            }
        }
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> std::result::Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_json",
            format!("the request body is not the expected JSON ({e})"),
            "send {\"token\": …, \"csr\": PEM} to /v1/sign, {\"csr\": PEM} to /v1/renew",
        )
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::result::Result<T, ApiError> + Send + 'static,
) -> std::result::Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|_| {
        Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the request failed inside the server",
            "retry; if it persists, see the server's output",
        ))
    })
}

fn store_error(e: &Error) -> ApiError {
    ApiError::from_lib(e, StatusCode::SERVICE_UNAVAILABLE)
}

async fn ocsp_answer(st: &Arc<State>, der: Vec<u8>) -> std::result::Result<Resp, ApiError> {
    let st2 = st.clone();
    let mut ca = st.cas.lease().await;
    let (resp, _answer) =
        blocking(move || Ok(ocsp::respond(&mut ca, &st2.issuer, &der, (st2.clock)()))).await?;
    st.metrics.ocsp.fetch_add(1, Ordering::Relaxed);
    Ok(bytes_response(
        StatusCode::OK,
        "application/ocsp-response",
        resp,
    ))
}

/// The CRL, re-signed when a revocation happened since the last one or a quarter of its
/// validity has passed.
fn crl(st: &State, mut ca: Lease) -> std::result::Result<Vec<u8>, ApiError> {
    let now = (st.clock)();
    let ca_serial = ca.serial_hex().map_err(|e| store_error(&e))?;
    let revoked = ca
        .store()
        .revoked_by(&ca_serial)
        .map_err(|e| store_error(&e))?
        .len();
    let mut cache = st.crl.lock().map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the CRL cache is unavailable",
            "restart `mtls-ca ca serve`",
        )
    })?;
    if let Some(c) = cache.as_ref() {
        if c.revoked == revoked && now - c.made < st.opts.crl_valid / 4 {
            return Ok(c.der.clone());
        }
    }
    let (der, _, n) =
        crate::crl::current_der(&mut ca, st.opts.crl_valid, now).map_err(|e| store_error(&e))?;
    st.metrics.crl.fetch_add(1, Ordering::Relaxed);
    *cache = Some(CrlCache {
        der: der.clone(),
        revoked: n,
        made: now,
    });
    Ok(der)
}

fn bad_csr(e: &Error) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        code: "bad_csr",
        message: e.to_string().replace("<request>: ", ""),
        hint: Some("send a PEM CSR signed by the new key (mtls-ca agent makes one)".into()),
    }
}

/// The answer for the stored certificate `serial`.
fn answer(ca: &mut Ca, serial: &str) -> std::result::Result<api::Certificate, ApiError> {
    let stored = ca
        .store()
        .get(serial)
        .map_err(|e| store_error(&e))?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the new certificate is not in the store",
                "retry",
            )
        })?;
    Ok(answer_der(ca, serial, &stored.der))
}

/// The answer for certificate `der`: it, its full chain and its notAfter.
fn answer_der(ca: &Ca, serial: &str, der: &[u8]) -> api::Certificate {
    let mut full = vec![der.to_vec()];
    full.extend(ca.intermediates().iter().cloned());
    let not_after = x509_parser::parse_x509_certificate(der)
        .map(|(_, c)| crate::x509::validity(&c).1)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    api::Certificate {
        serial: serial.to_string(),
        certificate: crate::pem::encode("CERTIFICATE", der),
        fullchain: full
            .iter()
            .map(|d| crate::pem::encode("CERTIFICATE", d))
            .collect(),
        not_after,
    }
}

fn token_refused(r: TokenRefusal) -> ApiError {
    let (status, message, hint) = match r {
        TokenRefusal::Unknown => (
            StatusCode::UNAUTHORIZED,
            "unknown token",
            "check the token (copy it whole), or make a new one with `mtls-ca token create`",
        ),
        TokenRefusal::Used => (
            StatusCode::UNAUTHORIZED,
            "this token was already used",
            "a token works once: make a new one with `mtls-ca token create`",
        ),
        TokenRefusal::Revoked => (
            StatusCode::UNAUTHORIZED,
            "this token was revoked",
            "make a new one with `mtls-ca token create`",
        ),
        TokenRefusal::Expired => (
            StatusCode::UNAUTHORIZED,
            "this token has expired",
            "make a new one with `mtls-ca token create` (--ttl sets how long it works)",
        ),
    };
    ApiError::new(status, r.as_str(), message, hint)
}

/// `/v1/sign`: every check before anything changes, then the token is used (one transaction),
/// then the certificate is issued (serial reserved, signed, recorded) and audited.
fn sign(
    st: &State,
    mut ca: Lease,
    r: &api::SignRequest,
    client: &str,
) -> std::result::Result<api::Certificate, ApiError> {
    let now = (st.clock)();
    let hash = super::token::hash(&r.token);
    let token = ca
        .store()
        .token_peek(&hash, now)
        .map_err(|e| store_error(&e))?
        .map_err(token_refused)?;
    let info =
        crate::csr::parse(r.csr.as_bytes(), Path::new("<request>")).map_err(|e| bad_csr(&e))?;
    let (prof, file_profile) = resolve_profile(&ca, &token.profile)?;
    let allowed = crate::names::parse_all(&token.sans)
        .map_err(|e| ApiError::from_lib(&e, StatusCode::INTERNAL_SERVER_ERROR))?;
    let (cn, sans) = if prof.is_server() {
        let s = profile::server_sans(&token.cn, allowed)
            .map_err(|e| ApiError::from_lib(&e, StatusCode::INTERNAL_SERVER_ERROR))?;
        (s[0].to_string(), s)
    } else {
        (token.cn.clone(), allowed)
    };
    // The token fixes the names: a CSR asking for anything else is refused (not trimmed).
    if let Some(asked) = &info.cn {
        if !asked.eq_ignore_ascii_case(&cn) && !asked.eq_ignore_ascii_case(&token.cn) {
            return Err(names_refused(&format!("CN {asked:?}"), &token.cn));
        }
    }
    for s in &info.sans {
        if !sans
            .iter()
            .any(|a| a.to_string().eq_ignore_ascii_case(&s.to_string()))
        {
            return Err(names_refused(&format!("SAN {s}"), &token.cn));
        }
    }
    let valid = token
        .valid_secs
        .map(Duration::seconds)
        .unwrap_or(st.opts.default_valid);
    // Nothing changed so far. Now the token is used, exactly once across racing clients.
    let used = ca
        .store()
        .token_use(&hash, client, now)
        .map_err(|e| store_error(&e))?
        .map_err(token_refused)?;
    let issued = ca
        .issue_leaf_with(
            LeafRequest {
                profile: prof,
                cn,
                subject: Default::default(),
                sans,
                days: None,
                valid: Some(valid),
                default_days: crate::ca::LEAF_DAYS,
                stem: PathBuf::new(),
                force: false,
                renews: None,
                warnings: Vec::new(),
            },
            LeafKey::Public {
                spki: info.spki,
                key_type: info.key_type,
            },
            now,
            file_profile.as_ref(),
        )
        .map_err(|e| ApiError::from_lib(&e, StatusCode::UNPROCESSABLE_ENTITY))?;
    let by = format!("token:{}", used.id);
    audit_event(
        st,
        &ca,
        "issue",
        &issued.serial,
        None,
        &issued.subject,
        &by,
        client,
    );
    answer(&mut ca, &issued.serial)
}

/// The profile a token or a stored certificate names: a built-in one, or one of the CA
/// directory's `profiles.toml` (read again each time, so a tightened policy applies at once).
fn resolve_profile(
    ca: &Ca,
    name: &str,
) -> std::result::Result<(Profile, Option<crate::pki::leaf_profile::FileProfile>), ApiError> {
    match crate::ca::profiles::resolve(ca.dir(), name)
        .map_err(|e| ApiError::from_lib(&e, StatusCode::INTERNAL_SERVER_ERROR))?
    {
        crate::ca::profiles::Resolved::Builtin(p) => Ok((p, None)),
        crate::ca::profiles::Resolved::File(f) => Ok((f.kind, Some(*f))),
    }
}

fn names_refused(what: &str, cn: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "names_not_allowed",
        format!("the CSR asks for {what}, which this token does not allow (it is for {cn:?})"),
        "make the CSR for the token's names only (mtls-ca agent --cn/--san), or create a token for these names",
    )
}

#[allow(clippy::too_many_arguments)]
fn audit_event(
    st: &State,
    ca: &Ca,
    event: &str,
    serial: &str,
    renews: Option<&str>,
    subject: &str,
    by: &str,
    client: &str,
) {
    let ev = AuditEvent {
        time: (st.clock)(),
        event,
        serial: Some(serial),
        renews,
        subject: Some(subject),
        authorised_by: by,
        client: Some(client),
    };
    if let Err(e) = audit::append(ca.dir(), &ev) {
        (st.events)(ServeEvent::Warning(format!(
            "could not append to the audit log: {e}"
        )));
    }
}

/// `/v1/renew`: the client certificate must be the stored one, issued and not revoked,
/// superseded or expired; the CSR's key must be new. The successor keeps names, profile and
/// lifetime, and supersedes the old one in the transaction that records it.
/// What [`renew`] did: signed a successor that the group commit is to record, or found the
/// successor of a retried renewal already recorded.
enum Renewed {
    Again(api::Certificate),
    Signed {
        record: Box<crate::store::Record>,
        audit: AuditLine,
        answer: api::Certificate,
    },
}

/// `/v1/renew` under the CA's lock (`ca`), with the request's CSR already read (`csr`; its
/// error is reported only where the checks reach it, after those of the certificate).
fn renew(
    st: &State,
    mut ca: Lease,
    cert: &[u8],
    csr: Result<crate::csr::CsrInfo>,
    client: &str,
) -> std::result::Result<Renewed, ApiError> {
    let now = (st.clock)();
    let (_, c) = x509_parser::parse_x509_certificate(cert).map_err(|_| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unknown_certificate",
            "the client certificate cannot be read",
            "connect with a certificate this CA issued",
        )
    })?;
    let serial = crate::serial::Serial::from_bytes(c.raw_serial()).hex();
    let stored = ca.store().get(&serial).map_err(|e| store_error(&e))?;
    let Some(old) = stored.filter(|s| s.der == cert) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "unknown_certificate",
            format!("certificate {serial} was not issued by this CA"),
            "bootstrap again with a token (mtls-ca token create, then agent --token)",
        ));
    };
    if old.state == "revoked" {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "certificate_revoked",
            format!("certificate {serial} is revoked"),
            "a revoked certificate cannot renew: bootstrap again with a new token",
        ));
    }
    if let Some(next) = &old.superseded_by {
        // A retry of a renewal whose answer was lost (connection cut, server killed): the same
        // new key gets the successor that was recorded for it, and nothing new is issued.
        let info = csr.map_err(|e| bad_csr(&e))?;
        let succ = ca.store().get(next).map_err(|e| store_error(&e))?;
        if let Some(succ) = succ.filter(|s| s.state == "issued" && s.superseded_by.is_none()) {
            let same_key = x509_parser::parse_x509_certificate(&succ.der)
                .is_ok_and(|(_, c)| c.public_key().raw == info.spki.as_slice());
            if same_key {
                return answer(&mut ca, next).map(Renewed::Again);
            }
        }
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "certificate_superseded",
            format!("certificate {serial} was already renewed (its successor is {next})"),
            "renew with the newest certificate",
        ));
    }
    let (nb, na) = crate::x509::validity(&c);
    if na <= now {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "certificate_expired",
            format!(
                "certificate {serial} expired on {}",
                crate::ca::fmt_date(na)
            ),
            "an expired certificate cannot renew: bootstrap again with a new token",
        ));
    }
    let (prof, file_profile) = resolve_profile(&ca, &old.profile)?;
    if !prof.is_leaf() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_a_leaf",
            "only server and client certificates renew here",
            "rotate a CA with `mtls-ca ca rotate`",
        ));
    }
    let info = csr.map_err(|e| bad_csr(&e))?;
    if info.spki == c.public_key().raw {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "same_key",
            "the CSR is for the current certificate's key",
            "make a new key for each renewal (mtls-ca agent does)",
        ));
    }
    let cn = c
        .subject()
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .map(str::to_string)
        .unwrap_or_default();
    let sans = crate::names::parse_all(&crate::x509::san_strings(&c))
        .map_err(|e| ApiError::from_lib(&e, StatusCode::UNPROCESSABLE_ENTITY))?;
    let sans: Vec<San> = if prof.is_server() {
        profile::server_sans(&cn, sans)
            .map_err(|e| ApiError::from_lib(&e, StatusCode::UNPROCESSABLE_ENTITY))?
    } else {
        sans
    };
    let lifetime = (na - nb - crate::ca::BACKDATE).max(Duration::minutes(1));
    let subject = crate::subject::Subject::from_name(c.subject());
    let signed = ca
        .sign_unrecorded(
            LeafRequest {
                profile: prof,
                cn: if prof.is_server() {
                    sans[0].to_string()
                } else {
                    cn
                },
                subject,
                sans,
                days: None,
                valid: Some(lifetime),
                default_days: crate::ca::LEAF_DAYS,
                stem: PathBuf::new(),
                force: false,
                renews: Some(serial.clone()),
                warnings: Vec::new(),
            },
            info.spki,
            info.key_type,
            now,
            file_profile.as_ref(),
        )
        .map_err(|e| ApiError::from_lib(&e, StatusCode::CONFLICT))?;
    // Revoked or renewed between the check above and the record: the store refuses it in the
    // group commit, and this renewal alone fails (409).
    let answer = answer_der(&ca, &signed.issued.serial, &signed.der);
    Ok(Renewed::Signed {
        record: Box::new(signed.record),
        audit: AuditLine {
            event: "renew",
            serial: signed.issued.serial,
            renews: Some(serial.clone()),
            subject: signed.issued.subject,
            by: format!("cert:{serial}"),
            client: client.to_string(),
        },
        answer,
    })
}

/// The trust bundle served at /v1/ca: `ca-bundle.crt` when present (every CA to trust during
/// a rotation), else the CA's chain.
fn bundle(ca: &Ca) -> Result<String> {
    let p = crate::ca::layout::bundle(ca.dir());
    if p.exists() {
        let certs = crate::x509::read_certs(&p)?;
        let mut out: Vec<Vec<u8>> = ca.intermediates().to_vec();
        out.extend(certs);
        return Ok(out
            .iter()
            .map(|d| crate::pem::encode("CERTIFICATE", d))
            .collect());
    }
    Ok(ca
        .chain()
        .iter()
        .map(|d| crate::pem::encode("CERTIFICATE", d))
        .collect())
}

/// The names of the server's own certificate: the public URL's host, the listen addresses
/// unless unspecified, localhost and 127.0.0.1.
fn server_names(opts: &ServeOptions) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(u) = &opts.public_url {
        let host = u
            .base
            .split("://")
            .nth(1)
            .unwrap_or("")
            .split('/')
            .next()
            .unwrap_or("");
        let host = if let Some(rest) = host.strip_prefix('[') {
            rest.split(']').next().unwrap_or("").to_string()
        } else {
            host.rsplit_once(':')
                .map(|(h, _)| h.to_string())
                .unwrap_or_else(|| host.to_string())
        };
        if !host.is_empty() {
            names.push(host);
        }
    }
    for a in [Some(opts.listen), opts.http_listen].into_iter().flatten() {
        if !a.ip().is_unspecified() {
            names.push(a.ip().to_string());
        }
    }
    for n in ["localhost", "127.0.0.1"] {
        names.push(n.to_string());
    }
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.to_ascii_lowercase()));
    names
}

struct ServerKey {
    certified: CertifiedKey,
    serial: String,
    not_after: OffsetDateTime,
}

fn emit_server_cert(events: &Events, k: &ServerKey, what: &'static str) {
    events(ServeEvent::ServerCert {
        serial: k.serial.clone(),
        not_after: k.not_after,
        what,
    });
}

/// Loads the server certificate at `stem`, issuing it when missing and renewing it when a
/// third of its life (or less) is left.
fn server_cert(
    ca: &mut Ca,
    stem: &Path,
    names: &[String],
    valid: Duration,
    now: OffsetDateTime,
) -> Result<(ServerKey, &'static str)> {
    let crt = crate::ca::with_ext(stem, "crt");
    let what = if !crt.exists() {
        if let Some(parent) = stem.parent() {
            if !parent.as_os_str().is_empty() && !parent.exists() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
        }
        ca.issue(
            &crate::ca::IssueOptions {
                profile: Profile::Server,
                cn: names[0].clone(),
                subject: Default::default(),
                sans: names[1..].to_vec(),
                days: None,
                valid: Some(valid),
                key_type: crate::keys::KeyType::EcdsaP256,
                stem: stem.to_path_buf(),
                force: false,
                allow_long_validity: false,
            },
            now,
        )?;
        "issued"
    } else {
        let k = load_server_key(stem)?;
        if due(k.not_after, k.not_before, now) {
            crate::lifecycle::renew(
                ca,
                &crate::lifecycle::RenewOptions {
                    target: crate::lifecycle::Target::Cert(crt.clone()),
                    reuse_key: false,
                    days: None,
                    valid: Some(valid),
                    stem: Some(stem.to_path_buf()),
                    allow_long_validity: false,
                    force: false,
                },
                now,
            )
            .map(|_| ())
            .or_else(|e| match e {
                // Not this CA's (a --server certificate from elsewhere): keep serving it.
                Error::UnknownSerial { .. } => Ok(()),
                e => Err(e),
            })?;
            "renewed"
        } else {
            "loaded"
        }
    };
    let k = load_server_key(stem)?;
    Ok((
        ServerKey {
            certified: k.certified,
            serial: k.serial,
            not_after: k.not_after,
        },
        what,
    ))
}

/// Whether a certificate with this validity is due for renewal at `now` (a third of its life
/// or less left).
fn due(not_after: OffsetDateTime, not_before: OffsetDateTime, now: OffsetDateTime) -> bool {
    let life = not_after - not_before;
    not_after - now <= life / 3
}

struct LoadedKey {
    certified: CertifiedKey,
    serial: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

fn load_server_key(stem: &Path) -> Result<LoadedKey> {
    let full = crate::ca::with_ext(stem, "fullchain.crt");
    let crt = crate::ca::with_ext(stem, "crt");
    let chain_path = if full.exists() { full } else { crt.clone() };
    let chain = crate::x509::read_certs(&chain_path)?;
    let key_path = crate::ca::with_ext(stem, "key");
    let key_bytes = zeroize::Zeroizing::new(crate::files::read_limited(&key_path, 1024 * 1024)?);
    let kp = crate::keys::load_private_key(&key_bytes, &key_path)?;
    let der = PrivateKeyDer::Pkcs8(kp.serialize_der().into());
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider.key_provider.load_private_key(der).map_err(|e| {
        Error::bad_file(
            &key_path,
            format!("rustls cannot use this key ({e})"),
            "issue the server certificate again",
        )
    })?;
    let c = crate::x509::parse_cert(&chain[0], &crt)?;
    let (nb, na) = crate::x509::validity(&c);
    let serial = crate::serial::Serial::from_bytes(c.raw_serial()).hex();
    let certs: Vec<CertificateDer<'static>> = chain.into_iter().map(CertificateDer::from).collect();
    Ok(LoadedKey {
        certified: CertifiedKey::new(certs, signing),
        serial,
        not_before: nb,
        not_after: na,
    })
}

/// Checks the server certificate every minute; renews it when due and swaps it into the TLS
/// configuration.
async fn renew_loop(st: Arc<State>, res: Arc<Resolver>, stem: PathBuf, names: Vec<String>) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        let st2 = st.clone();
        let stem2 = stem.clone();
        let names2 = names.clone();
        let mut ca = st.cas.lease().await;
        let out = tokio::task::spawn_blocking(move || {
            server_cert(
                &mut ca,
                &stem2,
                &names2,
                st2.opts.server_valid,
                (st2.clock)(),
            )
        })
        .await;
        match out {
            Ok(Ok((k, "renewed"))) => {
                emit_server_cert(&st.events, &k, "renewed");
                if let Ok(mut w) = res.0.write() {
                    *w = Arc::new(k.certified);
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => (st.events)(ServeEvent::Warning(format!(
                "could not renew the server certificate: {e}"
            ))),
            Err(_) => {}
        }
    }
}

#[derive(Debug)]
struct Resolver(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.read().ok().map(|k| k.clone())
    }
}

/// Client certificates are requested, not required (a bootstrapping host has none), and
/// verified against this CA's roots for client *or* server use: a service renews its server
/// certificate with that same certificate. An expired one passes the handshake so that
/// `/v1/renew` can refuse it with a JSON body instead of a TLS alert; `/v1/renew` accepts only
/// the exact certificate the store recorded, so nothing else gets through that way.
#[derive(Debug)]
struct ClientVerifier {
    roots: Vec<rustls::pki_types::TrustAnchor<'static>>,
    subjects: Vec<rustls::DistinguishedName>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &self.subjects
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> std::result::Result<ClientCertVerified, rustls::Error> {
        use rustls::CertificateError;
        let cert = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let algs = self.provider.signature_verification_algorithms.all;
        for usage in [
            webpki::KeyUsage::client_auth(),
            webpki::KeyUsage::server_auth(),
        ] {
            match cert.verify_for_usage(algs, &self.roots, intermediates, now, usage, None, None) {
                Ok(_) => return Ok(ClientCertVerified::assertion()),
                Err(webpki::Error::CertExpired { .. }) => {
                    return Ok(ClientCertVerified::assertion())
                }
                Err(_) => continue,
            }
        }
        Err(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn tls_config(ca: &Ca, resolver: Arc<Resolver>) -> Result<rustls::ServerConfig> {
    let provider = Arc::new(super::tls_provider());
    // The root of this CA's chain, plus every root of the rotation bundle.
    let mut ders: Vec<Vec<u8>> = ca.chain().last().cloned().into_iter().collect();
    let bundle = crate::ca::layout::bundle(ca.dir());
    if bundle.exists() {
        ders.extend(crate::x509::read_certs(&bundle)?);
    }
    let mut roots = Vec::new();
    let mut subjects = Vec::new();
    for der in &ders {
        let c = CertificateDer::from(der.clone());
        if let Ok(a) = webpki::anchor_from_trusted_cert(&c) {
            subjects.push(rustls::DistinguishedName::in_sequence(a.subject.as_ref()));
            roots.push(a.to_owned());
        }
    }
    let verifier = ClientVerifier {
        roots,
        subjects,
        provider: provider.clone(),
    };
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Validity(format!("TLS setup failed ({e})"), "report a bug".into()))?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_cert_resolver(resolver);
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    tune_for_one_request(&mut cfg);
    Ok(cfg)
}

/// What suits a CA whose clients make one request per connection (an agent renews with a new
/// key each time, so a resumed session would never be used): no session tickets and no session
/// cache (two TLS messages and a cache insertion less per handshake), and the server's order of
/// cipher suites (AES-128-GCM with SHA-256 first, [`super::tls_provider`]) over
/// the client's, because SHA-256 runs in the CPU's SHA extensions and SHA-384 does not: the
/// handshake's transcript hash and key schedule were 2–3 % of a renewal's CPU with SHA-384
/// (docs/performance.md).
fn tune_for_one_request(cfg: &mut rustls::ServerConfig) {
    cfg.send_tls13_tickets = 0;
    cfg.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    cfg.ignore_client_order = true;
}
