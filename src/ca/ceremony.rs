//! The offline-root ceremony: an intermediate CA whose key never leaves its host.
//!
//! 1. On the issuing host, [`make_csr`] (`init --csr`) writes `DIR/ca.key` (0600) and
//!    `DIR/ca.csr`; the directory is not a CA yet.
//! 2. On the root's host, [`sign_intermediate`] (`sign ca.csr --profile intermediate`) verifies
//!    the CSR, signs an intermediate (pathLen 0 unless told otherwise, validity capped by the root),
//!    records it in the root's store and writes `STEM.crt` and `STEM.chain.crt` (the new CA, then
//!    the root's chain).
//! 3. Back on the issuing host, [`complete`] (`init --import-cert STEM.crt`) checks that the
//!    certificate is a CA for the key it holds and that the chain verifies, then writes `ca.crt`,
//!    `ca-chain.crt` and the store.

use std::path::{Path, PathBuf};

use rcgen::PublicKeyData;
use time::OffsetDateTime;

use crate::ca::{layout, Ca, Issued, IssuedFiles, INTERMEDIATE_DAYS};
use crate::error::{Error, Result};
use crate::files::FileSet;
use crate::keys::{self, KeyType};
use crate::profile::{self, Constraints, Profile};
use crate::serial::Serial;
use crate::store::Store;
use crate::subject::Subject;
use crate::x509;

/// `DIR/ca.csr`.
pub const CA_CSR: &str = "ca.csr";

/// What `init --csr` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CaCsr {
    /// The key (0600).
    pub key: PathBuf,
    /// The CSR to take to the root.
    pub csr: PathBuf,
    /// Subject, as it will be certified.
    pub subject: String,
    /// Key type.
    pub key_type: KeyType,
}

/// Step 1: a CA key and a CSR for it in `dir` (which must not hold a CA).
pub fn make_csr(
    dir: &Path,
    cn: &str,
    subject: &Subject,
    key_type: KeyType,
    encrypt: Option<&crate::secret::Passphrase>,
) -> Result<CaCsr> {
    profile::check_cn(cn)?;
    layout::check_free(dir, false)?;
    let csr_path = dir.join(CA_CSR);
    if std::fs::symlink_metadata(&csr_path).is_ok() {
        return Err(Error::FileExists { path: csr_path });
    }
    let key = keys::generate(key_type)?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = subject.to_dn(cn);
    let csr = params.serialize_request(&key)?;
    crate::files::ensure_private_dir(dir)?;
    let mut fs = FileSet::new();
    fs.private(layout::key(dir), crate::ca::key_file_bytes(&key, encrypt)?);
    fs.public(
        &csr_path,
        crate::pem::encode("CERTIFICATE REQUEST", csr.der()),
    );
    fs.commit(false)?;
    let parsed = x509_parser::certification_request::X509CertificationRequest::from_der(csr.der());
    let shown = match parsed {
        Ok((_, c)) => crate::subject::display(&c.certification_request_info.subject),
        Err(_) => format!("CN={cn}"),
    };
    Ok(CaCsr {
        key: layout::key(dir),
        csr: csr_path,
        subject: shown,
        key_type,
    })
}

use x509_parser::prelude::FromDer;

/// Step 2: the CA in `ca` signs the CSR as an intermediate CA: `STEM.crt`, `STEM.chain.crt`.
pub fn sign_intermediate(
    ca: &mut Ca,
    csr: &Path,
    pathlen: Option<u8>,
    days: Option<u32>,
    stem: &Path,
    force: bool,
    now: OffsetDateTime,
) -> Result<Issued> {
    let bytes = crate::files::read_limited(csr, 1024 * 1024)?;
    let info = crate::csr::parse(&bytes, csr)?;
    let cn = info.cn.clone().ok_or_else(|| {
        Error::bad_file(
            csr,
            "the CSR has no subject CN: a CA needs a name",
            "make it with mtls-ca --dir DIR init --csr --cn NAME",
        )
    })?;
    profile::check_cn(&cn)?;
    if ca.pathlen() == Some(0) {
        return Err(Error::invalid(
            "--profile",
            "intermediate",
            "this CA has pathLen 0: it may not sign another CA",
            "sign the CSR with a CA whose pathLen allows it (a root without --pathlen 0)",
        ));
    }
    let pathlen = pathlen.unwrap_or(0);
    if let Some(p) = ca.pathlen() {
        if u32::from(pathlen) >= p {
            return Err(Error::invalid(
                "--pathlen",
                pathlen.to_string(),
                format!("must be below this CA's own pathLen ({p})"),
                format!("use --pathlen {} or less", p.saturating_sub(1)),
            ));
        }
    }
    let mut warnings: Vec<String> = info
        .ignored
        .iter()
        .map(|i| format!("the CSR asked for {i}: ignored"))
        .collect();
    let (not_before, not_after) = crate::ca::validity(
        now,
        days,
        INTERMEDIATE_DAYS,
        Some(ca.not_after()?),
        &mut warnings,
    )?;
    let cert_path = crate::ca::with_ext(stem, "crt");
    let chain_path = crate::ca::with_ext(stem, "chain.crt");
    for p in [&cert_path, &chain_path] {
        if !force && std::fs::symlink_metadata(p).is_ok() {
            return Err(Error::FileExists { path: p.clone() });
        }
    }
    let spki = rcgen::SubjectPublicKeyInfo::from_der(&info.spki)?;
    let serial = ca.reserve_serial(now)?;
    let params = profile::params(&profile::Request {
        profile: Profile::Intermediate,
        cn,
        org: None,
        subject: info.subject.clone(),
        sans: Vec::new(),
        key_type: info.key_type,
        serial: serial.clone(),
        not_before,
        not_after,
        pathlen: Some(pathlen),
        constraints: Constraints::default(),
    })?;
    let der = ca.sign(&params, &spki, &serial)?;
    let rec = crate::ca::record(
        &der,
        &serial,
        Profile::Intermediate,
        info.key_type,
        Some(stem.display().to_string()),
        Some(ca.serial_hex()?),
    )?;
    ca.store().record_issued(&rec, now)?;
    let mut chain = vec![der.clone()];
    chain.extend(ca.chain().iter().cloned());
    let mut fs = FileSet::new();
    fs.public(&cert_path, crate::pem::encode("CERTIFICATE", &der));
    fs.public(&chain_path, crate::ca::pem_chain(&chain));
    let written = fs.commit(force)?;
    crate::ca::describe(
        &der,
        Profile::Intermediate,
        info.key_type,
        IssuedFiles {
            cert: cert_path,
            key: PathBuf::new(),
            fullchain: chain_path,
            p12: None,
        },
        written,
        warnings,
    )
}

/// Step 3: completes the CA in `dir` (holding `ca.key` from step 1) with its certificate.
/// `cert` may hold the whole chain; otherwise `STEM.chain.crt` next to it is used.
pub fn complete(
    dir: &Path,
    cert: &Path,
    passphrase: &mut dyn FnMut() -> Result<crate::secret::Passphrase>,
    now: OffsetDateTime,
) -> Result<(Ca, Issued)> {
    let key_path = layout::key(dir);
    let key_bytes = zeroize::Zeroizing::new(crate::files::read_limited(&key_path, 1024 * 1024)?);
    let pass = if crate::keycrypt::is_encrypted(&key_bytes) {
        Some(passphrase()?)
    } else {
        None
    };
    let key = keys::load_private_key_with(&key_bytes, &key_path, pass.as_ref())?;
    for p in [layout::cert(dir), layout::store(dir)] {
        if p.exists() {
            return Err(Error::CaExists {
                dir: dir.to_path_buf(),
                existing: p,
            });
        }
    }
    let mut chain = x509::read_certs(cert)?;
    if chain.len() == 1 {
        let s = cert.display().to_string();
        let sibling = PathBuf::from(format!(
            "{}.chain.crt",
            s.strip_suffix(".crt").unwrap_or(&s)
        ));
        if sibling.exists() {
            chain = x509::read_certs(&sibling)?;
        }
    }
    let der = chain[0].clone();
    let c = x509::parse_cert(&der, cert)?;
    if c.public_key().raw != key.subject_public_key_info().as_slice() {
        return Err(Error::KeyMismatch {
            key: key_path,
            cert: cert.to_path_buf(),
        });
    }
    let is_ca = c
        .basic_constraints()
        .ok()
        .flatten()
        .is_some_and(|bc| bc.value.ca);
    if !is_ca {
        return Err(Error::bad_file(
            cert,
            "not a CA certificate (basicConstraints CA:TRUE is missing)",
            "sign the CSR with --profile intermediate on the root's host",
        ));
    }
    // Every certificate of the chain is signed by the next one.
    for (i, pair) in chain.windows(2).enumerate() {
        let sub = x509::parse_cert(&pair[0], cert)?;
        let iss = x509::parse_cert(&pair[1], cert)?;
        if sub.verify_signature(Some(iss.public_key())).is_err() {
            return Err(Error::bad_file(
                cert,
                format!(
                    "certificate {} of the chain is not signed by the next one",
                    i + 1
                ),
                "give the STEM.crt and STEM.chain.crt written by `sign --profile intermediate`",
            ));
        }
    }
    if chain.len() == 1 {
        return Err(Error::bad_file(
            cert,
            "no chain: the file holds only this CA and no STEM.chain.crt lies next to it",
            "copy STEM.chain.crt (written by `sign --profile intermediate`) next to STEM.crt",
        ));
    }
    let (_, not_after) = x509::validity(&c);
    if not_after <= now {
        return Err(Error::bad_file(
            cert,
            "the certificate has expired",
            "sign a new CSR on the root's host",
        ));
    }
    let key_type = KeyType::of(&key)?;
    let mut fs = FileSet::new();
    fs.public(layout::cert(dir), crate::pem::encode("CERTIFICATE", &der));
    fs.public(layout::chain(dir), crate::ca::pem_chain(&chain));
    fs.check_free(false)?;
    let serial = Serial::from_bytes(c.raw_serial());
    let store_path = layout::store(dir);
    {
        let mut store = Store::create(&store_path)?;
        let rec = crate::ca::record(&der, &serial, Profile::Intermediate, key_type, None, None)?;
        store.reserve_serial_exact(&serial, now)?;
        store.record_issued(&rec, now)?;
    }
    let written = match fs.commit(false) {
        Ok(w) => w,
        Err(e) => {
            crate::ca::remove_store(&store_path);
            return Err(e);
        }
    };
    let issued = crate::ca::describe(
        &der,
        Profile::Intermediate,
        key_type,
        IssuedFiles::of_ca(dir),
        written,
        Vec::new(),
    )?;
    let p = pass.clone();
    let ca = Ca::open_with(dir, &mut || {
        p.clone()
            .ok_or_else(|| crate::keycrypt::needs_passphrase(&layout::key(dir)))
    })?;
    Ok((ca, issued))
}
