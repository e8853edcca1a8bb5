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
