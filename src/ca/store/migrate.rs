//! `store migrate`: moves a CA directory's records from its SQLite store to a PostgreSQL
//! database or back, without loss, and points the directory at the new store.
//!
//! Order: the directory lock is taken; the target must hold no record; every row of the source
//! (every column) and its CRL number are streamed from one snapshot into the target in one
//! transaction ([`Store::load_from`]: a binary `COPY` into PostgreSQL); then both stores are
//! summed ([`Store::tally`]: rows, revoked rows, CRL number and a SHA-256 over every field,
//! streamed in serial order) and must agree; only then does the directory switch (`store.url`
//! written, `store.db` kept as `store.db.migrated`; or `store.db` put in place, `store.url`
//! kept as `store.url.migrated`). A failure before the switch leaves the directory as it was.
//! Nothing is held in memory but a row at a time, so a store of any size moves. No SQL here:
//! the backends' `scan`/`load_from` hold it.

use std::path::{Path, PathBuf};

use super::record::not_empty;
use super::{postgres, PgConnect, Store, Tally, STORE_FILE, STORE_URL_FILE};
use crate::error::{Error, Result};

/// Where the records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A PostgreSQL database (URL).
    Postgres(String),
    /// `DIR/store.db`.
    Sqlite,
}

impl Target {
    /// `postgres://…` / `postgresql://…`, or `sqlite` (the directory's `store.db`).
    pub fn parse(s: &str) -> Result<Target> {
        if postgres::is_url(s) {
            Ok(Target::Postgres(s.to_string()))
        } else if s == "sqlite" || s == STORE_FILE {
            Ok(Target::Sqlite)
        } else {
            Err(Error::invalid(
                "--to",
                postgres::redact(s),
                "not a store",
                "use --to postgres://USER@HOST:PORT/DB[?sslmode=require], or --to sqlite for DIR/store.db",
            ))
        }
    }
}

/// What a migration did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Migrated {
    /// The source store (file, or URL without password).
    pub from: String,
    /// The target store.
    pub to: String,
    /// Rows copied (reserved serials included).
    pub records: u64,
    /// Revoked rows among them.
    pub revoked: u64,
    /// The CRL number carried over.
    pub crl_number: u64,
    /// The checksum both stores have (SHA-256, hex).
    pub checksum: String,
    /// Where the old store's file was set aside (`store.db.migrated` / `store.url.migrated`).
    pub kept: PathBuf,
}

/// The source's tally, once the copy's agrees with it.
fn verify(source: &Store, copied: u64, target: &Store, to: &str) -> Result<Tally> {
    // Tests pause here to change the source behind the copy's back.
    crate::failpoint::hit("migrate.verify", Path::new("<store migrate>"))?;
    let (a, b) = (source.tally()?, target.tally()?);
    if a != b || a.rows != copied {
        return Err(Error::invalid(
            "--to",
            to.to_string(),
            format!(
                "the copy differs from the source ({} rows, checksum {}; copy {} rows, checksum {})",
                a.rows, a.checksum, b.rows, b.checksum
            ),
            "the directory still uses its old store; empty the target and run the migration again",
        ));
    }
    Ok(a)
}

/// Moves the records of the CA directory `dir` to `to` and points `dir` at it.
pub fn migrate(
    dir: &Path,
    to: &Target,
    connect: &PgConnect,
    now: time::OffsetDateTime,
) -> Result<Migrated> {
    crate::ca::layout::check_present(dir)?;
    let _lock = crate::ca::journal::lock(dir)?;
    let source = Store::open_dir(dir, connect)?;
    let from = source.location();
    if matches!((&source, to), (Store::Sqlite(_), Target::Sqlite)) {
        return Err(Error::invalid(
            "--to",
            "sqlite",
            "the directory already keeps its records in store.db",
            "give a postgres:// URL to move them to PostgreSQL",
        ));
    }
    // Bootstrap tokens are not copied (they are short-lived secrets of the online CA): refuse
    // while one could still be used, so that none is lost silently.
    let live: Vec<String> = source
        .token_list()?
        .into_iter()
        .filter(|t| t.used_at.is_none() && t.revoked_at.is_none() && t.expires_at > now)
        .map(|t| t.id)
        .collect();
    if !live.is_empty() {
        return Err(Error::invalid(
            "--to",
            match to {
                Target::Postgres(url) => postgres::redact(url),
                Target::Sqlite => "sqlite".into(),
            },
            format!(
                "{} bootstrap token(s) can still be used ({}), and tokens are not copied",
                live.len(),
                live.join(", ")
            ),
            "revoke them (`mtls-ca token revoke ID`) or let them expire, migrate, then create new ones",
        ));
    }
    match to {
        Target::Postgres(url) => {
            if from == postgres::redact(url) {
                return Err(Error::invalid(
                    "--to",
                    postgres::redact(url),
                    "this is the store the directory already uses",
                    "give another database",
                ));
            }
            let mut target = Store::Postgres(Box::new(super::PgStore::open(url, connect)?));
            let n = target.count_serials()?;
            if n > 0 {
                return Err(not_empty(n));
            }
            let copied = target.load_from(&source)?;
            let tally = verify(&source, copied, &target, &postgres::redact(url))?;
            drop(source);
            // The switch: store.url first (it wins over store.db), then store.db set aside.
            crate::files::replace(
                &dir.join(STORE_URL_FILE),
                format!("{}\n", postgres::without_password(url)).as_bytes(),
                crate::files::PUBLIC,
            )?;
            let kept = dir.join(format!("{STORE_FILE}.migrated"));
            if dir.join(STORE_FILE).exists() {
                std::fs::rename(dir.join(STORE_FILE), &kept)
                    .map_err(|e| Error::io(&dir.join(STORE_FILE), e))?;
            }
            Ok(Migrated {
                from,
                to: postgres::redact(url),
                records: tally.rows,
                revoked: tally.revoked,
                crl_number: tally.crl_number,
                checksum: tally.checksum,
                kept,
            })
        }
        Target::Sqlite => {
            let path = dir.join(STORE_FILE);
            if path.exists() {
                return Err(Error::invalid(
                    "--to",
                    "sqlite",
                    format!("{} already exists", path.display()),
                    "move it out of the CA directory first (it is not the store in use)",
                ));
            }
            let staged = dir.join(format!("{STORE_FILE}.migrating"));
            for ext in ["", "-wal", "-shm"] {
                let p = PathBuf::from(format!("{}{ext}", staged.display()));
                if p.exists() {
                    std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
                }
            }
            let result = (|| {
                let mut target = Store::create(&staged)?;
                let copied = target.load_from(&source)?;
                let tally = verify(&source, copied, &target, &path.display().to_string())?;
                drop(target);
                Ok(tally)
            })();
            let tally = match result {
                Ok(c) => c,
                Err(e) => {
                    let _ = std::fs::remove_file(&staged);
                    return Err(e);
                }
            };
            drop(source);
            std::fs::rename(&staged, &path).map_err(|e| Error::io(&staged, e))?;
            let kept = dir.join(format!("{STORE_URL_FILE}.migrated"));
            if dir.join(STORE_URL_FILE).exists() {
                std::fs::rename(dir.join(STORE_URL_FILE), &kept)
                    .map_err(|e| Error::io(&dir.join(STORE_URL_FILE), e))?;
            }
            Ok(Migrated {
                from,
                to: path.display().to_string(),
                records: tally.rows,
                revoked: tally.revoked,
                crl_number: tally.crl_number,
                checksum: tally.checksum,
                kept,
            })
        }
    }
}
