//! `init --join`: another host of a CA whose records live in a shared (PostgreSQL) store.
//!
//! The new directory gets the public parts of the existing one — `ca.crt`, `ca-chain.crt`,
//! `ca-bundle.crt` when present, and `store.url` (which never holds a password) — written
//! all-or-nothing. The CA key is not copied: the operator moves `ca.key` over a secure channel,
//! or the key lives in an HSM both hosts reach (then `ca.key-uri`, which holds no PIN, is copied).

use std::path::{Path, PathBuf};

use crate::ca::{CA_CERT, CA_CHAIN, CA_KEY};
use crate::error::{Error, Result};
use crate::files::FileSet;
use crate::store::STORE_URL_FILE;
use crate::x509;

/// What `join` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Joined {
    /// The CA's subject.
    pub subject: String,
    /// The store URL (no password).
    pub store: String,
    /// The files written.
    pub files: Vec<PathBuf>,
    /// True when the CA key still has to be brought over.
    pub needs_key: bool,
}

/// Sets up `dir` as a host of the CA in `existing`.
pub fn join(dir: &Path, existing: &Path, force: bool) -> Result<Joined> {
    let url_file = existing.join(STORE_URL_FILE);
    let url = match std::fs::read_to_string(&url_file) {
        Ok(u) => u.trim().to_string(),
        Err(_) => {
            return Err(Error::invalid(
                "--join",
                existing.display().to_string(),
                "this CA keeps its records in its own store.db, which other hosts cannot share",
                "create the CA with `init --store postgres://…` to share it between hosts",
            ))
        }
    };
    if !crate::store::postgres::is_url(&url) {
        return Err(Error::bad_file(
            &url_file,
            "not a postgres:// URL",
            "restore store.url of the existing CA",
        ));
    }
    let cert_path = existing.join(CA_CERT);
    let certs = x509::read_certs(&cert_path)?;
    let cert = certs.first().ok_or_else(|| {
        Error::bad_file(&cert_path, "no certificate", "give the directory of a CA")
    })?;
    let subject = x509::parse_cert(cert, &cert_path)?.subject().to_string();
    for name in [
        CA_CERT,
        CA_KEY,
        crate::ca::layout::KEY_URI,
        CA_CHAIN,
        STORE_URL_FILE,
        crate::store::STORE_FILE,
    ] {
        let p = dir.join(name);
        if p.exists() && !force {
            return Err(Error::CaExists {
                dir: dir.to_path_buf(),
                existing: p,
            });
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut fs = FileSet::new();
    let mut files = Vec::new();
    // A key kept in a PKCS#11 token is named by `ca.key-uri` (no PIN): hosts that reach the
    // same token need nothing else.
    for name in [
        CA_CERT,
        CA_CHAIN,
        crate::rotate::CA_BUNDLE,
        crate::ca::layout::KEY_URI,
    ] {
        let src = existing.join(name);
        if src.exists() {
            let bytes = crate::files::read_limited(&src, 16 * 1024 * 1024)?;
            fs.public(dir.join(name), bytes);
            files.push(dir.join(name));
        }
    }
    fs.public(dir.join(STORE_URL_FILE), format!("{url}\n"));
    files.push(dir.join(STORE_URL_FILE));
    fs.commit(force)?;
    Ok(Joined {
        subject,
        store: crate::store::postgres::redact(&url),
        files,
        needs_key: !dir.join(CA_KEY).exists() && !crate::ca::layout::key_uri(dir).exists(),
    })
}
