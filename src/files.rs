//! Safe file writing: create-exclusive, keys 0600 from the moment they exist, all-or-nothing.
//!
//! [`FileSet`] collects every file a command writes. [`FileSet::commit`] first writes each one to a
//! temporary file in its target directory (opened with its final mode, so a key is never readable
//! by others even under `umask 000`), makes them durable (one fsync, or one syncfs for several),
//! then links each into place with `link(2)`, which
//! fails instead of replacing an existing file. If any step fails the files already placed are
//! removed again, so a command leaves either all of its files or none. `--force` first renames
//! an existing file to `NAME.bak`.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Mode of private keys, the store and PKCS#12 files.
pub const PRIVATE: u32 = 0o600;
/// Mode of certificates, chains, CRLs and configs.
pub const PUBLIC: u32 = 0o644;

/// One file to be written.
#[derive(Debug)]
struct Pending {
    path: PathBuf,
    contents: Zeroizing<Vec<u8>>,
    mode: u32,
}

/// A file that was written, for status output.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Written {
    /// Where.
    pub path: PathBuf,
    /// Its permission bits.
    pub mode: u32,
    /// The previous file, kept because of `--force`.
    pub backup: Option<PathBuf>,
}

/// A set of files written together, all or nothing.
#[derive(Debug, Default)]
pub struct FileSet {
    files: Vec<Pending>,
}

impl FileSet {
    /// An empty set.
    pub fn new() -> FileSet {
        FileSet::default()
    }

    /// Adds a public file (0644).
    pub fn public(&mut self, path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) {
        self.files.push(Pending {
            path: path.into(),
            contents: Zeroizing::new(contents.into()),
            mode: PUBLIC,
        });
    }

    /// Adds a private file (0600); its contents are wiped from memory afterwards.
    pub fn private(&mut self, path: impl Into<PathBuf>, contents: Zeroizing<Vec<u8>>) {
        self.files.push(Pending {
            path: path.into(),
            contents,
            mode: PRIVATE,
        });
    }

    /// The paths in this set.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|f| f.path.as_path())
    }

    /// Takes out of the set every file that already exists with exactly these contents and
    /// mode (a re-run that changes nothing then writes, and backs up, nothing); returns them.
    pub fn drop_unchanged(&mut self) -> Vec<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let mut same = Vec::new();
        self.files.retain(|f| {
            let unchanged = fs::symlink_metadata(&f.path)
                .ok()
                .filter(|m| m.is_file() && m.permissions().mode() & 0o777 == f.mode)
                .and_then(|_| fs::read(&f.path).ok())
                .is_some_and(|old| Zeroizing::new(old).as_slice() == f.contents.as_slice());
            if unchanged {
                same.push(f.path.clone());
            }
            !unchanged
        });
        same
    }

    /// Fails with [`Error::FileExists`] if a file of the set exists and `force` is off.
    pub fn check_free(&self, force: bool) -> Result<()> {
        if force {
            return Ok(());
        }
        for f in &self.files {
            if fs::symlink_metadata(&f.path).is_ok() {
                return Err(Error::FileExists {
                    path: f.path.clone(),
                });
            }
        }
        Ok(())
    }

    /// Writes every file, or none. With `force`, existing files are first renamed to `*.bak`,
    /// under an exclusive lock on each target directory, so two forced writes of one stem never
    /// leave files from both.
    pub fn commit(self, force: bool) -> Result<Vec<Written>> {
        let _locks = if force {
            lock_dirs(self.paths())?
        } else {
            Vec::new()
        };
        self.check_free(force)?;
        let mut temps: Vec<PathBuf> = Vec::new();
        let result = self.commit_inner(force, &mut temps);
        for t in temps {
            let _ = fs::remove_file(t);
        }
        result
    }

    fn commit_inner(&self, force: bool, temps: &mut Vec<PathBuf>) -> Result<Vec<Written>> {
        let mut handles: Vec<File> = Vec::with_capacity(self.files.len());
        for f in &self.files {
            if let Some(parent) = f.path.parent().filter(|p| !p.as_os_str().is_empty()) {
                if !parent.is_dir() {
                    fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o755)
                        .create(parent)
                        .map_err(|e| Error::io(parent, e))?;
                }
            }
            let tmp = temp_name(&f.path);
            temps.push(tmp.clone());
            handles.push(write_new_unsynced(&tmp, &f.contents, f.mode)?);
        }
        // Make the contents durable before any name points at them: one fsync for one file,
        // one syncfs(2) for several (cheaper than an fsync per file on journaling filesystems).
        match handles.as_slice() {
            [] => {}
            [one] => one.sync_all().map_err(|e| Error::io(&temps[0], e))?,
            [first, ..] => rustix::fs::syncfs(first)
                .map_err(|e| Error::io(&temps[0], std::io::Error::from(e)))?,
        }
        drop(handles);
        crate::failpoint::hit(
            "files.temps",
            temps.first().map_or(Path::new("."), PathBuf::as_path),
        )?;
        let mut placed: Vec<Written> = Vec::new();
        for (f, tmp) in self.files.iter().zip(temps.iter()) {
            let backup = place_step("files.link", &f.path, force, &placed)?;
            if let Err(e) = fs::hard_link(tmp, &f.path) {
                restore(&f.path, backup.as_deref());
                rollback(&placed);
                return Err(create_err(&f.path, e));
            }
            placed.push(Written {
                path: f.path.clone(),
                mode: f.mode,
                backup,
            });
        }
        for dir in placed
            .iter()
            .map(|w| match w.path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            })
            .collect::<std::collections::BTreeSet<_>>()
        {
            sync_dir(dir);
        }
        Ok(placed)
    }
}

impl FileSet {
    /// Bulk variant of [`FileSet::commit`] for thousands of small files: each file is created
    /// exclusively in place (final mode at open), without a per-file fsync, by `threads` writers
    /// in parallel; on any failure every file of the set is removed again (and `*.bak`
    /// restored). Durability comes from one `syncfs(2)` per filesystem at the end, instead of one
    /// fsync per file.
    pub fn commit_bulk(self, force: bool, threads: usize) -> Result<Vec<Written>> {
        let _locks = if force {
            lock_dirs(self.paths())?
        } else {
            Vec::new()
        };
        self.check_free(force)?;
        let mut dirs = std::collections::BTreeSet::new();
        for f in &self.files {
            if let Some(parent) = f.path.parent().filter(|p| !p.as_os_str().is_empty()) {
                if dirs.insert(parent.to_path_buf()) && !parent.is_dir() {
                    fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o755)
                        .create(parent)
                        .map_err(|e| Error::io(parent, e))?;
                }
            }
        }
        let per = self.files.len().div_ceil(threads.max(1)).max(1);
        let groups: Vec<Result<Vec<Written>>> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .files
                .chunks(per)
                .map(|group| s.spawn(move || write_group(group, force)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Error::Crypto("a writer thread failed".into())))
                })
                .collect()
        });
        if let Some(pos) = groups.iter().position(Result::is_err) {
            for placed in groups.iter().flatten() {
                rollback(placed);
            }
            return groups.into_iter().nth(pos).map_or(Ok(Vec::new()), |g| g);
        }
        let placed: Vec<Written> = groups.into_iter().flatten().flatten().collect();
        let mut devices = std::collections::BTreeSet::new();
        for dir in &dirs {
            use std::os::unix::fs::MetadataExt;
            if let Ok(d) = File::open(dir) {
                if d.metadata().is_ok_and(|m| devices.insert(m.dev())) {
                    let _ = rustix::fs::syncfs(&d);
                }
            }
        }
        if dirs.is_empty() {
            if let Ok(d) = File::open(".") {
                let _ = rustix::fs::syncfs(&d);
            }
        }
        Ok(placed)
    }
}

/// Takes an exclusive `flock` on every directory the paths are in (sorted, so two processes
/// never deadlock), creating missing ones; released when the handles are dropped.
fn lock_dirs<'a>(paths: impl Iterator<Item = &'a Path>) -> Result<Vec<File>> {
    let dirs = made_parent_dirs(paths)?;
    let mut out = Vec::with_capacity(dirs.len());
    for d in dirs {
        let f = File::open(&d).map_err(|e| Error::io(&d, e))?;
        f.lock().map_err(|e| Error::io(&d, e))?;
        out.push(f);
    }
    Ok(out)
}

/// The directories `paths` are in (`.` for bare names), sorted, each created (0755) if missing.
fn made_parent_dirs<'a>(
    paths: impl Iterator<Item = &'a Path>,
) -> Result<std::collections::BTreeSet<PathBuf>> {
    let dirs: std::collections::BTreeSet<PathBuf> = paths
        .map(|p| match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        })
        .collect();
    for d in &dirs {
        if !d.is_dir() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(d)
                .map_err(|e| Error::io(d, e))?;
        }
    }
    Ok(dirs)
}

/// Checks, before anything is reserved or signed, that files can be created where `paths`
/// go: missing directories are made (0755) and a probe file is created and removed in each.
/// Catches a read-only or missing output directory before the store changes.
pub fn check_creatable<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Result<()> {
    let paths = paths.into_iter().filter(|p| !p.as_os_str().is_empty());
    for d in made_parent_dirs(paths)? {
        let probe = temp_name(&d.join("probe"));
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(PRIVATE)
            .open(&probe)
            .map_err(|e| Error::io(&d, e))?;
        let _ = fs::remove_file(&probe);
    }
    Ok(())
}

/// Writes one group of a bulk set in place; on failure removes what it wrote and returns the
/// error.
fn write_group(group: &[Pending], force: bool) -> Result<Vec<Written>> {
    let mut placed: Vec<Written> = Vec::with_capacity(group.len());
    for f in group {
        let backup = place_step("files.bulk", &f.path, force, &placed)?;
        let res = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(f.mode)
            .open(&f.path)
            .and_then(|mut file| {
                file.set_permissions(fs::Permissions::from_mode(f.mode))?;
                file.write_all(&f.contents)
            });
        if let Err(e) = res {
            if e.kind() != std::io::ErrorKind::AlreadyExists {
                let _ = fs::remove_file(&f.path);
            }
            restore(&f.path, backup.as_deref());
            rollback(&placed);
            return Err(create_err(&f.path, e));
        }
        placed.push(Written {
            path: f.path.clone(),
            mode: f.mode,
            backup,
        });
    }
    Ok(placed)
}

fn rollback(placed: &[Written]) {
    for w in placed.iter().rev() {
        let _ = fs::remove_file(&w.path);
        restore(&w.path, w.backup.as_deref());
    }
}

/// The error for a failed exclusive create: "already exists" (with its `--force` hint) or I/O.
fn create_err(path: &Path, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::AlreadyExists {
        Error::FileExists {
            path: path.to_path_buf(),
        }
    } else {
        Error::io(path, e)
    }
}

/// With `force`, renames an existing `path` to `NAME.bak` and returns that name.
fn set_aside(path: &Path, force: bool) -> Result<Option<PathBuf>> {
    if !force || fs::symlink_metadata(path).is_err() {
        return Ok(None);
    }
    let bak = bak_name(path);
    fs::rename(path, &bak).map_err(|e| Error::io(path, e))?;
    Ok(Some(bak))
}

/// One placing step of a file set: the failpoint `fp`, then [`set_aside`]; on failure what was
/// placed so far is removed again.
fn place_step(fp: &str, path: &Path, force: bool, placed: &[Written]) -> Result<Option<PathBuf>> {
    crate::failpoint::hit(fp, path)
        .and_then(|()| set_aside(path, force))
        .inspect_err(|_| rollback(placed))
}

/// Puts a file set aside by [`set_aside`] back.
fn restore(path: &Path, backup: Option<&Path>) {
    if let Some(bak) = backup {
        let _ = fs::rename(bak, path);
    }
}

fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut nonce = [0u8; 6];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce);
    let suffix: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    path.with_file_name(format!(".{name}.{suffix}.tmp"))
}

/// `NAME.bak` next to `path`.
pub fn bak_name(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".bak");
    PathBuf::from(s)
}

/// Creates `path` exclusively with `mode` (set at open time) and writes `contents`, fsynced.
pub fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let f = write_new_unsynced(path, contents, mode)?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

/// Like [`write_new`] without the fsync; returns the open file so the caller can sync it.
fn write_new_unsynced(path: &Path, contents: &[u8], mode: u32) -> Result<File> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    // The umask can only remove bits; make sure the mode is exactly what was asked.
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(path, e))?;
    f.write_all(contents).map_err(|e| Error::io(path, e))?;
    Ok(f)
}

/// Writes `path` by replacing it atomically (a temp file in the same directory, fsynced, then
/// renamed over it): readers see the old contents or the new, never a mix.
pub fn replace(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(Error::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
        ));
    }
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    write_new(&tmp, contents, mode)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Creates an empty private (0600) file, failing if it exists.
pub fn create_private_empty(path: &Path) -> Result<()> {
    write_new(path, b"", PRIVATE)
}

/// Creates the CA directory with mode 0700 (parents 0755). An existing directory that group or
/// others may write to, or that another user owns, is refused (see [`check_dir_trusted`]): it is
/// never silently taken over. One that is only readable by others is tightened to 0700, and the
/// returned warning says so.
pub fn ensure_private_dir(dir: &Path) -> Result<Option<String>> {
    if dir.is_dir() {
        check_dir_trusted(dir)?;
        let mode = fs::metadata(dir)
            .map_err(|e| Error::io(dir, e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| Error::io(dir, e))?;
            return Ok(Some(format!(
                "{} was readable by others (mode {:04o}): tightened to 0700",
                dir.display(),
                mode & 0o7777
            )));
        }
        return Ok(None);
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .map_err(|e| Error::io(parent, e))?;
    }
    fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(dir, e))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| Error::io(dir, e))?;
    Ok(None)
}

/// Refuses a CA directory (or a file in it) that another user could have changed: writable by
/// group or others, or owned by someone other than the user running the command. The error
/// says which `chmod`/`chown` to run.
pub fn check_trusted(path: &Path, is_dir: bool) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
    let mode = meta.mode() & 0o7777;
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(Error::Untrusted {
            path: path.to_path_buf(),
            reason: format!("owned by user {} (this is user {me})", meta.uid()),
            fix: format!("chown {me} {}", shell_quote(path)),
        });
    }
    if mode & 0o022 != 0 {
        let want = if is_dir { 0o700 } else { mode & !0o022 };
        return Err(Error::Untrusted {
            path: path.to_path_buf(),
            reason: format!("writable by group or others (mode {mode:04o})"),
            fix: format!("chmod {want:o} {}", shell_quote(path)),
        });
    }
    Ok(())
}

/// [`check_trusted`] for a directory.
pub fn check_dir_trusted(dir: &Path) -> Result<()> {
    check_trusted(dir, true)
}

/// `path` quoted for a shell command line when it needs it.
pub fn shell_quote(path: &Path) -> String {
    let s = path.display().to_string();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:@%,".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Reads a whole file, refusing anything larger than `limit` bytes.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buf = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path, e))?;
    if buf.len() as u64 > limit {
        return Err(Error::bad_file(
            path,
            format!("larger than {} MiB", limit / (1024 * 1024)),
            "give a single certificate, key, CSR, CRL or PKCS#12 file",
        ));
    }
    Ok(buf)
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tempdir() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("mtls-ca-files-")
            .tempdir()
            .unwrap()
    }

    fn mode_of(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    /// Names in `dir`, sorted (to see leftovers such as temporary files).
    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn set(files: &[(&Path, &str, bool)]) -> FileSet {
        let mut s = FileSet::new();
        for (p, c, private) in files {
            if *private {
                s.private(*p, Zeroizing::new(c.as_bytes().to_vec()));
            } else {
                s.public(*p, c.as_bytes());
            }
        }
        s
    }

    #[test]
    fn commit_writes_every_file_with_its_mode_and_no_temporaries() {
        let t = tempdir();
        let (crt, key) = (t.path().join("a.crt"), t.path().join("sub/dir/a.key"));
        let written = set(&[(&crt, "cert", false), (&key, "key", true)])
            .commit(false)
            .unwrap();
        assert_eq!(fs::read_to_string(&crt).unwrap(), "cert");
        assert_eq!(fs::read_to_string(&key).unwrap(), "key");
        assert_eq!((mode_of(&crt), mode_of(&key)), (PUBLIC, PRIVATE));
        assert_eq!(
            written
                .iter()
                .map(|w| (w.path.clone(), w.mode, w.backup.clone()))
                .collect::<Vec<_>>(),
            [(crt, PUBLIC, None), (key.clone(), PRIVATE, None)]
        );
        // Parents are created 0755; nothing but the two files is left behind.
        assert_eq!(mode_of(key.parent().unwrap()), 0o755);
        assert_eq!(names(t.path()), ["a.crt", "sub"]);
        assert_eq!(names(key.parent().unwrap()), ["a.key"]);
    }

    #[test]
    fn existing_file_is_refused_without_force_and_nothing_is_written() {
        let t = tempdir();
        let (a, b) = (t.path().join("a.crt"), t.path().join("b.key"));
        fs::write(&b, "old").unwrap();
        let e = set(&[(&a, "new a", false), (&b, "new b", true)])
            .commit(false)
            .unwrap_err();
        assert!(
            matches!(&e, Error::FileExists { path } if path == &b),
            "{e:?}"
        );
        assert!(e.hint().is_some_and(|h| h.contains("--force")), "{e:?}");
        assert!(!a.exists(), "all or nothing: a.crt must not be written");
        assert_eq!(fs::read_to_string(&b).unwrap(), "old");
        assert_eq!(names(t.path()), ["b.key"]);
    }

    #[test]
    fn force_keeps_the_old_file_as_bak() {
        let t = tempdir();
        let key = t.path().join("a.key");
        fs::write(&key, "old").unwrap();
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        let written = set(&[(&key, "new", true)]).commit(true).unwrap();
        let bak = t.path().join("a.key.bak");
        assert_eq!(written[0].backup.as_deref(), Some(bak.as_path()));
        assert_eq!(fs::read_to_string(&key).unwrap(), "new");
        assert_eq!(fs::read_to_string(&bak).unwrap(), "old");
        assert_eq!((mode_of(&key), mode_of(&bak)), (PRIVATE, PRIVATE));
        // A second --force replaces the previous .bak with the file it displaces.
        set(&[(&key, "newer", true)]).commit(true).unwrap();
        assert_eq!(fs::read_to_string(&bak).unwrap(), "new");
        assert_eq!(names(t.path()), ["a.key", "a.key.bak"]);
        assert_eq!(bak_name(Path::new("d/x.crt")), Path::new("d/x.crt.bak"));
    }

    #[test]
    fn private_files_are_0600_and_public_0644_whatever_the_request_order() {
        let t = tempdir();
        let mut s = FileSet::new();
        for i in 0..4 {
            let p = t.path().join(format!("f{i}"));
            if i % 2 == 0 {
                s.private(p, Zeroizing::new(b"k".to_vec()));
            } else {
                s.public(p, b"c".to_vec());
            }
        }
        let paths: Vec<PathBuf> = s.paths().map(Path::to_path_buf).collect();
        assert_eq!(paths.len(), 4);
        s.commit(false).unwrap();
        for (i, p) in paths.iter().enumerate() {
            let want = if i % 2 == 0 { PRIVATE } else { PUBLIC };
            assert_eq!(mode_of(p), want, "{}", p.display());
        }
        // write_new: exact mode at creation, refuses an existing file.
        let k = t.path().join("single.key");
        write_new(&k, b"x", PRIVATE).unwrap();
        assert_eq!(mode_of(&k), PRIVATE);
        assert!(write_new(&k, b"y", PRIVATE).is_err());
        assert_eq!(fs::read(&k).unwrap(), b"x");
        let e = t.path().join("empty.db");
        create_private_empty(&e).unwrap();
        assert_eq!((mode_of(&e), fs::read(&e).unwrap().len()), (PRIVATE, 0));
    }

    #[test]
    fn a_symlink_in_the_way_is_refused_and_never_followed() {
        let t = tempdir();
        let victim = t.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let dangling_target = t.path().join("not-there");
        let (to_file, dangling) = (t.path().join("to-file.key"), t.path().join("dangling.key"));
        symlink(&victim, &to_file).unwrap();
        symlink(&dangling_target, &dangling).unwrap();
        for link in [&to_file, &dangling] {
            for bulk in [false, true] {
                let s = set(&[(link.as_path(), "secret", true)]);
                let e = if bulk {
                    s.commit_bulk(false, 2).unwrap_err()
                } else {
                    s.commit(false).unwrap_err()
                };
                assert!(matches!(e, Error::FileExists { .. }), "{e:?}");
            }
        }
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!dangling_target.exists(), "the dangling link was followed");
        // With --force the link itself is set aside as .bak; its target stays untouched.
        set(&[(&to_file, "secret", true)]).commit(true).unwrap();
        assert!(fs::symlink_metadata(&to_file)
            .unwrap()
            .file_type()
            .is_file());
        assert!(fs::symlink_metadata(t.path().join("to-file.key.bak"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(mode_of(&to_file), PRIVATE);
    }

    #[test]
    fn a_failing_file_rolls_back_the_ones_already_placed() {
        let t = tempdir();
        let a = t.path().join("a.crt");
        let old = t.path().join("old.crt");
        fs::write(&old, "old").unwrap();
        // "blocker" is a file, so nothing can be created below it.
        fs::write(t.path().join("blocker"), "").unwrap();
        let bad = t.path().join("blocker/b.key");
        for bulk in [false, true] {
            let s = set(&[
                (&a, "a", false),
                (&old, "replaced", false),
                (&bad, "b", true),
            ]);
            let r = if bulk {
                s.commit_bulk(true, 1)
            } else {
                s.commit(true)
            };
            assert!(r.is_err(), "bulk={bulk}");
            assert!(!a.exists(), "bulk={bulk}: a.crt was left behind");
            assert_eq!(fs::read_to_string(&old).unwrap(), "old", "bulk={bulk}");
            assert_eq!(names(t.path()), ["blocker", "old.crt"], "bulk={bulk}");
        }
    }

    #[test]
    fn commit_bulk_writes_like_commit() {
        let t = tempdir();
        let mut s = FileSet::new();
        for i in 0..20 {
            s.public(t.path().join(format!("d/{i}.crt")), format!("c{i}"));
            s.private(
                t.path().join(format!("d/{i}.key")),
                Zeroizing::new(format!("k{i}").into_bytes()),
            );
        }
        let written = s.commit_bulk(false, 3).unwrap();
        assert_eq!(written.len(), 40);
        for i in 0..20 {
            let (c, k) = (
                t.path().join(format!("d/{i}.crt")),
                t.path().join(format!("d/{i}.key")),
            );
            assert_eq!(fs::read_to_string(&c).unwrap(), format!("c{i}"));
            assert_eq!((mode_of(&c), mode_of(&k)), (PUBLIC, PRIVATE));
        }
        assert_eq!(names(&t.path().join("d")).len(), 40);
    }

    #[test]
    fn private_dir_is_created_0700_and_tightened() {
        let t = tempdir();
        let d = t.path().join("a/b/pki");
        ensure_private_dir(&d).unwrap();
        assert_eq!((mode_of(&d), mode_of(&t.path().join("a"))), (0o700, 0o755));
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(&d).unwrap();
        assert_eq!(mode_of(&d), 0o700);
    }

    #[test]
    fn read_limited_refuses_larger_files() {
        let t = tempdir();
        let p = t.path().join("big");
        fs::write(&p, vec![b'x'; 2 * 1024 * 1024 + 1]).unwrap();
        assert_eq!(
            read_limited(&p, 3 * 1024 * 1024).unwrap().len(),
            2 * 1024 * 1024 + 1
        );
        let e = read_limited(&p, 2 * 1024 * 1024).unwrap_err();
        assert!(e.to_string().contains("larger than 2 MiB"), "{e}");
        assert!(matches!(
            read_limited(&t.path().join("missing"), 10),
            Err(Error::Io { .. })
        ));
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mtls-ca-files-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn replace_swaps_contents_and_sets_mode() {
        let d = tmpdir("replace");
        let p = d.join("crl.pem");
        replace(&p, b"one", PUBLIC).unwrap();
        replace(&p, b"two", PRIVATE).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            PRIVATE
        );
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1, "no temp file left");
        assert!(replace(&d.join("missing/x"), b"", PUBLIC).is_err());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn commit_is_all_or_nothing() {
        let d = tmpdir("commit");
        fs::write(d.join("b.crt"), b"old").unwrap();
        let mut set = FileSet::new();
        set.private(d.join("a.key"), Zeroizing::new(b"key".to_vec()));
        set.public(d.join("b.crt"), b"new".to_vec());
        assert!(matches!(set.commit(false), Err(Error::FileExists { .. })));
        assert!(!d.join("a.key").exists());
        let mut set = FileSet::new();
        set.private(d.join("a.key"), Zeroizing::new(b"key".to_vec()));
        set.public(d.join("b.crt"), b"new".to_vec());
        let w = set.commit(true).unwrap();
        assert_eq!(w[1].backup.as_deref(), Some(d.join("b.crt.bak").as_path()));
        assert_eq!(fs::read(d.join("b.crt.bak")).unwrap(), b"old");
        assert_eq!(
            fs::metadata(d.join("a.key")).unwrap().permissions().mode() & 0o777,
            PRIVATE
        );
        fs::remove_dir_all(&d).unwrap();
    }
}
