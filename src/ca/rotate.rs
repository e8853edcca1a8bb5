//! Planned CA rollover (`ca rotate`): a new root key and certificate in the same directory while
//! the old CA stays available for verification and for the CRLs of what it issued.
//!
//! Layout after a rotation: `ca.crt`/`ca.key`/`ca-chain.crt` are the new CA (all new issuance
//! uses it); the old CA is kept as `ca-<first 16 hex digits of its serial>.crt` and `.key`
//! (the key file copied byte for byte, so it stays encrypted if it was); `ca-bundle.crt` holds
//! the new CA then every retired CA that has not expired, for gateways to trust during the
//! overlap. The new CA gets the old subject with a generation suffix in the CN (" G2", " G3", …)
//! so no two CAs share a name, the old key type unless told otherwise, and the old pathLen and
//! name constraints. Every file of a rotation is changed through one journalled change
//! ([`crate::ca::journal`]): a crash at any point leaves a directory that the next command (or
//! `mtls-ca doctor --repair`) completes or undoes, never a new `ca.key` beside the old `ca.crt`.

use std::path::{Path, PathBuf};

use rcgen::{DnType, DnValue};
use time::OffsetDateTime;
use x509_parser::extensions::{GeneralName, ParsedExtension};

use crate::ca::journal;
use crate::ca::{layout, Ca, Issued, IssuedFiles, CA_CERT, CA_CHAIN, CA_KEY, ROOT_DAYS};
use crate::error::{Error, Result};
use crate::keys::{self, KeyType};
use crate::profile::{self, Constraints, Profile};
use crate::serial::Serial;
use crate::signer::CaKey;
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

    /// Loads its key (with the CA's passphrase when encrypted; from its token when the key
    /// lives in one) and checks it matches.
    pub fn load_key(&self, ca: &Ca) -> Result<CaKey> {
        use rcgen::PublicKeyData;
        if self.key_path.extension().and_then(|e| e.to_str()) == Some(layout::KEY_URI_EXT) {
            let key = crate::ca::load_token_key(&self.key_path)?;
            let c = x509::parse_cert(&self.cert_der, &self.cert_path)?;
            if c.public_key().raw != key.subject_public_key_info().as_slice() {
                return Err(Error::KeyMismatch {
                    key: self.key_path.clone(),
                    cert: self.cert_path.clone(),
                });
            }
            return Ok(key);
        }
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
        if c.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(Error::KeyMismatch {
                key: self.key_path.clone(),
                cert: self.cert_path.clone(),
            });
        }
        Ok(CaKey::File(key))
    }
}

/// Every retired CA of `ca`'s directory.
pub fn retired(ca: &Ca) -> Result<Vec<Retired>> {
    retired_in(ca.dir())
}

/// The CAs whose overlap ended (`ca rotate --finish`, now in `DIR/finished/`) that still sign
/// CRLs: unexpired, and [`crate::ca::overlap::owes_crl`] (a valid cross-signed root of theirs,
/// or a revoked certificate to publish).
pub fn finished_signing_crls(
    dir: &Path,
    store: &crate::store::Store,
    now: OffsetDateTime,
) -> Result<Vec<Retired>> {
    let mut out = Vec::new();
    for r in retired_in(&dir.join(crate::ca::overlap::FINISHED_DIR))? {
        if r.not_after > now && crate::ca::overlap::owes_crl(store, &r.serial, now)? {
            out.push(r);
        }
    }
    Ok(out)
}

/// The retired CAs (`ca-<prefix>.crt` and their keys) kept in `dir`.
fn retired_in(dir: &Path) -> Result<Vec<Retired>> {
    let mut out = Vec::new();
    for p in retired_cert_paths(dir) {
        let certs = x509::read_certs(&p)?;
        let c = x509::parse_cert(&certs[0], &p)?;
        out.push(Retired {
            serial: Serial::from_bytes(c.raw_serial()).hex(),
            key_path: if layout::retired_key_uri_of(&p).exists() {
                layout::retired_key_uri_of(&p)
            } else {
                layout::retired_key_of(&p)
            },
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
            "pass --parent PARENT_DIR (the directory of the CA that signed it)",
        ));
    }
    let (old_serial, old_cert_path, old_key_path, key_type) = retired_names(ca, &old, opts)?;
    let _lock = lock_unchanged(ca)?;
    // Subject: the old attributes, CN with the next generation suffix.
    let (dn, new_cn) = next_subject(&old, "mtls-ca Root CA")?;
    let (pathlen, constraints) = carried_constraints(&old);
    let mut warnings = Vec::new();
    let (not_before, not_after) =
        crate::ca::validity(now, opts.days, ROOT_DAYS, None, &mut warnings)?;
    let old_key_bytes = zeroize::Zeroizing::new(crate::files::read_limited(
        &dir.join(current_key_name(ca)),
        1024 * 1024,
    )?);
    let (key, new_key_file) = new_key(ca, key_type)?;
    let serial = ca.reserve_serial(now)?;
    let mut params = profile::params(&profile::Request {
        profile: Profile::Root,
        cn: new_cn,
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
    params.distinguished_name = dn;
    let der = params.self_signed(&key)?.der().to_vec();
    x509::self_check(&der, &der, &serial, true)?;
    // Bundle: new CA first, then every unexpired retired CA (the old one included).
    let bundle = crate::ca::overlap::bundle_for(
        &dir,
        &der,
        &[],
        Some(retiring(&old_cert_path, &old_der, &[])),
        now,
    )?;
    let kept = kept_files(
        &old_cert_path,
        &old_der,
        &old_key_path,
        &old_key_bytes,
        None,
    );
    let written = install(
        &dir,
        std::slice::from_ref(&der),
        kept,
        new_key_file,
        &bundle,
        Some(journal::PendingRecord {
            der: journal::encode_der(&der),
            profile: Profile::Root.as_str().into(),
            key_type: key_type.as_str().into(),
            at: now.unix_timestamp(),
        }),
    )?;
    let new_ca = crate::ca::describe(
        &der,
        Profile::Root,
        key_type,
        IssuedFiles::of_ca_key(&dir, &key),
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

/// The retired names of `old` (`ca-<prefix>.crt`/`.key`, which must not exist yet), its serial,
/// and the key type of the new CA (`opts`, else the current one's).
fn retired_names(
    ca: &Ca,
    old: &x509_parser::certificate::X509Certificate<'_>,
    opts: &RotateOptions,
) -> Result<(String, PathBuf, PathBuf, KeyType)> {
    let dir = ca.dir();
    let old_serial = Serial::from_bytes(old.raw_serial()).hex();
    let old_cert_path = layout::retired_cert(dir, &old_serial);
    let old_key_path = match ca.key() {
        CaKey::File(_) => layout::retired_key(dir, &old_serial),
        CaKey::Token(_) => layout::retired_key_uri_of(&old_cert_path),
    };
    for p in [&old_cert_path, &old_key_path] {
        if std::fs::symlink_metadata(p).is_ok() {
            return Err(Error::bad_file(
                p,
                "a retired CA file with the current CA's serial is in the way",
                "move it out of the CA directory if it is not this CA's (see `mtls-ca doctor`), then rotate again",
            ));
        }
    }
    let key_type = match opts.key_type {
        Some(k) => k,
        None => ca.key().key_type()?,
    };
    Ok((old_serial, old_cert_path, old_key_path, key_type))
}

/// The subject of the next generation: `old`'s attributes, its CN (or `default_cn`) with the
/// next generation suffix.
fn next_subject(
    old: &x509_parser::certificate::X509Certificate<'_>,
    default_cn: &str,
) -> Result<(rcgen::DistinguishedName, String)> {
    let (old_dn, _) = crate::ca::dn_from_x509(old.subject());
    let old_cn = old
        .subject()
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .unwrap_or(default_cn)
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
    Ok((dn, new_cn))
}

fn retiring<'a>(
    cert_path: &'a Path,
    der: &'a [u8],
    parents: &'a [Vec<u8>],
) -> crate::ca::overlap::Retiring<'a> {
    crate::ca::overlap::Retiring {
        cert_path,
        der,
        parents,
    }
}

/// The files a rotation keeps of the CA it retires: its certificate, its chain (intermediates)
/// and its key, under their retired names.
fn kept_files(
    cert_path: &Path,
    der: &[u8],
    key_path: &Path,
    key_bytes: &[u8],
    chain: Option<Vec<u8>>,
) -> Vec<(PathBuf, Vec<u8>, u32)> {
    let mut kept = vec![(
        cert_path.to_path_buf(),
        crate::pem::encode("CERTIFICATE", der).into_bytes(),
        crate::files::PUBLIC,
    )];
    if let Some(c) = chain {
        kept.push((
            crate::ca::overlap::retired_chain_path(cert_path),
            c,
            crate::files::PUBLIC,
        ));
    }
    // A key in a token is kept as its URI, which is not secret.
    let in_token = key_path.extension().and_then(|e| e.to_str()) == Some(layout::KEY_URI_EXT);
    kept.push((
        key_path.to_path_buf(),
        key_bytes.to_vec(),
        if in_token {
            crate::files::PUBLIC
        } else {
            crate::files::PRIVATE
        },
    ));
    kept
}

/// Takes the directory's change lock (after the read-only checks, so a refused rotation leaves
/// the directory exactly as it was), finishes or undoes an interrupted change first, and makes
/// sure the CA on disk is still the one this process opened.
fn lock_unchanged(ca: &Ca) -> Result<journal::DirLock> {
    let dir = ca.dir();
    let lock = journal::lock(dir)?;
    journal::recover_locked(dir, &crate::ca::record_pending)?;
    let on_disk = x509::read_certs(&dir.join(CA_CERT))?;
    if on_disk.first().map(Vec::as_slice) != Some(ca.cert_der()) {
        return Err(Error::bad_file(
            &dir.join(CA_CERT),
            "the CA changed while this command ran (another `ca rotate`?)",
            "run the command again",
        ));
    }
    Ok(lock)
}

/// Installs a new CA in `dir` as one journalled change (see `journal`): the retired CA's files
/// kept under their retired names, the CA files replaced, and (for a root) the new CA recorded,
/// completed or undone as a whole even after a crash.
fn install(
    dir: &Path,
    chain: &[Vec<u8>],
    kept: Vec<(PathBuf, Vec<u8>, u32)>,
    key_file: journal::Staged,
    bundle: &str,
    record: Option<journal::PendingRecord>,
) -> Result<Vec<crate::files::Written>> {
    use crate::files::PUBLIC;
    let cert_pem = crate::pem::encode("CERTIFICATE", &chain[0]);
    let chain_pem = crate::ca::pem_chain(chain);
    let name = |p: &Path| {
        p.file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    };
    let staged = |n: String, b: &[u8], mode: u32| journal::Staged {
        name: n,
        contents: zeroize::Zeroizing::new(b.to_vec()),
        mode,
    };
    let mut files: Vec<journal::Staged> = kept
        .iter()
        .map(|(p, b, m)| staged(name(p), b, *m))
        .collect();
    files.extend([
        staged(CA_BUNDLE.into(), bundle.as_bytes(), PUBLIC),
        staged(CA_CHAIN.into(), chain_pem.as_bytes(), PUBLIC),
        staged(CA_CERT.into(), cert_pem.as_bytes(), PUBLIC),
    ]);
    let key_path = (dir.join(&key_file.name), key_file.mode);
    files.push(key_file);
    let change = journal::Change {
        op: "rotate",
        files,
        backup: Vec::new(),
        record,
    };
    journal::apply(dir, change, &crate::ca::record_pending)?;
    Ok(kept
        .into_iter()
        .map(|(p, _, m)| (p, m))
        .chain([
            key_path,
            (dir.join(CA_CERT), PUBLIC),
            (dir.join(CA_CHAIN), PUBLIC),
            (dir.join(CA_BUNDLE), PUBLIC),
        ])
        .map(|(path, mode)| crate::files::Written {
            path,
            mode,
            backup: None,
        })
        .collect())
}

/// The name of the current CA's key file: `ca.key`, or `ca.key-uri` for a key in a token.
fn current_key_name(ca: &Ca) -> &'static str {
    match ca.key() {
        CaKey::File(_) => CA_KEY,
        CaKey::Token(_) => layout::KEY_URI,
    }
}

/// The next CA's key, of the same kind as the current one: a new key file (encrypted with the
/// CA's passphrase when the current one is), or a new key generated in the same token, labelled
/// after the current one with a random suffix; and the file that records it.
fn new_key(ca: &Ca, key_type: KeyType) -> Result<(CaKey, journal::Staged)> {
    match ca.key() {
        CaKey::File(_) => {
            let key = keys::generate(key_type)?;
            let bytes = crate::ca::key_file_bytes(&key, ca.passphrase())?;
            Ok((
                CaKey::File(key),
                journal::Staged {
                    name: CA_KEY.into(),
                    contents: bytes,
                    mode: crate::files::PRIVATE,
                },
            ))
        }
        CaKey::Token(t) => {
            let name = t.uri().key_name();
            let base = match name.rsplit_once('-') {
                Some((b, s)) if s.len() == 8 && s.chars().all(|c| c.is_ascii_hexdigit()) => b,
                _ => name.as_str(),
            };
            let mut suffix = [0u8; 4];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut suffix)
                .map_err(|_| Error::Crypto("no randomness for a key label".into()))?;
            let uri = t
                .uri()
                .with_object(&format!("{base}-{}", x509::hex(&suffix)));
            let (k, origin) =
                crate::pkcs11::TokenKey::open_or_generate(&uri, &crate::pkcs11::env(), key_type)?;
            if origin != crate::pkcs11::Origin::Generated {
                return Err(Error::invalid(
                    "--key",
                    uri.to_string(),
                    "the token already holds a key with the new key's label",
                    "run the rotation again (it picks another label)",
                ));
            }
            let text = format!("{}\n", k.uri());
            Ok((
                CaKey::Token(k),
                journal::Staged {
                    name: layout::KEY_URI.into(),
                    contents: zeroize::Zeroizing::new(text.into_bytes()),
                    mode: crate::files::PUBLIC,
                },
            ))
        }
    }
}

/// "Example CA" → "Example CA G2"; "Example CA G2" → "Example CA G3".
/// Whether `new` is what `ca rotate` makes of `old`: the same issuer (a root rotates alone, an
/// intermediate under its parent's subject), the next generation of the CN (" G2", " G3", …)
/// and every other subject attribute unchanged.
pub(crate) fn is_successor(
    old: &x509_parser::certificate::X509Certificate<'_>,
    new: &x509_parser::certificate::X509Certificate<'_>,
) -> bool {
    let cn = |c: &x509_parser::certificate::X509Certificate<'_>| {
        c.subject()
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_string)
    };
    let others = |c: &x509_parser::certificate::X509Certificate<'_>| -> Vec<(String, Vec<u8>)> {
        c.subject()
            .iter_attributes()
            .filter(|a| a.attr_type() != &x509_parser::oid_registry::OID_X509_COMMON_NAME)
            .map(|a| (a.attr_type().to_id_string(), a.attr_value().data.to_vec()))
            .collect()
    };
    let self_signed = |c: &x509_parser::certificate::X509Certificate<'_>| {
        c.subject().as_raw() == c.issuer().as_raw()
    };
    let same_issuer = if self_signed(old) {
        self_signed(new)
    } else {
        old.issuer().as_raw() == new.issuer().as_raw()
    };
    match (cn(old), cn(new)) {
        (Some(o), Some(n)) => same_issuer && next_generation(&o) == n && others(old) == others(new),
        _ => false,
    }
}

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
pub(crate) fn carried_constraints(
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
                        (GeneralName::RFC822Name(m), true) => cons.permit_email.push(m.to_string()),
                        (GeneralName::IPAddress(b), p) if b.len() == 8 || b.len() == 32 => {
                            let half = b.len() / 2;
                            if let Some(ip) = x509::ip_from_bytes(&b[..half]) {
                                let len: u32 = b[half..].iter().map(|x| x.count_ones()).sum();
                                if p {
                                    cons.permit_ip.push((ip, len as u8));
                                } else {
                                    cons.exclude_ip.push((ip, len as u8));
                                }
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

/// Rotates an intermediate CA: a new key and certificate signed by `parent` (the CA that signed
/// the current one), the same subject with the next generation suffix, the old pathLen and name
/// constraints, recorded in the parent's store. The old intermediate is kept as a retired CA
/// exactly as [`rotate`] keeps a root; `ca-chain.crt` becomes the new CA then its parents and
/// `ca-bundle.crt` the whole overlap (new CA, retired CAs, parents).
pub fn rotate_intermediate(
    ca: &mut Ca,
    parent: &mut Ca,
    opts: &RotateOptions,
    now: OffsetDateTime,
) -> Result<Rotated> {
    let dir = ca.dir().to_path_buf();
    let old_der = ca.cert_der().to_vec();
    let old = x509::parse_cert(&old_der, &dir.join(CA_CERT))?;
    if old.subject().as_raw() == old.issuer().as_raw() {
        return Err(Error::invalid(
            "--parent",
            parent.dir().display().to_string(),
            "this is a root CA: it has no parent",
            "rotate a root without --parent (`mtls-ca ca rotate`)",
        ));
    }
    // The parent directory's current CA, or one it retired (the parent rotated first).
    let parent_members = crate::ca::overlap::members(parent.dir(), now)?;
    let signed_by_parent = parent_members.iter().any(|m| {
        x509::parse_cert(&m.der, &m.cert_path)
            .map(|p| {
                old.issuer().as_raw() == p.subject().as_raw()
                    && old.verify_signature(Some(p.public_key())).is_ok()
            })
            .unwrap_or(false)
    });
    if !signed_by_parent {
        return Err(Error::invalid(
            "--parent",
            parent.dir().display().to_string(),
            format!(
                "the CA there did not sign this one (its issuer is {})",
                old.issuer()
            ),
            "pass --parent with the directory of the CA that signed ca.crt",
        ));
    }
    let (old_serial, old_cert_path, old_key_path, key_type) = retired_names(ca, &old, opts)?;
    let _lock = lock_unchanged(ca)?;
    let (dn, new_cn) = next_subject(&old, "mtls-ca Intermediate CA")?;
    let (pathlen, constraints) = carried_constraints(&old);
    let mut warnings = Vec::new();
    let (not_before, not_after) = crate::ca::validity(
        now,
        opts.days,
        crate::ca::INTERMEDIATE_DAYS,
        Some(parent.not_after()?),
        &mut warnings,
    )?;
    let old_key_bytes = zeroize::Zeroizing::new(crate::files::read_limited(
        &dir.join(current_key_name(ca)),
        1024 * 1024,
    )?);
    let (key, new_key_file) = new_key(ca, key_type)?;
    let serial = parent.reserve_serial(now)?;
    let mut params = profile::params(&profile::Request {
        profile: Profile::Intermediate,
        cn: new_cn,
        org: None,
        sans: Vec::new(),
        key_type,
        serial: serial.clone(),
        not_before,
        not_after,
        pathlen: Some(pathlen.unwrap_or(0)),
        constraints,
        subject: Default::default(),
    })?;
    params.distinguished_name = dn;
    let der = parent.sign(&params, &key, &serial)?;
    let mut rec = crate::ca::record(
        &der,
        &serial,
        Profile::Intermediate,
        key_type,
        None,
        Some(parent.serial_hex()?),
    )?;
    // The old intermediate is recorded as superseded by the new one (so `ca rotate --finish` in
    // the parent's directory does not count it as still in use).
    rec.renews = Some(old_serial.clone());
    parent.store().record_issued(&rec, now)?;
    let mut chain = vec![der.clone()];
    chain.extend(parent.chain().iter().cloned());
    // The old CA and its chain are kept; the overlap's bundle is the new CA, the retired CAs
    // (the old one included) and the parents.
    let old_chain = crate::files::read_limited(&dir.join(CA_CHAIN), 1024 * 1024)?;
    let old_parents = x509::read_certs(&dir.join(CA_CHAIN))?
        .into_iter()
        .skip(1)
        .collect::<Vec<_>>();
    let bundle = crate::ca::overlap::bundle_for(
        &dir,
        &der,
        &chain[1..],
        Some(retiring(&old_cert_path, &old_der, &old_parents)),
        now,
    )?;
    let kept = kept_files(
        &old_cert_path,
        &old_der,
        &old_key_path,
        &old_key_bytes,
        Some(old_chain),
    );
    let written = install(&dir, &chain, kept, new_key_file, &bundle, None)?;
    let new_ca = crate::ca::describe(
        &der,
        Profile::Intermediate,
        key_type,
        IssuedFiles::of_ca_key(&dir, &key),
        written,
        warnings,
    )?;
    ca.replace_intermediate(chain, key)?;
    Ok(Rotated {
        new_ca,
        old_serial,
        old_cert: old_cert_path,
        old_key: old_key_path,
        bundle: dir.join(CA_BUNDLE),
    })
}
