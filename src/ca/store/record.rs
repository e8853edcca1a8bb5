//! What both store backends share: the record types, the status rules, the bounded serial
//! reservation loop and the renew-conflict error. A leaf: the backends import it, it imports
//! neither.

use ring::rand::SystemRandom;
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::serial::Serial;

pub use crate::ca::layout::STORE_FILE;
/// The schema version this code reads and writes.
pub const SCHEMA_VERSION: i64 = 1;

/// A certificate as recorded at issuance.
#[derive(Debug, Clone)]
pub struct Record {
    /// Its serial (already reserved).
    pub serial: Serial,
    /// root, intermediate, server, client.
    pub profile: String,
    /// Subject DN as text (RFC 4514 order as printed by x509-parser).
    pub subject: String,
    /// SANs as text.
    pub sans: Vec<String>,
    /// Key type name.
    pub key_type: String,
    /// notBefore.
    pub not_before: OffsetDateTime,
    /// notAfter.
    pub not_after: OffsetDateTime,
    /// The certificate.
    pub der: Vec<u8>,
    /// SHA-256 fingerprint, lowercase hex.
    pub sha256: String,
    /// The output stem the files were written to, if any.
    pub stem: Option<String>,
    /// Serial of the CA certificate that signed it (None for a root's own record).
    pub ca_serial: Option<String>,
    /// The serial this certificate renews; that row is marked superseded in the same
    /// transaction.
    pub renews: Option<String>,
}

/// A row as `list` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    /// Serial, lowercase hex.
    pub serial: String,
    /// Subject DN text.
    pub subject: String,
    /// Profile name.
    pub profile: String,
    /// SANs as text.
    pub sans: Vec<String>,
    /// Key type.
    pub key_type: String,
    /// notBefore, RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// notAfter, RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// valid, expired, revoked or superseded.
    pub status: Status,
    /// Where the files were written.
    pub stem: Option<String>,
    /// Serial of the CA certificate that signed it (None for a root's own record).
    pub ca_serial: Option<String>,
}

/// The status of an issued certificate at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Within its validity and not revoked.
    Valid,
    /// Past notAfter.
    Expired,
    /// Revoked.
    Revoked,
    /// Renewed: a successor exists.
    Superseded,
}

impl Status {
    /// Parses `--status`.
    pub fn parse(s: &str) -> Result<Status> {
        match s {
            "valid" => Ok(Status::Valid),
            "expired" => Ok(Status::Expired),
            "revoked" => Ok(Status::Revoked),
            "superseded" => Ok(Status::Superseded),
            _ => Err(Error::invalid(
                "--status",
                s,
                "unknown status",
                "use valid, expired, revoked or superseded",
            )),
        }
    }
}

/// A certificate as the store holds it (reserved-only serials are never returned).
#[derive(Debug, Clone)]
pub struct StoredCert {
    /// Serial, lowercase hex.
    pub serial: String,
    /// issued or revoked.
    pub state: String,
    /// Profile name.
    pub profile: String,
    /// The certificate.
    pub der: Vec<u8>,
    /// Where its files were written.
    pub stem: Option<String>,
    /// The serial of the CA certificate that signed it.
    pub ca_serial: Option<String>,
    /// The successor, if renewed.
    pub superseded_by: Option<String>,
    /// Key type name.
    pub key_type: String,
    /// Revocation reason, when revoked.
    pub revocation_reason: Option<String>,
}

/// A revoked certificate as the store lists it for a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedRow {
    /// Serial, lowercase hex.
    pub serial: String,
    /// When it was revoked.
    pub revoked_at: OffsetDateTime,
    /// The reason as stored (None: unspecified).
    pub reason: Option<String>,
}

/// What [`Store::revoke`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeOutcome {
    /// False when the certificate was already revoked (nothing changed).
    pub changed: bool,
    /// When it was revoked (the first time, when it already was).
    pub revoked_at: OffsetDateTime,
    /// The reason recorded (the first one, when it already was).
    pub reason: Option<String>,
}

/// How many reservations in a row may be ignored before the store counts as broken.
pub(crate) const MAX_RESERVE_MISSES: u32 = 16;

/// Draws fresh random serials until `n` of them were inserted (`insert` says whether the row
/// landed). Two random 127-bit serials colliding is practically impossible: rows that do not
/// land mean the store is broken, so after [`MAX_RESERVE_MISSES`] misses in a row this gives up
/// instead of spinning.
pub(crate) fn reserve_fresh(
    rng: &SystemRandom,
    n: usize,
    mut insert: impl FnMut(&Serial) -> Result<bool>,
) -> std::result::Result<Vec<Serial>, ReserveFailure> {
    let mut out = Vec::with_capacity(n);
    let mut misses = 0;
    while out.len() < n {
        let serial = Serial::random(rng).map_err(ReserveFailure::Error)?;
        if insert(&serial).map_err(ReserveFailure::Error)? {
            out.push(serial);
            misses = 0;
        } else {
            misses += 1;
            if misses >= MAX_RESERVE_MISSES {
                return Err(ReserveFailure::Misses(misses));
            }
        }
    }
    Ok(out)
}

/// Why [`reserve_fresh`] stopped.
pub(crate) enum ReserveFailure {
    /// The store failed.
    Error(Error),
    /// This many rows in a row did not land.
    Misses(u32),
}

impl ReserveFailure {
    /// The error to report; `damaged` describes the misses.
    pub(crate) fn into_error(self, damaged: impl FnOnce(u32) -> Error) -> Error {
        match self {
            ReserveFailure::Error(e) => e,
            ReserveFailure::Misses(m) => damaged(m),
        }
    }
}

/// Why a renewal could not be recorded: the old certificate changed after it was checked.
pub(crate) fn renew_conflict(old: &str, now_state: Option<(String, Option<String>)>) -> Error {
    match now_state {
        Some((state, _)) if state == "revoked" => Error::invalid(
            "serial",
            old,
            "this certificate was revoked while it was being renewed: nothing was issued",
            "issue a new certificate instead (`mtls-ca issue` or `mtls-ca sign`)",
        ),
        Some((_, Some(next))) => Error::invalid(
            "serial",
            old,
            format!(
                "renewed by another process meanwhile: its successor is {next}; nothing was issued"
            ),
            format!("use the successor, or renew it: mtls-ca renew {next}"),
        ),
        _ => Error::invalid(
            "serial",
            old,
            "this certificate cannot be renewed (it is not an issued certificate of this store)",
            "see the known serials with `mtls-ca list`",
        ),
    }
}

pub(crate) fn ts(t: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The status of a row at `now`.
pub(crate) fn status_of(state: &str, not_after: i64, superseded: bool, now: i64) -> Status {
    if state == "revoked" {
        Status::Revoked
    } else if not_after < now {
        Status::Expired
    } else if superseded {
        Status::Superseded
    } else {
        Status::Valid
    }
}

/// A bootstrap token as stored: never the token itself, only its SHA-256.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenRow {
    /// Public identifier (the first 16 hex digits of the hash): what `token list` shows and
    /// `token revoke` takes.
    pub id: String,
    /// The certificate's subject CN.
    pub cn: String,
    /// The SANs it may carry (as typed).
    pub sans: Vec<String>,
    /// server or client.
    pub profile: String,
    /// Validity of the certificate it buys, in seconds (None: the server's default).
    pub valid_secs: Option<i64>,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it was used (None: not yet).
    #[serde(with = "time::serde::rfc3339::option")]
    pub used_at: Option<OffsetDateTime>,
    /// Who used it (the client's address).
    pub used_by: Option<String>,
    /// When it was revoked (None: not revoked).
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// What a token can buy, as `token create` stores it.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// SHA-256 of the token, lowercase hex.
    pub hash: String,
    /// Subject CN.
    pub cn: String,
    /// SANs as typed.
    pub sans: Vec<String>,
    /// server or client.
    pub profile: String,
    /// Validity of the certificate, in seconds (None: the server's default).
    pub valid_secs: Option<i64>,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    /// No token with this hash.
    Unknown,
    /// Already used once.
    Used,
    /// Revoked by `token revoke`.
    Revoked,
    /// Past its expiry.
    Expired,
}

impl TokenRefusal {
    /// A stable snake_case name (metrics, JSON errors).
    pub fn as_str(self) -> &'static str {
        match self {
            TokenRefusal::Unknown => "token_unknown",
            TokenRefusal::Used => "token_used",
            TokenRefusal::Revoked => "token_revoked",
            TokenRefusal::Expired => "token_expired",
        }
    }
}

/// The first 16 hex digits of a token hash: its public id.
pub(crate) fn token_id(hash: &str) -> String {
    hash.chars().take(16).collect()
}

/// Whether a token row (None: no such token) may be used at `now`.
pub(crate) fn judge_token(
    row: Option<TokenRow>,
    now: OffsetDateTime,
) -> std::result::Result<TokenRow, TokenRefusal> {
    let t = row.ok_or(TokenRefusal::Unknown)?;
    if t.revoked_at.is_some() {
        Err(TokenRefusal::Revoked)
    } else if t.used_at.is_some() {
        Err(TokenRefusal::Used)
    } else if t.expires_at <= now {
        Err(TokenRefusal::Expired)
    } else {
        Ok(t)
    }
}

/// The tokens table, the same migration in both backends (SQLite reads BIGINT as INTEGER).
pub(crate) const TOKENS_TABLE: &str = "
CREATE TABLE tokens (
    hash        TEXT PRIMARY KEY,
    id          TEXT NOT NULL,
    cn          TEXT NOT NULL,
    sans        TEXT NOT NULL,
    profile     TEXT NOT NULL,
    valid_secs  BIGINT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    used_by     TEXT,
    revoked_at  BIGINT
);
CREATE INDEX tokens_id ON tokens (id);
";

/// The columns a [`TokenRow`] is read from, in order.
pub(crate) const TOKEN_SELECT: &str =
    "SELECT id, cn, sans, profile, valid_secs, created_at, expires_at,
    used_at, used_by, revoked_at FROM tokens";
