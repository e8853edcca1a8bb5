//! `ca serve`: the CA of a directory online.
//!
//! HTTPS (rustls, ring) carries everything that authenticates or issues: `POST /v1/sign` (a
//! bootstrap token + CSR), `POST /v1/renew` (mutual TLS + CSR), and `GET /metrics`. The signed
//! public data — `GET /v1/ca`, `/v1/crl`, `/v1/ocsp` — and `/healthz` are served on both
//! listeners; the optional plain-HTTP one has nothing else. Requests are size-limited and
//! rate-limited per client (token requests per address, renewals per certificate); every
//! refusal is a JSON body `{"error": {"code", "message", "hint"}}` and changes nothing. Work
//! that touches the store or signs runs on tokio's blocking pool, on one of several copies of
//! the CA (`online::pool`), with the ordering of the CLI; renewals are recorded by group
//! commit (`online::commit`), many in one durable transaction.
//!
//! This module starts the server (listeners, runtime, CA copies, group commit) and owns its
//! shared `State`; the rooms around it:
//! - `admission`: which connection is served when, and the per-client rate limit;
//! - `routes`: the endpoints, and the public signed data (bundle, CRL, OCSP);
//! - `issue`: `/v1/sign` and `/v1/renew`, their checks and answers;
//! - `http`: JSON refusals, responses, bodies read within their limit;
//! - `metrics`: the counters and histogram of `/metrics`;
//! - `server_cert`: the server's own certificate (`DIR/serve/server.*`, or `--server STEM`),
//!   issued from the CA on first start and renewed by the server itself when a third of its
//!   life is left, without a restart;
//! - `tls`: the TLS configuration and the client-certificate check.

mod admission;
mod http;
mod issue;
mod metrics;
mod options;
mod rotation;
mod routes;
mod server_cert;
mod state;
mod tls;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use hyper_util::rt::TokioIo;

use crate::ca::Ca;
use crate::error::{Error, Result};

use super::commit::Committer;
use admission::{admit, Admitted, Limiter, ADMIT_PER_THREAD};
use metrics::Metrics;
pub use options::{Clock, Events, ServeEvent, ServeOptions};
use routes::handle;
use server_cert::{emit_server_cert, renew_loop, server_cert, server_names, Resolver};
use state::State;

/// At most this many copies of the CA (each a store connection, and a token session for a
/// key in a PKCS#11 token), whatever the threads.
const MAX_CA_COPIES: usize = 32;

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
    let copies = (opts.threads.max(1) * 2).min(MAX_CA_COPIES);
    let (first, warnings) =
        rotation::generation(ca, copies, commits.clone(), resolver.clone(), clock())?;
    for w in warnings {
        events(ServeEvent::Warning(w));
    }
    let state = Arc::new(State {
        dir,
        copies,
        admission: Arc::new(tokio::sync::Semaphore::new(
            opts.threads.max(1) * ADMIT_PER_THREAD,
        )),
        gen: RwLock::new(Arc::new(first)),
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
        events: events.clone(),
    });
    let out = rt.block_on(run(state.clone(), https, http, resolver, stem, names));
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
        let (stem, names) = (stem.clone(), names.clone());
        tokio::spawn(async move { renew_loop(st, res, stem, names).await });
    }
    {
        let st = state.clone();
        tokio::spawn(async move { rotation::watch(st, resolver, stem, names).await });
    }
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            conn = https.accept() => {
                let Ok((tcp, peer)) = conn else { continue };
                let _ = tcp.set_nodelay(true);
                // The TLS configuration of the CA's current generation (its roots follow a
                // rotation).
                let acceptor = state.gen().tls.clone();
                let st = state.clone();
                tokio::spawn(async move {
                    let admitted = admit(&st.admission, &st.metrics).await;
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
