//! Certificate revocation lists: making them from the store, and checking their freshness.
//!
//! Every CRL is v2 with the CA's subject bytes as issuer (spliced in when rcgen cannot reproduce
//! them, e.g. two OUs), an AKI equal to the CA's SKI, a CRL number that strictly increases across
//! runs (taken from the store's `crl_number` and committed *before* signing, so a crash can skip a
//! number but never reuse one), nextUpdate always present (default 7 days), and reasonCode only
//! when the reason is not "unspecified"; certificateHold is never used. After a `ca rotate` the
//! retired CAs that have not expired get their own CRL next to the main one
//! (`crl-<serial prefix>.pem`), signed with their own key.

use std::path::{Path, PathBuf};

use time::{Duration, OffsetDateTime};
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::ca::{Ca, CA_CERT};
use crate::error::{Error, Result};
use crate::lifecycle::{self, RevokedEntry};
use crate::serial::Serial;
use crate::store::Store;
use crate::x509;

pub use super::layout::CRL_FILE;
/// Default nextUpdate distance, in days.
pub const CRL_DAYS: u32 = 7;
/// `crl --check` fails when nextUpdate is closer than this.
pub const CRL_MARGIN: Duration = Duration::days(1);

/// One CRL written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CrlMade {
    /// Where.
    pub path: PathBuf,
    /// The issuing CA's subject.
    pub issuer: String,
    /// The issuing CA certificate's serial.
    pub ca_serial: String,
    /// The CRL number.
    pub number: u64,
    /// thisUpdate.
    #[serde(with = "time::serde::rfc3339")]
    pub this_update: OffsetDateTime,
    /// nextUpdate.
    #[serde(with = "time::serde::rfc3339")]
    pub next_update: OffsetDateTime,
    /// How many certificates it lists.
    pub revoked: usize,
}

/// Takes the next CRL number and commits it before anything is signed.
pub fn next_crl_number(store: &mut Store) -> Result<u64> {
    store.next_crl_number()
}

/// Checks that a CA certificate can sign CRLs (SKI present for the AKI; cRLSign when it has a
/// keyUsage) and returns its SKI. Run before the CRL number is taken.
fn crl_signer_ski(ca_der: &[u8]) -> Result<Vec<u8>> {
    let ca = x509::parse_cert(ca_der, Path::new(CA_CERT))?;
    let ski = x509::ski(&ca).ok_or_else(|| {
        Error::bad_file(
            Path::new(CA_CERT),
            "the CA certificate has no subject key identifier: its CRLs could not carry a matching AKI",
            "rotate to a CA made by mtls-ca (`mtls-ca ca rotate`)",
        )
    })?;
    if let Ok(Some(ku)) = ca.key_usage() {
        if !ku.value.crl_sign() {
            return Err(Error::bad_file(
                Path::new(CA_CERT),
                "the CA certificate's keyUsage lacks cRLSign: CRLs it signed would be rejected",
                "rotate to a CA made by mtls-ca (`mtls-ca ca rotate`), which has cRLSign",
            ));
        }
    }
    Ok(ski)
}

/// Signs one CRL for the CA certificate `ca_der` with `key`.
pub(crate) fn sign_crl(
    ca_der: &[u8],
    key: &crate::signer::CaKey,
    revoked: &[RevokedEntry],
    number: u64,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Result<Vec<u8>> {
    let ca = x509::parse_cert(ca_der, Path::new(CA_CERT))?;
    let ski = crl_signer_ski(ca_der)?;
    let mut ip = rcgen::CertificateParams::default();
    ip.distinguished_name = crate::ca::dn_from_x509(ca.subject()).0;
    ip.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    ip.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(ski.clone());
    let issuer = rcgen::Issuer::new(ip, key);
    let params = rcgen::CertificateRevocationListParams {
        this_update,
        next_update,
        crl_number: rcgen::SerialNumber::from_slice(&minimal_be(number)),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|r| rcgen::RevokedCertParams {
                serial_number: rcgen::SerialNumber::from_slice(r.serial.as_bytes()),
                revocation_time: r.revoked_at,
                reason_code: r.reason.to_rcgen(),
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: rcgen::KeyIdMethod::PreSpecified(ski),
    };
    let mut der = params.signed_by(&issuer)?.der().to_vec();
    let same = {
        let (_, crl) = CertificateRevocationList::from_der(&der)
            .map_err(|e| Error::SelfCheck(format!("cannot parse the new CRL ({e})")))?;
        crl.issuer().as_raw() == ca.subject().as_raw()
    };
    if !same {
        der = replace_crl_issuer(&der, ca.subject().as_raw(), key)?;
    }
    let (rest, crl) = CertificateRevocationList::from_der(&der)
        .map_err(|e| Error::SelfCheck(format!("cannot parse the new CRL ({e})")))?;
    if !rest.is_empty() || crl.issuer().as_raw() != ca.subject().as_raw() {
        return Err(Error::SelfCheck(
            "CRL issuer differs from the CA subject bytes".into(),
        ));
    }
    crl.verify_signature(ca.public_key())
        .map_err(|e| Error::SelfCheck(format!("CRL signature does not verify ({e})")))?;
    Ok(der)
}

/// Big-endian bytes of `n` with no leading zero (at least one byte).
fn minimal_be(n: u64) -> Vec<u8> {
    let b = n.to_be_bytes();
    let start = b.iter().position(|x| *x != 0).unwrap_or(b.len() - 1);
    b[start..].to_vec()
}

/// Returns `crl_der` with the issuer replaced by `issuer_raw`, signed again.
fn replace_crl_issuer(
    crl_der: &[u8],
    issuer_raw: &[u8],
    key: &impl rcgen::SigningKey,
) -> Result<Vec<u8>> {
    use crate::der::{read_tlv, tlv};
    let bad = || Error::SelfCheck("cannot re-encode the CRL".into());
    let (outer, _) = read_tlv(crl_der).ok_or_else(bad)?;
    let (tbs, rest) = read_tlv(outer.content).ok_or_else(bad)?;
    let (sig_alg, _) = read_tlv(rest).ok_or_else(bad)?;
    // TBSCertList: version INTEGER, signature, issuer, thisUpdate, ...
    let (version, r) = read_tlv(tbs.content).ok_or_else(bad)?;
    if version.whole.first() != Some(&0x02) {
        return Err(bad());
    }
    let (sig, r) = read_tlv(r).ok_or_else(bad)?;
    let (_old, r) = read_tlv(r).ok_or_else(bad)?;
    let mut content = Vec::with_capacity(tbs.content.len() + issuer_raw.len());
    content.extend_from_slice(version.whole);
    content.extend_from_slice(sig.whole);
    content.extend_from_slice(issuer_raw);
    content.extend_from_slice(r);
    let new_tbs = tlv(0x30, &content);
    let signature = key.sign(&new_tbs)?;
    let mut bits = vec![0u8];
    bits.extend_from_slice(&signature);
    let mut out = new_tbs;
    out.extend_from_slice(sig_alg.whole);
    out.extend_from_slice(&tlv(0x03, &bits));
    Ok(tlv(0x30, &out))
}

/// The CRL of the current CA as DER, nextUpdate `valid` after `now`, for serving (no file is
/// written): the number is taken from the store first, as for [`generate`]. Returns the DER,
/// its number and how many certificates it lists.
pub fn current_der(
    ca: &mut Ca,
    valid: Duration,
    now: OffsetDateTime,
) -> Result<(Vec<u8>, u64, usize)> {
    let now = now.replace_nanosecond(0).unwrap_or(now);
    crl_signer_ski(ca.cert_der())?;
    let number = next_crl_number(ca.store())?;
    let current_serial = ca.serial_hex()?;
    let revoked = lifecycle::revoked_by(ca.store(), &current_serial)?;
    let der = sign_crl(ca.cert_der(), ca.key(), &revoked, number, now, now + valid)?;
    Ok((der, number, revoked.len()))
}

/// The CRL of `ca` and one for each retired CA of `retired` (its certificate and key), all with
/// one new CRL number, valid for `valid` from `now`; the current CA's first. Also returns how
/// many revocations they list in all. For `ca serve`'s `/v1/crl` during a rotation's overlap.
pub fn set_der<'k>(
    ca: &mut Ca,
    retired: impl IntoIterator<Item = (&'k [u8], &'k crate::signer::CaKey)>,
    valid: Duration,
    now: OffsetDateTime,
) -> Result<(Vec<Vec<u8>>, usize)> {
    let (der, number, mut listed) = current_der(ca, valid, now)?;
    let now = now.replace_nanosecond(0).unwrap_or(now);
    let mut out = vec![der];
    for (cert_der, key) in retired {
        let c = x509::parse_cert(cert_der, Path::new(CA_CERT))?;
        let revoked = lifecycle::revoked_by(ca.store(), &Serial::from_bytes(c.raw_serial()).hex())?;
        listed += revoked.len();
        out.push(sign_crl(cert_der, key, &revoked, number, now, now + valid)?);
    }
    Ok((out, listed))
}

/// Makes the CRL of the current CA at `out` (and one per unexpired retired CA next to it).
pub fn generate(
    ca: &mut Ca,
    days: Option<u32>,
    out: &Path,
    now: OffsetDateTime,
) -> Result<Vec<CrlMade>> {
    let days = days.unwrap_or(CRL_DAYS);
    if days == 0 || days > 366 {
        return Err(Error::invalid(
            "--days",
            days.to_string(),
            "a CRL's nextUpdate must be 1 to 366 days away",
            "use --days 7 (the default) and refresh it from cron",
        ));
    }
    let now = now.replace_nanosecond(0).unwrap_or(now);
    let next_update = now + Duration::days(i64::from(days));
    // Every retired CA of the overlap (finished and expired ones are not in it), then the
    // finished ones that still sign CRLs (a cross-signed root of theirs is valid, or a revoked
    // certificate).
    let mut retired = crate::rotate::retired(ca)?;
    let dir = ca.dir().to_path_buf();
    retired.extend(crate::rotate::finished_signing_crls(&dir, ca.store(), now)?);
    // Load every key first: a wrong passphrase must fail before the number is taken.
    let mut signers: Vec<(Vec<u8>, crate::signer::CaKey, PathBuf)> = Vec::new();
    for r in retired {
        if r.not_after <= now {
            continue;
        }
        let key = r.load_key(ca)?;
        let path = crate::ca::layout::retired_crl(out, &r.serial);
        signers.push((r.cert_der, key, path));
    }
    crl_signer_ski(ca.cert_der())?;
    for (cert_der, _, _) in &signers {
        crl_signer_ski(cert_der)?;
    }
    // Publication is serialised: the CRL number is taken and the files written under the
    // directory lock, so a slower process can never put an older CRL over a newer one. (Taken
    // after the checks, so a refused run leaves the directory exactly as it was.)
    let _lock = crate::ca::journal::lock(ca.dir())?;
    let number = next_crl_number(ca.store())?;
    crate::failpoint::hit("crl.number", out)?;
    let mut made = Vec::new();
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let current_serial = ca.serial_hex()?;
    let revoked = lifecycle::revoked_by(ca.store(), &current_serial)?;
    let der = sign_crl(ca.cert_der(), ca.key(), &revoked, number, now, next_update)?;
    made.push(describe(
        out,
        &der,
        &current_serial,
        number,
        now,
        next_update,
        revoked.len(),
    )?);
    files.push((out.to_path_buf(), der));
    for (cert_der, key, path) in &signers {
        let c = x509::parse_cert(cert_der, path)?;
        let serial = Serial::from_bytes(c.raw_serial()).hex();
        let revoked = lifecycle::revoked_by(ca.store(), &serial)?;
        let der = sign_crl(cert_der, key, &revoked, number, now, next_update)?;
        made.push(describe(
            path,
            &der,
            &serial,
            number,
            now,
            next_update,
            revoked.len(),
        )?);
        files.push((path.clone(), der));
    }
    for (path, der) in files {
        crate::failpoint::hit("crl.write", &path)?;
        // Never replace a CRL by one with a lower number (another directory's run, a restored
        // store): the newer one may list revocations the older one lacks.
        if let Some(have) = existing_number(&path) {
            if have > number {
                return Err(Error::bad_file(
                    &path,
                    format!("holds CRL #{have}, newer than #{number} made now: not replaced"),
                    "check that the store is the newest one (restored from an old backup?); see `mtls-ca doctor`",
                ));
            }
        }
        crate::files::replace(
            &path,
            crate::pem::encode("X509 CRL", &der).as_bytes(),
            crate::files::PUBLIC,
        )?;
    }
    Ok(made)
}

/// The CRL number of the CRL file at `path`, if it holds a readable one.
pub fn existing_number(path: &Path) -> Option<u64> {
    let bytes = crate::files::read_limited(path, 64 * 1024 * 1024).ok()?;
    let der = if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        crate::pem::parse_all(&bytes, path)
            .ok()?
            .into_iter()
            .find(|b| b.label == "X509 CRL")?
            .der
    } else {
        bytes
    };
    let (_, crl) = CertificateRevocationList::from_der(&der).ok()?;
    crl.crl_number()?.to_string().parse().ok()
}

fn describe(
    path: &Path,
    der: &[u8],
    ca_serial: &str,
    number: u64,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
    revoked: usize,
) -> Result<CrlMade> {
    let (_, crl) = CertificateRevocationList::from_der(der)
        .map_err(|e| Error::SelfCheck(format!("cannot parse the new CRL ({e})")))?;
    Ok(CrlMade {
        path: path.to_path_buf(),
        issuer: crl.issuer().to_string(),
        ca_serial: ca_serial.to_string(),
        number,
        this_update,
        next_update,
        revoked,
    })
}

/// The verdict of `crl --check`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CrlCheck {
    /// The file checked.
    pub path: PathBuf,
    /// True when the CRL exists, verifies with a CA of this directory and is fresh.
    pub ok: bool,
    /// The CRL number, if readable (a JSON number, like `crl --json`'s; `None` beyond u64).
    pub number: Option<u64>,
    /// nextUpdate, if readable.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_update: Option<OffsetDateTime>,
    /// What is wrong.
    pub problems: Vec<String>,
}

/// Checks that the CRL at `path` exists, is signed by a CA of `dir` (current or retired), and
/// that its nextUpdate is more than a day away. Needs no key and no passphrase.
pub fn check(dir: &Path, path: &Path, now: OffsetDateTime) -> Result<CrlCheck> {
    let mut report = CrlCheck {
        path: path.to_path_buf(),
        ok: false,
        number: None,
        next_update: None,
        problems: Vec::new(),
    };
    if !path.exists() {
        report
            .problems
            .push("missing: no CRL has been made (run `mtls-ca crl`)".into());
        return Ok(report);
    }
    let bytes = crate::files::read_limited(path, 64 * 1024 * 1024)?;
    let der = if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        let blocks = crate::pem::parse_all(&bytes, path)?;
        match blocks.into_iter().find(|b| b.label == "X509 CRL") {
            Some(b) => b.der,
            None => {
                report.problems.push("no X509 CRL block in the file".into());
                return Ok(report);
            }
        }
    } else {
        bytes
    };
    let crl = match CertificateRevocationList::from_der(&der) {
        Ok(([], c)) => c,
        _ => {
            report.problems.push("not a valid CRL".into());
            return Ok(report);
        }
    };
    report.number = crl.crl_number().and_then(|n| n.to_string().parse().ok());
    let mut cas = vec![dir.join(CA_CERT)];
    cas.extend(crate::ca::layout::retired_cert_paths(dir));
    cas.extend(crate::ca::layout::retired_cert_paths(
        &dir.join(crate::ca::overlap::FINISHED_DIR),
    ));
    let mut verified = false;
    for p in cas {
        let Ok(certs) = x509::read_certs(&p) else {
            continue;
        };
        let Ok(c) = x509::parse_cert(&certs[0], &p) else {
            continue;
        };
        if c.subject().as_raw() == crl.issuer().as_raw()
            && crl.verify_signature(c.public_key()).is_ok()
        {
            verified = true;
            break;
        }
    }
    if !verified {
        report
            .problems
            .push("its signature does not verify with any CA of this directory".into());
    }
    match crl.next_update() {
        None => report.problems.push("it has no nextUpdate".into()),
        Some(t) => {
            let t = t.to_datetime();
            report.next_update = Some(t);
            if t <= now {
                report.problems.push(format!(
                    "expired on {} (nginx rejects every client with an expired CRL); run `mtls-ca crl`",
                    crate::ca::fmt_date(t)
                ));
            } else if t - now < CRL_MARGIN {
                report
                    .problems
                    .push(format!("expires within a day ({}); run `mtls-ca crl`", t));
            }
        }
    }
    report.ok = report.problems.is_empty();
    Ok(report)
}

/// Where `crl --out FILE` puts the CRL of the retired CA whose serial starts with `prefix`:
/// `FILE`'s stem, `-<prefix>.pem`, next to it (`crl-<prefix>.pem` for the default).
pub fn retired_crl_path(out: &Path, prefix: &str) -> PathBuf {
    crate::ca::layout::retired_crl(out, prefix)
}

/// `crl --check` over the whole CRL set: the CRL at `path` and, when it is the current CA's, the
/// CRL of every retired CA of the overlap next to it ([`retired_crl_path`]), and of every
/// unexpired finished one whose CRL file is there (one that still signs CRLs:
/// [`crate::rotate::finished_signing_crls`]), each of which must be signed by that CA. One report: `ok` only when every file is fine; the problems of
/// the other files name them.
pub fn check_set(dir: &Path, path: &Path, now: OffsetDateTime) -> Result<CrlCheck> {
    let mut report = check(dir, path, now)?;
    let current = x509::read_certs(&dir.join(CA_CERT))?.remove(0);
    if !crl_file_signed_by(path, &current) {
        return Ok(report);
    }
    let mut siblings: Vec<(String, Vec<u8>, &str)> = crate::ca::overlap::retired(dir, now)?
        .into_iter()
        .map(|m| (m.prefix(), m.der, "retired CA"))
        .collect();
    // A finished CA that still signs CRLs keeps its CRL file next to this one (`--finish`
    // moves the others into `finished/`): checked when it is there, with no store needed.
    for p in crate::ca::layout::retired_cert_paths(&dir.join(crate::ca::overlap::FINISHED_DIR)) {
        let Some(der) = x509::read_certs(&p).ok().and_then(|c| c.into_iter().next()) else {
            continue;
        };
        let Ok(c) = x509::parse_cert(&der, &p) else {
            continue;
        };
        let prefix = crate::ca::layout::retired_prefix(&Serial::from_bytes(c.raw_serial()).hex());
        if x509::validity(&c).1 > now && retired_crl_path(path, &prefix).exists() {
            siblings.push((prefix, der, "finished CA"));
        }
    }
    for (prefix, der, what) in siblings {
        let p = retired_crl_path(path, &prefix);
        let sub = check(dir, &p, now)?;
        for problem in sub.problems {
            report
                .problems
                .push(format!("{} ({what} {prefix}): {problem}", p.display()));
        }
        if p.exists() && !crl_file_signed_by(&p, &der) {
            report.problems.push(format!(
                "{}: not signed by the {what} {prefix} (run `mtls-ca crl`)",
                p.display()
            ));
        }
    }
    report.ok = report.problems.is_empty();
    Ok(report)
}

fn crl_file_signed_by(path: &Path, ca_der: &[u8]) -> bool {
    let Ok(bytes) = crate::files::read_limited(path, 64 * 1024 * 1024) else {
        return false;
    };
    let der = if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        match crate::pem::parse_all(&bytes, path)
            .ok()
            .and_then(|b| b.into_iter().find(|b| b.label == "X509 CRL"))
        {
            Some(b) => b.der,
            None => return false,
        }
    } else {
        bytes
    };
    let Ok((_, crl)) = CertificateRevocationList::from_der(&der) else {
        return false;
    };
    let Ok(ca) = x509::parse_cert(ca_der, Path::new(CA_CERT)) else {
        return false;
    };
    crl.issuer().as_raw() == ca.subject().as_raw() && crl.verify_signature(ca.public_key()).is_ok()
}

/// `given` CRL files, then the CRL of each retired CA of `dir`'s overlap that `mtls-ca crl`
/// wrote next to one of them (`crl-<serial prefix>.pem` beside `crl.pem`) and that was not
/// given: what `--crl pki/crl.pem` means during an overlap.
pub fn with_retired_siblings(
    dir: &Path,
    given: &[PathBuf],
    now: OffsetDateTime,
) -> Result<Vec<PathBuf>> {
    let mut out = given.to_vec();
    if given.is_empty() || !crate::ca::layout::cert(dir).exists() {
        return Ok(out);
    }
    for m in crate::ca::overlap::retired(dir, now)? {
        for g in given {
            let p = crate::ca::layout::retired_crl(g, &m.serial);
            if p.exists() && !out.contains(&p) && crl_file_signed_by(&p, &m.der) {
                out.push(p);
            }
        }
    }
    Ok(out)
}
