//! A certificate authority on disk: create one (`init`), open one, issue certificates from it.
//!
//! A CA directory holds `ca.crt`, `ca.key` (0600; the directory is 0700), `ca-chain.crt` (this CA,
//! then its parents, root last) and the store (`store.db`). [`Ca::open`] refuses a key that is
//! readable by others or that does not match `ca.crt`. Issuance follows one order everywhere:
//! validate → check the output files are free → generate the key → reserve the serial → sign →
//! self-check → record → write files. Nothing is written unless every earlier step succeeded.
//!
//! This module opens a CA and holds what its rooms share (the options and result types,
//! validity rules, the record and the description of an issuance); creating a CA directory is
//! in `init`, issuing leaf certificates in `issue`, and each later operation (`rotate`,
//! `cross_sign`, `crl`, `lifecycle`, …) in a module of its own.

pub mod audit;
pub mod batch;
pub mod ceremony;
pub mod crl;
pub mod cross_sign;
pub mod csr;
pub mod doctor;
pub mod import;
mod init;
mod issue;
pub mod join;
pub mod journal;
pub mod layout;
pub mod lifecycle;
pub mod overlap;
pub mod profiles;
pub mod rotate;
pub mod store;

use std::path::{Path, PathBuf};

use rcgen::{DistinguishedName, DnType, DnValue, KeyPair, PublicKeyData};
use ring::rand::SystemRandom;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::files::Written;
use crate::keys::{self, KeyType};
use crate::names::San;
use crate::profile::{self, Constraints, Profile};
use crate::serial::Serial;
use crate::signer::CaKey;
use crate::store::{Record, Store, STORE_FILE};

/// The store's write-ahead log.
const STORE_WAL: &str = "store.db-wal";
/// The store's shared-memory index.
const STORE_SHM: &str = "store.db-shm";
use crate::x509;

pub use layout::{with_ext, CA_CERT, CA_CHAIN, CA_FILES, CA_KEY};

/// How far notBefore is backdated to absorb clock skew.
pub const BACKDATE: Duration = Duration::minutes(5);
/// Default validity of a root CA, in days.
pub const ROOT_DAYS: u32 = 3650;
/// Default validity of an intermediate CA, in days.
pub const INTERMEDIATE_DAYS: u32 = 1826;
/// Default validity of a leaf, in days.
pub const LEAF_DAYS: u32 = 365;
/// Server certificates above this many days draw a warning (public-CA limit).
pub const SERVER_WARN_DAYS: u32 = 398;
/// Server certificates above this many days are refused without `allow_long_validity`.
pub const SERVER_MAX_DAYS: u32 = 825;
/// Upper bound on any `--days`.
pub const MAX_DAYS: u32 = 36500;

/// Options of `init`.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Subject CN.
    pub cn: Option<String>,
    /// Subject O.
    pub org: Option<String>,
    /// Further subject attributes (`--subject`).
    pub subject: crate::subject::Subject,
    /// CA key type.
    pub key_type: KeyType,
    /// Validity in days (None: the default for the kind of CA).
    pub days: Option<u32>,
    /// pathLenConstraint.
    pub pathlen: Option<u8>,
    /// Name constraints.
    pub constraints: Constraints,
    /// Make an intermediate signed by the CA in this directory.
    pub parent: Option<PathBuf>,
    /// Back up and replace existing CA files.
    pub force: bool,
}

/// Options of `issue`.
#[derive(Debug, Clone)]
pub struct IssueOptions {
    /// server or client.
    pub profile: Profile,
    /// Subject CN.
    pub cn: String,
    /// Further subject attributes (`--subject`).
    pub subject: crate::subject::Subject,
    /// Subject alternative names as typed.
    pub sans: Vec<String>,
    /// Validity in days (None: 365, capped by the CA).
    pub days: Option<u32>,
    /// Validity as a duration (wins over `days`).
    pub valid: Option<Duration>,
    /// Leaf key type.
    pub key_type: KeyType,
    /// Output stem: STEM.crt, STEM.key, STEM.fullchain.crt.
    pub stem: PathBuf,
    /// Back up and replace existing files.
    pub force: bool,
    /// Permit server certificates above 825 days.
    pub allow_long_validity: bool,
}

/// A leaf to issue through [`Ca::issue_leaf`] (issue, sign and renew all go through it).
#[derive(Debug, Clone)]
pub struct LeafRequest {
    /// server or client.
    pub profile: Profile,
    /// Subject CN (validated).
    pub cn: String,
    /// Further subject attributes, least specific first (the CN goes last).
    pub subject: crate::subject::Subject,
    /// SANs (validated; for servers, already including the CN).
    pub sans: Vec<San>,
    /// Validity in days (None: `default_days`, capped by the CA).
    pub days: Option<u32>,
    /// Validity as a duration (`--valid 30m`); when set, it wins over `days`. Refused when it
    /// would outlive the CA.
    pub valid: Option<Duration>,
    /// Validity when `days` is None.
    pub default_days: u32,
    /// Output stem.
    pub stem: PathBuf,
    /// Back up and replace existing files.
    pub force: bool,
    /// The serial this certificate renews (recorded as superseded by the new one).
    pub renews: Option<String>,
    /// Warnings gathered so far.
    pub warnings: Vec<String>,
}

/// The subject key of a new leaf.
#[derive(Debug)]
pub enum LeafKey {
    /// Generate a new key of this type (written as STEM.key).
    Generate(KeyType),
    /// Use this key pair (written as STEM.key).
    Existing(Box<KeyPair>),
    /// Only a public key (from a CSR or a renewed certificate): no key file is written.
    Public {
        /// The SubjectPublicKeyInfo, DER.
        spki: Vec<u8>,
        /// Its key type.
        key_type: KeyType,
    },
}

/// The outcome of `issue` (and of `init`, for the CA certificate).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Issued {
    /// Serial, lowercase hex.
    pub serial: String,
    /// Subject DN text.
    pub subject: String,
    /// SANs as text.
    pub sans: Vec<String>,
    /// notBefore.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// notAfter.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// The profile.
    pub profile: Profile,
    /// Key type.
    pub key_type: KeyType,
    /// Files written: cert, key, fullchain (or chain for a CA).
    pub files: IssuedFiles,
    /// Everything written, with modes and backups.
    #[serde(skip)]
    pub written: Vec<Written>,
    /// Things the user should know (capped validity, long validity, …).
    pub warnings: Vec<String>,
    /// The profile from `profiles.toml` it was issued with (`profile` is then the built-in
    /// behaviour that profile follows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_profile: Option<String>,
    /// The serial this certificate renews (a renewal's successor), for the audit log.
    #[serde(skip)]
    pub renews: Option<String>,
}

/// A leaf signed for the online CA's group commit: reserved and signed, not yet recorded
/// (see [`Ca::sign_unrecorded`]).
#[derive(Debug)]
pub struct Unrecorded {
    /// What was signed (no files).
    pub issued: Issued,
    /// The certificate.
    pub der: Vec<u8>,
    /// What the store is to record.
    pub record: Record,
}

/// The main files of an issuance.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IssuedFiles {
    /// The certificate.
    pub cert: PathBuf,
    /// The private key (empty when no key was written, e.g. `sign`).
    #[serde(skip_serializing_if = "path_is_empty")]
    pub key: PathBuf,
    /// Leaf + intermediates (issue) or this CA + parents (init).
    pub fullchain: PathBuf,
    /// The PKCS#12 file, when `--p12` wrote one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p12: Option<PathBuf>,
}

impl IssuedFiles {
    /// The files of a CA directory whose key is `key`: `ca.crt`, `ca.key` (or `ca.key-uri` for
    /// a key in a token), `ca-chain.crt`.
    pub(crate) fn of_ca_key(dir: &Path, key: &CaKey) -> IssuedFiles {
        let mut f = IssuedFiles::of_ca(dir);
        if key.token().is_some() {
            f.key = layout::key_uri(dir);
        }
        f
    }

    /// The files of a CA directory: `ca.crt`, `ca.key`, `ca-chain.crt`.
    pub fn of_ca(dir: &Path) -> IssuedFiles {
        IssuedFiles {
            cert: dir.join(CA_CERT),
            key: dir.join(CA_KEY),
            fullchain: dir.join(CA_CHAIN),
            p12: None,
        }
    }
}

/// An open CA. Its certificate is parsed once, when it is opened (or replaced by a rotation);
/// its fields change only through its own methods.
#[derive(Debug)]
pub struct Ca {
    dir: PathBuf,
    cert_der: Vec<u8>,
    /// What signing and validity need from `cert_der`, parsed once.
    cert: CaCert,
    key: CaKey,
    chain: Vec<Vec<u8>>,
    store: Store,
    rng: SystemRandom,
    /// The passphrase `ca.key` was decrypted with (None: the key is not encrypted).
    passphrase: Option<crate::secret::Passphrase>,
    /// Where issued leaves say their CRL, OCSP responder and issuer are published (the online
    /// CA's `--public-url`; None: leaves carry none of these extensions).
    public_urls: Option<crate::pki::aia::PublicUrls>,
    /// Serials reserved ahead and not used yet, and how many to reserve at a time (0: one per
    /// issuance, the CLI's way; see [`Ca::pool_serials`]).
    serial_pool: (usize, Vec<Serial>),
}

/// The parts of the CA certificate that issuance uses, parsed once.
#[derive(Debug, Clone)]
struct CaCert {
    not_after: OffsetDateTime,
    serial_hex: String,
    pathlen: Option<u32>,
    /// The subject, DER, as issued certificates must name their issuer.
    subject_raw: Vec<u8>,
    /// The subject as rcgen's name (exact or not: the signer splices the raw bytes if needed).
    subject_dn: DistinguishedName,
    ski: Option<Vec<u8>>,
}

impl CaCert {
    fn parse(der: &[u8], path: &Path) -> Result<CaCert> {
        let c = x509::parse_cert(der, path)?;
        Ok(CaCert {
            not_after: x509::validity(&c).1,
            serial_hex: Serial::from_bytes(c.raw_serial()).hex(),
            pathlen: c
                .basic_constraints()
                .ok()
                .flatten()
                .and_then(|bc| bc.value.path_len_constraint),
            subject_raw: c.subject().as_raw().to_vec(),
            subject_dn: dn_from_x509(c.subject()).0,
            ski: x509::ski(&c),
        })
    }
}

impl Ca {
    /// Opens the CA in `dir`, checking the key's permissions and that it matches `ca.crt`.
    /// An encrypted `ca.key` is refused (use [`Ca::open_with`]).
    pub fn open(dir: &Path) -> Result<Ca> {
        Ca::open_with(dir, &mut || {
            Err(crate::keycrypt::needs_passphrase(&dir.join(CA_KEY)))
        })
    }

    /// Opens the CA in `dir`; when `ca.key` is encrypted, `passphrase` is called (once) for the
    /// passphrase. A wrong passphrase is an error and nothing is touched.
    pub fn open_with(
        dir: &Path,
        passphrase: &mut dyn FnMut() -> Result<crate::secret::Passphrase>,
    ) -> Result<Ca> {
        // Complete or undo a multi-file change a crash interrupted (`init`, `ca rotate`).
        recover(dir)?;
        let shared =
            crate::store::postgres::location(dir, &crate::store::connect_options())?.is_some();
        layout::check_present_with(dir, shared)?;
        // A directory (or file) another user could change is not trusted with a CA key.
        crate::files::check_dir_trusted(dir)?;
        let in_token = layout::key_uri(dir).exists();
        let key_name = if in_token { layout::KEY_URI } else { CA_KEY };
        for name in [CA_CERT, key_name, STORE_FILE, CA_CHAIN] {
            let p = dir.join(name);
            let optional = name == CA_CHAIN || (name == STORE_FILE && shared);
            if !optional || std::fs::symlink_metadata(&p).is_ok() {
                crate::files::check_trusted(&p, false)?;
            }
        }
        let cert_path = dir.join(CA_CERT);
        let certs = x509::read_certs(&cert_path)?;
        let cert_der = certs.into_iter().next().ok_or_else(|| {
            Error::bad_file(&cert_path, "no certificate", "restore ca.crt from a backup")
        })?;
        let key_path = dir.join(key_name);
        let (key, pass) = if in_token {
            (load_token_key(&key_path)?, None)
        } else {
            let meta = std::fs::metadata(&key_path).map_err(|e| Error::io(&key_path, e))?;
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(Error::KeyPermissions {
                        path: key_path,
                        mode,
                    });
                }
            }
            let key_bytes = Zeroizing::new(crate::files::read_limited(&key_path, 1024 * 1024)?);
            let pass = if crate::keycrypt::is_encrypted(&key_bytes) {
                Some(passphrase()?)
            } else {
                None
            };
            let key = keys::load_private_key_with(&key_bytes, &key_path, pass.as_ref())?;
            (CaKey::File(key), pass)
        };
        let cert = x509::parse_cert(&cert_der, &cert_path)?;
        check_is_ca(&cert, &cert_path)?;
        if cert.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(Error::KeyMismatch {
                key: key_path,
                cert: cert_path,
            });
        }
        let chain_path = dir.join(CA_CHAIN);
        let chain = if chain_path.exists() {
            x509::read_certs(&chain_path)?
        } else {
            vec![cert_der.clone()]
        };
        let store = Store::open_dir(dir, &crate::store::connect_options())?;
        // ca.crt + ca.key must be this store's CA: a pair dropped in from elsewhere would sign
        // under serials the store tracks for another CA and make CRLs that drop its revocations.
        let serial = Serial::from_bytes(cert.raw_serial()).hex();
        let (known, issued_any) = store.ca_standing(&serial)?;
        // A rotated intermediate is recorded in its parent's store, not in this one: until it
        // issues, it is this store's CA when a CA it retired is.
        let known = known
            || layout::retired_cert_paths(dir).iter().any(|p| {
                x509::read_certs(p)
                    .ok()
                    .and_then(|c| c.into_iter().next())
                    .and_then(|der| {
                        let c = x509::parse_cert(&der, p).ok()?;
                        let s = Serial::from_bytes(c.raw_serial()).hex();
                        store.ca_standing(&s).ok().map(|(k, _)| k)
                    })
                    .unwrap_or(false)
            });
        if !known && issued_any {
            return Err(Error::bad_file(
                &cert_path,
                format!("this CA certificate (serial {serial}) is not the CA of the store in this directory"),
                "put back the CA files this directory was made with, or use another --dir for this CA (see `mtls-ca doctor`)",
            ));
        }
        Ca::from_parts(dir, cert_der, key, chain, store, pass)
    }

    /// An open CA from its parts (the certificate is parsed here, once).
    fn from_parts(
        dir: &Path,
        cert_der: Vec<u8>,
        key: CaKey,
        chain: Vec<Vec<u8>>,
        store: Store,
        passphrase: Option<crate::secret::Passphrase>,
    ) -> Result<Ca> {
        let cert = CaCert::parse(&cert_der, &layout::cert(dir))?;
        Ok(Ca {
            dir: dir.to_path_buf(),
            cert_der,
            cert,
            key,
            chain,
            store,
            rng: SystemRandom::new(),
            passphrase,
            public_urls: None,
            serial_pool: (0, Vec::new()),
        })
    }

    /// Makes `cert_der` and `key` this CA (after a rotation wrote them): a root, so its chain is
    /// itself.
    pub(crate) fn replace_root(&mut self, cert_der: Vec<u8>, key: CaKey) -> Result<()> {
        self.cert = CaCert::parse(&cert_der, &layout::cert(&self.dir))?;
        self.chain = vec![cert_der.clone()];
        self.cert_der = cert_der;
        self.key = key;
        Ok(())
    }

    /// Makes `cert_der` (with its parents, `chain` = this CA then its parents, root last) and
    /// `key` this CA (after an intermediate's rotation wrote them).
    pub(crate) fn replace_intermediate(&mut self, chain: Vec<Vec<u8>>, key: CaKey) -> Result<()> {
        let cert_der = chain.first().cloned().unwrap_or_default();
        self.cert = CaCert::parse(&cert_der, &layout::cert(&self.dir))?;
        self.chain = chain;
        self.cert_der = cert_der;
        self.key = key;
        Ok(())
    }

    /// Refuses a leaf whose CN or SANs fall outside the name constraints of this CA or of any
    /// parent up its chain (see [`crate::name_constraints`]).
    pub fn check_name_constraints(&self, cn: &str, sans: &[San]) -> Result<()> {
        check_constraints(&self.chain_constraints()?, cn, sans)
    }

    /// The name constraints of this CA and its parents (only those that have some).
    pub(crate) fn chain_constraints(&self) -> Result<Vec<crate::name_constraints::CaConstraints>> {
        let mut chain = Vec::with_capacity(self.chain.len());
        for der in &self.chain {
            let c = x509::parse_cert(der, &self.dir.join(CA_CHAIN))?;
            let nc = crate::name_constraints::of_cert(&c);
            if !nc.permitted.is_empty() || !nc.excluded.is_empty() {
                chain.push(nc);
            }
        }
        Ok(chain)
    }

    /// Signs `params` for `subject_key` with this CA, fixing the issuer bytes if rcgen could not
    /// reproduce them, and runs the self-check.
    pub(crate) fn sign(
        &self,
        params: &rcgen::CertificateParams,
        subject_key: &impl PublicKeyData,
        serial: &Serial,
    ) -> Result<Vec<u8>> {
        self.signer().sign(params, subject_key, serial)
    }

    /// What signing needs, without the store: shareable across threads (bulk issuance).
    pub(crate) fn signer(&self) -> Signer<'_> {
        Signer {
            cert_der: &self.cert_der,
            cert: &self.cert,
            key: &self.key,
        }
    }

    /// Certificates that were recorded but whose files could not be written (a full disk, an
    /// I/O error) are revoked at once, reason cessationOfOperation: nobody holds them, and `list`
    /// and the CRL must not show them as valid. Best effort: when the store cannot be written
    /// either, they stay recorded and `mtls-ca doctor` lists them as records without files.
    pub(crate) fn void_unwritten(&mut self, serials: &[String], now: OffsetDateTime) {
        for s in serials {
            let _ = self.store.revoke(s, "cessation-of-operation", now);
        }
    }

    /// The CA's private key (a key file's, or a PKCS#11 token's).
    pub(crate) fn key(&self) -> &CaKey {
        &self.key
    }

    /// Where the CA key lives: `file` (`ca.key`) or its PKCS#11 URI (never a PIN).
    pub fn key_location(&self) -> String {
        self.key.location()
    }

    /// The passphrase `ca.key` was decrypted with (None: the key is not encrypted).
    pub(crate) fn passphrase(&self) -> Option<&crate::secret::Passphrase> {
        self.passphrase.as_ref()
    }

    /// Reserves a new random serial in the store.
    pub(crate) fn reserve_serial(&mut self, now: OffsetDateTime) -> Result<Serial> {
        let (n, pool) = &mut self.serial_pool;
        if *n == 0 {
            return self.store.reserve_serial(&self.rng, now);
        }
        if pool.is_empty() {
            *pool = self.store.reserve_serials(&self.rng, *n, now)?;
        }
        pool.pop().ok_or_else(|| Error::StoreDamaged {
            path: self.store.path().to_path_buf(),
            reason: "no serial could be reserved".into(),
        })
    }

    /// How many serials the pool ([`Ca::pool_serials`]) reserves at a time when it is low
    /// ([`Ca::serials_low`]), 0 when there is no pool.
    pub fn serials_wanted(&self) -> usize {
        if self.serials_low() {
            self.serial_pool.0
        } else {
            0
        }
    }

    /// Whether the serial pool has fallen below a quarter (or is empty): time to reserve more
    /// ahead ([`Ca::add_serials`]) where no request waits for it.
    pub fn serials_low(&self) -> bool {
        let (n, pool) = &self.serial_pool;
        *n > 0 && pool.len() < *n / 4
    }

    /// Adds serials reserved elsewhere (already committed in this CA's store, e.g. by the
    /// online CA's group commit) to the pool; the older ones are handed out first.
    pub fn add_serials(&mut self, more: Vec<Serial>) {
        let (_, pool) = &mut self.serial_pool;
        let mut all = more;
        all.append(pool);
        *pool = all;
    }

    /// Makes leaf issuance take serials from a pool reserved `n` at a time (one store
    /// transaction per `n` issuances instead of one each): for a long-running process (`ca
    /// serve`). Each serial is still reserved under the uniqueness constraint before anything
    /// is signed with it; a process that ends leaves the rest reserved and unused (not listed,
    /// never reused). 0 or 1: one reservation per issuance.
    pub fn pool_serials(&mut self, n: usize) {
        self.serial_pool = (if n > 1 { n } else { 0 }, Vec::new());
    }

    /// The same CA opened again, with the passphrase it was opened with, its public URLs and
    /// its serial pool size: another handle on the same directory, key and store, with its own
    /// store connection and serial pool (the online CA signs on several threads at once).
    pub fn reopen(&self) -> Result<Ca> {
        let pass = self.passphrase.clone();
        let key = self.dir.join(CA_KEY);
        let mut ca = Ca::open_with(&self.dir, &mut || {
            pass.clone()
                .ok_or_else(|| crate::keycrypt::needs_passphrase(&key))
        })?;
        ca.public_urls = self.public_urls.clone();
        ca.pool_serials(self.serial_pool.0);
        Ok(ca)
    }

    /// Reserves `n` new random serials in the store.
    pub(crate) fn reserve_serials(&mut self, n: usize, now: OffsetDateTime) -> Result<Vec<Serial>> {
        self.store.reserve_serials(&self.rng, n, now)
    }

    /// Makes every leaf issued from now on carry the CRL distribution point and the AIA
    /// (OCSP, caIssuers) URLs of `urls` (None: none of them).
    pub fn set_public_urls(&mut self, urls: Option<crate::pki::aia::PublicUrls>) {
        self.public_urls = urls;
    }

    /// Signs `msg` with the CA key (an OCSP response's data); returns the signature and the
    /// DER of its AlgorithmIdentifier.
    pub fn sign_raw(&self, msg: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
        use rcgen::SigningKey;
        let sig = self.key.sign(msg)?;
        Ok((sig, crate::pki::aia::sig_alg_der(self.key.key_type()?)))
    }

    /// The CA directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA certificate (DER).
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// This CA then its parents, root last (DER).
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// This CA and its parents except the root: what a leaf's fullchain carries after the leaf.
    pub fn intermediates(&self) -> &[Vec<u8>] {
        match self.chain.len() {
            0 | 1 => &[],
            n => &self.chain[..n - 1],
        }
    }

    /// The store.
    pub fn store(&mut self) -> &mut Store {
        &mut self.store
    }

    /// The CA certificate's notAfter (parsed when the CA was opened: never fails; the `Result`
    /// stays for the callers of the first release).
    pub fn not_after(&self) -> Result<OffsetDateTime> {
        Ok(self.cert.not_after)
    }

    fn pathlen(&self) -> Option<u32> {
        self.cert.pathlen
    }

    /// The serial of this CA's certificate, lowercase hex (parsed when the CA was opened: never
    /// fails).
    pub fn serial_hex(&self) -> Result<String> {
        Ok(self.cert.serial_hex.clone())
    }
}

/// The CA certificate and key, borrowed for signing (`Sync`, so bulk issuance can sign on
/// every core while the store stays with the [`Ca`]).
pub(crate) struct Signer<'a> {
    cert_der: &'a [u8],
    cert: &'a CaCert,
    key: &'a CaKey,
}

impl Signer<'_> {
    /// Signs `params` for `subject_key`, fixing the issuer bytes if rcgen could not reproduce
    /// them, and runs the self-check.
    pub(crate) fn sign(
        &self,
        params: &rcgen::CertificateParams,
        subject_key: &impl PublicKeyData,
        serial: &Serial,
    ) -> Result<Vec<u8>> {
        let mut ip = rcgen::CertificateParams::default();
        ip.distinguished_name = self.cert.subject_dn.clone();
        ip.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        if let Some(ski) = &self.cert.ski {
            ip.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(ski.clone());
        }
        let issuer = rcgen::Issuer::new(ip, self.key);
        let mut der = profile::with_ski(params, subject_key)
            .signed_by(subject_key, &issuer)?
            .der()
            .to_vec();
        let issuer_matches = x509::parse_cert(&der, Path::new("<new certificate>"))?
            .issuer()
            .as_raw()
            == self.cert.subject_raw.as_slice();
        if !issuer_matches {
            der = crate::der::replace_issuer(&der, &self.cert.subject_raw, self.key)?;
        }
        x509::self_check(&der, self.cert_der, serial, false)?;
        Ok(der)
    }
}

/// [`crate::name_constraints::check`] as an [`Error`] naming the name and the constraint.
pub(crate) fn check_constraints(
    chain: &[crate::name_constraints::CaConstraints],
    cn: &str,
    sans: &[San],
) -> Result<()> {
    crate::name_constraints::check(chain, cn, sans).map_err(|v| {
        Error::invalid(
            v.what,
            v.name,
            v.reason,
            "certify only names the CA may certify (see `mtls-ca inspect DIR/ca.crt`), or issue from a CA without these constraints",
        )
    })
}

/// Computes notBefore/notAfter: backdated 5 minutes, `days` (or the default) long, never past
/// `cap` (the issuer's notAfter): an explicit `days` beyond it is refused, the default is capped.
pub(crate) fn validity(
    now: OffsetDateTime,
    days: Option<u32>,
    default_days: u32,
    cap: Option<OffsetDateTime>,
    warnings: &mut Vec<String>,
) -> Result<(OffsetDateTime, OffsetDateTime)> {
    let now = now.replace_nanosecond(0).unwrap_or(now);
    if let Some(d) = days {
        if d == 0 || d > MAX_DAYS {
            return Err(Error::invalid(
                "--days",
                d.to_string(),
                "must be between 1 and 36500",
                "give the validity in days, e.g. --days 365",
            ));
        }
    }
    let not_before = now - BACKDATE;
    let mut not_after = now + Duration::days(i64::from(days.unwrap_or(default_days)));
    if let Some(cap) = cap {
        if cap <= now {
            return Err(Error::Validity(
                format!("the issuing CA expired on {}", fmt_date(cap)),
                "renew the CA (`mtls-ca ca rotate`) or issue from another CA".into(),
            ));
        }
        if not_after > cap {
            if let Some(d) = days {
                let left = (cap - now).whole_days();
                return Err(Error::Validity(
                    format!(
                        "--days {d} would outlive the issuing CA, which expires on {}",
                        fmt_date(cap)
                    ),
                    format!("use --days {left} or less"),
                ));
            }
            warnings.push(format!(
                "validity capped to the issuing CA's expiry ({})",
                fmt_date(cap)
            ));
            not_after = cap;
        }
    }
    Ok((not_before, not_after))
}

/// notBefore/notAfter for a validity given as a duration (`--valid 30m`): backdated like
/// [`validity`], at least one minute, never past `cap` (refused, not capped: it was asked for).
pub(crate) fn validity_for(
    now: OffsetDateTime,
    valid: Duration,
    cap: OffsetDateTime,
) -> Result<(OffsetDateTime, OffsetDateTime)> {
    let now = now.replace_nanosecond(0).unwrap_or(now);
    if valid < Duration::minutes(1) || valid > Duration::days(i64::from(MAX_DAYS)) {
        return Err(Error::invalid(
            "--valid",
            format!("{}s", valid.whole_seconds()),
            "must be between 1 minute and 36500 days",
            "give it as 30m, 12h or 90d",
        ));
    }
    if cap <= now {
        return Err(Error::Validity(
            format!("the issuing CA expired on {}", fmt_date(cap)),
            "renew the CA (`mtls-ca ca rotate`) or issue from another CA".into(),
        ));
    }
    let not_after = now + valid;
    if not_after > cap {
        return Err(Error::Validity(
            format!(
                "--valid would outlive the issuing CA, which expires on {}",
                fmt_date(cap)
            ),
            "give a shorter --valid".into(),
        ));
    }
    Ok((now - BACKDATE, not_after))
}

/// Refuses a certificate that may not sign certificates: no basicConstraints CA:TRUE, or a
/// keyUsage without keyCertSign (e.g. a leaf put in place of `ca.crt`).
pub fn check_is_ca(
    cert: &x509_parser::certificate::X509Certificate<'_>,
    path: &Path,
) -> Result<()> {
    let is_ca = cert
        .basic_constraints()
        .ok()
        .flatten()
        .is_some_and(|bc| bc.value.ca);
    let can_sign = match cert.key_usage() {
        Ok(Some(ku)) => ku.value.key_cert_sign(),
        Ok(None) => true,
        Err(_) => false,
    };
    if !is_ca || !can_sign {
        return Err(Error::bad_file(
            path,
            if !is_ca {
                "not a CA certificate (basicConstraints CA:TRUE is missing): refusing to sign with it"
            } else {
                "its keyUsage lacks keyCertSign: refusing to sign with it"
            },
            "restore the CA certificate this directory was made with (ca-*.crt, a backup), or check the directory with `mtls-ca doctor`",
        ));
    }
    Ok(())
}

/// `YYYY-MM-DD`.
pub fn fmt_date(t: OffsetDateTime) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// The validity rules of leaves: servers above 825 days need `allow_long`, above 398 warn.
pub(crate) fn check_leaf_days(
    profile: Profile,
    days: Option<u32>,
    allow_long: bool,
    warnings: &mut Vec<String>,
) -> Result<()> {
    if let Some(d) = days {
        if profile.is_server() && d > SERVER_MAX_DAYS && !allow_long {
            return Err(Error::invalid(
                "--days",
                d.to_string(),
                "server certificates valid for more than 825 days are rejected by Apple clients",
                "use --days 398 or less, or pass --allow-long-validity",
            ));
        }
        if profile.is_server() && d > SERVER_WARN_DAYS {
            warnings.push(format!(
                "valid for {d} days: public CAs stop at 398; rotate more often"
            ));
        }
    }
    Ok(())
}

fn path_is_empty(p: &Path) -> bool {
    p.as_os_str().is_empty()
}

/// The CA key a `ca.key-uri` file (or a retired `ca-<prefix>.key-uri`) names, opened in its
/// token.
pub(crate) fn load_token_key(path: &Path) -> Result<CaKey> {
    let text = crate::files::read_limited(path, 64 * 1024)?;
    let text = String::from_utf8_lossy(&text);
    let uri = crate::pkcs11::Pkcs11Uri::parse(text.trim()).map_err(|e| {
        Error::bad_file(
            path,
            format!("not a PKCS#11 URI ({e})"),
            "restore it from the CA directory this one was made from",
        )
    })?;
    let key = crate::pkcs11::TokenKey::open(&uri, &crate::pkcs11::env())?;
    Ok(CaKey::Token(key))
}

/// The bytes of a CA key file: encrypted PKCS#8 with a passphrase, plain PKCS#8 otherwise.
pub(crate) fn key_file_bytes(
    key: &KeyPair,
    passphrase: Option<&crate::secret::Passphrase>,
) -> Result<Zeroizing<Vec<u8>>> {
    match passphrase {
        Some(p) => crate::keycrypt::encrypt_pem(key, p),
        None => Ok(to_bytes(keys::to_pkcs8_pem(key))),
    }
}

fn to_bytes(s: Zeroizing<String>) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(s.as_bytes().to_vec())
}

pub(crate) fn pem_chain(chain: &[Vec<u8>]) -> String {
    chain
        .iter()
        .map(|c| crate::pem::encode("CERTIFICATE", c))
        .collect()
}

/// Completes or undoes a multi-file change of `dir` (`init`, `ca rotate`) that a crash
/// interrupted, if there is one (see [`journal`]).
pub fn recover(dir: &Path) -> Result<Option<journal::Recovered>> {
    journal::recover(dir, &record_pending)
}

/// The store record a journalled change asks for (the new CA of a rotation), made unless the
/// store already holds it.
pub(crate) fn record_pending(dir: &Path, r: &journal::PendingRecord) -> Result<()> {
    // The directory's own store: `store.db`, or the PostgreSQL database of `store.url`.
    let mut store = Store::open_dir(dir, &crate::store::connect_options())?;
    let der = r.der(dir)?;
    let c = x509::parse_cert(&der, &dir.join(journal::JOURNAL))?;
    let serial = Serial::from_bytes(c.raw_serial());
    if store.get(&serial.hex())?.is_some() {
        return Ok(());
    }
    let profile = Profile::parse(&r.profile)?;
    let key_type: KeyType = r.key_type.parse()?;
    let rec = record(&der, &serial, profile, key_type, None, None)?;
    let at = OffsetDateTime::from_unix_timestamp(r.at).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    store.record_issued(&rec, at)
}

pub(crate) fn record(
    der: &[u8],
    serial: &Serial,
    profile: Profile,
    key_type: KeyType,
    stem: Option<String>,
    ca_serial: Option<String>,
) -> Result<Record> {
    let c = x509::parse_cert(der, Path::new("<new certificate>"))?;
    let (nb, na) = x509::validity(&c);
    Ok(Record {
        serial: serial.clone(),
        profile: profile.as_str().into(),
        subject: crate::subject::display(c.subject()),
        sans: x509::san_strings(&c),
        key_type: key_type.as_str().into(),
        not_before: nb,
        not_after: na,
        der: der.to_vec(),
        sha256: x509::sha256_hex(der),
        stem,
        ca_serial,
        renews: None,
    })
}

pub(crate) fn describe(
    der: &[u8],
    profile: Profile,
    key_type: KeyType,
    files: IssuedFiles,
    written: Vec<Written>,
    warnings: Vec<String>,
) -> Result<Issued> {
    let c = x509::parse_cert(der, Path::new("<new certificate>"))?;
    let (nb, na) = x509::validity(&c);
    Ok(Issued {
        serial: Serial::from_bytes(c.raw_serial()).hex(),
        subject: crate::subject::display(c.subject()),
        sans: x509::san_strings(&c),
        not_before: nb,
        not_after: na,
        profile,
        key_type,
        files,
        written,
        warnings,
        file_profile: None,
        renews: None,
    })
}

/// Converts a parsed name to rcgen's, keeping string types. `exact` is false when rcgen cannot
/// represent it (repeated or multi-valued attributes); the signer then splices the raw bytes.
pub(crate) fn dn_from_x509(name: &x509_parser::x509::X509Name<'_>) -> (DistinguishedName, bool) {
    use x509_parser::der_parser::asn1_rs::Tag;
    let mut dn = DistinguishedName::new();
    let mut exact = true;
    let mut seen = std::collections::HashSet::new();
    for rdn in name.iter() {
        let attrs: Vec<_> = rdn.iter().collect();
        if attrs.len() != 1 {
            exact = false;
        }
        for attr in attrs {
            let Some(oid) = attr.attr_type().iter() else {
                exact = false;
                continue;
            };
            let oid: Vec<u64> = oid.collect();
            let ty = DnType::from_oid(&oid);
            if !seen.insert(oid) {
                exact = false;
            }
            let data = attr.attr_value().data;
            let text = String::from_utf8_lossy(data).into_owned();
            let value = match attr.attr_value().header.tag() {
                Tag::PrintableString => {
                    match rcgen::string::PrintableString::try_from(text.clone()) {
                        Ok(p) => DnValue::PrintableString(p),
                        Err(_) => {
                            exact = false;
                            DnValue::Utf8String(text)
                        }
                    }
                }
                Tag::Utf8String => DnValue::Utf8String(text),
                Tag::Ia5String => match rcgen::string::Ia5String::try_from(text.clone()) {
                    Ok(p) => DnValue::Ia5String(p),
                    Err(_) => {
                        exact = false;
                        DnValue::Utf8String(text)
                    }
                },
                _ => {
                    exact = false;
                    DnValue::Utf8String(text)
                }
            };
            dn.push(ty, value);
        }
    }
    (dn, exact)
}

pub(crate) fn backup_store(store_path: &Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = store_path.as_os_str().to_owned();
        p.push(suffix);
        let p = PathBuf::from(p);
        if p.exists() {
            let bak = crate::files::bak_name(&p);
            std::fs::rename(&p, &bak).map_err(|e| Error::io(&p, e))?;
        }
    }
    Ok(())
}

pub(crate) fn remove_store(store_path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = store_path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_serial_pool_reserves_ahead_and_hands_out_each_serial_once() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let now = OffsetDateTime::now_utc();
        let (mut ca, _) = Ca::init(
            &tmp.path().join("pki"),
            &InitOptions {
                subject: Default::default(),
                cn: Some("Pool Test CA".into()),
                org: None,
                key_type: KeyType::EcdsaP256,
                days: None,
                pathlen: None,
                constraints: Constraints::default(),
                parent: None,
                force: false,
            },
            now,
        )
        .expect("init");
        let count = |ca: &mut Ca| ca.store().count_serials().expect("count");
        let base = count(&mut ca);
        ca.pool_serials(4);
        let got: Vec<String> = (0..5)
            .map(|_| ca.reserve_serial(now).expect("reserve").hex())
            .collect();
        let mut uniq = got.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), 5, "each serial handed out once");
        // Two pools of four reserved, in two transactions; none of them listed.
        assert_eq!(count(&mut ca), base + 8);
        assert!(ca
            .store()
            .list(now, None)
            .expect("list")
            .iter()
            .all(|e| !got.contains(&e.serial)));
        // Refilled ahead once below a quarter: nothing reserved twice, none handed out twice.
        ca.pool_serials(8);
        assert!(
            ca.serials_low(),
            "an empty pool is low: refilled when a lease ends"
        );
        let mut more: Vec<String> = (0..7)
            .map(|_| ca.reserve_serial(now).expect("reserve").hex())
            .collect();
        assert!(ca.serials_low(), "1 of 8 left");
        assert_eq!(ca.serials_wanted(), 8);
        let ahead = ca
            .store()
            .reserve_serials(&ring::rand::SystemRandom::new(), 8, now)
            .expect("reserve ahead");
        ca.add_serials(ahead);
        assert!(!ca.serials_low());
        assert_eq!(ca.serials_wanted(), 0);
        assert_eq!(
            count(&mut ca),
            base + 8 + 16,
            "one more pool of 8 reserved ahead"
        );
        more.extend((0..9).map(|_| ca.reserve_serial(now).expect("reserve").hex()));
        more.extend(got.iter().cloned());
        let n = more.len();
        more.sort();
        more.dedup();
        assert_eq!(more.len(), n, "each serial handed out once");
        assert_eq!(count(&mut ca), base + 8 + 16, "the 9 came from the pool");
        // Back to one reservation per issuance.
        ca.pool_serials(0);
        assert!(!ca.serials_low());
        ca.reserve_serial(now).expect("reserve");
        assert_eq!(count(&mut ca), base + 8 + 16 + 1);
    }
}
