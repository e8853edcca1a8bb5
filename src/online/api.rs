//! The JSON bodies of `/v1/sign` and `/v1/renew`, shared by the server and the agent.

use serde::{Deserialize, Serialize};

/// `POST /v1/sign`: a bootstrap token and a CSR (PEM) for the names the token fixes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    /// The one-time token from `mtls-ca token create`.
    pub token: String,
    /// The CSR, PEM.
    pub csr: String,
}

/// `POST /v1/renew` (authenticated by the client certificate): a CSR for the new key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    /// The CSR, PEM (its names are ignored: the successor keeps the old certificate's).
    pub csr: String,
}

/// The answer to a sign or renew request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Certificate {
    /// Serial, lowercase hex.
    pub serial: String,
    /// The certificate, PEM.
    pub certificate: String,
    /// The certificate then the intermediates, PEM (what a server presents).
    pub fullchain: String,
    /// notAfter, RFC 3339.
    pub not_after: String,
}

/// Every error body: `{"error": {"code", "message", "hint"}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable snake_case code.
    pub code: String,
    /// What failed.
    pub message: String,
    /// What to do.
    pub hint: Option<String>,
}
