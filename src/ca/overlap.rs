//! Which CAs form the trust domain of a CA directory: the current CA (and its parents) plus every
//! retired CA kept by `ca rotate` that has not expired and whose overlap was not ended by
//! `ca rotate --finish`.
//!
//! This is the one place that answers "which CAs of this directory are trusted right now"; every
//! command that defaults to the directory's trust (`export`, `verify`, `serve`, `probe`, `crl`,
//! `crl --check`, `list --issuer`, `renew --issuer`) asks here. A retired CA lives in
//! `DIR/ca-<first 16 hex digits of its serial>.crt` (and `.key`); `ca rotate --finish` moves it to
//! `DIR/finished/`, which takes it out of the overlap. `DIR/ca-bundle.crt` is this module's
//! [`bundle_pem`], rewritten by every rotation and by `--finish`.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::ca::{CA_CERT, CA_CHAIN};
use crate::error::{Error, Result};
use crate::serial::Serial;
use crate::x509;

pub use crate::ca::layout::CA_BUNDLE;
/// Where `ca rotate --finish` keeps the retired CAs it took out of the overlap.
pub const FINISHED_DIR: &str = "finished";

/// One CA of the overlap.
#[derive(Debug, Clone)]
pub struct Member {
    /// The certificate (DER).
    pub der: Vec<u8>,
    /// Where it lives (`ca.crt` or `ca-<prefix>.crt`).
    pub cert_path: PathBuf,
    /// Its key file (`ca.key` or `ca-<prefix>.key`).
    pub key_path: PathBuf,
    /// Its serial, lowercase hex.
    pub serial: String,
    /// Its subject key identifier, lowercase hex (empty when it has none).
    pub key_id: String,
    /// Its notAfter.
    pub not_after: OffsetDateTime,
    /// True for a retired CA, false for the current one.
    pub retired: bool,
    /// Its parents, root last (empty for a root): what its leaves' fullchain carries after it.
    pub parents: Vec<Vec<u8>>,
}

impl Member {
    /// The serial prefix used in file names (`ca-<prefix>.crt`, `crl-<prefix>.pem`).
    pub fn prefix(&self) -> String {
        prefix_of(&self.serial)
    }

    /// True when `sel` (`current`, `retired`, or a hex prefix of its serial or key id) names it.
    pub fn matches(&self, sel: &IssuerSel) -> bool {
        match sel {
            IssuerSel::Current => !self.retired,
            IssuerSel::Retired => self.retired,
            IssuerSel::Prefix(p) => {
                self.serial.starts_with(p.as_str())
                    || (!self.key_id.is_empty() && self.key_id.starts_with(p.as_str()))
            }
        }
    }
}

/// `--issuer current|retired|PREFIX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerSel {
    /// The current CA.
    Current,
    /// Every retired CA of the overlap.
    Retired,
    /// A hex prefix of a CA's serial or subject key identifier.
    Prefix(String),
}

impl IssuerSel {
    /// Parses `--issuer` (a prefix needs at least 4 hex digits; `:` separators are ignored).
    pub fn parse(s: &str) -> Result<IssuerSel> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "current" => return Ok(IssuerSel::Current),
            "retired" => return Ok(IssuerSel::Retired),
            _ => {}
        }
        let hex: String = t.chars().filter(|c| *c != ':').collect();
        if hex.len() >= 4 && hex.len() <= 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(IssuerSel::Prefix(hex));
        }
        Err(Error::invalid(
            "--issuer",
            s,
            "not current, retired, or a hex prefix (4+ digits) of a CA's serial or key id",
            "use --issuer current, --issuer retired, or a prefix from `mtls-ca list` (ISSUED BY CA)",
        ))
    }
}

/// `ca-<prefix>-chain.crt` next to a retired `ca-<prefix>.crt`: the retired intermediate and
/// its parents as they were when it was retired (its parent may have rotated since).
pub fn retired_chain_path(cert_path: &Path) -> PathBuf {
    let stem = cert_path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("ca");
    cert_path.with_file_name(format!("{stem}-chain.crt"))
}

/// The serial prefix used in file names.
pub fn prefix_of(serial: &str) -> String {
    crate::ca::layout::retired_prefix(serial)
}

/// The `ca-<16 hex>.crt` files of a directory (retired CAs still in the overlap), sorted.
pub fn retired_cert_paths(dir: &Path) -> Vec<PathBuf> {
    crate::ca::layout::retired_cert_paths(dir)
}

/// Every CA of the overlap at `now`: the current CA first, then each retired CA that has not
/// expired, oldest file name order. Needs no key.
pub fn members(dir: &Path, now: OffsetDateTime) -> Result<Vec<Member>> {
    let chain_path = dir.join(CA_CHAIN);
    let cert_path = dir.join(CA_CERT);
    let chain = if chain_path.exists() {
        x509::read_certs(&chain_path)?
    } else {
        x509::read_certs(&cert_path)?
    };
    let current = x509::read_certs(&cert_path)?.remove(0);
    // ca-chain.crt starts with ca.crt; if it does not (hand edits), trust ca.crt alone.
    let parents: Vec<Vec<u8>> = if chain.first() == Some(&current) {
        chain[1..].to_vec()
    } else {
        Vec::new()
    };
    let mut out = vec![member(
        &current,
        &cert_path,
        dir.join(crate::ca::CA_KEY),
        false,
        parents.clone(),
    )?];
    for p in retired_cert_paths(dir) {
        let der = x509::read_certs(&p)?.remove(0);
        let own_parents = retired_parents(&p, &der, &parents)?;
        let m = member(&der, &p, p.with_extension("key"), true, own_parents)?;
        if m.not_after > now && m.der != current {
            out.push(m);
        }
    }
    Ok(out)
}

/// The retired members only (see [`members`]).
pub fn retired(dir: &Path, now: OffsetDateTime) -> Result<Vec<Member>> {
    Ok(members(dir, now)?
        .into_iter()
        .filter(|m| m.retired)
        .collect())
}

/// The trust bundle of the overlap, PEM: every member (current first), then their parents
/// (root last), each certificate once.
pub fn bundle_pem(members: &[Member]) -> String {
    let mut seen: Vec<&[u8]> = Vec::new();
    let mut out = String::new();
    let all = members.iter().map(|m| m.der.as_slice()).chain(
        members
            .iter()
            .flat_map(|m| m.parents.iter().map(Vec::as_slice)),
    );
    for der in all {
        if !seen.contains(&der) {
            seen.push(der);
            out.push_str(&crate::pem::encode("CERTIFICATE", der));
        }
    }
    out
}

/// The file a CA directory's trust defaults to: `ca-bundle.crt` when there is one (roots, and
/// every directory after a rotation), else `ca-chain.crt`, else `ca.crt`. `None` when none exists.
pub fn default_trust_file(dir: &Path) -> Option<PathBuf> {
    [CA_BUNDLE, CA_CHAIN, CA_CERT]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.exists())
}

fn member(
    der: &[u8],
    path: &Path,
    key_path: PathBuf,
    retired: bool,
    parents: Vec<Vec<u8>>,
) -> Result<Member> {
    let c = x509::parse_cert(der, path)?;
    Ok(Member {
        der: der.to_vec(),
        cert_path: path.to_path_buf(),
        key_path,
        serial: Serial::from_bytes(c.raw_serial()).hex(),
        key_id: x509::ski(&c).map(|k| x509::hex(&k)).unwrap_or_default(),
        not_after: x509::validity(&c).1,
        retired,
        parents,
    })
}

/// The parents of a retired CA: from its `ca-<prefix>-chain.crt` when that file is sound, else
/// the current CA's parents when they signed it, else none (a root).
fn retired_parents(
    cert_path: &Path,
    der: &[u8],
    current_parents: &[Vec<u8>],
) -> Result<Vec<Vec<u8>>> {
    let chain_path = retired_chain_path(cert_path);
    if chain_path.exists() {
        let chain = x509::read_certs(&chain_path)?;
        if chain.first().map(Vec::as_slice) == Some(der)
            && chain.windows(2).all(|w| signed_by(&w[0], &w[1]))
        {
            return Ok(chain[1..].to_vec());
        }
    }
    Ok(match current_parents.first() {
        Some(parent) if signed_by(der, parent) => current_parents.to_vec(),
        _ => Vec::new(),
    })
}

fn signed_by(child: &[u8], parent: &[u8]) -> bool {
    let (Ok(c), Ok(p)) = (
        x509::parse_cert(child, Path::new("<ca>")),
        x509::parse_cert(parent, Path::new("<ca>")),
    ) else {
        return false;
    };
    c.issuer().as_raw() == p.subject().as_raw() && c.verify_signature(Some(p.public_key())).is_ok()
}

/// A CA a rotation retires, not on disk yet: its certificate's future path, its DER and its
/// parents (root last).
#[derive(Debug, Clone, Copy)]
pub struct Retiring<'a> {
    /// Where its certificate will be kept (`ca-<serial prefix>.crt`).
    pub cert_path: &'a Path,
    /// Its certificate.
    pub der: &'a [u8],
    /// Its parents, root last (none for a root).
    pub parents: &'a [Vec<u8>],
}

/// The trust bundle once `current_der` (with `parents`, root last) is the current CA: it first,
/// then every unexpired retired CA of `dir` (as on disk now) and `retiring`, then the parents.
pub fn bundle_for(
    dir: &Path,
    current_der: &[u8],
    parents: &[Vec<u8>],
    retiring: Option<Retiring<'_>>,
    now: OffsetDateTime,
) -> Result<String> {
    let mut ms = vec![member(
        current_der,
        &dir.join(CA_CERT),
        dir.join(crate::ca::CA_KEY),
        false,
        parents.to_vec(),
    )?];
    for p in retired_cert_paths(dir) {
        let der = x509::read_certs(&p)?.remove(0);
        let own_parents = retired_parents(&p, &der, parents)?;
        let m = member(&der, &p, p.with_extension("key"), true, own_parents)?;
        if m.not_after > now && m.der != current_der {
            ms.push(m);
        }
    }
    if let Some(r) = retiring {
        let m = member(
            r.der,
            r.cert_path,
            r.cert_path.with_extension("key"),
            true,
            r.parents.to_vec(),
        )?;
        if m.not_after > now && !ms.iter().any(|k| k.der == m.der) {
            ms.push(m);
        }
    }
    Ok(bundle_pem(&ms))
}

/// A leaf of a retired CA that keeps `ca rotate --finish` from ending the overlap.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Blocker {
    /// Serial, lowercase hex.
    pub serial: String,
    /// Subject DN text.
    pub subject: String,
    /// notAfter.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Where its files were written.
    pub stem: Option<String>,
}

/// One retired CA taken out of the overlap by `ca rotate --finish`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FinishedCa {
    /// Its serial.
    pub serial: String,
    /// Its subject.
    pub subject: String,
    /// Where its certificate and key (and its CRL, if any) now are.
    pub moved_to: Vec<PathBuf>,
    /// Unexpired, unrevoked leaves it still had (only with `--force`).
    pub still_valid: Vec<Blocker>,
    /// Its CRL file, left in place because it still signs CRLs ([`owes_crl`]: a cross-signed
    /// root of its is valid, or a revoked certificate); `mtls-ca crl` renews it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub still_signs_crl: Option<PathBuf>,
}

/// The outcome of `ca rotate --finish`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finished {
    /// The retired CAs taken out of the overlap.
    pub finished: Vec<FinishedCa>,
    /// The rewritten trust bundle.
    pub bundle: PathBuf,
    /// The CRL files rewritten without the finished CAs' CRLs.
    pub crls: Vec<PathBuf>,
}

/// Unexpired certificates of `m` (leaves, and intermediates it signed that were not rotated)
/// that are neither revoked nor renewed (superseded).
pub fn blockers(
    store: &crate::store::Store,
    m: &Member,
    now: OffsetDateTime,
) -> Result<Vec<Blocker>> {
    Ok(store
        .issued_by(&m.serial, now)?
        .into_iter()
        .filter(|e| e.status == crate::store::Status::Valid)
        // Every leaf (built-in or profiles.toml profile) and intermediate; not a root, nor a
        // cross-signed root (it keeps bridging after the overlap ends).
        .filter(|e| e.profile != "root" && e.profile != crate::profile::CROSS_SIGNED)
        .map(|e| Blocker {
            serial: e.serial,
            subject: e.subject,
            not_after: e.not_after,
            stem: e.stem,
        })
        .collect())
}

/// Whether a retired CA must go on signing CRLs after its overlap ends (`ca rotate --finish`):
/// it has an unexpired certificate that is a cross-signed root (a bridge that clients trusting
/// only the old root go on using, and whose revocation must reach them) or revoked (a
/// revocation to publish). No: its CRL can stop.
pub fn owes_crl(store: &crate::store::Store, ca_serial: &str, now: OffsetDateTime) -> Result<bool> {
    Ok(store.crl_duty(ca_serial, now)?.is_some())
}

/// Ends the overlap (`ca rotate --finish`): every retired CA leaves the bundle, and the CRL set
/// unless it still [`owes_crl`] (then `crl` goes on signing its CRL from `DIR/finished/`).
/// Refused while one of them still has unexpired leaves that are neither revoked nor renewed,
/// unless `force`. Needs no key. Order: the bundle and `crl.pem` are rewritten first (atomic
/// replacements), then the retired files move to `DIR/finished/`; an interrupted run is
/// completed by running it again.
pub fn finish(dir: &Path, crl_file: &Path, force: bool, now: OffsetDateTime) -> Result<Finished> {
    let store = crate::store::Store::open_dir(dir, &crate::store::connect_options())?;
    let all = members(dir, now)?;
    // Expired retired CAs are out of the overlap already, but their files go too.
    let retired_files: Vec<(PathBuf, Member)> = retired_cert_paths(dir)
        .into_iter()
        .map(|p| {
            let der = x509::read_certs(&p)?.remove(0);
            let m = member(&der, &p, p.with_extension("key"), true, Vec::new())?;
            Ok((p, m))
        })
        .collect::<Result<_>>()?;
    if retired_files.is_empty() {
        return Err(Error::invalid(
            "--finish",
            dir.display().to_string(),
            "there is no retired CA in this directory: no overlap to finish",
            "`mtls-ca ca rotate` starts an overlap; `--finish` ends it",
        ));
    }
    let mut report = Vec::new();
    let mut refused: Vec<(Member, Vec<Blocker>)> = Vec::new();
    for (_, m) in &retired_files {
        let b = if m.not_after > now {
            blockers(&store, m, now)?
        } else {
            Vec::new()
        };
        if !b.is_empty() && !force {
            refused.push((m.clone(), b.clone()));
        }
        report.push((m.clone(), b));
    }
    if let Some((m, _)) = refused.first() {
        let n: usize = refused.iter().map(|(_, b)| b.len()).sum();
        let names: Vec<String> = refused
            .iter()
            .flat_map(|(_, b)| b.iter())
            .take(5)
            .map(|x| {
                let cn = x
                    .subject
                    .split(',')
                    .find_map(|p| p.trim().strip_prefix("CN="))
                    .unwrap_or(&x.subject);
                format!("{} ({cn})", prefix_of(&x.serial))
            })
            .collect();
        return Err(Error::invalid(
            "--finish",
            m.serial.clone(),
            format!(
                "{n} unexpired certificate(s) of the retired CA are neither renewed nor revoked: {}{}",
                names.join(", "),
                if n > 5 { ", …" } else { "" }
            ),
            format!(
                "renew them with `mtls-ca --dir {d} renew --issuer retired` (or revoke them), then finish; `--force` finishes anyway (see `mtls-ca --dir {d} list --issuer retired`)",
                d = dir.display()
            ),
        ));
    }
    // 1. The bundle without the retired CAs.
    let current: Vec<Member> = all.into_iter().filter(|m| !m.retired).collect();
    let bundle = dir.join(CA_BUNDLE);
    crate::files::replace(
        &bundle,
        bundle_pem(&current).as_bytes(),
        crate::files::PUBLIC,
    )?;
    // 2. The CRL file without the retired CAs' CRLs.
    let mut crls = Vec::new();
    let retired_ders: Vec<Vec<u8>> = retired_files.iter().map(|(_, m)| m.der.clone()).collect();
    if crl_file.exists() {
        let bytes = crate::files::read_limited(crl_file, 64 * 1024 * 1024)?;
        if let Ok(blocks) = crate::pem::parse_all(&bytes, crl_file) {
            let kept: Vec<_> = blocks
                .iter()
                .filter(|b| b.label == "X509 CRL")
                .filter(|b| !retired_ders.iter().any(|ca| crl_signed_by(&b.der, ca)))
                .collect();
            let total = blocks.iter().filter(|b| b.label == "X509 CRL").count();
            if kept.len() != total && !kept.is_empty() {
                let pem: String = kept
                    .iter()
                    .map(|b| crate::pem::encode("X509 CRL", &b.der))
                    .collect();
                crate::files::replace(crl_file, pem.as_bytes(), crate::files::PUBLIC)?;
                crls.push(crl_file.to_path_buf());
            }
        }
    }
    // 3. Move the retired CA files (and their own CRL files) to DIR/finished/.
    let fin = dir.join(FINISHED_DIR);
    crate::files::ensure_private_dir(&fin)?;
    let mut finished = Vec::new();
    for ((path, m), (_, still)) in retired_files.iter().zip(report) {
        let mut moved = Vec::new();
        let own_crl = crate::ca::layout::retired_crl(crl_file, &m.serial);
        let signs_on = m.not_after > now && owes_crl(&store, &m.serial, now)?;
        for p in [
            path.with_extension("key"),
            path.with_extension(crate::ca::layout::KEY_URI_EXT),
            retired_chain_path(path),
            own_crl.clone(),
            path.clone(),
        ] {
            if signs_on && p == own_crl {
                continue;
            }
            if p.exists() {
                let to = fin.join(p.file_name().unwrap_or_default());
                if to.exists() {
                    std::fs::rename(&to, crate::files::bak_name(&to))
                        .map_err(|e| Error::io(&to, e))?;
                }
                std::fs::rename(&p, &to).map_err(|e| Error::io(&p, e))?;
                moved.push(to);
            }
        }
        let subject = x509::parse_cert(&m.der, path)?.subject().to_string();
        finished.push(FinishedCa {
            serial: m.serial.clone(),
            subject,
            moved_to: moved,
            still_valid: still,
            still_signs_crl: signs_on.then_some(own_crl),
        });
    }
    Ok(Finished {
        finished,
        bundle,
        crls,
    })
}

fn crl_signed_by(crl_der: &[u8], ca_der: &[u8]) -> bool {
    use x509_parser::prelude::FromDer;
    let Ok((_, crl)) = x509_parser::revocation_list::CertificateRevocationList::from_der(crl_der)
    else {
        return false;
    };
    let Ok(ca) = x509::parse_cert(ca_der, Path::new("<ca>")) else {
        return false;
    };
    crl.issuer().as_raw() == ca.subject().as_raw() && crl.verify_signature(ca.public_key()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_selections_parse_and_bad_ones_say_what_to_use() {
        assert_eq!(IssuerSel::parse("retired").unwrap(), IssuerSel::Retired);
        assert_eq!(IssuerSel::parse(" Current ").unwrap(), IssuerSel::Current);
        assert_eq!(
            IssuerSel::parse("5A:01:d2:74").unwrap(),
            IssuerSel::Prefix("5a01d274".into())
        );
        for bad in ["", "old", "5a0", "zzzz", "retire"] {
            let e = IssuerSel::parse(bad).unwrap_err();
            assert!(e.hint().unwrap().contains("--issuer retired"), "{bad}");
        }
    }

    #[test]
    fn members_match_by_role_serial_or_key_id() {
        let m = Member {
            der: Vec::new(),
            cert_path: PathBuf::from("pki/ca-5a01d274a9de088b.crt"),
            key_path: PathBuf::from("pki/ca-5a01d274a9de088b.key"),
            serial: "5a01d274a9de088bd3c3".into(),
            key_id: "c0ffee00".into(),
            not_after: OffsetDateTime::UNIX_EPOCH,
            retired: true,
            parents: Vec::new(),
        };
        assert!(m.matches(&IssuerSel::Retired));
        assert!(!m.matches(&IssuerSel::Current));
        assert!(m.matches(&IssuerSel::Prefix("5a01".into())));
        assert!(m.matches(&IssuerSel::Prefix("c0ffee".into())));
        assert!(!m.matches(&IssuerSel::Prefix("dead".into())));
        assert_eq!(m.prefix(), "5a01d274a9de088b");
        assert_eq!(
            retired_chain_path(&m.cert_path),
            PathBuf::from("pki/ca-5a01d274a9de088b-chain.crt")
        );
    }
}
