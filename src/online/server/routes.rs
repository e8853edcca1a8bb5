//! The endpoints: one request in, one answer out ([`handle`]), dispatched by method and path
//! ([`route`]); the public, signed data (CA bundle, CRL, OCSP) is answered here, issuance in
//! [`super::issue`].

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};

use crate::error::Error;

use super::super::pool::Lease;
use super::super::{api, ocsp};
use super::http::{
    bytes_response, error_response, json_response, parse_json, percent_decode, rate_limited,
    read_body, store_error, wants_pem, ApiError, Resp,
};
use super::issue::{renew, sign, Renewed};
use super::options::ServeEvent;
use super::state::{CaGen, CrlCache, State};

pub(super) async fn handle(
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

pub(super) async fn route(
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
            st.gen().bundle_pem.clone().into_bytes(),
        )),
        (Method::GET, "/v1/crl") => {
            let pem = wants_pem(&req);
            let st2 = st.clone();
            let gen = st.gen();
            let ca = gen.cas.lease().await;
            let ders = blocking(move || crl(&st2, &gen, ca)).await?;
            Ok(if pem {
                // Every CRL of the overlap, current CA's first: what a gateway that checks
                // CRLs along the whole chain (nginx `ssl_crl`) needs for both roots' clients.
                bytes_response(
                    StatusCode::OK,
                    "application/x-pem-file",
                    ders.iter()
                        .map(|d| crate::pem::encode("X509 CRL", d))
                        .collect::<String>()
                        .into_bytes(),
                )
            } else {
                // One DER object: the current CA's CRL (the distribution point of what it issues).
                let der = ders.into_iter().next().unwrap_or_default();
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
            let ca = st.gen().cas.lease().await;
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
            let ca = st.gen().cas.lease().await;
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

pub(super) async fn blocking<T: Send + 'static>(
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

pub(super) async fn ocsp_answer(
    st: &Arc<State>,
    der: Vec<u8>,
) -> std::result::Result<Resp, ApiError> {
    let st2 = st.clone();
    // The responders and the copy of the CA from one generation.
    let gen = st.gen();
    let mut ca = gen.cas.lease().await;
    let (resp, _answer) =
        blocking(move || Ok(ocsp::respond(&mut ca, &gen.ocsp, &der, (st2.clock)()))).await?;
    st.metrics.ocsp.fetch_add(1, Ordering::Relaxed);
    Ok(bytes_response(
        StatusCode::OK,
        "application/ocsp-response",
        resp,
    ))
}

/// The CRLs of the generation `gen` (its CA's, then each retired CA's of the overlap),
/// re-signed when a revocation happened since the last ones or a quarter of their validity has
/// passed.
pub(super) fn crl(
    st: &State,
    gen: &CaGen,
    mut ca: Lease,
) -> std::result::Result<Vec<Vec<u8>>, ApiError> {
    let now = (st.clock)();
    let mut serials = vec![ca.serial_hex().map_err(|e| store_error(&e))?];
    for (der, _) in gen.ocsp.retired() {
        if let Ok(c) = crate::x509::parse_cert(der, std::path::Path::new("<retired CA>")) {
            serials.push(crate::serial::Serial::from_bytes(c.raw_serial()).hex());
        }
    }
    let mut revoked = 0;
    for s in &serials {
        revoked += ca.store().revoked_by(s).map_err(|e| store_error(&e))?.len();
    }
    let mut cache = st.crl.lock().map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the CRL cache is unavailable",
            "restart `mtls-ca ca serve`",
        )
    })?;
    if let Some(c) = cache.as_ref() {
        if c.revoked == revoked
            && c.ders.len() == serials.len()
            && now - c.made < st.opts.crl_valid / 4
        {
            return Ok(c.ders.clone());
        }
    }
    let keys: Vec<_> = gen.ocsp.retired().map(|(der, k)| (der, k.lock())).collect();
    let mut retired = Vec::new();
    for (der, k) in &keys {
        let Ok(k) = k else {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "a retired CA's key is unavailable",
                "restart `mtls-ca ca serve`",
            ));
        };
        retired.push((*der, &**k));
    }
    let (ders, n) = crate::crl::set_der(&mut ca, retired, st.opts.crl_valid, now)
        .map_err(|e| store_error(&e))?;
    st.metrics.crl.fetch_add(1, Ordering::Relaxed);
    *cache = Some(CrlCache {
        ders: ders.clone(),
        revoked: n,
        made: now,
    });
    Ok(ders)
}
