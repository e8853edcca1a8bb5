//! The store: one SQLite database per CA directory that tracks every serial the CA ever used.
//!
//! Issuance is two short transactions: [`Store::reserve_serial`] inserts the serial under the
//! table's primary key (a uniqueness constraint) and commits *before* anything is signed;
//! [`Store::record_issued`] then stores the certificate (DER, subject, SANs, profile, validity).
//! A process killed in between leaves a `reserved` row that is never reused; files are written
//! only after the record commits, so no certificate file exists without its record.
//! Writers take SQLite's write lock up front (`BEGIN IMMEDIATE`) and wait for each other (busy
//! timeout) instead of failing. The journal is WAL with `synchronous=FULL`; records,
//! revocations and CRL numbers are checkpointed into `store.db` right after they commit, so a
//! `-wal` file deleted after a crash does not take them along.
//!
//! A renewal's record is refused inside its own transaction when the old certificate was
//! revoked or renewed since it was read (one successor at most, never one of a revoked
//! certificate). Every loop is bounded; a store SQLite finds corrupt (or one that silently
//! drops new rows) is reported as [`Error::StoreDamaged`] and nothing is written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ring::rand::SystemRandom;
use rusqlite::{
    params, Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior,
};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::serial::Serial;

pub use super::layout::STORE_FILE;
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
        sql_error(&self.path, source)
    }

    /// Creates a new, empty store at `path` (which must not exist), mode 0600.
    pub fn create(path: &Path) -> Result<Store> {
        crate::files::create_private_empty(path)?;
        let store = Store::connect(path)?;
        store
            .conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| store.err(e))?;
        let mut store = store;
        // Tables and metadata in one transaction: a store has all of them or none.
        store.write_tx(|tx, sql| {
            tx.execute_batch(SCHEMA).map_err(sql)?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?1), ('crl_number', '0')",
                params![SCHEMA_VERSION.to_string()],
            )
            .map_err(sql)?;
            Ok(())
        })?;
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
            .map_err(|e| match sql_error(path, e) {
                Error::Store { source, .. } => Error::StoreFormat {
                    path: path.to_path_buf(),
                    reason: format!("not an mtls-ca store ({source})"),
                },
                damaged => damaged,
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
        .map_err(|source| sql_error(path, source))?;
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
        self.write_tx(|tx, sql| {
            let mut out = Vec::with_capacity(n);
            let mut ignored = 0;
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO certificates (serial, state, reserved_at) VALUES (?1, 'reserved', ?2)",
                )
                .map_err(sql)?;
            while out.len() < n {
                let serial = Serial::random(rng)?;
                if stmt
                    .execute(params![serial.hex(), now.unix_timestamp()])
                    .map_err(sql)?
                    == 1
                {
                    out.push(serial);
                } else {
                    // Two random 127-bit serials colliding is practically impossible: rows
                    // that do not land mean the store is broken. Never spin.
                    ignored += 1;
                    if ignored >= MAX_RESERVE_MISSES {
                        return Err(Error::StoreDamaged {
                            path: path.clone(),
                            reason: format!(
                                "{ignored} fresh serials in a row could not be reserved ({})",
                                quick_check(tx).err().unwrap_or_else(|| "the store ignores new rows".into())
                            ),
                        });
                    }
                }
            }
            Ok(out)
        })
    }

    /// Records signed certificates under their reserved serials, all in one transaction.
    pub fn record_many(&mut self, recs: &[Record], now: OffsetDateTime) -> Result<()> {
        let path = self.path.clone();
        self.durable_tx(|tx, sql| {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE certificates SET state = 'issued', profile = ?2, subject = ?3, sans = ?4,
                     key_type = ?5, not_before = ?6, not_after = ?7, der = ?8, sha256 = ?9, stem = ?10,
                     ca_serial = ?11, issued_at = ?12
                     WHERE serial = ?1 AND state = 'reserved'",
                )
                .map_err(sql)?;
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
                    .map_err(sql)?;
                if n != 1 {
                    return Err(Error::StoreFormat {
                        path: path.clone(),
                        reason: format!("serial {} was not reserved", rec.serial),
                    });
                }
                if let Some(old) = &rec.renews {
                    tx.execute(
                        "UPDATE certificates SET renews = ?1 WHERE serial = ?2",
                        params![old, rec.serial.hex()],
                    )
                    .map_err(sql)?;
                    // Decided here, under the write lock, not by the check before signing: a
                    // revocation or another renewal that committed since then wins, and this
                    // whole transaction (the new record too) is rolled back.
                    let n = tx
                        .execute(
                            "UPDATE certificates SET superseded_by = ?2
                             WHERE serial = ?1 AND state = 'issued' AND superseded_by IS NULL",
                            params![old, rec.serial.hex()],
                        )
                        .map_err(sql)?;
                    if n != 1 {
                        let now_state: Option<(String, Option<String>)> = tx
                            .query_row(
                                "SELECT state, superseded_by FROM certificates WHERE serial = ?1",
                                params![old],
                                |r| Ok((r.get(0)?, r.get(1)?)),
                            )
                            .optional()
                            .map_err(sql)?;
                        return Err(renew_conflict(old, now_state));
                    }
                }
            }
            Ok(())
        })
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
            Err(Error::StoreDamaged {
                path: self.path.clone(),
                reason: format!("integrity check: {res}"),
            })
        }
    }

    /// The certificate recorded under `serial` (exact, lowercase hex); None when the serial is
    /// unknown or only reserved.
    pub fn get(&self, serial: &str) -> Result<Option<StoredCert>> {
        self.conn
            .query_row(
                "SELECT serial, state, profile, der, stem, ca_serial, superseded_by, key_type,
                        revocation_reason
                 FROM certificates WHERE serial = ?1 AND state != 'reserved'",
                params![serial],
                |r| {
                    Ok(StoredCert {
                        serial: r.get(0)?,
                        state: r.get(1)?,
                        profile: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                        der: r.get::<_, Option<Vec<u8>>>(3)?.unwrap_or_default(),
                        stem: r.get(4)?,
                        ca_serial: r.get(5)?,
                        superseded_by: r.get(6)?,
                        key_type: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
                        revocation_reason: r.get(8)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The serials of recorded certificates that start with the lowercase hex `prefix`
    /// (reserved-only serials are left out). Anything but hex digits matches nothing.
    pub fn serials_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        if !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            // A range on the primary key ('g' sorts after every hex digit), not a scan.
            .prepare_cached(
                "SELECT serial FROM certificates
                 WHERE state != 'reserved' AND serial >= ?1 AND serial < ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![prefix, format!("{prefix}g")], |r| {
                r.get::<_, String>(0)
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))
    }

    /// Marks an issued certificate revoked (durable when this returns). Revoking twice changes
    /// nothing: the first time and reason stay.
    pub fn revoke(
        &mut self,
        serial: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<RevokeOutcome> {
        self.durable_tx(|tx, sql| {
            let n = tx
                .execute(
                    "UPDATE certificates SET state = 'revoked', revoked_at = ?2, revocation_reason = ?3
                     WHERE serial = ?1 AND state = 'issued'",
                    params![serial, now.unix_timestamp(), reason],
                )
                .map_err(sql)?;
            let (at, stored_reason): (Option<i64>, Option<String>) = tx
                .query_row(
                    "SELECT revoked_at, revocation_reason FROM certificates WHERE serial = ?1",
                    params![serial],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(sql)?;
            Ok(RevokeOutcome {
                changed: n == 1,
                revoked_at: at.map(ts).unwrap_or(now),
                reason: stored_reason,
            })
        })
    }

    /// Every certificate revoked under the CA certificate with serial `ca_serial`, in order of
    /// revocation.
    pub fn revoked_by(&self, ca_serial: &str) -> Result<Vec<RevokedRow>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT serial, revoked_at, revocation_reason FROM certificates
                 WHERE state = 'revoked' AND ca_serial = ?1 ORDER BY revoked_at, serial",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![ca_serial], |r| {
                Ok(RevokedRow {
                    serial: r.get(0)?,
                    revoked_at: ts(r.get::<_, Option<i64>>(1)?.unwrap_or(0)),
                    reason: r.get(2)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))
    }

    /// Takes the next CRL number and commits it before anything is signed: numbers strictly
    /// increase, a crash can skip one but never reuse it.
    pub fn next_crl_number(&mut self) -> Result<u64> {
        self.durable_tx(|tx, sql| {
            let cur: Option<String> = tx
                .query_row("SELECT value FROM meta WHERE key = 'crl_number'", [], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(sql)?;
            let next = cur.as_deref().unwrap_or("0").parse::<u64>().unwrap_or(0) + 1;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('crl_number', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![next.to_string()],
            )
            .map_err(sql)?;
            Ok(next)
        })
    }

    /// Runs `f` in one write transaction: SQLite's write lock is taken up front (`BEGIN
    /// IMMEDIATE`, waiting for other writers up to the busy timeout), committed when `f`
    /// returns `Ok`, rolled back otherwise. `f` gets the transaction and the mapping of SQL
    /// errors to this store's error.
    fn write_tx<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>, &dyn Fn(rusqlite::Error) -> Error) -> Result<T>,
    ) -> Result<T> {
        let path = self.path.clone();
        let sql = |source| sql_error(&path, source);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let out = f(&tx, &sql)?;
        tx.commit().map_err(sql)?;
        Ok(out)
    }

    /// [`Store::write_tx`], then the committed pages are copied from the WAL into `store.db`
    /// at once (PASSIVE: never waits for readers), so that a `-wal` file deleted after a crash
    /// loses nothing a command reported as done. Best effort: the commit stands either way.
    /// Used for records, revocations and CRL numbers; reservations skip it (a record's
    /// checkpoint carries them).
    fn durable_tx<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>, &dyn Fn(rusqlite::Error) -> Error) -> Result<T>,
    ) -> Result<T> {
        let out = self.write_tx(f)?;
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        Ok(out)
    }

    /// The database path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// How many reservations in a row may be ignored before the store counts as broken.
const MAX_RESERVE_MISSES: u32 = 16;

/// Maps a SQLite error: corruption is reported as a damaged store, anything else as a store
/// failure.
fn sql_error(path: &Path, source: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    match source.sqlite_error_code() {
        Some(DatabaseCorrupt | NotADatabase) => Error::StoreDamaged {
            path: path.to_path_buf(),
            reason: source.to_string(),
        },
        _ => Error::Store {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// SQLite's quick check: Ok when the database is sound, else its first findings.
fn quick_check(conn: &Connection) -> std::result::Result<(), String> {
    let mut stmt = conn
        .prepare("PRAGMA quick_check(5)")
        .map_err(|e| e.to_string())?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(|e| e.to_string())?;
    let found: Vec<String> = rows
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| e.to_string())?;
    if found.len() == 1 && found[0] == "ok" {
        Ok(())
    } else {
        Err(format!("quick_check: {}", found.join("; ")))
    }
}

/// Why a renewal could not be recorded: the old certificate changed after it was checked.
fn renew_conflict(old: &str, now_state: Option<(String, Option<String>)>) -> Error {
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

fn ts(t: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

    fn fresh() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::create(&dir.path().join(STORE_FILE)).expect("create");
        (dir, store)
    }

    fn rec(serial: &Serial, ca: &str, days: i64) -> Record {
        Record {
            serial: serial.clone(),
            profile: "client".into(),
            subject: format!("CN=c-{}", serial.hex()),
            sans: vec!["DNS:c.example".into()],
            key_type: "ecdsa-p256".into(),
            not_before: NOW,
            not_after: NOW + time::Duration::days(days),
            der: serial.hex().into_bytes(),
            sha256: "00".into(),
            stem: Some(format!("/tmp/{}", serial.hex())),
            ca_serial: Some(ca.into()),
            renews: None,
        }
    }

    fn issue(store: &mut Store, ca: &str, days: i64) -> Serial {
        let s = store
            .reserve_serial(&SystemRandom::new(), NOW)
            .expect("reserve");
        store
            .record_issued(&rec(&s, ca, days), NOW)
            .expect("record");
        s
    }

    #[test]
    fn create_then_open_reads_the_schema_version() {
        let (dir, store) = fresh();
        drop(store);
        let store = Store::open(&dir.path().join(STORE_FILE)).expect("open");
        assert_eq!(store.count_serials().expect("count"), 0);
        store.integrity_check().expect("integrity");
    }

    #[test]
    fn open_refuses_a_missing_store_and_a_foreign_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope.db");
        assert!(matches!(Store::open(&missing), Err(Error::NoCa { .. })));
        let foreign = dir.path().join("foreign.db");
        Connection::open(&foreign)
            .and_then(|c| c.execute_batch("CREATE TABLE t (x INTEGER);"))
            .expect("foreign db");
        assert!(matches!(
            Store::open(&foreign),
            Err(Error::StoreFormat { .. })
        ));
    }

    #[test]
    fn reserved_serials_are_unique_and_not_listed() {
        let (_dir, mut store) = fresh();
        let rng = SystemRandom::new();
        let mut all = store.reserve_serials(&rng, 500, NOW).expect("reserve");
        all.push(store.reserve_serial(&rng, NOW).expect("reserve one"));
        let mut hex: Vec<String> = all.iter().map(Serial::hex).collect();
        hex.sort();
        hex.dedup();
        assert_eq!(hex.len(), 501);
        assert_eq!(store.count_serials().expect("count"), 501);
        assert!(store.list(NOW, None).expect("list").is_empty());
        assert!(store.get(&hex[0]).expect("get").is_none());
        // The same serial cannot be reserved twice.
        assert!(store.reserve_serial_exact(&all[0], NOW).is_err());
    }

    #[test]
    fn recording_needs_a_reservation_and_rolls_back_as_a_whole() {
        let (_dir, mut store) = fresh();
        let rng = SystemRandom::new();
        let good = store.reserve_serial(&rng, NOW).expect("reserve");
        let unreserved = Serial::random(&rng).expect("serial");
        let err = store
            .record_many(&[rec(&good, "ca", 30), rec(&unreserved, "ca", 30)], NOW)
            .expect_err("unreserved serial");
        assert!(err.to_string().contains("was not reserved"), "{err}");
        // The first record of the failed transaction is not there either.
        assert!(store.get(&good.hex()).expect("get").is_none());
        store
            .record_issued(&rec(&good, "ca", 30), NOW)
            .expect("record");
        let got = store.get(&good.hex()).expect("get").expect("recorded");
        assert_eq!(got.state, "issued");
        assert_eq!(got.der, good.hex().into_bytes());
        assert_eq!(got.ca_serial.as_deref(), Some("ca"));
        // Recording twice under one serial fails.
        assert!(store.record_issued(&rec(&good, "ca", 30), NOW).is_err());
    }

    #[test]
    fn a_renewal_marks_its_predecessor_superseded() {
        let (_dir, mut store) = fresh();
        let old = issue(&mut store, "ca", 30);
        let new = store
            .reserve_serial(&SystemRandom::new(), NOW)
            .expect("reserve");
        let mut r = rec(&new, "ca", 30);
        r.renews = Some(old.hex());
        store.record_issued(&r, NOW).expect("record");
        let got = store.get(&old.hex()).expect("get").expect("old");
        assert_eq!(got.superseded_by, Some(new.hex()));
        let statuses: Vec<(String, Status)> = store
            .list(NOW, None)
            .expect("list")
            .into_iter()
            .map(|e| (e.serial, e.status))
            .collect();
        assert_eq!(
            statuses,
            vec![(old.hex(), Status::Superseded), (new.hex(), Status::Valid)]
        );
    }

    #[test]
    fn a_renewal_is_refused_in_its_transaction_when_the_old_one_changed() {
        let (_dir, mut store) = fresh();
        let rng = SystemRandom::new();
        let old = issue(&mut store, "ca", 30);
        // Two renewals that both passed their checks: the second one to record loses.
        let (a, b) = (
            store.reserve_serial(&rng, NOW).expect("a"),
            store.reserve_serial(&rng, NOW).expect("b"),
        );
        let mut ra = rec(&a, "ca", 30);
        ra.renews = Some(old.hex());
        let mut rb = rec(&b, "ca", 30);
        rb.renews = Some(old.hex());
        store.record_issued(&ra, NOW).expect("first renewal");
        let err = store.record_issued(&rb, NOW).expect_err("second renewal");
        assert!(
            err.to_string().contains("renewed by another process"),
            "{err}"
        );
        assert!(store.get(&b.hex()).expect("get").is_none(), "rolled back");
        // A renewal of a certificate revoked meanwhile.
        let other = issue(&mut store, "ca", 30);
        let c = store.reserve_serial(&rng, NOW).expect("c");
        store
            .revoke(&other.hex(), "key-compromise", NOW)
            .expect("revoke");
        let mut rc = rec(&c, "ca", 30);
        rc.renews = Some(other.hex());
        let err = store.record_issued(&rc, NOW).expect_err("revoked");
        assert!(err.to_string().contains("revoked while"), "{err}");
        assert!(store.get(&c.hex()).expect("get").is_none());
        assert_eq!(
            store
                .get(&other.hex())
                .expect("get")
                .expect("other")
                .superseded_by,
            None
        );
    }

    #[test]
    fn prefix_lookup_is_a_range_of_hex_serials() {
        let (_dir, mut store) = fresh();
        let s = issue(&mut store, "ca", 30);
        let hex = s.hex();
        assert_eq!(
            store.serials_with_prefix(&hex[..8]).expect("prefix"),
            vec![hex.clone()]
        );
        assert!(store
            .serials_with_prefix("zz' OR 1=1 --")
            .expect("prefix")
            .is_empty());
    }

    #[test]
    fn revoking_twice_keeps_the_first_time_and_reason() {
        let (_dir, mut store) = fresh();
        let a = issue(&mut store, "ca1", 30);
        let b = issue(&mut store, "ca2", 30);
        let first = store
            .revoke(&a.hex(), "key-compromise", NOW)
            .expect("revoke");
        assert!(first.changed);
        assert_eq!(first.revoked_at, NOW);
        let later = NOW + time::Duration::hours(1);
        let again = store.revoke(&a.hex(), "superseded", later).expect("again");
        assert!(!again.changed);
        assert_eq!(again.revoked_at, NOW);
        assert_eq!(again.reason.as_deref(), Some("key-compromise"));
        store.revoke(&b.hex(), "unspecified", later).expect("b");
        let rows = store.revoked_by("ca1").expect("revoked_by");
        assert_eq!(
            rows,
            vec![RevokedRow {
                serial: a.hex(),
                revoked_at: NOW,
                reason: Some("key-compromise".into())
            }]
        );
        assert_eq!(store.revoked_by("ca2").expect("ca2").len(), 1);
        assert_eq!(
            store
                .list(later, Some(Status::Revoked))
                .expect("list")
                .len(),
            2
        );
    }

    #[test]
    fn crl_numbers_strictly_increase_across_reopen() {
        let (dir, mut store) = fresh();
        assert_eq!(store.next_crl_number().expect("n"), 1);
        assert_eq!(store.next_crl_number().expect("n"), 2);
        drop(store);
        let mut store = Store::open(&dir.path().join(STORE_FILE)).expect("open");
        assert_eq!(store.next_crl_number().expect("n"), 3);
    }

    #[test]
    fn expiring_lists_valid_certificates_in_the_window_soonest_first() {
        let (_dir, mut store) = fresh();
        let late = issue(&mut store, "ca", 60);
        let soon = issue(&mut store, "ca", 10);
        let revoked = issue(&mut store, "ca", 5);
        store
            .revoke(&revoked.hex(), "unspecified", NOW)
            .expect("revoke");
        let got: Vec<String> = store
            .expiring(NOW, NOW + time::Duration::days(90))
            .expect("expiring")
            .into_iter()
            .map(|e| e.serial)
            .collect();
        assert_eq!(got, vec![soon.hex(), late.hex()]);
        let expired = store
            .list(NOW + time::Duration::days(20), Some(Status::Expired))
            .expect("list");
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].serial, soon.hex());
    }
}
