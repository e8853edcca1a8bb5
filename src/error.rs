//! The one error type of the library.
//!
//! Every variant says what failed and carries what the user needs to act; [`Error::hint`] gives
//! the next step (usually a command to run). The CLI prints `error: {self}` then `hint: {hint}`
//! and exits 2: an `Error` always means "unusable input or environment", never "a check failed"
//! (checks return reports with a verdict instead).

use std::path::{Path, PathBuf};

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A command needs a CA and the directory holds none.
    #[error("no CA in {}: {} is missing", dir.display(), missing.display())]
    NoCa {
        /// The CA directory that was searched.
        dir: PathBuf,
        /// The first CA file that is missing.
        missing: PathBuf,
    },
    /// `init` found CA files already present.
    #[error("{} already holds a CA file ({})", dir.display(), existing.display())]
    CaExists {
        /// The CA directory.
        dir: PathBuf,
        /// The file that is in the way.
        existing: PathBuf,
    },
    /// A file would be overwritten.
    #[error("{} already exists", path.display())]
    FileExists {
        /// The file in the way.
        path: PathBuf,
    },
    /// A value given on the command line (or in a batch file) is not acceptable.
    #[error("invalid {what} {:?}: {reason}", shorten(value))]
    InvalidValue {
        /// What the value is for, e.g. "--san" or "--days".
        what: &'static str,
        /// The value as given.
        value: String,
        /// Why it is refused.
        reason: String,
        /// What to do instead.
        hint: String,
    },
    /// A file could not be parsed or is not what was expected.
    #[error("{}: {reason}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
        /// What to do.
        hint: String,
    },
    /// The CA key is readable by group or others.
    #[error("{}: the CA key is readable by group or others (mode {mode:04o})", path.display())]
    KeyPermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A private key does not belong to the certificate it was paired with.
    #[error("{} does not match {}: the key belongs to another certificate", key.display(), cert.display())]
    KeyMismatch {
        /// The key file.
        key: PathBuf,
        /// The certificate file.
        cert: PathBuf,
    },
    /// A requested validity is impossible.
    #[error("{0}")]
    Validity(String, String),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The store (SQLite) failed.
    #[error("store {}: {source}", path.display())]
    Store {
        /// The database file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: rusqlite::Error,
    },
    /// The store is not one this version understands.
    #[error("store {}: {reason}", path.display())]
    StoreFormat {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The store fails SQLite's integrity check (or a write it needs cannot land): it is not
    /// used.
    #[error("store {} is damaged: {reason}", path.display())]
    StoreDamaged {
        /// The database file.
        path: PathBuf,
        /// What the check found.
        reason: String,
    },
    /// The PostgreSQL store cannot be reached or refused a statement.
    #[error("store {url}: {reason}")]
    Database {
        /// The store URL without its password.
        url: String,
        /// What failed.
        reason: String,
    },
    /// A serial number is not known to the store.
    #[error("no certificate with serial {serial} in this CA's store")]
    UnknownSerial {
        /// The serial as given.
        serial: String,
    },
    /// Signing or key generation failed inside the crypto library.
    #[error("crypto failure: {0}")]
    Crypto(String),
    /// A freshly signed certificate failed its own verification; nothing was written.
    #[error("internal check failed on the new certificate: {0}")]
    SelfCheck(String),
    /// A line of a bulk-issuance file is unusable; earlier chunks may have been issued.
    #[error("{}:{line}: {reason}", file.display())]
    BatchLine {
        /// The batch file (`-` for stdin).
        file: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
        /// What to do.
        hint: String,
        /// Certificates issued (and kept) from earlier chunks.
        issued: usize,
    },
    /// A network peer could not be reached or did not answer in time.
    #[error("{target}: {reason}")]
    Connect {
        /// host:port as given.
        target: String,
        /// What happened (refused, timed out, no such host, ...).
        reason: String,
        /// What to check.
        hint: String,
    },
}

impl Error {
    /// A stable, snake_case name of what went wrong (one per variant), for scripts: the `code`
    /// of the CLI's `--json` error document. Never changes for an existing variant.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NoCa { .. } => "no_ca",
            Error::CaExists { .. } => "ca_exists",
            Error::FileExists { .. } => "file_exists",
            Error::InvalidValue { .. } => "invalid_value",
            Error::BadFile { .. } => "bad_file",
            Error::KeyPermissions { .. } => "key_permissions",
            Error::KeyMismatch { .. } => "key_mismatch",
            Error::Validity(..) => "validity",
            Error::Io { .. } => "io",
            Error::Store { .. } => "store",
            Error::StoreFormat { .. } => "store_format",
            Error::StoreDamaged { .. } => "store_damaged",
            Error::Database { .. } => "database",
            Error::UnknownSerial { .. } => "unknown_serial",
            Error::Crypto(_) => "crypto",
            Error::SelfCheck(_) => "self_check",
            Error::BatchLine { .. } => "batch_line",
            Error::Connect { .. } => "connect",
        }
    }

    /// The next step for the user, printed as `hint: …` below the error.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::NoCa { dir, .. } => format!(
                "create one with `mtls-ca init --dir {}`, or point --dir / MTLS_CA_DIR at an existing CA",
                dir.display()
            ),
            Error::CaExists { .. } => {
                "choose another --dir, or pass --force to keep the old files as *.bak and start over"
                    .into()
            }
            Error::FileExists { .. } => {
                "choose another --out, or pass --force (the old file is kept as NAME.bak)".into()
            }
            Error::InvalidValue { hint, .. } | Error::BadFile { hint, .. } => hint.clone(),
            Error::KeyPermissions { path, .. } => {
                format!("run `chmod 600 {}` and try again", path.display())
            }
            Error::KeyMismatch { .. } => {
                "pair each certificate with the key it was issued for".into()
            }
            Error::Validity(_, hint) => hint.clone(),
            Error::Io { .. } => "check that the path exists and is writable".into(),
            Error::Store { .. } => {
                "another process may hold the store for too long; retry, or check the disk".into()
            }
            Error::StoreFormat { .. } => {
                "this store was written by another mtls-ca version or is damaged".into()
            }
            Error::StoreDamaged { path, .. } => format!(
                "nothing was written; stop using this CA directory and restore {} (with its -wal file) from a backup; `sqlite3 {} .recover` can salvage the records",
                path.display(),
                path.display()
            ),
            Error::Database { .. } => "check the store URL (init --store, store.url or MTLS_CA_STORE), that PostgreSQL is reachable, and the password (in the URL, MTLS_CA_STORE_PASSWORD_FILE, MTLS_CA_STORE_PASSWORD or PGPASSWORD); nothing was written".into(),
            Error::UnknownSerial { .. } => "see the known serials with `mtls-ca list`".into(),
            Error::Connect { hint, .. } => hint.clone(),
            Error::BatchLine { hint, issued, .. } => {
                if *issued > 0 {
                    format!("{hint}; {issued} certificates of earlier chunks were issued and kept (see mtls-ca list): remove those lines before retrying")
                } else {
                    format!("{hint}; nothing was issued")
                }
            }
            Error::Crypto(_) | Error::SelfCheck(_) => {
                "this is a bug in mtls-ca: please report it with MTLS_CA_DEBUG=1 output".into()
            }
        })
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn bad_file(
        path: &Path,
        reason: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Error::BadFile {
            path: path.to_path_buf(),
            reason: reason.into(),
            hint: hint.into(),
        }
    }

    pub(crate) fn invalid(
        what: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Error::InvalidValue {
            what,
            value: value.into(),
            reason: reason.into(),
            hint: hint.into(),
        }
    }
}

/// A value as shown in an error: at most 80 characters, so that a hostile 100 MB value still
/// gives a one-line error.
fn shorten(value: &str) -> String {
    const MAX: usize = 80;
    if value.chars().count() <= MAX {
        value.to_string()
    } else {
        let head: String = value.chars().take(MAX).collect();
        format!("{head}… ({} characters)", value.chars().count())
    }
}

impl From<rcgen::Error> for Error {
    fn from(e: rcgen::Error) -> Self {
        Error::Crypto(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_snake_case_and_distinct() {
        let p = PathBuf::from("x");
        let all = [
            Error::NoCa {
                dir: p.clone(),
                missing: p.clone(),
            },
            Error::CaExists {
                dir: p.clone(),
                existing: p.clone(),
            },
            Error::FileExists { path: p.clone() },
            Error::invalid("--days", "0", "r", "h"),
            Error::bad_file(&p, "r", "h"),
            Error::KeyPermissions {
                path: p.clone(),
                mode: 0o644,
            },
            Error::KeyMismatch {
                key: p.clone(),
                cert: p.clone(),
            },
            Error::Validity("r".into(), "h".into()),
            Error::io(&p, std::io::Error::other("x")),
            Error::Store {
                path: p.clone(),
                source: rusqlite::Error::InvalidQuery,
            },
            Error::StoreFormat {
                path: p.clone(),
                reason: "r".into(),
            },
            Error::UnknownSerial { serial: "1".into() },
            Error::Crypto("x".into()),
            Error::SelfCheck("x".into()),
            Error::BatchLine {
                file: p.clone(),
                line: 1,
                reason: "r".into(),
                hint: "h".into(),
                issued: 0,
            },
            Error::Connect {
                target: "t".into(),
                reason: "r".into(),
                hint: "h".into(),
            },
        ];
        let codes: std::collections::BTreeSet<_> = all.iter().map(Error::code).collect();
        assert_eq!(codes.len(), all.len(), "two variants share a code");
        for c in codes {
            assert!(
                c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'),
                "{c} is not snake_case"
            );
        }
        assert_eq!(Error::FileExists { path: p }.code(), "file_exists");
    }
}
