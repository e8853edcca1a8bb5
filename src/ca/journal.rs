//! Crash-safe multi-file changes of a CA directory (`init`, `ca rotate`): roll forward or back.
//!
//! A change is made in three steps:
//! 1. every new file is written, complete and fsynced, into the staging directory
//!    `.mtls-ca.pending/` inside the CA directory (0700; the new CA key is 0600 from its first byte);
//! 2. the journal `.mtls-ca.journal` is written atomically (temp file, fsync, rename, fsync of the
//!    directory): this is the commit point;
//! 3. the staged files are renamed into place (existing ones first set aside as `NAME.bak` when
//!    the change asks for it), the store record the change needs is made, and the staging
//!    directory and the journal are removed.
//!
//! A crash before the commit point leaves a staging directory without a journal: the change is
//! undone (the staging directory removed). A crash after it leaves the journal: the change is
//! completed. Every step of the completion is idempotent, so a crash during recovery is recovered
//! by the next one. Recovery ([`crate::ca::recover`]) runs from [`crate::ca::Ca::open_with`],
//! from every command of the binary that reads a CA directory, from `init` and from
//! `doctor --repair`, under the directory lock ([`DirLock`]) that every multi-file change and every
//! CRL publication holds, so two processes never complete or undo the same change at once.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The journal of a committed change (present only while a change is being installed).
pub const JOURNAL: &str = ".mtls-ca.journal";
/// The staging directory of a change in progress.
pub const STAGING: &str = ".mtls-ca.pending";
/// The lock file of the directory (empty; never removed, so every process locks the same inode).
pub const LOCK: &str = ".mtls-ca.lock";

/// An exclusive lock on a CA directory, held until dropped.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// Takes the directory lock of `dir` (waits for another holder).
pub fn lock(dir: &Path) -> Result<DirLock> {
    let path = dir.join(LOCK);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(crate::files::PRIVATE)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    file.lock().map_err(|e| Error::io(&path, e))?;
    Ok(DirLock { _file: file })
}

/// One file of a change.
#[derive(Debug)]
pub struct Staged {
    /// Its name inside the CA directory.
    pub name: String,
    /// Contents (wiped from memory afterwards).
    pub contents: Zeroizing<Vec<u8>>,
    /// Permission bits.
    pub mode: u32,
}

/// A certificate the store must hold once the change is installed (the new CA of a rotation).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PendingRecord {
    /// The certificate, DER in base64.
    pub der: String,
    /// Its profile name.
    pub profile: String,
    /// Its key type name.
    pub key_type: String,
    /// Unix time of the change (the record's issue time).
    pub at: i64,
}

/// What the journal says.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Journal {
    /// `init` or `rotate`.
    pub op: String,
    /// Files to install, in order (names inside the CA directory).
    pub files: Vec<String>,
    /// Existing files to set aside as `NAME.bak` before installing (`init --force`).
    #[serde(default)]
    pub backup: Vec<String>,
    /// A record to make in the store after the files are installed.
    #[serde(default)]
    pub record: Option<PendingRecord>,
}

/// A multi-file change to make.
#[derive(Debug)]
pub struct Change {
    /// `init` or `rotate`.
    pub op: &'static str,
    /// The files, in install order.
    pub files: Vec<Staged>,
    /// Existing files to set aside as `NAME.bak` first.
    pub backup: Vec<String>,
    /// The store record to make after installing.
    pub record: Option<PendingRecord>,
}

/// Makes the store record of a change ([`Journal::record`]) unless the store already holds it;
/// supplied by the CA layer, so this module needs nothing above the store.
pub type Recorder<'a> = &'a dyn Fn(&Path, &PendingRecord) -> Result<()>;

/// What [`recover`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Recovered {
    /// An interrupted change was completed.
    Completed {
        /// `init` or `rotate`.
        op: String,
    },
    /// A change interrupted before its commit point was undone.
    Undone,
}

/// What is pending in `dir`, without changing anything: `Some(true)` a committed change
/// (journal present), `Some(false)` an uncommitted one (staging only), `None` nothing.
pub fn pending(dir: &Path) -> Option<bool> {
    if fs::symlink_metadata(dir.join(JOURNAL)).is_ok() {
        Some(true)
    } else if fs::symlink_metadata(dir.join(STAGING)).is_ok() {
        Some(false)
    } else {
        None
    }
}

/// Completes or undoes an interrupted change of `dir`, if there is one. Takes the directory
/// lock; call [`recover_locked`] when already holding it.
pub fn recover(dir: &Path, record: Recorder<'_>) -> Result<Option<Recovered>> {
    if pending(dir).is_none() {
        return Ok(None);
    }
    let _lock = lock(dir)?;
    recover_locked(dir, record)
}

/// [`recover`] for a caller that holds the directory lock.
pub fn recover_locked(dir: &Path, record: Recorder<'_>) -> Result<Option<Recovered>> {
    match pending(dir) {
        None => Ok(None),
        Some(true) => {
            let path = dir.join(JOURNAL);
            let bytes = crate::files::read_limited(&path, 1024 * 1024)?;
            let j: Journal = serde_json::from_slice(&bytes).map_err(|e| {
                Error::bad_file(
                    &path,
                    format!("unreadable journal of an interrupted change ({e})"),
                    "run `mtls-ca doctor` and restore the CA directory from a backup",
                )
            })?;
            roll_forward(dir, &j, record)?;
            Ok(Some(Recovered::Completed { op: j.op }))
        }
        Some(false) => {
            undo(dir)?;
            Ok(Some(Recovered::Undone))
        }
    }
}

/// Makes `change` in `dir`: stage, commit, install. The caller holds the directory lock and has
/// run [`recover_locked`].
pub fn apply(dir: &Path, change: Change, record: Recorder<'_>) -> Result<()> {
    apply_with(dir, change, record, |_| Ok(Vec::new()))
}

/// Like [`apply`]; `extra` makes more files in the staging directory (e.g. a new store) and
/// returns their names, installed after `change.files`.
pub fn apply_with(
    dir: &Path,
    change: Change,
    record: Recorder<'_>,
    extra: impl FnOnce(&Path) -> Result<Vec<String>>,
) -> Result<()> {
    let staging = dir.join(STAGING);
    let extra_names = match stage(&staging, &change.files).and_then(|()| extra(&staging)) {
        Ok(n) => n,
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    sync_dir(&staging);
    let mut names: Vec<String> = change.files.iter().map(|f| f.name.clone()).collect();
    names.extend(extra_names);
    let j = Journal {
        op: change.op.to_string(),
        files: names,
        backup: change.backup,
        record: change.record,
    };
    crate::failpoint::hit(&format!("{}.commit", change.op), &dir.join(JOURNAL)).inspect_err(
        |_| {
            let _ = fs::remove_dir_all(&staging);
        },
    )?;
    if let Err(e) = write_journal(dir, &j) {
        let _ = fs::remove_dir_all(&staging);
        let _ = fs::remove_file(dir.join(JOURNAL));
        return Err(e);
    }
    crate::failpoint::hit(&format!("{}.committed", change.op), &dir.join(JOURNAL))?;
    roll_forward(dir, &j, record)
}

fn stage(staging: &Path, files: &[Staged]) -> Result<()> {
    fs::DirBuilder::new()
        .mode(0o700)
        .create(staging)
        .map_err(|e| Error::io(staging, e))?;
    fs::set_permissions(staging, fs::Permissions::from_mode(0o700))
        .map_err(|e| Error::io(staging, e))?;
    for (n, f) in files.iter().enumerate() {
        let p = staging.join(&f.name);
        crate::files::write_new(&p, &f.contents, f.mode)?;
        if n == 0 {
            crate::failpoint::hit("journal.stage", &p)?;
        }
    }
    sync_dir(staging);
    Ok(())
}

fn write_journal(dir: &Path, j: &Journal) -> Result<()> {
    let path = dir.join(JOURNAL);
    let tmp = dir.join(format!("{JOURNAL}.tmp"));
    let _ = fs::remove_file(&tmp);
    let mut bytes = serde_json::to_vec_pretty(j)
        .map_err(|e| Error::io(&path, std::io::Error::other(e.to_string())))?;
    bytes.push(b'\n');
    crate::files::write_new(&tmp, &bytes, crate::files::PRIVATE)?;
    fs::rename(&tmp, &path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(&path, e)
    })?;
    sync_dir(dir);
    Ok(())
}

/// Installs a committed change; every step can run again after a crash.
fn roll_forward(dir: &Path, j: &Journal, record: Recorder<'_>) -> Result<()> {
    let staging = dir.join(STAGING);
    for name in j.files.iter().chain(j.backup.iter()) {
        check_name(dir, name)?;
    }
    // 1. Set aside what is replaced, only while nothing is installed yet.
    let untouched = j
        .files
        .first()
        .is_some_and(|f| fs::symlink_metadata(staging.join(f)).is_ok());
    if untouched {
        for name in &j.backup {
            let p = dir.join(name);
            if fs::symlink_metadata(&p).is_ok() {
                let bak = crate::files::bak_name(&p);
                fs::rename(&p, &bak).map_err(|e| Error::io(&p, e))?;
            }
        }
    }
    // 2. Install.
    for name in &j.files {
        let from = staging.join(name);
        if fs::symlink_metadata(&from).is_err() {
            continue;
        }
        crate::failpoint::hit(&format!("{}.install", j.op), &dir.join(name))?;
        fs::rename(&from, dir.join(name)).map_err(|e| Error::io(&dir.join(name), e))?;
    }
    sync_dir(dir);
    // 3. The store record.
    if let Some(r) = &j.record {
        crate::failpoint::hit(&format!("{}.record", j.op), &dir.join(JOURNAL))?;
        record(dir, r)?;
    }
    // 4. Done: drop the staging directory, then the journal.
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    }
    fs::remove_file(dir.join(JOURNAL)).map_err(|e| Error::io(&dir.join(JOURNAL), e))?;
    sync_dir(dir);
    Ok(())
}

/// Journal names are plain file names inside the directory.
fn check_name(dir: &Path, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(Error::bad_file(
            &dir.join(JOURNAL),
            format!("the journal names a file outside the CA directory ({name:?})"),
            "remove .mtls-ca.journal and .mtls-ca.pending and restore the CA from a backup",
        ))
    }
}

fn undo(dir: &Path) -> Result<()> {
    let staging = dir.join(STAGING);
    fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    let _ = fs::remove_file(dir.join(format!("{JOURNAL}.tmp")));
    sync_dir(dir);
    Ok(())
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Base64 of a certificate, for [`PendingRecord::der`].
pub fn encode_der(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(der)
}

impl PendingRecord {
    /// The certificate, DER.
    pub fn der(&self, dir: &Path) -> Result<Vec<u8>> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.der)
            .map_err(|e| {
                Error::bad_file(
                    &dir.join(JOURNAL),
                    format!("bad certificate in the journal ({e})"),
                    "restore the CA directory from a backup",
                )
            })
    }
}

/// The staged files still waiting in `dir`'s staging directory (for `doctor`).
pub fn staged_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir.join(STAGING))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}
