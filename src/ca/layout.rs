//! The CA directory's layout: the one place that names its files and decides whether a
//! directory holds a CA.
//!
//! A CA directory holds `ca.crt`, `ca.key` (0600), `ca-chain.crt` (this CA, then its parents,
//! root last), `ca-bundle.crt` (roots: every CA to trust, the new one first during a rotation),
//! the store (`store.db`) and, once `mtls-ca crl` ran, `crl.pem`. A rotation keeps each retired
//! CA as `ca-<first 16 hex digits of its serial>.crt` / `.key`, and `crl` writes the retired
//! CA's CRL as `<crl stem>-<same prefix>.pem` next to the current one. Everything else (the
//! library, the binary) asks this module for a path instead of spelling a file name.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// `ca.crt`.
pub const CA_CERT: &str = "ca.crt";
/// `ca.key`.
pub const CA_KEY: &str = "ca.key";
/// `ca.key-uri`: the PKCS#11 URI of a CA key kept in a token (no PIN), instead of `ca.key`.
pub const KEY_URI: &str = "ca.key-uri";
/// The extension of a key URI file (`ca-<prefix>.key-uri` for a retired CA).
pub const KEY_URI_EXT: &str = "key-uri";
/// `ca-chain.crt`.
pub const CA_CHAIN: &str = "ca-chain.crt";
/// The bundle of every CA to trust during an overlap.
pub const CA_BUNDLE: &str = "ca-bundle.crt";
/// The store's file name in a CA directory.
pub const STORE_FILE: &str = "store.db";
/// The file naming a shared (PostgreSQL) store; a directory with it has no `store.db`.
pub const STORE_URL_FILE: &str = "store.url";
/// Default CRL file name in a CA directory.
pub const CRL_FILE: &str = "crl.pem";
/// The CA's own certificate profiles (TOML, optional; see `ca::profiles`).
pub const PROFILES_FILE: &str = "profiles.toml";
/// The audit log (JSON lines: every issuance, renewal, revocation and token use of the online
/// CA, with who authorised it).
pub const AUDIT_LOG: &str = "audit.log";
/// The stem of the online CA's own server certificate (`ca serve` without `--server`).
pub const SERVE_STEM: &str = "serve/server";
/// Every file whose presence means "a CA lives here" (init refuses the directory).
pub const CA_FILES: [&str; 3] = [CA_CERT, CA_KEY, STORE_FILE];

/// How many hex digits of a retired CA's serial name its files.
const RETIRED_PREFIX_LEN: usize = 16;

/// `DIR/ca.crt`.
pub fn cert(dir: &Path) -> PathBuf {
    dir.join(CA_CERT)
}

/// `DIR/ca.key`.
pub fn key(dir: &Path) -> PathBuf {
    dir.join(CA_KEY)
}

/// `DIR/ca.key-uri`.
pub fn key_uri(dir: &Path) -> PathBuf {
    dir.join(KEY_URI)
}

/// `DIR/ca-chain.crt`.
pub fn chain(dir: &Path) -> PathBuf {
    dir.join(CA_CHAIN)
}

/// `DIR/ca-bundle.crt`.
pub fn bundle(dir: &Path) -> PathBuf {
    dir.join(CA_BUNDLE)
}

/// `DIR/audit.log`.
pub fn audit_log(dir: &Path) -> PathBuf {
    dir.join(AUDIT_LOG)
}

/// `DIR/serve/server`: STEM.crt, STEM.key, STEM.fullchain.crt of the online CA.
pub fn serve_stem(dir: &Path) -> PathBuf {
    dir.join(SERVE_STEM)
}

/// `DIR/store.db`.
pub fn store(dir: &Path) -> PathBuf {
    dir.join(STORE_FILE)
}

/// `DIR/crl.pem`, where `crl` writes unless told otherwise.
pub fn crl(dir: &Path) -> PathBuf {
    dir.join(CRL_FILE)
}

/// `DIR/profiles.toml`, the profiles this CA defines besides the built-in ones.
pub fn profiles(dir: &Path) -> PathBuf {
    dir.join(PROFILES_FILE)
}

/// The CA and its parents as a file: `ca-chain.crt` when it exists, else `ca.crt`.
pub fn chain_or_cert(dir: &Path) -> PathBuf {
    let chain = chain(dir);
    if chain.exists() {
        chain
    } else {
        cert(dir)
    }
}

/// `STEM.ext` (the extension is appended, never replaces a dot in the stem).
pub fn with_ext(stem: &Path, ext: &str) -> PathBuf {
    let mut s = stem.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// Fails with [`Error::CaExists`] when `dir` already holds a CA file (unless `force`).
pub fn check_free(dir: &Path, force: bool) -> Result<()> {
    if force {
        return Ok(());
    }
    for name in CA_FILES
        .iter()
        .chain([CA_CHAIN, STORE_URL_FILE, KEY_URI].iter())
    {
        let p = dir.join(name);
        if p.exists() {
            return Err(Error::CaExists {
                dir: dir.to_path_buf(),
                existing: p,
            });
        }
    }
    Ok(())
}

/// Fails with [`Error::NoCa`] unless `dir` holds every file of a CA.
pub fn check_present(dir: &Path) -> Result<()> {
    check_present_with(dir, dir.join(STORE_URL_FILE).exists())
}

/// [`check_present`], with `shared` saying that the store is a PostgreSQL one (named by
/// `store.url` or an override), so `store.db` is not needed.
pub fn check_present_with(dir: &Path, shared: bool) -> Result<()> {
    for name in CA_FILES {
        let p = dir.join(name);
        if shared && name == STORE_FILE {
            continue;
        }
        // A CA key in a PKCS#11 token is named by `ca.key-uri` instead.
        if name == CA_KEY && key_uri(dir).exists() {
            continue;
        }
        if !p.exists() {
            return Err(Error::NoCa {
                dir: dir.to_path_buf(),
                missing: p,
            });
        }
    }
    Ok(())
}

/// Where the CA key of `dir` lives, for people: its PKCS#11 URI (from `ca.key-uri`, never a
/// PIN), else the key file `DIR/ca.key`; None when the directory has neither.
pub fn key_location(dir: &Path) -> Option<String> {
    if let Ok(t) = std::fs::read_to_string(key_uri(dir)) {
        return Some(t.trim().to_string());
    }
    key(dir)
        .exists()
        .then(|| format!("file {}", key(dir).display()))
}

/// The prefix of a serial (lowercase hex) that names a retired CA's files.
pub fn retired_prefix(serial_hex: &str) -> String {
    serial_hex.chars().take(RETIRED_PREFIX_LEN).collect()
}

/// `DIR/ca-<prefix>.crt` of the retired CA with this serial.
pub fn retired_cert(dir: &Path, serial_hex: &str) -> PathBuf {
    dir.join(format!("ca-{}.crt", retired_prefix(serial_hex)))
}

/// `DIR/ca-<prefix>.key` of the retired CA with this serial.
pub fn retired_key(dir: &Path, serial_hex: &str) -> PathBuf {
    dir.join(format!("ca-{}.key", retired_prefix(serial_hex)))
}

/// The key file next to a retired CA's certificate file.
pub fn retired_key_of(cert_path: &Path) -> PathBuf {
    cert_path.with_extension("key")
}

/// The key URI file next to a retired CA's certificate file (its key lives in a token).
pub fn retired_key_uri_of(cert_path: &Path) -> PathBuf {
    cert_path.with_extension(KEY_URI_EXT)
}

/// The CRL of a retired CA next to the current CA's CRL `out`: `<stem of out>-<prefix>.pem`.
pub fn retired_crl(out: &Path, serial_hex: &str) -> PathBuf {
    let name = format!(
        "{}-{}.pem",
        out.file_stem().and_then(|s| s.to_str()).unwrap_or("crl"),
        retired_prefix(serial_hex)
    );
    out.with_file_name(name)
}

/// The `ca-<16 hex>.crt` files of a directory (retired CAs), sorted.
pub fn retired_cert_paths(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(hex) = name
                .strip_prefix("ca-")
                .and_then(|n| n.strip_suffix(".crt"))
            {
                if hex.len() == RETIRED_PREFIX_LEN && hex.chars().all(|c| c.is_ascii_hexdigit()) {
                    out.push(e.path());
                }
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_ext_appends() {
        assert_eq!(
            with_ext(Path::new("out/api.v2"), "crt"),
            PathBuf::from("out/api.v2.crt")
        );
        assert_eq!(
            with_ext(Path::new("alice"), "fullchain.crt"),
            PathBuf::from("alice.fullchain.crt")
        );
    }

    #[test]
    fn retired_names() {
        let dir = Path::new("pki");
        let serial = "0123456789abcdef0123";
        assert_eq!(
            retired_cert(dir, serial),
            PathBuf::from("pki/ca-0123456789abcdef.crt")
        );
        assert_eq!(
            retired_key_of(&retired_cert(dir, serial)),
            retired_key(dir, serial)
        );
        assert_eq!(
            retired_crl(Path::new("/srv/crl.pem"), serial),
            PathBuf::from("/srv/crl-0123456789abcdef.pem")
        );
    }

    #[test]
    fn free_and_present() {
        let d = std::env::temp_dir().join(format!("mtls-ca-layout-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        assert!(check_free(&d, false).is_ok());
        assert!(matches!(check_present(&d), Err(Error::NoCa { .. })));
        std::fs::write(chain(&d), b"").unwrap();
        assert!(matches!(check_free(&d, false), Err(Error::CaExists { .. })));
        assert!(check_free(&d, true).is_ok());
        assert_eq!(chain_or_cert(&d), chain(&d));
        for f in [
            "ca-0123456789abcdef.crt",
            "ca-xyz.crt",
            "ca-0123456789ABCDEF.key",
        ] {
            std::fs::write(d.join(f), b"").unwrap();
        }
        assert_eq!(
            retired_cert_paths(&d),
            vec![d.join("ca-0123456789abcdef.crt")]
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
