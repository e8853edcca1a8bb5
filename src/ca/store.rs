//! The store: one SQLite database per CA directory that tracks every serial the CA ever used.
//!
//! Issuance is two short transactions: [`Store::reserve_serial`] inserts the serial under the
//! table's primary key (a uniqueness constraint) and commits *before* anything is signed;
//! [`Store::record_issued`] then stores the certificate (DER, subject, SANs, profile, validity).
//! A process killed in between leaves a `reserved` row that is never reused; files are written
//! only after the record commits, so no certificate file exists without its record.
//! Writers take SQLite's write lock up front (`BEGIN IMMEDIATE`) and wait for each other (busy
//! timeout) instead of failing. The journal is WAL with `synchronous=FULL`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ring::rand::SystemRandom;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::serial::Serial;

/// The store's file name inside the CA directory.
pub const STORE_FILE: &str = "store.db";
/// The schema version this code reads and writes.
pub const SCHEMA_VERSION: i64 = 1;
/// How long a writer waits for another process's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(300);

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE certificates (
    serial            TEXT PRIMARY KEY,
    state             TEXT NOT NULL CHECK (state IN ('reserved', 'issued', 'revoked')),
    profile           TEXT,
    subject           TEXT,
    sans              TEXT,
    key_type          TEXT,
    not_before        INTEGER,
    not_after         INTEGER,
    der               BLOB,
    sha256            TEXT,
    stem              TEXT,
    ca_serial         TEXT,
    reserved_at       INTEGER NOT NULL,
    issued_at         INTEGER,
    revoked_at        INTEGER,
    revocation_reason TEXT,
    renews            TEXT,
    superseded_by     TEXT
);
CREATE INDEX certificates_expiry ON certificates (state, not_after);
CREATE INDEX certificates_revoked ON certificates (ca_serial, state, revoked_at);
";

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

/// An open store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    fn err(&self, source: rusqlite::Error) -> Error {
        Error::Store {
            path: self.path.clone(),
            source,
        }
    }

    /// Creates a new, empty store at `path` (which must not exist), mode 0600.
    pub fn create(path: &Path) -> Result<Store> {
        crate::files::create_private_empty(path)?;
        let store = Store::connect(path)?;
        store
            .conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| store.err(e))?;
        store.conn.execute_batch(SCHEMA).map_err(|e| store.err(e))?;
        store
            .conn
            .execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?1), ('crl_number', '0')",
                params![SCHEMA_VERSION.to_string()],
            )
            .map_err(|e| store.err(e))?;
        Ok(store)
    }

    /// Opens an existing store.
    pub fn open(path: &Path) -> Result<Store> {
        if !path.exists() {
            return Err(Error::NoCa {
                dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
                missing: path.to_path_buf(),
            });
        }
        let store = Store::connect(path)?;
        let version: Option<String> = store
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| Error::StoreFormat {
                path: path.to_path_buf(),
                reason: format!("not an mtls-ca store ({e})"),
            })?;
        match version.as_deref() {
            Some(v) if v == SCHEMA_VERSION.to_string() => Ok(store),
            Some(v) => Err(Error::StoreFormat {
                path: path.to_path_buf(),
                reason: format!("schema version {v}, this mtls-ca reads {SCHEMA_VERSION}"),
            }),
            None => Err(Error::StoreFormat {
                path: path.to_path_buf(),
                reason: "no schema version: not an mtls-ca store".into(),
            }),
        }
    }

    fn connect(path: &Path) -> Result<Store> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| Error::Store {
            path: path.to_path_buf(),
            source,
        })?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store
            .conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| store.err(e))?;
        store
            .conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(|e| store.err(e))?;
        Ok(store)
    }

    /// Reserves a fresh random serial: committed before the caller signs anything.
    pub fn reserve_serial(&mut self, rng: &SystemRandom, now: OffsetDateTime) -> Result<Serial> {
        let mut one = self.reserve_serials(rng, 1, now)?;
        Ok(one.remove(0))
    }

    /// Reserves a given serial (a root CA's own, chosen before its store existed).
    pub fn reserve_serial_exact(&mut self, serial: &Serial, now: OffsetDateTime) -> Result<Serial> {
        self.conn
            .execute(
                "INSERT INTO certificates (serial, state, reserved_at) VALUES (?1, 'reserved', ?2)",
                params![serial.hex(), now.unix_timestamp()],
            )
            .map_err(|e| self.err(e))?;
        Ok(serial.clone())
    }

    /// Records a signed certificate under its reserved serial.
    pub fn record_issued(&mut self, rec: &Record, now: OffsetDateTime) -> Result<()> {
        self.record_many(std::slice::from_ref(rec), now)
    }

    /// Reserves `n` fresh random serials in one transaction (bulk issuance), committed before
    /// anything is signed.
    ///
    /// The reservation is committed with `synchronous=NORMAL` (no fsync): it is visible to every
    /// other process at once, which is what uniqueness needs, and survives a killed process. Only
    /// a power loss could lose it, and then nothing was written with that serial, because
    /// [`Store::record_many`] commits with `synchronous=FULL` before any file is written.
    pub fn reserve_serials(
        &mut self,
        rng: &SystemRandom,
        n: usize,
        now: OffsetDateTime,
    ) -> Result<Vec<Serial>> {
        self.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| self.err(e))?;
        let reserved = self.reserve_serials_tx(rng, n, now);
        self.conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(|e| self.err(e))?;
        reserved
    }

    fn reserve_serials_tx(
        &mut self,
        rng: &SystemRandom,
        n: usize,
        now: OffsetDateTime,
    ) -> Result<Vec<Serial>> {
        let path = self.path.clone();
        let map = |source| Error::Store {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map)?;
        let mut out = Vec::with_capacity(n);
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO certificates (serial, state, reserved_at) VALUES (?1, 'reserved', ?2)",
                )
                .map_err(map)?;
            while out.len() < n {
                let serial = Serial::random(rng)?;
                if stmt
                    .execute(params![serial.hex(), now.unix_timestamp()])
                    .map_err(map)?
                    == 1
                {
                    out.push(serial);
                }
            }
        }
        tx.commit().map_err(map)?;
        Ok(out)
    }

    /// Records signed certificates under their reserved serials, all in one transaction.
    pub fn record_many(&mut self, recs: &[Record], now: OffsetDateTime) -> Result<()> {
        let path = self.path.clone();
        let map = |source| Error::Store {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE certificates SET state = 'issued', profile = ?2, subject = ?3, sans = ?4,
                     key_type = ?5, not_before = ?6, not_after = ?7, der = ?8, sha256 = ?9, stem = ?10,
                     ca_serial = ?11, issued_at = ?12
                     WHERE serial = ?1 AND state = 'reserved'",
                )
                .map_err(map)?;
            for rec in recs {
                let n = stmt
                    .execute(params![
                        rec.serial.hex(),
                        rec.profile,
                        rec.subject,
                        serde_json::to_string(&rec.sans).unwrap_or_else(|_| "[]".into()),
                        rec.key_type,
                        rec.not_before.unix_timestamp(),
                        rec.not_after.unix_timestamp(),
                        rec.der,
                        rec.sha256,
                        rec.stem,
                        rec.ca_serial,
                        now.unix_timestamp(),
                    ])
                    .map_err(map)?;
                if n != 1 {
                    return Err(Error::StoreFormat {
                        path: self.path.clone(),
                        reason: format!("serial {} was not reserved", rec.serial),
                    });
                }
                if let Some(old) = &rec.renews {
                    tx.execute(
                        "UPDATE certificates SET renews = ?1 WHERE serial = ?2",
                        params![old, rec.serial.hex()],
                    )
                    .map_err(map)?;
                    tx.execute(
                        "UPDATE certificates SET superseded_by = ?2 WHERE serial = ?1",
                        params![old, rec.serial.hex()],
                    )
                    .map_err(map)?;
                }
            }
        }
        tx.commit().map_err(map)?;
        Ok(())
    }

    /// Every issued certificate (reserved-only serials are left out), oldest first, with the
    /// status it has at `now`, optionally only those with `status`.
    pub fn list(&self, now: OffsetDateTime, status: Option<Status>) -> Result<Vec<Entry>> {
        self.query_entries(
            "WHERE state != 'reserved' ORDER BY issued_at, rowid",
            &[],
            now,
            status,
        )
    }

    /// Valid certificates whose notAfter falls within `[now, until]`, soonest first. Uses the
    /// `(state, not_after)` index, so it stays fast on a store of 100,000 certificates.
    pub fn expiring(&self, now: OffsetDateTime, until: OffsetDateTime) -> Result<Vec<Entry>> {
        self.query_entries(
            "WHERE state = 'issued' AND not_after >= ?1 AND not_after <= ?2 ORDER BY not_after, rowid",
            &[&now.unix_timestamp(), &until.unix_timestamp()],
            now,
            Some(Status::Valid),
        )
    }

    fn query_entries(
        &self,
        clause: &str,
        args: &[&dyn rusqlite::ToSql],
        now: OffsetDateTime,
        status: Option<Status>,
    ) -> Result<Vec<Entry>> {
        let sql = format!(
            "SELECT serial, subject, profile, sans, key_type, not_before, not_after, state,
                    superseded_by, stem, ca_serial
             FROM certificates {clause}"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let now_ts = now.unix_timestamp();
        let rows = stmt
            .query_map(args, |r| {
                let sans: String = r.get(3)?;
                let nb: i64 = r.get(5)?;
                let na: i64 = r.get(6)?;
                let state: String = r.get(7)?;
                let superseded: Option<String> = r.get(8)?;
                let status = if state == "revoked" {
                    Status::Revoked
                } else if na < now_ts {
                    Status::Expired
                } else if superseded.is_some() {
                    Status::Superseded
                } else {
                    Status::Valid
                };
                Ok(Entry {
                    serial: r.get(0)?,
                    subject: r.get(1)?,
                    profile: r.get(2)?,
                    sans: serde_json::from_str(&sans).unwrap_or_default(),
                    key_type: r.get(4)?,
                    not_before: ts(nb),
                    not_after: ts(na),
                    status,
                    stem: r.get(9)?,
                    ca_serial: r.get(10)?,
                })
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let e = row.map_err(|e| self.err(e))?;
            if status.is_none_or(|s| s == e.status) {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// How many serials the store holds, reserved ones included.
    pub fn count_serials(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM certificates", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// Runs SQLite's integrity check; `Ok(())` when the database is sound.
    pub fn integrity_check(&self) -> Result<()> {
        let res: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if res == "ok" {
            Ok(())
        } else {
            Err(Error::StoreFormat {
                path: self.path.clone(),
                reason: format!("integrity check: {res}"),
            })
        }
    }

    /// The underlying connection, for the lifecycle modules of this crate.
    #[allow(dead_code)]
    pub(crate) fn conn(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The database path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every certificate issued by the CA certificate with serial `ca_serial`, oldest first,
    /// with the status it has at `now`.
    pub fn issued_by(&self, ca_serial: &str, now: OffsetDateTime) -> Result<Vec<Entry>> {
        self.query_entries(
            "WHERE state != 'reserved' AND ca_serial = ?1 ORDER BY issued_at, rowid",
            &[&ca_serial],
            now,
            None,
        )
    }
}

fn ts(t: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
