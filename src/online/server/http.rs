//! HTTP plumbing of the endpoints: the JSON refusal every error becomes ([`ApiError`]), the
//! response builders, and request bodies read within their size limit.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use crate::error::Error;

use super::super::api;

/// A refusal: status, code, message, hint.
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) message: String,
    pub(super) hint: Option<String>,
}

impl ApiError {
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
        hint: &str,
    ) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            hint: Some(hint.to_string()),
        }
    }

    pub(super) fn from_lib(e: &Error, status: StatusCode) -> Self {
        ApiError {
            status,
            code: e.code(),
            message: e.to_string(),
            hint: e.hint(),
        }
    }
}

pub(super) type Resp = Response<Full<Bytes>>;

pub(super) fn json_response(status: StatusCode, v: &impl serde::Serialize) -> Resp {
    let body = serde_json::to_vec(v).unwrap_or_default();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

pub(super) fn error_response(e: &ApiError) -> Resp {
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

pub(super) fn bytes_response(status: StatusCode, ctype: &str, body: Vec<u8>) -> Resp {
    Response::builder()
        .status(status)
        .header("content-type", ctype)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

pub(super) fn rate_limited() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many requests from this client",
        "retry after a second; agents back off on their own",
    )
}

pub(super) fn wants_pem(req: &Request<Incoming>) -> bool {
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

pub(super) fn percent_decode(s: &str) -> String {
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
pub(super) const DRAIN_MAX: usize = 1024 * 1024;
pub(super) const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

pub(super) async fn read_body(
    req: Request<Incoming>,
    max: usize,
) -> std::result::Result<Vec<u8>, ApiError> {
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
pub(super) async fn drain(body: &mut Incoming, limit: usize) {
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

pub(super) fn parse_json<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> std::result::Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_json",
            format!("the request body is not the expected JSON ({e})"),
            "send {\"token\": …, \"csr\": PEM} to /v1/sign, {\"csr\": PEM} to /v1/renew",
        )
    })
}

/// A store that failed (unreachable, locked, broken): 503, worth retrying.
pub(super) fn store_error(e: &Error) -> ApiError {
    ApiError::from_lib(e, StatusCode::SERVICE_UNAVAILABLE)
}
