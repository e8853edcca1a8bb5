//! `mtls-ca doctor`: checks a CA directory and says what is wrong and how to fix it; with
//! `repair`, fixes what can be fixed without a decision by the user.
//!
//! Checks, each a [`Finding`] with a code: an interrupted `init`/`ca rotate` (completed or undone
//! with repair, see [`crate::ca::journal`]), leftover temporary files, possibly holding private
//! keys (removed with repair), permissions and ownership, a `ca.crt` that is not a CA or does not
//! match `ca.key`, a `ca.crt` that is not the store's CA, the store's integrity, certificates
//! recorded without their files (or with empty files), certificate files of this CA without a
//! record, and CRLs past their nextUpdate. Stems recorded as relative paths are resolved against
//! the current directory, as they were when the certificates were issued. Needs no passphrase:
//! an encrypted `ca.key` is matched against `ca.crt` only when it is not encrypted.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::ca::{journal, CA_CERT, CA_CHAIN, CA_KEY};
use crate::error::Result;
use crate::serial::Serial;
use crate::store::{Store, STORE_FILE, STORE_URL_FILE};
use crate::x509;

/// One thing doctor found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    /// Stable kebab-case code, e.g. `interrupted-change`, `temp-file`, `record-without-files`.
    pub code: &'static str,
    /// The file or directory concerned.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
    /// What to do (a command when there is one).
    pub fix: String,
    /// True when `--repair` fixed it.
    pub repaired: bool,
}

/// The verdict of doctor.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// The CA directory checked.
    pub dir: PathBuf,
    /// True when nothing is wrong (or everything found was repaired).
    pub ok: bool,
    /// Every finding.
    pub findings: Vec<Finding>,
}

/// Checks `dir`; with `repair`, completes or undoes an interrupted change and removes leftover
/// temporary files.
pub fn run(dir: &Path, repair: bool, now: OffsetDateTime) -> Result<Report> {
    let mut f: Vec<Finding> = Vec::new();
    let mut add = |code, path: &Path, message: String, fix: String, repaired| {
        f.push(Finding {
            code,
            path: path.to_path_buf(),
            message,
            fix,
            repaired,
        })
    };
    let dq = crate::files::shell_quote(dir);
    // 1. Interrupted multi-file change.
    if let Some(committed) = journal::pending(dir) {
        let what = if committed {
            "an interrupted `init` or `ca rotate` that had reached its commit point"
        } else {
            "an interrupted `init` or `ca rotate` that had not reached its commit point"
        };
        let staged = journal::staged_files(dir).len();
        let repaired = repair && crate::ca::recover(dir)?.is_some();
        add(
            "interrupted-change",
            &dir.join(if committed {
                journal::JOURNAL
            } else {
                journal::STAGING
            }),
            format!("{what} ({staged} staged file(s))"),
            format!(
                "mtls-ca --dir {dq} doctor --repair (completes it if committed, undoes it otherwise)"
            ),
            repaired,
        );
    }
    // 2. Permissions and ownership.
    for (p, is_dir) in [
        (dir.to_path_buf(), true),
        (dir.join(CA_CERT), false),
        (dir.join(CA_KEY), false),
        (crate::ca::layout::key_uri(dir), false),
        (dir.join(CA_CHAIN), false),
        (dir.join(STORE_FILE), false),
    ] {
        if std::fs::symlink_metadata(&p).is_err() {
            continue;
        }
        if let Err(e) = crate::files::check_trusted(&p, is_dir) {
            add(
                "permissions",
                &p,
                e.to_string(),
                e.hint().unwrap_or_default(),
                false,
            );
        }
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let k = dir.join(CA_KEY);
        if let Ok(m) = std::fs::metadata(&k) {
            let mode = m.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                add(
                    "permissions",
                    &k,
                    format!("the CA key is readable by group or others (mode {mode:04o})"),
                    format!("chmod 600 {}", crate::files::shell_quote(&k)),
                    false,
                );
            }
        }
    }
    // 3. The CA certificate and key.
    let mut ca_serial: Option<String> = None;
    let mut ca_subject: Option<Vec<u8>> = None;
    let mut ca_der: Option<Vec<u8>> = None;
    let cert_path = dir.join(CA_CERT);
    match x509::read_certs(&cert_path) {
        Err(e) => add(
            "ca-certificate",
            &cert_path,
            e.to_string(),
            "restore ca.crt from a backup, or make a CA with `mtls-ca init`".into(),
            false,
        ),
        Ok(certs) => match x509::parse_cert(&certs[0], &cert_path) {
            Err(e) => add(
                "ca-certificate",
                &cert_path,
                e.to_string(),
                "restore ca.crt from a backup".into(),
                false,
            ),
            Ok(c) => {
                if let Err(e) = crate::ca::check_is_ca(&c, &cert_path) {
                    add(
                        "not-a-ca",
                        &cert_path,
                        e.to_string(),
                        e.hint().unwrap_or_default(),
                        false,
                    );
                }
                ca_serial = Some(Serial::from_bytes(c.raw_serial()).hex());
                ca_subject = Some(c.subject().as_raw().to_vec());
                ca_der = Some(certs[0].clone());
                let key_path = dir.join(CA_KEY);
                if let Ok(bytes) = crate::files::read_limited(&key_path, 1024 * 1024) {
                    let bytes = zeroize::Zeroizing::new(bytes);
                    if !crate::keycrypt::is_encrypted(&bytes) {
                        match crate::keys::load_private_key(&bytes, &key_path) {
                            Ok(k) => {
                                use rcgen::PublicKeyData;
                                if c.public_key().raw != k.subject_public_key_info().as_slice() {
                                    add(
                                        "key-mismatch",
                                        &key_path,
                                        "ca.key does not belong to ca.crt".into(),
                                        format!("mtls-ca --dir {dq} doctor --repair completes an interrupted rotation; otherwise restore the pair from a backup"),
                                        false,
                                    );
                                }
                            }
                            Err(e) => add(
                                "ca-key",
                                &key_path,
                                e.to_string(),
                                e.hint().unwrap_or_default(),
                                false,
                            ),
                        }
                    }
                }
            }
        },
    }
    // 4. The store: `store.db`, or the PostgreSQL database `store.url` names.
    let shared = dir.join(STORE_URL_FILE).exists();
    let store_path = dir.join(if shared { STORE_URL_FILE } else { STORE_FILE });
    let store = match Store::open_dir(dir, &crate::store::connect_options()) {
        Ok(s) => match s.integrity_check() {
            Ok(()) => Some(s),
            Err(e) => {
                add(
                    "store-damaged",
                    &store_path,
                    e.to_string(),
                    if shared {
                        "check the database server (its log, its disk); the CA must not issue from a damaged store".into()
                    } else {
                        "restore store.db from a backup (the CA must not issue from a damaged store)".into()
                    },
                    false,
                );
                None
            }
        },
        Err(e) => {
            add(
                "store",
                &store_path,
                e.to_string(),
                e.hint().unwrap_or_default(),
                false,
            );
            None
        }
    };
    let mut known: HashSet<String> = HashSet::new();
    let mut stem_dirs: BTreeSet<PathBuf> = BTreeSet::new();
    stem_dirs.insert(dir.to_path_buf());
    if let Some(store) = &store {
        if let Some(serial) = &ca_serial {
            if let Ok((is_known, any)) = store.ca_standing(serial) {
                if !is_known
                    && any
                    && !ca_der
                        .as_deref()
                        .is_some_and(|d| rotated_here(dir, store, d))
                {
                    add(
                        "foreign-ca",
                        &cert_path,
                        format!("ca.crt (serial {serial}) is not the CA of this store"),
                        "put back the CA files this directory was made with".into(),
                        false,
                    );
                }
            }
        }
        let entries = store.list(now, None)?;
        for e in &entries {
            known.insert(e.serial.clone());
        }
        for e in &entries {
            let Some(stem) = &e.stem else { continue };
            let stem = PathBuf::from(stem);
            let crt = crate::ca::with_ext(&stem, "crt");
            if let Some(p) = crt.parent() {
                stem_dirs.insert(if p.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    p.to_path_buf()
                });
            }
            if e.status != crate::store::Status::Valid {
                continue;
            }
            match std::fs::metadata(&crt) {
                Err(_) => add(
                    "record-without-files",
                    &crt,
                    format!("certificate {} ({}) is recorded as valid but its file is missing", e.serial, e.subject),
                    format!("if it was never delivered, revoke it: mtls-ca --dir {dq} revoke {} --reason superseded", e.serial),
                    false,
                ),
                Ok(m) if m.len() == 0 => add(
                    "empty-file",
                    &crt,
                    format!("the file of certificate {} is empty (a write was interrupted)", e.serial),
                    format!("revoke it (mtls-ca --dir {dq} revoke {}) and issue again", e.serial),
                    false,
                ),
                Ok(_) => {}
            }
            // A kill during a batch's in-place writes can leave an empty key file.
            let key = crate::ca::with_ext(&stem, "key");
            if std::fs::metadata(&key).is_ok_and(|m| m.len() == 0) {
                add(
                    "empty-file",
                    &key,
                    format!(
                        "the key file of certificate {} is empty (a write was interrupted)",
                        e.serial
                    ),
                    format!(
                        "revoke it (mtls-ca --dir {dq} revoke {}) and issue again",
                        e.serial
                    ),
                    false,
                );
            }
        }
    }
    // 5. Leftover temporary files (private keys among them) and files without records.
    for d in &stem_dirs {
        let Ok(rd) = std::fs::read_dir(d) else {
            continue;
        };
        for ent in rd.flatten() {
            let name = ent.file_name().to_string_lossy().into_owned();
            let p = ent.path();
            if is_temp_name(&name) {
                let repaired = repair && std::fs::remove_file(&p).is_ok();
                add(
                    "temp-file",
                    &p,
                    "a temporary file left by an interrupted command (it may hold a private key)"
                        .into(),
                    format!("mtls-ca --dir {dq} doctor --repair (removes it)"),
                    repaired,
                );
                continue;
            }
            if !name.ends_with(".crt") || name.ends_with(".fullchain.crt") {
                continue;
            }
            if d == dir && (name == CA_CERT || name == CA_CHAIN || name.starts_with("ca-")) {
                continue;
            }
            let (Some(subject), Some(_)) = (&ca_subject, &store) else {
                continue;
            };
            let Ok(meta) = std::fs::metadata(&p) else {
                continue;
            };
            if meta.len() == 0 {
                continue;
            }
            let Ok(certs) = x509::read_certs(&p) else {
                continue;
            };
            let Ok(c) = x509::parse_cert(&certs[0], &p) else {
                continue;
            };
            let serial = Serial::from_bytes(c.raw_serial()).hex();
            let ours = c.issuer().as_raw() == subject.as_slice()
                || crate::rotate::retired_cert_paths(dir).iter().any(|r| {
                    x509::read_certs(r)
                        .ok()
                        .and_then(|v| v.into_iter().next())
                        .and_then(|der| {
                            x509::parse_cert(&der, r)
                                .ok()
                                .map(|rc| rc.subject().as_raw() == c.issuer().as_raw())
                        })
                        .unwrap_or(false)
                });
            if ours && !known.contains(&serial) {
                add(
                    "file-without-record",
                    &p,
                    format!("certificate {serial} was issued by this CA's name but the store does not know it"),
                    "if it is not one of yours, delete it; otherwise restore the store from a newer backup".into(),
                    false,
                );
            }
        }
    }
    // 6. CRLs past their nextUpdate.
    let mut crls = vec![dir.join(crate::crl::CRL_FILE)];
    if let Ok(rd) = std::fs::read_dir(dir) {
        for ent in rd.flatten() {
            let n = ent.file_name().to_string_lossy().into_owned();
            if n.starts_with("crl-") && n.ends_with(".pem") {
                crls.push(ent.path());
            }
        }
    }
    for p in crls {
        if !p.exists() {
            continue;
        }
        if let Ok(c) = crate::crl::check(dir, &p, now) {
            if let Some(t) = c.next_update {
                if t <= now {
                    add(
                        "crl-expired",
                        &p,
                        format!(
                            "past its nextUpdate ({}): gateways reject every client",
                            crate::ca::fmt_date(t)
                        ),
                        format!("mtls-ca --dir {dq} crl"),
                        false,
                    );
                }
            }
        }
    }
    let ok = f.iter().all(|x| x.repaired);
    Ok(Report {
        dir: dir.to_path_buf(),
        ok,
        findings: f,
    })
}

/// Names of temporary files mtls-ca makes: `.NAME.<hex>.tmp` (file sets), `NAME.tmp-PID`
/// (replaced files), the journal's temp file and batch write probes.
fn is_temp_name(name: &str) -> bool {
    (name.starts_with('.') && name.ends_with(".tmp"))
        || name
            .rsplit_once(".tmp-")
            .is_some_and(|(_, pid)| !pid.is_empty() && pid.chars().all(|c| c.is_ascii_digit()))
        || name.starts_with(".mtls-ca-write-check-")
}

/// Whether this directory's `ca.crt` is the successor, by `ca rotate`, of a CA the store knows:
/// a chain of rotations ([`crate::rotate::is_successor`]) from a retired CA of the directory
/// (`ca-<prefix>.crt`, or in `finished/`) that the store recorded or issued under. A rotated
/// intermediate is recorded in its parent's store, so its own store knows it only once it has
/// issued something; until then it is not foreign (a CA copied in from elsewhere still is).
fn rotated_here(dir: &Path, store: &Store, current: &[u8]) -> bool {
    let Ok(cur) = x509::parse_cert(current, &dir.join(CA_CERT)) else {
        return false;
    };
    let retired: Vec<Vec<u8>> = crate::ca::layout::retired_cert_paths(dir)
        .into_iter()
        .chain(crate::ca::layout::retired_cert_paths(
            &dir.join(crate::ca::overlap::FINISHED_DIR),
        ))
        .filter_map(|p| x509::read_certs(&p).ok().and_then(|c| c.into_iter().next()))
        .collect();
    let parsed: Vec<_> = retired
        .iter()
        .filter_map(|d| x509::parse_cert(d, dir).ok())
        .collect();
    let mut known: Vec<bool> = parsed
        .iter()
        .map(|c| {
            store
                .ca_standing(&Serial::from_bytes(c.raw_serial()).hex())
                .is_ok_and(|(k, _)| k)
        })
        .collect();
    // Each pass extends the known generations by one rotation.
    for _ in 0..parsed.len() {
        for i in 0..parsed.len() {
            if !known[i]
                && (0..parsed.len())
                    .any(|j| known[j] && crate::rotate::is_successor(&parsed[j], &parsed[i]))
            {
                known[i] = true;
            }
        }
    }
    (0..parsed.len()).any(|j| known[j] && crate::rotate::is_successor(&parsed[j], &cur))
}
