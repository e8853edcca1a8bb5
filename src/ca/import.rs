//! Adopting an existing CA (`init --import-cert --import-key`), e.g. one made with openssl.
//!
//! The certificate must be a CA (basicConstraints CA:TRUE), allowed to sign certificates (no
//! keyUsage, or one with keyCertSign), unexpired, and carry a subject key identifier (issued
//! certificates' AKI must match it). The key may be PKCS#8, SEC1 or PKCS#1, encrypted PKCS#8 too;
//! it must match the certificate. The key is stored as PKCS#8, encrypted again (same passphrase)
//! when it was encrypted or when `--encrypt-key` is given. The certificate is stored byte for byte,
//! so issuer names of issued certificates are exactly its subject, even with repeated attributes.

use std::path::{Path, PathBuf};

use rcgen::PublicKeyData;
use time::OffsetDateTime;

use crate::ca::{layout, Ca, Issued, IssuedFiles};
use crate::error::{Error, Result};
use crate::files::FileSet;
use crate::keys::{self, KeyType};
use crate::profile::Profile;
use crate::secret::Passphrase;
use crate::serial::Serial;
use crate::store::Store;
use crate::x509;

/// Options of `init --import-cert --import-key`.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The CA certificate.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// Back up and replace an existing CA.
    pub force: bool,
}

/// Adopts the CA in `opts` into `dir`. `passphrase` is asked only when the key is encrypted;
/// `encrypt` (from `--encrypt-key`) encrypts the stored key.
pub fn import(
    dir: &Path,
    opts: &ImportOptions,
    passphrase: &mut dyn FnMut() -> Result<Passphrase>,
    encrypt: Option<&Passphrase>,
    now: OffsetDateTime,
) -> Result<(Ca, Issued)> {
    layout::check_free(dir, opts.force)?;
    let certs = x509::read_certs(&opts.cert)?;
    let cert_der = certs[0].clone();
    let cert = x509::parse_cert(&cert_der, &opts.cert)?;
    let refuse = |reason: String, hint: &str| Error::bad_file(&opts.cert, reason, hint);
    let is_ca = cert
        .basic_constraints()
        .ok()
        .flatten()
        .is_some_and(|bc| bc.value.ca);
    if !is_ca {
        return Err(refuse(
            "not a CA certificate (basicConstraints CA:TRUE is missing)".into(),
            "give the CA certificate (openssl req -x509 makes one), not a server or client certificate",
        ));
    }
    if let Ok(Some(ku)) = cert.key_usage() {
        if !ku.value.key_cert_sign() {
            return Err(refuse(
                "its keyUsage does not allow signing certificates (no keyCertSign)".into(),
                "this certificate cannot issue; give a CA certificate with keyCertSign",
            ));
        }
    }
    let (_, not_after) = x509::validity(&cert);
    if not_after <= now {
        return Err(refuse(
            format!(
                "the CA certificate expired on {}",
                crate::ca::fmt_date(not_after)
            ),
            "create a new CA with `mtls-ca init`",
        ));
    }
    if x509::ski(&cert).is_none() {
        return Err(refuse(
            "the CA certificate has no subject key identifier, so issued certificates could not name it in their AKI".into(),
            "create a new CA with `mtls-ca init`, or re-issue this one with -addext subjectKeyIdentifier=hash",
        ));
    }
    let key_bytes = zeroize::Zeroizing::new(crate::files::read_limited(&opts.key, 1024 * 1024)?);
    let was_encrypted = crate::keycrypt::is_encrypted(&key_bytes);
    let source_pass = if was_encrypted {
        Some(passphrase()?)
    } else {
        None
    };
    let key = keys::load_private_key_with(&key_bytes, &opts.key, source_pass.as_ref())?;
    if cert.public_key().raw != key.subject_public_key_info().as_slice() {
        return Err(Error::KeyMismatch {
            key: opts.key.clone(),
            cert: opts.cert.clone(),
        });
    }
    let key_type = KeyType::of(&key)?;
    let self_signed =
        cert.subject().as_raw() == cert.issuer().as_raw() && cert.verify_signature(None).is_ok();
    let profile = if self_signed {
        Profile::Root
    } else {
        Profile::Intermediate
    };
    let store_pass = encrypt.or(source_pass.as_ref()).cloned();
    crate::files::ensure_private_dir(dir)?;
    let mut fs = FileSet::new();
    fs.private(
        layout::key(dir),
        crate::ca::key_file_bytes(&key, store_pass.as_ref())?,
    );
    let pem = crate::pem::encode("CERTIFICATE", &cert_der);
    fs.public(layout::cert(dir), pem.clone());
    fs.public(layout::chain(dir), pem.clone());
    if profile == Profile::Root {
        fs.public(layout::bundle(dir), pem);
    }
    fs.check_free(opts.force)?;
    let store_path = layout::store(dir);
    if opts.force {
        crate::ca::backup_store(&store_path)?;
    }
    let serial = Serial::from_bytes(cert.raw_serial());
    {
        let mut store = Store::create(&store_path)?;
        let rec = crate::ca::record(&cert_der, &serial, profile, key_type, None, None)?;
        store.reserve_serial_exact(&serial, now)?;
        store.record_issued(&rec, now)?;
    }
    let written = match fs.commit(opts.force) {
        Ok(w) => w,
        Err(e) => {
            crate::ca::remove_store(&store_path);
            return Err(e);
        }
    };
    let mut warnings = Vec::new();
    if let Ok(Some(ku)) = cert.key_usage() {
        if !ku.value.crl_sign() {
            warnings.push(
                "its keyUsage lacks cRLSign: `mtls-ca crl` cannot publish revocations for it; plan a `mtls-ca ca rotate`"
                    .to_string(),
            );
        }
    }
    if profile == Profile::Intermediate {
        warnings.push(
            "imported an intermediate CA: ca-chain.crt holds only it; append its parents (root last) so fullchain files are complete"
                .to_string(),
        );
    }
    let issued = crate::ca::describe(
        &cert_der,
        profile,
        key_type,
        IssuedFiles::of_ca(dir),
        written,
        warnings,
    )?;
    let sp = store_pass.clone();
    let ca = Ca::open_with(dir, &mut || {
        sp.clone()
            .ok_or_else(|| crate::keycrypt::needs_passphrase(&layout::key(dir)))
    })?;
    Ok((ca, issued))
}
