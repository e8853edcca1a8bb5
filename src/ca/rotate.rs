//! Planned CA rollover (`ca rotate`): a new root key and certificate in the same directory while
//! the old CA stays available for verification and for the CRLs of what it issued.
//!
//! Layout after a rotation: `ca.crt`/`ca.key`/`ca-chain.crt` are the new CA (all new issuance
//! uses it); the old CA is kept as `ca-<first 16 hex digits of its serial>.crt` and `.key`
//! (the key file copied byte for byte, so it stays encrypted if it was); `ca-bundle.crt` holds
//! the new CA then every retired CA that has not expired, for gateways to trust during the
//! overlap. The new CA gets the old subject with a generation suffix in the CN (" G2", " G3", …)
//! so no two CAs share a name, the old key type unless told otherwise, and the old pathLen and
//! name constraints. The old CA's files are copied into place *before* `ca.key`/`ca.crt` are
//! replaced, so the old CA can always be recovered.

use std::path::PathBuf;

use rcgen::{DnType, DnValue};
use time::OffsetDateTime;
use x509_parser::extensions::{GeneralName, ParsedExtension};

use crate::ca::{layout, Ca, Issued, IssuedFiles, CA_CERT, CA_CHAIN, CA_KEY, ROOT_DAYS};
use crate::error::{Error, Result};
use crate::files::FileSet;
use crate::keys::{self, KeyType};
use crate::profile::{self, Constraints, Profile};
use crate::serial::Serial;
use crate::x509;

pub use crate::ca::layout::{retired_cert_paths, CA_BUNDLE};

/// A retired CA kept in the directory.
#[derive(Debug, Clone)]
pub struct Retired {
    /// Its serial, lowercase hex.
    pub serial: String,
    /// `ca-<prefix>.crt`.
    pub cert_path: PathBuf,
    /// `ca-<prefix>.key`.
    pub key_path: PathBuf,
    /// The certificate.
    pub cert_der: Vec<u8>,
    /// Its notAfter.
    pub not_after: OffsetDateTime,
}

impl Retired {
    /// The serial prefix used in file names.
    pub fn prefix(&self) -> String {
        layout::retired_prefix(&self.serial)
    }

    /// Loads its key (with the CA's passphrase when encrypted) and checks it matches.
    pub fn load_key(&self, ca: &Ca) -> Result<rcgen::KeyPair> {
        let bytes =
            zeroize::Zeroizing::new(crate::files::read_limited(&self.key_path, 1024 * 1024)?);
        let pass = if crate::keycrypt::is_encrypted(&bytes) {
            Some(
                ca.passphrase()
                    .cloned()
                    .ok_or_else(|| crate::keycrypt::needs_passphrase(&self.key_path))?,
            )
        } else {
            None
        };
        let key = keys::load_private_key_with(&bytes, &self.key_path, pass.as_ref())?;
        let c = x509::parse_cert(&self.cert_der, &self.cert_path)?;
        use rcgen::PublicKeyData;
        if c.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(Error::KeyMismatch {
                key: self.key_path.clone(),
                cert: self.cert_path.clone(),
            });
        }
        Ok(key)
    }
}

/// Every retired CA of `ca`'s directory.
pub fn retired(ca: &Ca) -> Result<Vec<Retired>> {
    let mut out = Vec::new();
    for p in retired_cert_paths(ca.dir()) {
        let certs = x509::read_certs(&p)?;
        let c = x509::parse_cert(&certs[0], &p)?;
        out.push(Retired {
            serial: Serial::from_bytes(c.raw_serial()).hex(),
            key_path: layout::retired_key_of(&p),
            cert_path: p.clone(),
            not_after: x509::validity(&c).1,
            cert_der: certs[0].clone(),
        });
    }
    Ok(out)
}

/// Options of `ca rotate`.
#[derive(Debug, Clone, Default)]
pub struct RotateOptions {
    /// Validity of the new CA in days (default 3650).
    pub days: Option<u32>,
    /// Key type of the new CA (default: the old one's).
    pub key_type: Option<KeyType>,
}

/// The outcome of `ca rotate`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rotated {
    /// The new CA certificate.
    pub new_ca: Issued,
    /// The old CA's serial.
    pub old_serial: String,
    /// Where the old CA certificate now lives.
    pub old_cert: PathBuf,
    /// Where the old CA key now lives.
    pub old_key: PathBuf,
    /// The bundle of CAs to trust.
    pub bundle: PathBuf,
}

/// Replaces the CA of `ca`'s directory by a new one, keeping the old one as a retired CA.
pub fn rotate(ca: &mut Ca, opts: &RotateOptions, now: OffsetDateTime) -> Result<Rotated> {
    let dir = ca.dir().to_path_buf();
    let old_der = ca.cert_der().to_vec();
    let old = x509::parse_cert(&old_der, &dir.join(CA_CERT))?;
    if old.subject().as_raw() != old.issuer().as_raw() {
        return Err(Error::invalid(
            "--dir",
            dir.display().to_string(),
            "this is an intermediate CA: rotating it needs its parent",
            "make a new intermediate with `mtls-ca --dir NEW init --parent PARENT`",
        ));
    }
    let old_serial = Serial::from_bytes(old.raw_serial()).hex();
    let old_cert_path = layout::retired_cert(&dir, &old_serial);
    let old_key_path = layout::retired_key(&dir, &old_serial);
    for p in [&old_cert_path, &old_key_path] {
        if std::fs::symlink_metadata(p).is_ok() {
            return Err(Error::FileExists { path: p.clone() });
        }
    }
    let key_type = match opts.key_type {
        Some(k) => k,
        None => KeyType::of(ca.key())?,
    };
    // Subject: the old attributes, CN with the next generation suffix.
    let (old_dn, _) = crate::ca::dn_from_x509(old.subject());
    let old_cn = old
        .subject()
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .unwrap_or("mtls-ca Root CA")
        .to_string();
    let new_cn = next_generation(&old_cn);
    profile::check_cn(&new_cn)?;
    let mut dn = rcgen::DistinguishedName::new();
    for (ty, v) in old_dn.iter() {
        if *ty != DnType::CommonName {
            dn.push(ty.clone(), v.clone());
        }
    }
    dn.push(DnType::CommonName, DnValue::Utf8String(new_cn.clone()));
    let (pathlen, constraints) = carried_constraints(&old);
    let mut warnings = Vec::new();
    let (not_before, not_after) =
        crate::ca::validity(now, opts.days, ROOT_DAYS, None, &mut warnings)?;
    let old_key_bytes =
        zeroize::Zeroizing::new(crate::files::read_limited(&dir.join(CA_KEY), 1024 * 1024)?);
    let key = keys::generate(key_type)?;
    let new_key_bytes = crate::ca::key_file_bytes(&key, ca.passphrase())?;
    let rng = ring::rand::SystemRandom::new();
    let serial = ca.store().reserve_serial(&rng, now)?;
    let mut params = profile::params(&profile::Request {
        profile: Profile::Root,
        cn: new_cn,
        org: None,
        sans: Vec::new(),
        key_type,
        serial: serial.clone(),
        not_before,
        not_after,
        pathlen,
        constraints,
    })?;
    params.distinguished_name = dn;
    let der = params.self_signed(&key)?.der().to_vec();
    x509::self_check(&der, &der, &serial, true)?;
    let rec = crate::ca::record(&der, &serial, Profile::Root, key_type, None, None)?;
    ca.store().record_issued(&rec, now)?;
    // 1. Keep the old CA (create-exclusive: never overwrites).
    let mut fs = FileSet::new();
    fs.public(&old_cert_path, crate::pem::encode("CERTIFICATE", &old_der));
    fs.private(&old_key_path, old_key_bytes);
    fs.commit(false)?;
    // 2. Bundle: new CA first, then every unexpired retired CA (the old one included).
    let mut bundle = crate::pem::encode("CERTIFICATE", &der);
    for r in retired(ca)? {
        if r.not_after > now {
            bundle.push_str(&crate::pem::encode("CERTIFICATE", &r.cert_der));
        }
    }
    // 3. Replace the CA files.
    let pem = crate::pem::encode("CERTIFICATE", &der);
    crate::files::replace(&dir.join(CA_KEY), &new_key_bytes, crate::files::PRIVATE)?;
    crate::files::replace(&dir.join(CA_CERT), pem.as_bytes(), crate::files::PUBLIC)?;
    crate::files::replace(&dir.join(CA_CHAIN), pem.as_bytes(), crate::files::PUBLIC)?;
    crate::files::replace(
        &dir.join(CA_BUNDLE),
        bundle.as_bytes(),
        crate::files::PUBLIC,
    )?;
    let written = [
        (old_cert_path.clone(), crate::files::PUBLIC),
        (old_key_path.clone(), crate::files::PRIVATE),
        (dir.join(CA_KEY), crate::files::PRIVATE),
        (dir.join(CA_CERT), crate::files::PUBLIC),
        (dir.join(CA_CHAIN), crate::files::PUBLIC),
        (dir.join(CA_BUNDLE), crate::files::PUBLIC),
    ]
    .into_iter()
    .map(|(path, mode)| crate::files::Written {
        path,
        mode,
        backup: None,
    })
    .collect();
    let new_ca = crate::ca::describe(
        &der,
        Profile::Root,
        key_type,
        IssuedFiles::of_ca(&dir),
        written,
        warnings,
    )?;
    ca.replace_root(der, key)?;
    Ok(Rotated {
        new_ca,
        old_serial,
        old_cert: old_cert_path,
        old_key: old_key_path,
        bundle: dir.join(CA_BUNDLE),
    })
}

/// "Example CA" → "Example CA G2"; "Example CA G2" → "Example CA G3".
fn next_generation(cn: &str) -> String {
    if let Some((base, n)) = cn.rsplit_once(" G") {
        if let Ok(n) = n.parse::<u32>() {
            return format!("{base} G{}", n + 1);
        }
    }
    let mut base: String = cn.chars().take(crate::profile::MAX_CN_LEN - 3).collect();
    base.push_str(" G2");
    base
}

/// The pathLen and DNS/IP name constraints of the old CA, for the new one.
fn carried_constraints(
    c: &x509_parser::certificate::X509Certificate<'_>,
) -> (Option<u8>, Constraints) {
    let pathlen = c
        .basic_constraints()
        .ok()
        .flatten()
        .and_then(|bc| bc.value.path_len_constraint)
        .and_then(|n| u8::try_from(n).ok());
    let mut cons = Constraints::default();
    for e in c.iter_extensions() {
        if let ParsedExtension::NameConstraints(nc) = e.parsed_extension() {
            for (list, permitted) in [
                (&nc.permitted_subtrees, true),
                (&nc.excluded_subtrees, false),
            ] {
                for st in list.iter().flatten() {
                    match (&st.base, permitted) {
                        (GeneralName::DNSName(d), true) => cons.permit_dns.push(d.to_string()),
                        (GeneralName::DNSName(d), false) => cons.exclude_dns.push(d.to_string()),
                        (GeneralName::IPAddress(b), true) if b.len() == 8 || b.len() == 32 => {
                            let half = b.len() / 2;
                            if let Some(ip) = x509::ip_from_bytes(&b[..half]) {
                                let len: u32 = b[half..].iter().map(|x| x.count_ones()).sum();
                                cons.permit_ip.push((ip, len as u8));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    (pathlen, cons)
}
