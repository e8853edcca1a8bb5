//! The SQLite backend of the store: one database file per CA directory (`store.db`).
//!
//! Writers take SQLite's write lock up front (`BEGIN IMMEDIATE`) and wait for each other (busy
//! timeout) instead of failing. The journal is WAL with `synchronous=FULL`; records,
//! revocations and CRL numbers are checkpointed into `store.db` right after they commit, so a
//! `-wal` file deleted after a crash does not take them along. SQLite reports corruption of any
//! page a command reads; that is [`Error::StoreDamaged`] and nothing is written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ring::rand::SystemRandom;
use rusqlite::{
    params, Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior,
};
use time::OffsetDateTime;

use super::record::{
    judge_token, renew_conflict, reserve_fresh, token_id, ts, Entry, NewToken, RawRow, Record,
    RevokeOutcome, RevokedRow, RowFeed, ScanOrder, Status, StoredCert, TokenRefusal, TokenRow,
    RAW_COLUMNS, SCHEMA_VERSION, TOKENS_TABLE, TOKEN_SELECT,
};
use crate::error::{Error, Result};
use crate::serial::Serial;

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

/// A certificate that keeps its CA signing CRLs (see [`crate::store::Store::crl_duty`]).
const CRL_DUTY: &str = "SELECT serial FROM certificates
     WHERE ca_serial = ?1 AND not_after > ?2
       AND (state = 'revoked' OR (state = 'issued' AND profile = ?3))
     LIMIT 1";

/// Migrations after the base schema: migration N (meta `migration` = N once applied) is
/// `MIGRATIONS[N-1]`, each applied once, in order, in one write transaction when a store is
/// opened or created. The PostgreSQL backend has the same tables in its own list.
const MIGRATIONS: &[&str] = &[TOKENS_TABLE];

/// An open store.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    /// Checkpoint after each durable commit (the default); off for a long-running writer
    /// that checkpoints on its own schedule ([`SqliteStore::defer_checkpoints`]).
    checkpoint_each: bool,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteStore {
    fn err(&self, source: rusqlite::Error) -> Error {
        sql_error(&self.path, source)
    }

    /// Creates a new, empty store at `path` (which must not exist), mode 0600.
    pub fn create(path: &Path) -> Result<SqliteStore> {
        crate::files::create_private_empty(path)?;
        let store = SqliteStore::connect(path)?;
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
        store.migrate()?;
        Ok(store)
    }

    /// Applies the migrations this store lacks (see [`MIGRATIONS`]); a store migrated further
    /// than this code knows is refused.
    fn migrate(&mut self) -> Result<()> {
        let read = |conn: &Connection| -> rusqlite::Result<usize> {
            let v: Option<String> = conn
                .query_row("SELECT value FROM meta WHERE key = 'migration'", [], |r| {
                    r.get(0)
                })
                .optional()?;
            Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
        };
        let have = read(&self.conn).map_err(|e| self.err(e))?;
        if have == MIGRATIONS.len() {
            return Ok(());
        }
        if have > MIGRATIONS.len() {
            return Err(Error::StoreFormat {
                path: self.path.clone(),
                reason: format!(
                    "migration {have}, this mtls-ca knows up to {}",
                    MIGRATIONS.len()
                ),
            });
        }
        self.write_tx(|tx, sql| {
            // Read again under the write lock: another process may have migrated meanwhile.
            let have = read(tx).map_err(sql)?;
            for m in MIGRATIONS.iter().skip(have) {
                tx.execute_batch(m).map_err(sql)?;
            }
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('migration', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![MIGRATIONS.len().max(have).to_string()],
            )
            .map_err(sql)?;
            Ok(())
        })
    }

    /// Opens an existing store.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if !path.exists() {
            return Err(Error::NoCa {
                dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
                missing: path.to_path_buf(),
            });
        }
        let store = SqliteStore::connect(path)?;
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
            Some(v) if v == SCHEMA_VERSION.to_string() => {
                let mut store = store;
                store.migrate()?;
                Ok(store)
            }
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

    fn connect(path: &Path) -> Result<SqliteStore> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| sql_error(path, source))?;
        let store = SqliteStore {
            checkpoint_each: true,
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
    /// [`Store::record_many`](crate::store::Store::record_many) commits with `synchronous=FULL` before any file is written.
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
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO certificates (serial, state, reserved_at) VALUES (?1, 'reserved', ?2)",
                )
                .map_err(sql)?;
            reserve_fresh(rng, n, |serial| {
                Ok(stmt
                    .execute(params![serial.hex(), now.unix_timestamp()])
                    .map_err(sql)?
                    == 1)
            })
            .map_err(|f| {
                f.into_error(|misses| Error::StoreDamaged {
                path: path.clone(),
                reason: format!(
                    "{misses} fresh serials in a row could not be reserved ({})",
                    quick_check(tx)
                        .err()
                        .unwrap_or_else(|| "the store ignores new rows".into())
                ),
                })
            })
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
                    tx.prepare_cached("UPDATE certificates SET renews = ?1 WHERE serial = ?2")
                        .and_then(|mut s| s.execute(params![old, rec.serial.hex()]))
                        .map_err(sql)?;
                    // Decided here, under the write lock, not by the check before signing: a
                    // revocation or another renewal that committed since then wins, and this
                    // whole transaction (the new record too) is rolled back.
                    let n = tx
                        .prepare_cached(
                            "UPDATE certificates SET superseded_by = ?2
                             WHERE serial = ?1 AND state = 'issued' AND superseded_by IS NULL",
                        )
                        .and_then(|mut s| s.execute(params![old, rec.serial.hex()]))
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
        // Cached: the online CA looks a certificate up for every renewal.
        self.conn
            .prepare_cached(
                "SELECT serial, state, profile, der, stem, ca_serial, superseded_by, key_type,
                        revocation_reason
                 FROM certificates WHERE serial = ?1 AND state != 'reserved'",
            )
            .map_err(|e| self.err(e))?
            .query_row(params![serial], |r| {
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
            })
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

    /// See [`crate::store::Store::crl_duty`].
    pub fn crl_duty(&self, ca_serial: &str, now: OffsetDateTime) -> Result<Option<String>> {
        self.conn
            .prepare_cached(CRL_DUTY)
            .and_then(|mut st| {
                st.query_row(
                    params![
                        ca_serial,
                        now.unix_timestamp(),
                        crate::profile::CROSS_SIGNED
                    ],
                    |r| r.get(0),
                )
                .optional()
            })
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

    /// Hands every row, exactly as stored, to `f` in `order`, all from one read transaction
    /// (one snapshot); returns that snapshot's CRL number. Streamed: one row in memory at a time.
    pub(crate) fn scan(
        &self,
        order: ScanOrder,
        f: &mut dyn FnMut(RawRow) -> Result<()>,
    ) -> Result<u64> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let by = match order {
            ScanOrder::Written => "rowid",
            ScanOrder::Serial => "serial",
        };
        let mut stmt = tx
            .prepare(&format!(
                "SELECT {RAW_COLUMNS} FROM certificates ORDER BY {by}"
            ))
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let row = (|| {
                Ok::<_, rusqlite::Error>(RawRow {
                    serial: r.get(0)?,
                    state: r.get(1)?,
                    profile: r.get(2)?,
                    subject: r.get(3)?,
                    sans: r.get(4)?,
                    key_type: r.get(5)?,
                    not_before: r.get(6)?,
                    not_after: r.get(7)?,
                    der: r.get(8)?,
                    sha256: r.get(9)?,
                    stem: r.get(10)?,
                    ca_serial: r.get(11)?,
                    reserved_at: r.get(12)?,
                    issued_at: r.get(13)?,
                    revoked_at: r.get(14)?,
                    revocation_reason: r.get(15)?,
                    renews: r.get(16)?,
                    superseded_by: r.get(17)?,
                })
            })()
            .map_err(|e| self.err(e))?;
            f(row)?;
        }
        drop(rows);
        drop(stmt);
        let crl: String = tx
            .query_row("SELECT value FROM meta WHERE key = 'crl_number'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))?
            .unwrap_or_else(|| "0".into());
        tx.finish().map_err(|e| self.err(e))?;
        Ok(crl.parse().unwrap_or(0))
    }

    /// Writes the rows `feed` gives into this store, which must hold none, and the CRL number
    /// it returns, in one transaction (for `store migrate`); returns the rows written.
    pub(crate) fn load(&mut self, feed: &mut RowFeed<'_>) -> Result<u64> {
        self.durable_tx(|tx, sql| {
            let n: i64 = tx
                .query_row("SELECT COUNT(*) FROM certificates", [], |r| r.get(0))
                .map_err(sql)?;
            if n > 0 {
                return Err(super::record::not_empty(n as u64));
            }
            let mut stmt = tx
                .prepare(&format!(
                    "INSERT INTO certificates ({RAW_COLUMNS}) VALUES \
                     (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"
                ))
                .map_err(sql)?;
            let mut copied = 0u64;
            let crl_number = feed(&mut |r| {
                stmt.execute(params![
                    r.serial,
                    r.state,
                    r.profile,
                    r.subject,
                    r.sans,
                    r.key_type,
                    r.not_before,
                    r.not_after,
                    r.der,
                    r.sha256,
                    r.stem,
                    r.ca_serial,
                    r.reserved_at,
                    r.issued_at,
                    r.revoked_at,
                    r.revocation_reason,
                    r.renews,
                    r.superseded_by,
                ])
                .map_err(sql)?;
                copied += 1;
                Ok(())
            })?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('crl_number', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![crl_number.to_string()],
            )
            .map_err(sql)?;
            Ok(copied)
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
        if self.checkpoint_each {
            self.checkpoint();
        }
        Ok(out)
    }

    /// Copies the committed pages from the WAL into `store.db` (PASSIVE: never waits for
    /// readers). Best effort: what is committed stands either way.
    pub fn checkpoint(&mut self) {
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }

    /// Stops checkpointing after each durable commit: the caller calls
    /// [`SqliteStore::checkpoint`] itself (the online CA's group commit, about once a second
    /// and whenever it is idle). A commit is as durable either way (the WAL is synced with
    /// it); what waits for the checkpoint is only its copy in `store.db`.
    pub fn defer_checkpoints(&mut self) {
        self.checkpoint_each = false;
    }

    /// Stores a new bootstrap token (its hash only); returns its public id.
    pub fn token_create(&mut self, t: &NewToken, now: OffsetDateTime) -> Result<String> {
        let id = token_id(&t.hash);
        self.durable_tx(|tx, sql| {
            tx.execute(
                "INSERT INTO tokens (hash, id, cn, sans, profile, valid_secs, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    t.hash,
                    id,
                    t.cn,
                    serde_json::to_string(&t.sans).unwrap_or_else(|_| "[]".into()),
                    t.profile,
                    t.valid_secs,
                    now.unix_timestamp(),
                    t.expires_at.unix_timestamp(),
                ],
            )
            .map_err(sql)?;
            Ok(())
        })?;
        Ok(id)
    }

    /// Every token, newest first.
    pub fn token_list(&self) -> Result<Vec<TokenRow>> {
        let mut stmt = self
            .conn
            .prepare(&format!("{TOKEN_SELECT} ORDER BY created_at DESC, id"))
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], token_row).map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))
    }

    /// Revokes unused tokens whose id starts with `id`; returns their ids.
    pub fn token_revoke(&mut self, id: &str, now: OffsetDateTime) -> Result<Vec<String>> {
        self.durable_tx(|tx, sql| {
            let ids: Vec<String> = {
                let mut stmt = tx
                    .prepare(
                        "SELECT id FROM tokens WHERE id >= ?1 AND id < ?2
                         AND used_at IS NULL AND revoked_at IS NULL",
                    )
                    .map_err(sql)?;
                let rows = stmt
                    .query_map(params![id, format!("{id}g")], |r| r.get::<_, String>(0))
                    .map_err(sql)?;
                rows.collect::<std::result::Result<_, _>>().map_err(sql)?
            };
            if ids.len() == 1 {
                tx.execute(
                    "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1",
                    params![ids[0], now.unix_timestamp()],
                )
                .map_err(sql)?;
            }
            Ok(ids)
        })
    }

    /// Reads the token with this hash without using it.
    pub fn token_peek(
        &self,
        hash: &str,
        now: OffsetDateTime,
    ) -> Result<std::result::Result<TokenRow, TokenRefusal>> {
        let row = self
            .conn
            .query_row(
                &format!("{TOKEN_SELECT} WHERE hash = ?1"),
                params![hash],
                token_row,
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(judge_token(row, now))
    }

    /// Uses the token with this hash, if it is still usable, in one write transaction.
    pub fn token_use(
        &mut self,
        hash: &str,
        used_by: &str,
        now: OffsetDateTime,
    ) -> Result<std::result::Result<TokenRow, TokenRefusal>> {
        self.durable_tx(|tx, sql| {
            let row = tx
                .query_row(
                    &format!("{TOKEN_SELECT} WHERE hash = ?1"),
                    params![hash],
                    token_row,
                )
                .optional()
                .map_err(sql)?;
            let judged = judge_token(row, now);
            if let Ok(t) = &judged {
                let n = tx
                    .execute(
                        "UPDATE tokens SET used_at = ?2, used_by = ?3
                         WHERE hash = ?1 AND used_at IS NULL AND revoked_at IS NULL",
                        params![hash, now.unix_timestamp(), used_by],
                    )
                    .map_err(sql)?;
                if n != 1 {
                    return Ok(Err(TokenRefusal::Used));
                }
                let mut t = t.clone();
                t.used_at = Some(now);
                t.used_by = Some(used_by.to_string());
                return Ok(Ok(t));
            }
            Ok(judged)
        })
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

    /// Whether the CA certificate with serial `ca_serial` belongs to this store: `(known,
    /// issued_any)`, `known` when the store recorded that certificate (a root) or anything issued
    /// under it, `issued_any` when the store holds any issued certificate at all.
    pub fn ca_standing(&self, ca_serial: &str) -> Result<(bool, bool)> {
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM certificates WHERE serial = ?1 AND state != 'reserved')
                     OR EXISTS (SELECT 1 FROM certificates WHERE ca_serial = ?1),
                        EXISTS (SELECT 1 FROM certificates WHERE state != 'reserved')",
                params![ca_serial],
                |r| Ok((r.get::<_, bool>(0)?, r.get::<_, bool>(1)?)),
            )
            .map_err(|e| self.err(e))
    }
}

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRow> {
    let sans: String = r.get(2)?;
    Ok(TokenRow {
        id: r.get(0)?,
        cn: r.get(1)?,
        sans: serde_json::from_str(&sans).unwrap_or_default(),
        profile: r.get(3)?,
        valid_secs: r.get(4)?,
        created_at: ts(r.get(5)?),
        expires_at: ts(r.get(6)?),
        used_at: r.get::<_, Option<i64>>(7)?.map(ts),
        used_by: r.get(8)?,
        revoked_at: r.get::<_, Option<i64>>(9)?.map(ts),
    })
}

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
