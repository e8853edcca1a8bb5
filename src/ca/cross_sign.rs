//! `ca cross-sign`: the old root vouches for the new one after a rotation.
//!
//! After `ca rotate`, clients that trust only the old root cannot build a path to leaves of the
//! new root. A cross-signed certificate fixes that: the retired root's key signs a CA
//! certificate with the **new root's subject, public key and subject key identifier**, so a
//! chain `leaf → cross-signed → old root` verifies for those clients, while clients that trust
//! the new root still end the path at the new root itself. It keeps the new root's pathLen and
//! name constraints, never outlives either root, and is recorded in the store as issued by the
//! old root (profile `cross-signed`).

use std::path::{Path, PathBuf};

use rcgen::PublicKeyData;
use time::OffsetDateTime;

use crate::ca::rotate::{self, Retired};
use crate::ca::{Ca, Issued, IssuedFiles, ROOT_DAYS};
use crate::error::{Error, Result};
use crate::files::FileSet;
use crate::profile::{self, Profile};
use crate::x509;

pub use crate::profile::CROSS_SIGNED;

/// Options of `ca cross-sign`.
#[derive(Debug, Clone, Default)]
pub struct CrossSignOptions {
    /// The retired root that signs: a prefix of its serial (None: the only unexpired one).
    pub by: Option<String>,
    /// Validity in days (None: as long as both roots live).
    pub days: Option<u32>,
    /// Output stem (None: `DIR/cross-signed-<old prefix>`).
    pub stem: Option<PathBuf>,
    /// Replace an existing output file (kept as `.bak`).
    pub force: bool,
}

/// The result of `ca cross-sign`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CrossSigned {
    /// The cross-signed certificate.
    pub certificate: Issued,
    /// The serial of the old root that signed it.
    pub signed_by: String,
    /// The old root's certificate file.
    pub old_root: PathBuf,
}

/// The default output stem: `DIR/cross-signed-<prefix of the old root's serial>`.
pub fn default_stem(dir: &Path, old_serial: &str) -> PathBuf {
    dir.join(format!(
        "cross-signed-{}",
        crate::ca::layout::retired_prefix(old_serial)
    ))
}

fn pick(ca: &Ca, by: Option<&str>, now: OffsetDateTime) -> Result<Retired> {
    let all = rotate::retired(ca)?;
    let listed = |v: &[Retired]| v.iter().map(|r| r.prefix()).collect::<Vec<_>>().join(", ");
    if let Some(p) = by {
        let p = p.trim().to_ascii_lowercase().replace(':', "");
        let hits: Vec<Retired> = all
            .iter()
            .filter(|r| !p.is_empty() && r.serial.starts_with(&p))
            .cloned()
            .collect();
        return match hits.len() {
            1 => Ok(hits.into_iter().next().expect("one")),
            0 => Err(Error::invalid(
                "--by",
                p,
                "no retired CA of this directory has a serial starting so",
                if all.is_empty() {
                    "run `mtls-ca ca rotate` first: it keeps the old root as ca-<serial>.crt".into()
                } else {
                    format!("use one of: {}", listed(&all))
                },
            )),
            _ => Err(Error::invalid(
                "--by",
                p,
                "several retired CAs have serials starting so",
                "give more digits of the serial",
            )),
        };
    }
    let live: Vec<Retired> = all.iter().filter(|r| r.not_after > now).cloned().collect();
    match live.len() {
        1 => Ok(live.into_iter().next().expect("one")),
        0 => Err(Error::invalid(
            "--dir",
            ca.dir().display().to_string(),
            "no unexpired retired root to cross-sign with",
            "run `mtls-ca ca rotate` first: it keeps the old root as ca-<serial>.crt",
        )),
        _ => Err(Error::invalid(
            "--by",
            "",
            "several retired roots could sign",
            format!("choose one with --by SERIAL: {}", listed(&live)),
        )),
    }
}

/// Cross-signs the current root of `ca` with a retired root of the same directory.
pub fn cross_sign(
    ca: &mut Ca,
    opts: &CrossSignOptions,
    now: OffsetDateTime,
) -> Result<CrossSigned> {
    let dir = ca.dir().to_path_buf();
    let new_der = ca.cert_der().to_vec();
    let new = x509::parse_cert(&new_der, &crate::ca::layout::cert(&dir))?;
    if new.subject().as_raw() != new.issuer().as_raw() {
        return Err(Error::invalid(
            "--dir",
            dir.display().to_string(),
            "this CA is an intermediate: only a root is cross-signed",
            "run it in the directory of the rotated root CA",
        ));
    }
    let old = pick(ca, opts.by.as_deref(), now)?;
    let old_cert = x509::parse_cert(&old.cert_der, &old.cert_path)?;
    if old_cert.subject().as_raw() == new.subject().as_raw() {
        return Err(Error::bad_file(
            &old.cert_path,
            "the retired root has the same subject as the current root",
            "cross-signing needs distinct names (`ca rotate` gives the new root a generation suffix)",
        ));
    }
    let stem = opts
        .stem
        .clone()
        .unwrap_or_else(|| default_stem(&dir, &old.serial));
    let cert_path = crate::ca::layout::with_ext(&stem, "crt");
    if !opts.force && std::fs::symlink_metadata(&cert_path).is_ok() {
        return Err(Error::FileExists { path: cert_path });
    }
    crate::files::check_creatable([cert_path.as_path()])?;
    let old_key = old.load_key(ca)?;
    // Validity: never beyond either root (an explicit --days beyond the old root is refused).
    let mut warnings = Vec::new();
    let new_not_after = x509::validity(&new).1;
    let cap = old.not_after.min(new_not_after);
    let (not_before, not_after) = crate::ca::validity(
        now,
        opts.days,
        u32::try_from((cap - now).whole_days().max(1)).unwrap_or(ROOT_DAYS),
        Some(cap),
        &mut warnings,
    )?;
    warnings.retain(|w| !w.starts_with("validity capped"));
    let (pathlen, constraints) = rotate::carried_constraints(&new);
    let key_type = ca.key().key_type()?;
    let spki = rcgen::SubjectPublicKeyInfo::from_der(new.public_key().raw)?;
    let serial = ca.reserve_serial(now)?;
    crate::failpoint::hit("cross-sign.reserve", &cert_path)?;
    let mut params = profile::params(&profile::Request {
        profile: Profile::Intermediate,
        cn: String::new(),
        org: None,
        subject: Default::default(),
        sans: Vec::new(),
        key_type,
        serial: serial.clone(),
        not_before,
        not_after,
        pathlen,
        constraints,
    })?;
    let (subject_dn, exact) = crate::ca::dn_from_x509(new.subject());
    if !exact {
        return Err(Error::bad_file(
            &crate::ca::layout::cert(&dir),
            "the root's subject has repeated or multi-valued attributes that cannot be reproduced",
            "cross-sign a root with a plain subject",
        ));
    }
    params.distinguished_name = subject_dn;
    // The new root's own SKI, byte for byte: leaves of the new root name it in their AKI.
    let ski = x509::ski(&new).unwrap_or_else(|| profile::ski(spki.der_bytes()));
    params.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(ski);
    // The issuer: the old root, named by its own subject and SKI.
    let (old_dn, _) = crate::ca::dn_from_x509(old_cert.subject());
    let mut ip = rcgen::CertificateParams::default();
    ip.distinguished_name = old_dn;
    ip.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    if let Some(s) = x509::ski(&old_cert) {
        ip.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(s);
    }
    let issuer = rcgen::Issuer::new(ip, &old_key);
    let mut der = params.signed_by(&spki, &issuer)?.der().to_vec();
    if x509::parse_cert(&der, &cert_path)?.issuer().as_raw() != old_cert.subject().as_raw() {
        der = crate::der::replace_issuer(&der, old_cert.subject().as_raw(), &old_key)?;
    }
    x509::self_check(&der, &old.cert_der, &serial, false)?;
    {
        let c = x509::parse_cert(&der, &cert_path)?;
        if c.subject().as_raw() != new.subject().as_raw()
            || c.public_key().raw != new.public_key().raw
        {
            return Err(Error::SelfCheck(
                "the cross-signed certificate does not carry the new root's subject and key".into(),
            ));
        }
    }
    let mut rec = crate::ca::record(
        &der,
        &serial,
        Profile::Intermediate,
        key_type,
        Some(stem.display().to_string()),
        Some(old.serial.clone()),
    )?;
    rec.profile = CROSS_SIGNED.into();
    ca.store().record_issued(&rec, now)?;
    crate::failpoint::hit("cross-sign.record", &cert_path)?;
    let mut fs = FileSet::new();
    fs.public(&cert_path, crate::pem::encode("CERTIFICATE", &der));
    let written = match fs.commit(opts.force) {
        Ok(w) => w,
        Err(e) => {
            // Recorded but not written: voided, so neither `list` nor a CRL shows it as valid.
            ca.void_unwritten(&[serial.hex()], now);
            return Err(e);
        }
    };
    let certificate = crate::ca::describe(
        &der,
        Profile::Intermediate,
        key_type,
        IssuedFiles {
            cert: cert_path.clone(),
            key: PathBuf::new(),
            fullchain: cert_path,
            p12: None,
        },
        written,
        warnings,
    )?;
    Ok(CrossSigned {
        certificate,
        signed_by: old.serial,
        old_root: old.cert_path,
    })
}
