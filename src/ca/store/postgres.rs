//! The PostgreSQL backend of the store: one database shared by several CA directories (hosts).
//!
//! A CA directory uses it when it holds `store.url` (written by `init --store postgres://…`,
//! copied by `init --join`; never with a password in it) or when the binary passes an override
//! (`MTLS_CA_STORE`). The same guarantees as SQLite, decided inside the database: a serial is
//! reserved under the primary key before anything is signed; the CRL number is one row updated
//! under its row lock (strictly increasing across hosts, committed before signing); a renewal's
//! record is refused in its own transaction when the old certificate was revoked or renewed
//! meanwhile (the `UPDATE … WHERE state = 'issued' AND superseded_by IS NULL` waits for the
//! other transaction's row lock and re-checks). The schema is versioned: migrations run once,
//! under an advisory lock, when a store is opened.
//!
//! TLS to the server goes through rustls (ring): `sslmode=prefer` (the default) and `require`
//! encrypt; like libpq's `require`, the server certificate is only checked against the roots the
//! caller passes ([`PgConnect::tls_roots`]); `sslmode=disable` is plain TCP. The synchronous
//! `postgres` client runs its own small runtime: nothing of it starts for a SQLite store.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::config::SslMode;
use postgres::types::Type;
use postgres::{Client, Config, NoTls, Transaction};
use ring::rand::SystemRandom;
use time::OffsetDateTime;

use super::record::{
    judge_token, renew_conflict, reserve_fresh, status_of, token_id, ts, Entry, NewToken, RawRow,
    Record, RevokeOutcome, RevokedRow, RowFeed, ScanOrder, Status, StoredCert, TokenRefusal,
    TokenRow, RAW_COLUMNS, TOKENS_TABLE, TOKEN_SELECT,
};
use crate::error::{Error, Result};
use crate::serial::Serial;

pub use crate::ca::layout::STORE_URL_FILE;

/// Rows fetched per round trip when a store is scanned (`store migrate`).
const SCAN_BATCH: i32 = 2000;

/// The PostgreSQL types of [`RAW_COLUMNS`], in order (a binary `COPY` names each).
const RAW_TYPES: [Type; 18] = [
    Type::TEXT,  // serial
    Type::TEXT,  // state
    Type::TEXT,  // profile
    Type::TEXT,  // subject
    Type::TEXT,  // sans
    Type::TEXT,  // key_type
    Type::INT8,  // not_before
    Type::INT8,  // not_after
    Type::BYTEA, // der
    Type::TEXT,  // sha256
    Type::TEXT,  // stem
    Type::TEXT,  // ca_serial
    Type::INT8,  // reserved_at
    Type::INT8,  // issued_at
    Type::INT8,  // revoked_at
    Type::TEXT,  // revocation_reason
    Type::TEXT,  // renews
    Type::TEXT,  // superseded_by
];

/// What the caller (the binary) read from its environment to reach PostgreSQL.
#[derive(Debug, Clone, Default)]
pub struct PgConnect {
    /// A store URL that overrides the directory's (`MTLS_CA_STORE`).
    pub url_override: Option<String>,
    /// The password when the URL has none (from a file or the environment).
    pub password: Option<String>,
    /// The store `init` creates the CA in (`init --store`); only `init` uses it.
    pub init_url: Option<String>,
    /// PEM roots the server certificate must chain to (None: encrypted, not authenticated,
    /// as libpq's `sslmode=require`).
    pub tls_roots: Option<Vec<Vec<u8>>>,
}

/// The versioned schema: migration N is `MIGRATIONS[N-1]`, each applied once in order.
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE certificates (
    id                BIGSERIAL NOT NULL,
    serial            TEXT PRIMARY KEY,
    state             TEXT NOT NULL CHECK (state IN ('reserved', 'issued', 'revoked')),
    profile           TEXT,
    subject           TEXT,
    sans              TEXT,
    key_type          TEXT,
    not_before        BIGINT,
    not_after         BIGINT,
    der               BYTEA,
    sha256            TEXT,
    stem              TEXT,
    ca_serial         TEXT,
    reserved_at       BIGINT NOT NULL,
    issued_at         BIGINT,
    revoked_at        BIGINT,
    revocation_reason TEXT,
    renews            TEXT,
    superseded_by     TEXT
);
CREATE INDEX certificates_expiry ON certificates (state, not_after);
CREATE INDEX certificates_revoked ON certificates (ca_serial, state, revoked_at);
INSERT INTO meta (key, value) VALUES ('crl_number', '0');
",
    TOKENS_TABLE,
];

/// The advisory lock key that serialises migrations ("mtls-ca" in ASCII).
const MIGRATION_LOCK: i64 = 0x006d_746c_732d_6361;

/// Whether `s` names a PostgreSQL store.
pub fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// The URL of the store of `dir`, if it is a PostgreSQL one.
pub(crate) fn location(dir: &Path, connect: &PgConnect) -> Result<Option<String>> {
    if let Some(u) = &connect.url_override {
        if is_url(u) {
            return Ok(Some(u.clone()));
        }
    }
    let file = dir.join(STORE_URL_FILE);
    match std::fs::read_to_string(&file) {
        Ok(s) => {
            let url = s.trim().to_string();
            if !is_url(&url) {
                return Err(Error::bad_file(
                    &file,
                    "not a postgres:// URL",
                    "write the store URL (postgres://user@host:port/db) into it, or remove it to use store.db",
                ));
            }
            Ok(Some(url))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&file, e)),
    }
}

/// `url` without its password.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some((a, h)) => (Some(a), h),
        None => (None, rest),
    };
    match auth {
        Some(a) => {
            let user = a.split(':').next().unwrap_or("");
            if a.contains(':') {
                format!("{scheme}://{user}:***@{host}")
            } else {
                format!("{scheme}://{user}@{host}")
            }
        }
        None => url.to_string(),
    }
}

/// `url` with the password removed (what is recorded in a CA directory).
pub fn without_password(url: &str) -> String {
    redact(url).replace(":***@", "@")
}

/// An open PostgreSQL store.
pub struct PgStore {
    client: RefCell<Client>,
    url: String,
    path: PathBuf,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &redact(&self.url))
            .finish()
    }
}

impl PgStore {
    fn err(&self, e: postgres::Error) -> Error {
        db_error(&self.url, &e)
    }

    /// Connects, runs pending migrations, and returns the store.
    pub fn open(url: &str, connect: &PgConnect) -> Result<PgStore> {
        let mut config: Config = url.parse().map_err(|e: postgres::Error| {
            Error::invalid(
                "store URL",
                redact(url),
                format!("not a PostgreSQL URL ({e})"),
                "use postgres://USER@HOST:PORT/DATABASE[?sslmode=require]",
            )
        })?;
        if config.get_password().is_none() {
            if let Some(p) = &connect.password {
                config.password(p.as_bytes());
            }
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let client = match config.get_ssl_mode() {
            SslMode::Disable => config.connect(NoTls),
            _ => config.connect(tls::MakeRustls::new(connect.tls_roots.as_deref())?),
        }
        .map_err(|e| db_error(url, &e))?;
        let store = PgStore {
            client: RefCell::new(client),
            url: url.to_string(),
            path: PathBuf::from(STORE_URL_FILE),
        };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&self) -> Result<()> {
        let mut c = self.client.borrow_mut();
        let url = self.url.clone();
        // The common case, one round trip: the schema is already current (no lock, no DDL).
        if let Ok(row) = c.query_one("SELECT MAX(version) FROM mtls_ca_schema", &[]) {
            if row.try_get::<_, Option<i32>>(0).ok().flatten() == Some(MIGRATIONS.len() as i32) {
                return Ok(());
            }
        }
        let mut tx = c.transaction().map_err(|e| db_error(&url, &e))?;
        let run = |tx: &mut Transaction<'_>| -> std::result::Result<(), postgres::Error> {
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS mtls_ca_schema (
                     version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
            )?;
            let have: i32 = tx
                .query_one("SELECT COALESCE(MAX(version), 0) FROM mtls_ca_schema", &[])?
                .get(0);
            for (i, m) in MIGRATIONS.iter().enumerate().skip(have as usize) {
                tx.batch_execute(m)?;
                tx.execute(
                    "INSERT INTO mtls_ca_schema (version, applied_at) VALUES ($1, EXTRACT(EPOCH FROM now())::BIGINT)",
                    &[&(i as i32 + 1)],
                )?;
            }
            Ok(())
        };
        run(&mut tx).map_err(|e| db_error(&url, &e))?;
        let have: i32 = tx
            .query_one("SELECT MAX(version) FROM mtls_ca_schema", &[])
            .map_err(|e| db_error(&url, &e))?
            .get(0);
        if have as usize > MIGRATIONS.len() {
            return Err(Error::StoreFormat {
                path: PathBuf::from(redact(&url)),
                reason: format!(
                    "schema version {have}, this mtls-ca knows up to {}",
                    MIGRATIONS.len()
                ),
            });
        }
        tx.commit().map_err(|e| db_error(&url, &e))
    }

    /// The URL without its password.
    pub fn url_redacted(&self) -> String {
        redact(&self.url)
    }

    /// `store.url` (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one transaction, committed when it returns `Ok`.
    fn tx<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>, &dyn Fn(postgres::Error) -> Error) -> Result<T>,
    ) -> Result<T> {
        let url = self.url.clone();
        let map = |e: postgres::Error| db_error(&url, &e);
        let mut c = self.client.borrow_mut();
        let mut tx = c.transaction().map_err(map)?;
        let out = f(&mut tx, &map)?;
        tx.commit().map_err(map)?;
        Ok(out)
    }

    pub(crate) fn reserve_serial_exact(
        &mut self,
        serial: &Serial,
        now: OffsetDateTime,
    ) -> Result<Serial> {
        self.client
            .borrow_mut()
            .execute(
                "INSERT INTO certificates (serial, state, reserved_at) VALUES ($1, 'reserved', $2)",
                &[&serial.hex(), &now.unix_timestamp()],
            )
            .map_err(|e| self.err(e))?;
        Ok(serial.clone())
    }

    pub(crate) fn reserve_serials(
        &mut self,
        rng: &SystemRandom,
        n: usize,
        now: OffsetDateTime,
    ) -> Result<Vec<Serial>> {
        let url = self.url.clone();
        self.tx(|tx, sql| {
            // As SQLite's reservation with synchronous=NORMAL: visible to every host at once
            // (uniqueness), not waited for on disk. A database crash could lose it only together
            // with everything after it: the record that uses the serial commits synchronously,
            // and that flushes the WAL up to it, this reservation included.
            tx.batch_execute("SET LOCAL synchronous_commit TO OFF")
                .map_err(sql)?;
            let stmt = tx
                .prepare(
                    "INSERT INTO certificates (serial, state, reserved_at) VALUES ($1, 'reserved', $2)
                     ON CONFLICT (serial) DO NOTHING",
                )
                .map_err(sql)?;
            let stamp = now.unix_timestamp();
            reserve_fresh(rng, n, |serial| {
                Ok(tx.execute(&stmt, &[&serial.hex(), &stamp]).map_err(sql)? == 1)
            })
            .map_err(|f| {
                f.into_error(|misses| Error::StoreDamaged {
                path: PathBuf::from(redact(&url)),
                reason: format!("{misses} fresh serials in a row could not be reserved"),
                })
            })
        })
    }

    pub(crate) fn record_many(&mut self, recs: &[Record], now: OffsetDateTime) -> Result<()> {
        let url = self.url.clone();
        self.tx(|tx, sql| {
            let stmt = tx
                .prepare(
                    "UPDATE certificates SET state = 'issued', profile = $2, subject = $3, sans = $4,
                     key_type = $5, not_before = $6, not_after = $7, der = $8, sha256 = $9, stem = $10,
                     ca_serial = $11, issued_at = $12, renews = $13
                     WHERE serial = $1 AND state = 'reserved'",
                )
                .map_err(sql)?;
            for rec in recs {
                let sans = serde_json::to_string(&rec.sans).unwrap_or_else(|_| "[]".into());
                let n = tx
                    .execute(
                        &stmt,
                        &[
                            &rec.serial.hex(),
                            &rec.profile,
                            &rec.subject,
                            &sans,
                            &rec.key_type,
                            &rec.not_before.unix_timestamp(),
                            &rec.not_after.unix_timestamp(),
                            &rec.der,
                            &rec.sha256,
                            &rec.stem,
                            &rec.ca_serial,
                            &now.unix_timestamp(),
                            &rec.renews,
                        ],
                    )
                    .map_err(sql)?;
                if n != 1 {
                    return Err(Error::StoreFormat {
                        path: PathBuf::from(redact(&url)),
                        reason: format!("serial {} was not reserved", rec.serial),
                    });
                }
                if let Some(old) = &rec.renews {
                    // Waits for a concurrent revoke/renew of the same row, then re-checks.
                    let n = tx
                        .execute(
                            "UPDATE certificates SET superseded_by = $2
                             WHERE serial = $1 AND state = 'issued' AND superseded_by IS NULL",
                            &[old, &rec.serial.hex()],
                        )
                        .map_err(sql)?;
                    if n != 1 {
                        let row = tx
                            .query_opt(
                                "SELECT state, superseded_by FROM certificates WHERE serial = $1",
                                &[old],
                            )
                            .map_err(sql)?;
                        return Err(renew_conflict(
                            old,
                            row.map(|r| (r.get::<_, String>(0), r.get::<_, Option<String>>(1))),
                        ));
                    }
                }
            }
            Ok(())
        })
    }

    fn entries(
        &self,
        clause: &str,
        args: &[&(dyn postgres::types::ToSql + Sync)],
        now: OffsetDateTime,
        status: Option<Status>,
    ) -> Result<Vec<Entry>> {
        let sql = format!(
            "SELECT serial, subject, profile, sans, key_type, not_before, not_after, state,
                    superseded_by, stem, ca_serial
             FROM certificates {clause}"
        );
        let rows = self
            .client
            .borrow_mut()
            .query(sql.as_str(), args)
            .map_err(|e| self.err(e))?;
        let now_ts = now.unix_timestamp();
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let sans: Option<String> = r.get(3);
            let na: i64 = r.get::<_, Option<i64>>(6).unwrap_or(0);
            let state: String = r.get(7);
            let superseded: Option<String> = r.get(8);
            let e = Entry {
                serial: r.get(0),
                subject: r.get::<_, Option<String>>(1).unwrap_or_default(),
                profile: r.get::<_, Option<String>>(2).unwrap_or_default(),
                sans: sans
                    .and_then(|s| serde_json::from_str(&s).ok())
                    .unwrap_or_default(),
                key_type: r.get::<_, Option<String>>(4).unwrap_or_default(),
                not_before: ts(r.get::<_, Option<i64>>(5).unwrap_or(0)),
                not_after: ts(na),
                status: status_of(&state, na, superseded.is_some(), now_ts),
                stem: r.get(9),
                ca_serial: r.get(10),
            };
            if status.is_none_or(|s| s == e.status) {
                out.push(e);
            }
        }
        Ok(out)
    }

    pub(crate) fn list(&self, now: OffsetDateTime, status: Option<Status>) -> Result<Vec<Entry>> {
        self.entries(
            "WHERE state != 'reserved' ORDER BY issued_at, id",
            &[],
            now,
            status,
        )
    }

    pub(crate) fn expiring(
        &self,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Vec<Entry>> {
        self.entries(
            "WHERE state = 'issued' AND not_after >= $1 AND not_after <= $2 ORDER BY not_after, id",
            &[&now.unix_timestamp(), &until.unix_timestamp()],
            now,
            Some(Status::Valid),
        )
    }

    pub(crate) fn issued_by(&self, ca_serial: &str, now: OffsetDateTime) -> Result<Vec<Entry>> {
        self.entries(
            "WHERE state != 'reserved' AND ca_serial = $1 ORDER BY issued_at, id",
            &[&ca_serial],
            now,
            None,
        )
    }

    pub(crate) fn count_serials(&self) -> Result<u64> {
        let n: i64 = self
            .client
            .borrow_mut()
            .query_one("SELECT COUNT(*) FROM certificates", &[])
            .map_err(|e| self.err(e))?
            .get(0);
        Ok(n as u64)
    }

    /// PostgreSQL checks its pages itself; this checks that the store's tables answer.
    pub(crate) fn integrity_check(&self) -> Result<()> {
        self.count_serials().map(|_| ())
    }

    pub(crate) fn get(&self, serial: &str) -> Result<Option<StoredCert>> {
        let row = self
            .client
            .borrow_mut()
            .query_opt(
                "SELECT serial, state, profile, der, stem, ca_serial, superseded_by, key_type,
                        revocation_reason
                 FROM certificates WHERE serial = $1 AND state != 'reserved'",
                &[&serial],
            )
            .map_err(|e| self.err(e))?;
        Ok(row.map(|r| StoredCert {
            serial: r.get(0),
            state: r.get(1),
            profile: r.get::<_, Option<String>>(2).unwrap_or_default(),
            der: r.get::<_, Option<Vec<u8>>>(3).unwrap_or_default(),
            stem: r.get(4),
            ca_serial: r.get(5),
            superseded_by: r.get(6),
            key_type: r.get::<_, Option<String>>(7).unwrap_or_default(),
            revocation_reason: r.get(8),
        }))
    }

    pub(crate) fn serials_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let rows = self
            .client
            .borrow_mut()
            .query(
                "SELECT serial FROM certificates
                 WHERE state != 'reserved' AND serial >= $1 AND serial < $2",
                &[&prefix, &format!("{prefix}g")],
            )
            .map_err(|e| self.err(e))?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }

    pub(crate) fn revoke(
        &mut self,
        serial: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<RevokeOutcome> {
        self.tx(|tx, sql| {
            let n = tx
                .execute(
                    "UPDATE certificates SET state = 'revoked', revoked_at = $2, revocation_reason = $3
                     WHERE serial = $1 AND state = 'issued'",
                    &[&serial, &now.unix_timestamp(), &reason],
                )
                .map_err(sql)?;
            let r = tx
                .query_one(
                    "SELECT revoked_at, revocation_reason FROM certificates WHERE serial = $1",
                    &[&serial],
                )
                .map_err(sql)?;
            Ok(RevokeOutcome {
                changed: n == 1,
                revoked_at: r.get::<_, Option<i64>>(0).map(ts).unwrap_or(now),
                reason: r.get(1),
            })
        })
    }

    pub(crate) fn ca_standing(&self, ca_serial: &str) -> Result<(bool, bool)> {
        let row = self
            .client
            .borrow_mut()
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM certificates WHERE serial = $1 AND state != 'reserved')
                     OR EXISTS (SELECT 1 FROM certificates WHERE ca_serial = $1),
                        EXISTS (SELECT 1 FROM certificates WHERE state != 'reserved')",
                &[&ca_serial],
            )
            .map_err(|e| self.err(e))?;
        Ok((row.get(0), row.get(1)))
    }

    pub(crate) fn revoked_by(&self, ca_serial: &str) -> Result<Vec<RevokedRow>> {
        let rows = self
            .client
            .borrow_mut()
            .query(
                "SELECT serial, revoked_at, revocation_reason FROM certificates
                 WHERE state = 'revoked' AND ca_serial = $1 ORDER BY revoked_at, serial",
                &[&ca_serial],
            )
            .map_err(|e| self.err(e))?;
        Ok(rows
            .into_iter()
            .map(|r| RevokedRow {
                serial: r.get(0),
                revoked_at: ts(r.get::<_, Option<i64>>(1).unwrap_or(0)),
                reason: r.get(2),
            })
            .collect())
    }

    pub(crate) fn crl_duty(&self, ca_serial: &str, now: OffsetDateTime) -> Result<Option<String>> {
        let row = self
            .client
            .borrow_mut()
            .query_opt(
                "SELECT serial FROM certificates
                 WHERE ca_serial = $1 AND not_after > $2
                   AND (state = 'revoked' OR (state = 'issued' AND profile = $3))
                 LIMIT 1",
                &[
                    &ca_serial,
                    &now.unix_timestamp(),
                    &crate::profile::CROSS_SIGNED,
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Hands every row, exactly as stored, to `f` in `order`, all from one snapshot
    /// (`REPEATABLE READ`); returns that snapshot's CRL number. Streamed through a portal, a
    /// few thousand rows at a time.
    pub(crate) fn scan(
        &self,
        order: ScanOrder,
        f: &mut dyn FnMut(RawRow) -> Result<()>,
    ) -> Result<u64> {
        // Serial order is byte order (collation "C"), as SQLite's and the checksum's.
        let by = match order {
            ScanOrder::Written => "id",
            ScanOrder::Serial => "serial COLLATE \"C\"",
        };
        self.tx(|tx, sql| {
            tx.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .map_err(sql)?;
            let portal = tx
                .bind(
                    &format!("SELECT {RAW_COLUMNS} FROM certificates ORDER BY {by}"),
                    &[],
                )
                .map_err(sql)?;
            loop {
                let rows = tx.query_portal(&portal, SCAN_BATCH).map_err(sql)?;
                if rows.is_empty() {
                    break;
                }
                for r in &rows {
                    f(RawRow {
                        serial: r.get(0),
                        state: r.get(1),
                        profile: r.get(2),
                        subject: r.get(3),
                        sans: r.get(4),
                        key_type: r.get(5),
                        not_before: r.get(6),
                        not_after: r.get(7),
                        der: r.get(8),
                        sha256: r.get(9),
                        stem: r.get(10),
                        ca_serial: r.get(11),
                        reserved_at: r.get(12),
                        issued_at: r.get(13),
                        revoked_at: r.get(14),
                        revocation_reason: r.get(15),
                        renews: r.get(16),
                        superseded_by: r.get(17),
                    })?;
                }
            }
            let crl: Option<String> = tx
                .query_opt("SELECT value FROM meta WHERE key = 'crl_number'", &[])
                .map_err(sql)?
                .map(|r| r.get(0));
            Ok(crl.and_then(|c| c.parse().ok()).unwrap_or(0))
        })
    }

    /// Writes the rows `feed` gives into this (empty) store, with one binary `COPY`, and the
    /// CRL number it returns, in one transaction (for `store migrate`); returns the rows
    /// written. The transaction holds an exclusive lock on the table, so no host issues
    /// meanwhile.
    pub(crate) fn load(&mut self, feed: &mut RowFeed<'_>) -> Result<u64> {
        self.tx(|tx, sql| {
            tx.batch_execute("LOCK TABLE certificates, meta IN EXCLUSIVE MODE")
                .map_err(sql)?;
            let n: i64 = tx
                .query_one("SELECT COUNT(*) FROM certificates", &[])
                .map_err(sql)?
                .get(0);
            if n > 0 {
                return Err(super::record::not_empty(n as u64));
            }
            let mut copied = 0u64;
            let crl_number = {
                let writer = tx
                    .copy_in(&format!(
                        "COPY certificates ({RAW_COLUMNS}) FROM STDIN (FORMAT binary)"
                    ))
                    .map_err(sql)?;
                let mut w = BinaryCopyInWriter::new(writer, &RAW_TYPES);
                let crl = feed(&mut |r| {
                    w.write(&[
                        &r.serial,
                        &r.state,
                        &r.profile,
                        &r.subject,
                        &r.sans,
                        &r.key_type,
                        &r.not_before,
                        &r.not_after,
                        &r.der,
                        &r.sha256,
                        &r.stem,
                        &r.ca_serial,
                        &r.reserved_at,
                        &r.issued_at,
                        &r.revoked_at,
                        &r.revocation_reason,
                        &r.renews,
                        &r.superseded_by,
                    ])
                    .map_err(sql)?;
                    copied += 1;
                    Ok(())
                })?;
                w.finish().map_err(sql)?;
                crl
            };
            tx.execute(
                "UPDATE meta SET value = $1 WHERE key = 'crl_number'",
                &[&crl_number.to_string()],
            )
            .map_err(sql)?;
            Ok(copied)
        })
    }

    pub(crate) fn next_crl_number(&mut self) -> Result<u64> {
        self.tx(|tx, sql| {
            // One row, updated under its row lock: every host waits for the previous number.
            let v: String = tx
                .query_one(
                    "UPDATE meta SET value = (value::BIGINT + 1)::TEXT WHERE key = 'crl_number'
                     RETURNING value",
                    &[],
                )
                .map_err(sql)?
                .get(0);
            Ok(v.parse().unwrap_or(0))
        })
    }
}

/// A [`TokenRow`] from the columns of `TOKEN_SELECT`.
fn token_row(r: &postgres::Row) -> TokenRow {
    let sans: String = r.get(2);
    TokenRow {
        id: r.get(0),
        cn: r.get(1),
        sans: serde_json::from_str(&sans).unwrap_or_default(),
        profile: r.get(3),
        valid_secs: r.get(4),
        created_at: ts(r.get(5)),
        expires_at: ts(r.get(6)),
        used_at: r.get::<_, Option<i64>>(7).map(ts),
        used_by: r.get(8),
        revoked_at: r.get::<_, Option<i64>>(9).map(ts),
    }
}

impl PgStore {
    pub(crate) fn token_create(&mut self, t: &NewToken, now: OffsetDateTime) -> Result<String> {
        let id = token_id(&t.hash);
        let sans = serde_json::to_string(&t.sans).unwrap_or_else(|_| "[]".into());
        self.tx(|tx, sql| {
            tx.execute(
                "INSERT INTO tokens (hash, id, cn, sans, profile, valid_secs, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &t.hash,
                    &id,
                    &t.cn,
                    &sans,
                    &t.profile,
                    &t.valid_secs,
                    &now.unix_timestamp(),
                    &t.expires_at.unix_timestamp(),
                ],
            )
            .map_err(sql)?;
            Ok(())
        })?;
        Ok(id)
    }

    pub(crate) fn token_list(&self) -> Result<Vec<TokenRow>> {
        let rows = self
            .client
            .borrow_mut()
            .query(&format!("{TOKEN_SELECT} ORDER BY created_at DESC, id"), &[])
            .map_err(|e| self.err(e))?;
        Ok(rows.iter().map(token_row).collect())
    }

    pub(crate) fn token_revoke(&mut self, id: &str, now: OffsetDateTime) -> Result<Vec<String>> {
        self.tx(|tx, sql| {
            let ids: Vec<String> = tx
                .query(
                    "SELECT id FROM tokens WHERE id >= $1 AND id < $2
                     AND used_at IS NULL AND revoked_at IS NULL FOR UPDATE",
                    &[&id, &format!("{id}g")],
                )
                .map_err(sql)?
                .iter()
                .map(|r| r.get(0))
                .collect();
            if ids.len() == 1 {
                tx.execute(
                    "UPDATE tokens SET revoked_at = $2 WHERE id = $1",
                    &[&ids[0], &now.unix_timestamp()],
                )
                .map_err(sql)?;
            }
            Ok(ids)
        })
    }

    pub(crate) fn token_peek(
        &self,
        hash: &str,
        now: OffsetDateTime,
    ) -> Result<std::result::Result<TokenRow, TokenRefusal>> {
        let row = self
            .client
            .borrow_mut()
            .query_opt(&format!("{TOKEN_SELECT} WHERE hash = $1"), &[&hash])
            .map_err(|e| self.err(e))?;
        Ok(judge_token(row.as_ref().map(token_row), now))
    }

    pub(crate) fn token_use(
        &mut self,
        hash: &str,
        used_by: &str,
        now: OffsetDateTime,
    ) -> Result<std::result::Result<TokenRow, TokenRefusal>> {
        self.tx(|tx, sql| {
            // The row lock makes a racing transaction wait, then see the token used.
            let row = tx
                .query_opt(
                    &format!("{TOKEN_SELECT} WHERE hash = $1 FOR UPDATE"),
                    &[&hash],
                )
                .map_err(sql)?;
            let judged = judge_token(row.as_ref().map(token_row), now);
            if let Ok(t) = &judged {
                tx.execute(
                    "UPDATE tokens SET used_at = $2, used_by = $3 WHERE hash = $1",
                    &[&hash, &now.unix_timestamp(), &used_by],
                )
                .map_err(sql)?;
                let mut t = t.clone();
                t.used_at = Some(now);
                t.used_by = Some(used_by.to_string());
                return Ok(Ok(t));
            }
            Ok(judged)
        })
    }
}

/// One line for a database failure, never with the password.
fn db_error(url: &str, e: &postgres::Error) -> Error {
    let mut reason = e.to_string();
    if let Some(db) = e.as_db_error() {
        reason = format!("{} ({})", db.message(), db.code().code());
    } else if let Some(src) = std::error::Error::source(e) {
        reason = format!("{e}: {src}");
    }
    let reason = reason.replace('\n', " ");
    Error::Database {
        url: redact(url),
        reason,
    }
}

mod tls {
    //! rustls (ring) as tokio-postgres's TLS: a thin adapter, so that no second TLS stack or
    //! the older RustCrypto crates come in.
    use std::future::Future;
    use std::io;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll};

    use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
    use rustls::pki_types::{CertificateDer, ServerName};
    use rustls::{ClientConfig, RootCertStore};
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    use crate::error::{Error, Result};

    #[derive(Clone)]
    pub(super) struct MakeRustls(Arc<ClientConfig>);

    impl MakeRustls {
        pub(super) fn new(roots: Option<&[Vec<u8>]>) -> Result<MakeRustls> {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let builder = ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::Crypto(e.to_string()))?;
            let config = match roots {
                Some(roots) => {
                    let mut store = RootCertStore::empty();
                    for r in roots {
                        store
                            .add(CertificateDer::from(r.clone()))
                            .map_err(|e| Error::Crypto(format!("store TLS root: {e}")))?;
                    }
                    builder.with_root_certificates(store).with_no_client_auth()
                }
                None => builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(
                        // libpq's `sslmode=require`: encrypted, the server's signature
                        // checked, its certificate not authenticated.
                        crate::pki::tls::AcceptAnyChain(provider),
                    ))
                    .with_no_client_auth(),
            };
            Ok(MakeRustls(Arc::new(config)))
        }
    }

    impl<S> MakeTlsConnect<S> for MakeRustls
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        type Stream = Stream<S>;
        type TlsConnect = Connect;
        type Error = io::Error;

        fn make_tls_connect(&mut self, domain: &str) -> io::Result<Connect> {
            let name = ServerName::try_from(domain.to_string())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            Ok(Connect(self.0.clone(), name))
        }
    }

    pub(super) struct Connect(Arc<ClientConfig>, ServerName<'static>);

    impl<S> TlsConnect<S> for Connect
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        type Stream = Stream<S>;
        type Error = io::Error;
        type Future = Pin<Box<dyn Future<Output = io::Result<Stream<S>>> + Send>>;

        fn connect(self, stream: S) -> Self::Future {
            let connector = tokio_rustls::TlsConnector::from(self.0);
            Box::pin(async move { connector.connect(self.1, stream).await.map(Stream) })
        }
    }

    pub(super) struct Stream<S>(tokio_rustls::client::TlsStream<S>);

    impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for Stream<S> {
        fn channel_binding(&self) -> ChannelBinding {
            ChannelBinding::none()
        }
    }

    impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<S> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_read(cx, buf)
        }
    }

    impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<S> {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.0).poll_write(cx, buf)
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_flush(cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_shutdown(cx)
        }
    }
}
