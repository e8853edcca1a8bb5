//! `mtls-ca store migrate --to URL`: move the CA directory's records between its SQLite store
//! and a PostgreSQL database, verified, and point the directory at the new store.

use std::path::Path;

use clap::{Args, Subcommand};
use mtls_ca::store::migrate::{self, Target};

use crate::output::Output;
use crate::Outcome;

pub const HELP: &str = "EXAMPLES:\n  MTLS_CA_STORE_PASSWORD_FILE=/run/secrets/pg mtls-ca store migrate --to postgres://ca@db.internal/mtls?sslmode=require\n  mtls-ca store migrate --to sqlite\n\nEXIT CODES:\n  0  the records were copied, verified, and the directory uses the new store\n  2  usage, input, database or I/O error (the directory still uses its old store)";

pub const MIGRATE_HELP: &str = "Copies every record (reserved serials, revocations, renewals) and the CRL number in one\ntransaction, reads the copy back and compares counts and a SHA-256 checksum of every field of\nevery record; only then does DIR switch: `store.url` is written and `store.db` kept as\n`store.db.migrated` (to PostgreSQL), or `store.db` is put in place and `store.url` kept as\n`store.url.migrated` (--to sqlite). A target that holds any record is refused. Stop the other\nhosts of a shared store before moving it back to SQLite.\n\nEXAMPLES:\n  mtls-ca store migrate --to postgres://ca@db.internal:5432/mtls?sslmode=require\n  mtls-ca --json store migrate --to sqlite\n\nEXIT CODES:\n  0  migrated and verified\n  2  usage, input, database or I/O error (the directory still uses its old store)";

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Move the records to PostgreSQL (or back to DIR/store.db), verified.
    #[command(after_help = MIGRATE_HELP)]
    Migrate(MigrateArgs),
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// postgres://USER@HOST:PORT/DB[?sslmode=require] (an empty database), or `sqlite` for
    /// DIR/store.db. The password comes from the URL, MTLS_CA_STORE_PASSWORD_FILE,
    /// MTLS_CA_STORE_PASSWORD or PGPASSWORD.
    #[arg(long, value_name = "URL")]
    pub to: String,
}

pub fn run(dir: &Path, c: &StoreCommand, out: &Output) -> anyhow::Result<Outcome> {
    match c {
        StoreCommand::Migrate(a) => {
            let to = Target::parse(&a.to)?;
            let m = migrate::migrate(dir, &to, &mtls_ca::store::connect_options(), super::now())?;
            if out.json {
                out.json_doc(&serde_json::to_value(&m)?)?;
            }
            out.status(format!(
                "{} {} record(s) ({} revoked, CRL number {}) from {} to {}",
                out.bold("migrated"),
                m.records,
                m.revoked,
                m.crl_number,
                m.from,
                m.to
            ));
            out.status(format!("  verified  same count, SHA-256 {}", m.checksum));
            out.status(format!("  kept      {} (the old store)", m.kept.display()));
            Ok(Outcome::Ok)
        }
    }
}
