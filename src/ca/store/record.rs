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

/// What [`Store::revoke`](crate::store::Store::revoke) did.
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

/// One row of the certificates table exactly as stored, every column: what `store migrate`
/// copies between backends (and checksums) without interpreting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRow {
    /// serial
    pub serial: String,
    /// state: reserved, issued or revoked.
    pub state: String,
    /// profile
    pub profile: Option<String>,
    /// subject
    pub subject: Option<String>,
    /// sans (as stored)
    pub sans: Option<String>,
    /// key_type
    pub key_type: Option<String>,
    /// not_before (Unix seconds)
    pub not_before: Option<i64>,
    /// not_after (Unix seconds)
    pub not_after: Option<i64>,
    /// der
    pub der: Option<Vec<u8>>,
    /// sha256
    pub sha256: Option<String>,
    /// stem
    pub stem: Option<String>,
    /// ca_serial
    pub ca_serial: Option<String>,
    /// reserved_at
    pub reserved_at: i64,
    /// issued_at
    pub issued_at: Option<i64>,
    /// revoked_at
    pub revoked_at: Option<i64>,
    /// revocation_reason
    pub revocation_reason: Option<String>,
    /// renews
    pub renews: Option<String>,
    /// superseded_by
    pub superseded_by: Option<String>,
}

/// The columns of [`RawRow`], in order, for both backends' SELECT and INSERT.
pub(crate) const RAW_COLUMNS: &str =
    "serial, state, profile, subject, sans, key_type, not_before, \
     not_after, der, sha256, stem, ca_serial, reserved_at, issued_at, revoked_at, \
     revocation_reason, renews, superseded_by";

/// The error of `store migrate` for a target that already holds records.
pub(crate) fn not_empty(n: u64) -> Error {
    Error::invalid(
        "--to",
        "",
        format!("the target store already holds {n} record(s)"),
        "migrate into an empty database (or use another one); nothing was copied",
    )
}

/// In which order a store hands its rows to [`crate::store::Store::scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanOrder {
    /// The order they were first written (a copy keeps it, so `list`, oldest first, does).
    Written,
    /// By serial, byte order: the order [`Checksum`] reads them in.
    Serial,
}

/// Rows for a store to write (`store migrate`): called once with a sink, it hands every row to
/// the sink and returns the CRL number to carry over. It decouples the backends: the target's
/// `load` never sees the source store, only this.
pub type RowFeed<'a> = dyn FnMut(&mut dyn FnMut(RawRow) -> Result<()>) -> Result<u64> + 'a;

/// What `store migrate` compares between the source and the copy: the row count, the revoked
/// rows, the CRL number and a checksum over every field of every row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Rows (reserved serials included).
    pub rows: u64,
    /// Revoked rows among them.
    pub revoked: u64,
    /// The last CRL number handed out.
    pub crl_number: u64,
    /// SHA-256, lowercase hex (see [`Checksum`]).
    pub checksum: String,
}

/// SHA-256 over every field of every row, fed one row at a time in serial order
/// ([`ScanOrder::Serial`]; length-prefixed, NULL distinct from empty), then the CRL number:
/// two stores with the same checksum hold the same records. Streamed, so a store of any size
/// is summed in constant memory.
pub struct Checksum {
    ctx: ring::digest::Context,
    rows: u64,
    revoked: u64,
}

impl Default for Checksum {
    fn default() -> Self {
        Checksum {
            ctx: ring::digest::Context::new(&ring::digest::SHA256),
            rows: 0,
            revoked: 0,
        }
    }
}

impl Checksum {
    fn field(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.ctx.update(&[0]),
            Some(b) => {
                self.ctx.update(&[1]);
                self.ctx.update(&(b.len() as u64).to_be_bytes());
                self.ctx.update(b);
            }
        }
    }

    /// The next row (rows must come in serial order).
    pub fn add(&mut self, r: &RawRow) {
        let int = |v: Option<i64>| v.map(i64::to_be_bytes);
        fn s(v: &Option<String>) -> Option<&[u8]> {
            v.as_deref().map(str::as_bytes)
        }
        self.rows += 1;
        if r.state == "revoked" {
            self.revoked += 1;
        }
        self.field(Some(r.serial.as_bytes()));
        self.field(Some(r.state.as_bytes()));
        self.field(s(&r.profile));
        self.field(s(&r.subject));
        self.field(s(&r.sans));
        self.field(s(&r.key_type));
        self.field(int(r.not_before).as_ref().map(|b| &b[..]));
        self.field(int(r.not_after).as_ref().map(|b| &b[..]));
        self.field(r.der.as_deref());
        self.field(s(&r.sha256));
        self.field(s(&r.stem));
        self.field(s(&r.ca_serial));
        self.field(Some(&r.reserved_at.to_be_bytes()));
        self.field(int(r.issued_at).as_ref().map(|b| &b[..]));
        self.field(int(r.revoked_at).as_ref().map(|b| &b[..]));
        self.field(s(&r.revocation_reason));
        self.field(s(&r.renews));
        self.field(s(&r.superseded_by));
    }

    /// The sum, closed with the CRL number.
    pub fn finish(mut self, crl_number: u64) -> Tally {
        self.field(Some(&crl_number.to_be_bytes()));
        Tally {
            rows: self.rows,
            revoked: self.revoked,
            crl_number,
            checksum: crate::x509::hex(self.ctx.finish().as_ref()),
        }
    }
}

#[cfg(test)]
mod checksum_tests {
    use super::*;

    fn row(serial: &str) -> RawRow {
        RawRow {
            serial: serial.into(),
            state: "issued".into(),
            profile: Some("client".into()),
            subject: Some("CN=a".into()),
            sans: Some("[]".into()),
            key_type: Some("ecdsa-p256".into()),
            not_before: Some(1),
            not_after: Some(2),
            der: Some(vec![0x30, 0]),
            sha256: Some("00".into()),
            stem: None,
            ca_serial: Some("01".into()),
            reserved_at: 1,
            issued_at: Some(1),
            revoked_at: None,
            revocation_reason: None,
            renews: None,
            superseded_by: None,
        }
    }

    fn sum(rows: &[RawRow], crl: u64) -> String {
        let mut c = Checksum::default();
        for r in rows {
            c.add(r);
        }
        c.finish(crl).checksum
    }

    #[test]
    fn checksum_sees_every_field_and_the_crl_number() {
        let rows = vec![row("0a"), row("0b")];
        let base = sum(&rows, 3);
        assert_eq!(sum(&rows, 3), base);
        let mut null_vs_empty = rows.clone();
        null_vs_empty[0].stem = Some(String::new());
        assert_ne!(sum(&null_vs_empty, 3), base);
        assert_ne!(sum(&rows, 4), base);
        let mut der = rows.clone();
        der[1].der = Some(vec![0x30, 1]);
        assert_ne!(sum(&der, 3), base);
        // Field boundaries count: moving a byte from one field to the next changes the sum.
        let mut shifted = rows.clone();
        shifted[0].subject = Some("CN=".into());
        shifted[0].sans = Some("a[]".into());
        assert_ne!(sum(&shifted, 3), base);
        // A row missing is seen, and so is the count.
        let mut c = Checksum::default();
        c.add(&rows[0]);
        let t = c.finish(3);
        assert_ne!(t.checksum, base);
        assert_eq!((t.rows, t.revoked), (1, 0));
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
