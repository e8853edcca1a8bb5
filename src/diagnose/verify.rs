//! Path validation the way a rustls peer does it, turned into a report a person can act on.
//!
//! The verdict comes from rustls' own [`WebPkiServerVerifier`] / [`WebPkiClientVerifier`] with
//! the ring provider, CRLs included, at a time given by the caller. Every rustls/webpki error is
//! mapped to a stable code (`unknown_issuer`, `missing_intermediate`, `name_mismatch`, …) with a
//! message saying what is wrong and a hint saying how to fix it. Warnings add where
//! openssl-based gateways (nginx, HAProxy) would decide differently, as listed in
//! `profiles.md`. A failed check is a [`Report`] with `valid: false`, never an `Err`: errors are
//! only for inputs that cannot be used at all.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, RootCertStore};
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, ServerName, UnixTime};
use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::diagnose::finding::{stem_of, Code, Finding, FixContext, Side};
use crate::error::{Error, Result};
use crate::inspect::fmt_name;

/// Input files are never read beyond this size.
pub const MAX_INPUT: u64 = 16 * 1024 * 1024;

/// What the certificate is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// A TLS server certificate (serverAuth), checked like a rustls client does.
    Server,
    /// A TLS client certificate (clientAuth), checked like a rustls server does.
    Client,
}

impl Purpose {
    /// Parses `server` / `client`.
    pub fn parse(s: &str) -> Result<Purpose> {
        match s.trim().to_ascii_lowercase().as_str() {
            "server" | "serverauth" => Ok(Purpose::Server),
            "client" | "clientauth" => Ok(Purpose::Client),
            _ => Err(Error::invalid(
                "--purpose",
                s,
                "unknown purpose",
                "use --purpose server or --purpose client",
            )),
        }
    }
}

/// Everything [`verify`] needs, already decoded. Times and paths are parameters.
#[derive(Debug, Clone)]
pub struct Input {
    /// The certificate to check (DER).
    pub leaf: Vec<u8>,
    /// Intermediates sent with it (its own file after the leaf, and `--chain`).
    pub intermediates: Vec<Vec<u8>>,
    /// Trusted CA certificates (DER).
    pub roots: Vec<Vec<u8>>,
    /// CRLs (DER) checked for the whole chain.
    pub crls: Vec<Vec<u8>>,
    /// The purpose; `None` picks it from the host or the certificate's EKU.
    pub purpose: Option<Purpose>,
    /// The host name or IP address the certificate must be valid for.
    pub host: Option<String>,
    /// The SubjectPublicKeyInfo of the private key meant to go with the certificate.
    pub key_spki: Option<Vec<u8>>,
    /// The time of the check.
    pub at: OffsetDateTime,
    /// How to name the certificate file in hints (e.g. `server.crt`).
    pub cert_label: String,
    /// Certificates found nearby (a sibling fullchain, the CA's chain file) that may be a missing
    /// intermediate; used only to explain an unknown issuer, never to validate.
    pub candidates: Vec<Vec<u8>>,
    /// Files that may hold such candidates; read only when an issuer is actually missing, so a
    /// valid certificate costs no extra reads.
    pub candidate_files: Vec<PathBuf>,
}

/// One problem: a stable code, the side that must act, what is wrong, how to fix it.
pub type Problem = Finding;

/// The result of a verification.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// True when a rustls peer would accept the certificate (and the key matches, if given).
    pub valid: bool,
    /// The purpose the certificate was checked for.
    pub purpose: Purpose,
    /// The host name checked, if any.
    pub host: Option<String>,
    /// Subjects of the chain as built, leaf first, trust anchor last when reached.
    pub chain: Vec<String>,
    /// True when the chain above reached a trusted CA.
    pub chain_complete: bool,
    /// Every problem found.
    pub errors: Vec<Problem>,
    /// Things that do not change rustls' verdict but matter elsewhere.
    pub warnings: Vec<String>,
}

fn problem(code: Code, message: impl Into<String>, hint: impl Into<String>) -> Problem {
    // The side is settled once the purpose is known (see `verify`).
    Finding::new(code, Side::Client, message, hint)
}

/// Who must act on a verify problem: CRL problems are the verifier's (the gateway's), everything
/// else belongs to the holder of the certificate.
fn side_of(code: Code, purpose: Purpose) -> Side {
    match code {
        Code::RevocationUnknown | Code::CrlExpired | Code::BadCrl => Side::Gateway,
        _ => match purpose {
            Purpose::Server => Side::Server,
            Purpose::Client => Side::Client,
        },
    }
}

fn unix(t: OffsetDateTime) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(t.unix_timestamp().max(0) as u64))
}

fn parse<'a>(der: &'a [u8]) -> Option<X509Certificate<'a>> {
    X509Certificate::from_der(der).ok().map(|(_, c)| c)
}

/// Certificates and CRLs read from files, with the file named in every error.
#[derive(Debug, Clone, Default)]
pub struct Files {
    /// The certificate (may hold a whole chain, leaf first).
    pub cert: PathBuf,
    /// Trusted CA files (each may hold several certificates).
    pub ca: Vec<PathBuf>,
    /// Extra intermediates.
    pub chain: Vec<PathBuf>,
    /// A private key that should belong to the certificate.
    pub key: Option<PathBuf>,
    /// CRL files (PEM or DER).
    pub crls: Vec<PathBuf>,
    /// Extra files that may hold a missing intermediate (only used to explain).
    pub candidates: Vec<PathBuf>,
}

/// Reads every CRL of a PEM (or one DER) file, checking each parses.
pub fn read_crls(path: &Path) -> Result<Vec<Vec<u8>>> {
    let bytes = crate::files::read_limited(path, MAX_INPUT)?;
    let ders: Vec<Vec<u8>> = if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        let blocks = crate::pem::parse_all(&bytes, path)?;
        let crls: Vec<Vec<u8>> = blocks
            .iter()
            .filter(|b| b.label == "X509 CRL")
            .map(|b| b.der.clone())
            .collect();
        if crls.is_empty() {
            return Err(Error::bad_file(
                path,
                format!(
                    "no CRL in this PEM file (found: {})",
                    crate::pem::labels(&blocks)
                ),
                "give a CRL file (-----BEGIN X509 CRL-----), e.g. the one `mtls-ca crl` writes",
            ));
        }
        crls
    } else {
        vec![bytes]
    };
    for d in &ders {
        match CertificateRevocationList::from_der(d) {
            Ok(([], _)) => {}
            _ => {
                return Err(Error::bad_file(
                    path,
                    "not a valid X.509 CRL",
                    "give a PEM or DER CRL, e.g. the one `mtls-ca crl` writes",
                ))
            }
        }
    }
    Ok(ders)
}

/// Loads the files into an [`Input`] (purpose, host and time from the caller).
pub fn load(
    f: &Files,
    purpose: Option<Purpose>,
    host: Option<String>,
    at: OffsetDateTime,
) -> Result<Input> {
    let mut certs = crate::x509::read_certs(&f.cert)?;
    let leaf = certs.remove(0);
    let mut intermediates = certs;
    for c in &f.chain {
        intermediates.extend(crate::x509::read_certs(c)?);
    }
    let mut roots = Vec::new();
    for c in &f.ca {
        roots.extend(crate::x509::read_certs(c)?);
    }
    let mut crls = Vec::new();
    for c in &f.crls {
        crls.extend(read_crls(c)?);
    }
    let key_spki = match &f.key {
        Some(k) => {
            let bytes = crate::files::read_limited(k, MAX_INPUT)?;
            let kp = crate::keys::load_private_key(&bytes, k)?;
            Some(rcgen::PublicKeyData::subject_public_key_info(&kp))
        }
        None => None,
    };
    Ok(Input {
        leaf,
        intermediates,
        roots,
        crls,
        purpose,
        host,
        key_spki,
        at,
        cert_label: f.cert.display().to_string(),
        candidates: Vec::new(),
        candidate_files: f.candidates.clone(),
    })
}

/// The leaf file of a stem (`server.fullchain.crt` → `server.crt`).
pub fn leaf_file(label: &str) -> String {
    match label.strip_suffix(".fullchain.crt") {
        Some(stem) => format!("{stem}.crt"),
        None => label.to_string(),
    }
}

/// The file a fullchain would have next to `label` (`server.crt` → `server.fullchain.crt`).
pub fn fullchain_name(label: &str) -> String {
    let stem = label
        .strip_suffix(".fullchain.crt")
        .or_else(|| label.strip_suffix(".crt"))
        .or_else(|| label.strip_suffix(".pem"))
        .unwrap_or(label);
    format!("{stem}.fullchain.crt")
}

fn ekus(cert: &X509Certificate<'_>) -> Option<(bool, bool, bool)> {
    match cert.extended_key_usage() {
        Ok(Some(e)) => Some((e.value.server_auth, e.value.client_auth, e.value.any)),
        _ => None,
    }
}

fn sans_text(cert: &X509Certificate<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(s) => out.push(crate::inspect::escape(s)),
                GeneralName::IPAddress(b) => {
                    if let Some(ip) = crate::x509::ip_from_bytes(b) {
                        out.push(ip.to_string())
                    }
                }
                _ => {}
            }
        }
    }
    out
}

fn common_name(cert: &X509Certificate<'_>) -> Option<String> {
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(crate::inspect::escape)
}

fn is_self_issued(cert: &X509Certificate<'_>) -> bool {
    cert.subject().as_raw() == cert.issuer().as_raw()
}

/// Builds the chain by names for display: leaf, intermediates, then the trusted CA if reached.
fn build_chain<'a>(
    leaf: &'a [u8],
    intermediates: &'a [Vec<u8>],
    roots: &'a [Vec<u8>],
) -> (Vec<&'a [u8]>, bool) {
    let mut chain: Vec<&[u8]> = vec![leaf];
    let mut used = vec![false; intermediates.len()];
    for _ in 0..8 {
        let Some(cur) = parse(chain[chain.len() - 1]) else {
            break;
        };
        if let Some(r) = roots
            .iter()
            .find(|r| parse(r).is_some_and(|r| r.subject().as_raw() == cur.issuer().as_raw()))
        {
            if r.as_slice() != chain[chain.len() - 1] {
                chain.push(r);
            }
            return (chain, true);
        }
        if roots.iter().any(|r| r.as_slice() == chain[chain.len() - 1]) {
            return (chain, true);
        }
        let next = intermediates.iter().enumerate().find(|(i, c)| {
            !used[*i]
                && parse(c).is_some_and(|c| {
                    c.subject().as_raw() == cur.issuer().as_raw() && !is_self_issued(&cur)
                })
        });
        match next {
            Some((i, c)) => {
                used[i] = true;
                chain.push(c);
            }
            None => break,
        }
    }
    (chain, false)
}

/// Runs rustls' verifier for `purpose` on the input; `Ok(())` when a rustls peer accepts.
fn rustls_check(
    input: &Input,
    purpose: Purpose,
    server_name: &ServerName<'static>,
    intermediates: &[Vec<u8>],
    allow_unknown_revocation: bool,
) -> std::result::Result<(), rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut store = RootCertStore::empty();
    store.add_parsable_certificates(input.roots.iter().map(|r| CertificateDer::from(r.clone())));
    if store.is_empty() {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
    }
    let store = Arc::new(store);
    let crls: Vec<CertificateRevocationListDer<'static>> = input
        .crls
        .iter()
        .map(|c| CertificateRevocationListDer::from(c.clone()))
        .collect();
    let leaf = CertificateDer::from(input.leaf.as_slice());
    let inter: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    let now = unix(input.at);
    let to_err = |e: rustls::server::VerifierBuilderError| {
        rustls::Error::General(format!("cannot build the verifier: {e}"))
    };
    match purpose {
        Purpose::Server => {
            let mut b = WebPkiServerVerifier::builder_with_provider(store, provider);
            if !crls.is_empty() {
                b = b.with_crls(crls);
                if allow_unknown_revocation {
                    b = b.allow_unknown_revocation_status();
                }
            }
            let v = b.build().map_err(to_err)?;
            v.verify_server_cert(&leaf, &inter, server_name, &[], now)
                .map(|_| ())
        }
        Purpose::Client => {
            let mut b = WebPkiClientVerifier::builder_with_provider(store, provider);
            if !crls.is_empty() {
                b = b.with_crls(crls);
                if allow_unknown_revocation {
                    b = b.allow_unknown_revocation_status();
                }
            }
            let v = b.build().map_err(to_err)?;
            v.verify_client_cert(&leaf, &inter, now).map(|_| ())
        }
    }
}

/// The name check alone, as webpki does it (used for client certificates and to report a name
/// mismatch next to another error).
fn name_ok(leaf: &[u8], name: &ServerName<'_>) -> bool {
    let der = CertificateDer::from(leaf);
    match webpki::EndEntityCert::try_from(&der) {
        Ok(ee) => ee.verify_is_valid_for_subject_name(name).is_ok(),
        Err(_) => false,
    }
}

fn days_phrase(days: i64) -> String {
    match days {
        0 => "today".into(),
        1 => "1 day".into(),
        n => format!("{n} days"),
    }
}

/// Finds the revocation entry of one of the chain's certificates in the CRLs.
fn revocation_of(chain: &[&[u8]], crls: &[Vec<u8>]) -> Option<(String, String, String, bool)> {
    for (i, der) in chain.iter().enumerate() {
        let cert = parse(der)?;
        for c in crls {
            let Ok((_, crl)) = CertificateRevocationList::from_der(c) else {
                continue;
            };
            if crl.issuer().as_raw() != cert.issuer().as_raw() {
                continue;
            }
            for rc in crl.iter_revoked_certificates() {
                if rc.raw_serial() == cert.raw_serial() {
                    let date = crate::ca::fmt_date(rc.revocation_date.to_datetime());
                    let reason = rc
                        .reason_code()
                        .map(|(_, r)| crate::x509::reason_name(r.0))
                        .unwrap_or("unspecified");
                    return Some((fmt_name(cert.subject()), date, reason.to_string(), i == 0));
                }
            }
        }
    }
    None
}

fn issue_cmd(purpose: Purpose, leaf: &X509Certificate<'_>, extra_san: Option<&str>) -> String {
    let cn = common_name(leaf).unwrap_or_else(|| "NAME".into());
    let kind = match purpose {
        Purpose::Server => "server",
        Purpose::Client => "client",
    };
    let mut cmd = format!("mtls-ca issue {kind} --cn {cn}");
    for s in sans_text(leaf) {
        if s != cn {
            cmd.push_str(&format!(" --san {s}"));
        }
    }
    if let Some(s) = extra_san {
        cmd.push_str(&format!(" --san {s}"));
    }
    cmd
}

/// Verifies `input` the way a rustls peer would and explains the result.
pub fn verify(input: &Input) -> Result<Report> {
    let here = Path::new(&input.cert_label);
    let leaf = crate::x509::parse_cert(&input.leaf, here)?;
    if input.roots.is_empty() {
        return Err(Error::invalid(
            "--ca",
            "",
            "no trusted CA certificate given",
            "pass --ca FILE (the CA that should have issued it), or --dir DIR of a CA with DIR/ca.crt",
        ));
    }
    // Purpose: as asked; else server when a host is given; else from the EKU.
    let purpose = input.purpose.unwrap_or_else(|| {
        if input.host.is_some() {
            return Purpose::Server;
        }
        match ekus(&leaf) {
            Some((false, true, _)) => Purpose::Client,
            _ => Purpose::Server,
        }
    });
    let host = input.host.as_ref().map(|h| h.trim().to_string());
    let server_name: Option<ServerName<'static>> = match &host {
        Some(h) => {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            Some(ServerName::try_from(h.to_string()).map_err(|_| {
                Error::invalid(
                    "--host",
                    h,
                    "not a valid DNS name or IP address",
                    "give a host name such as api.example.com or an IP such as 10.0.0.5",
                )
            })?)
        }
        None => None,
    };
    // Without --host, a server certificate is checked for its own first name: only the path counts.
    let fallback_name: ServerName<'static> = sans_text(&leaf)
        .into_iter()
        .find_map(|s| ServerName::try_from(s).ok())
        .unwrap_or_else(|| ServerName::try_from("invalid.invalid").expect("static name"));
    let check_name = server_name.clone().unwrap_or(fallback_name);

    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let (chain, complete) = build_chain(&input.leaf, &input.intermediates, &input.roots);
    let label = &input.cert_label;

    let result = rustls_check(input, purpose, &check_name, &input.intermediates, false);
    let mut name_reported = false;
    if let Err(e) = &result {
        let p = explain(
            e,
            input,
            &leaf,
            purpose,
            host.as_deref(),
            &chain,
            &mut warnings,
        );
        if p.code == Code::NameMismatch {
            if server_name.is_some() {
                name_reported = true;
                errors.push(p);
            } else if sans_text(&leaf).is_empty() {
                warnings.push(
                    "the certificate has no DNS or IP subjectAltName: rustls and every modern client reject it for any host name".into(),
                );
            }
        } else {
            let unknown = p.code == Code::RevocationUnknown;
            errors.push(p);
            // A missing CRL higher up must not hide a revocation the given CRLs do show.
            if unknown {
                if let Err(e2) =
                    rustls_check(input, purpose, &check_name, &input.intermediates, true)
                {
                    let p2 = explain(
                        &e2,
                        input,
                        &leaf,
                        purpose,
                        host.as_deref(),
                        &chain,
                        &mut warnings,
                    );
                    if p2.code == Code::Revoked {
                        errors.insert(0, p2);
                    }
                }
            }
        }
    }
    // The name is checked on its own too, so a name mismatch shows next to e.g. an expiry.
    if let Some(sn) = &server_name {
        if !name_reported && !name_ok(&input.leaf, sn) {
            errors.push(name_problem(&leaf, purpose, host.as_deref().unwrap_or("")));
        }
    }
    // A rustls peer verifies the handshake signature with this key: the ring provider takes
    // ECDSA P-256/P-384, Ed25519 and RSA 2048-8192 bits only.
    let (kt, bits) = crate::inspect::spki_type(leaf.public_key());
    let usable = match kt.as_str() {
        "ecdsa-p256" | "ecdsa-p384" | "ed25519" => true,
        "rsa" => (2048..=8192).contains(&bits),
        _ => false,
    };
    if !usable {
        errors.push(problem(
            Code::UnusableKey,
            format!(
                "the certificate's key ({kt}, {bits} bits) cannot sign a TLS handshake a rustls peer accepts"
            ),
            format!(
                "reissue it with a supported key: {} --key-type ecdsa-p256",
                issue_cmd(purpose, &leaf, None)
            ),
        ));
    }
    if let Some(spki) = &input.key_spki {
        if spki.as_slice() != leaf.public_key().raw {
            errors.push(problem(
                Code::KeyMismatch,
                "the key does not belong to this certificate",
                format!(
                    "use the key that was written with {label} (same STEM, .key), or issue a new certificate for this key"
                ),
            ));
        }
    }
    gateway_warnings(input, &leaf, &chain, complete, purpose, &mut warnings);
    if server_name.is_none() && purpose == Purpose::Server && errors.is_empty() {
        warnings.push(
            "no --host given: the names were not checked (pass --host NAME as clients will)".into(),
        );
    }
    let chain_names: Vec<String> = chain
        .iter()
        .filter_map(|d| parse(d).map(|c| fmt_name(c.subject())))
        .collect();
    for e in &mut errors {
        e.side = side_of(e.code, purpose);
    }
    Ok(Report {
        valid: errors.is_empty(),
        purpose,
        host,
        chain: chain_names,
        chain_complete: complete,
        errors,
        warnings,
    })
}

/// Verifies like [`verify`], and more as a person needs it: a chain file in the wrong order is
/// put in order and named as such; a check `--at` a time outside the certificate's validity
/// still reports every other problem; and every fix that is one command carries that command,
/// built for the caller's CA directories (`ctx`): the CA that issued the certificate (never a
/// root with an issuing CA below it), the certificate's own names and stem, `--force` (old files
/// kept as `.bak`) or `renew`.
pub fn verify_with(input: &Input, ctx: &FixContext) -> Result<Report> {
    let here = Path::new(&input.cert_label);
    let first = crate::x509::parse_cert(&input.leaf, here)?;
    let is_ca =
        |c: &X509Certificate<'_>| matches!(c.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
    // A file that lists a CA before the leaf: check the leaf, and say the order is wrong.
    let mut fixed = input.clone();
    let mut order_problem = None;
    if is_ca(&first) {
        if let Some(pos) = input
            .intermediates
            .iter()
            .position(|d| parse(d).is_some_and(|c| !is_ca(&c)))
        {
            let leaf = fixed.intermediates.remove(pos);
            let old = std::mem::replace(&mut fixed.leaf, leaf);
            fixed.intermediates.insert(0, old);
            let leaf_name = parse(&fixed.leaf)
                .map(|c| fmt_name(c.subject()))
                .unwrap_or_default();
            order_problem = Some(problem(
                Code::ChainOrder,
                format!(
                    "{} lists the CA {} before the leaf {leaf_name}: servers send certificates in file order and peers expect the leaf first",
                    input.cert_label,
                    fmt_name(first.subject())
                ),
                format!(
                    "write the file leaf first, then its intermediates (the {}.fullchain.crt that issue and renew write is in that order); the leaf is checked below",
                    stem_of(&input.cert_label)
                ),
            ));
        }
    }
    let mut report = verify(&fixed)?;
    if let Some(mut p) = order_problem {
        p.side = side_of(p.code, report.purpose);
        report.errors.insert(0, p);
        report.valid = false;
    }
    // A time outside the leaf's validity hides every path problem: look again inside it.
    let leaf = crate::x509::parse_cert(&fixed.leaf, here)?;
    let (nb, na) = crate::x509::validity(&leaf);
    let time_codes = [Code::Expired, Code::NotYetValid];
    if report.errors.iter().any(|e| time_codes.contains(&e.code))
        && (fixed.at < nb || fixed.at > na)
    {
        let mut inside = fixed.clone();
        inside.at = nb + (na - nb) / 2;
        inside.purpose = Some(report.purpose);
        if let Ok(r) = verify(&inside) {
            for e in r.errors {
                if !time_codes.contains(&e.code) && !report.errors.iter().any(|x| x.code == e.code)
                {
                    report.errors.push(e);
                }
            }
        }
    }
    let label = stem_of(&input.cert_label).to_string();
    if matches!(leaf.basic_constraints(), Ok(Some(bc)) if bc.value.ca) {
        // A CA given as the leaf: its names do not matter and no leaf is issued in its name.
        report.errors.retain(|e| e.code != Code::NameMismatch);
        for e in &mut report.errors {
            if e.hint.contains("mtls-ca issue") && e.code != Code::CaUsedAsLeaf {
                e.hint = "give the leaf certificate (STEM.crt of the server or client), not a CA certificate".into();
            }
        }
    }
    let purpose = report.purpose;
    let host = report.host.clone();
    for e in &mut report.errors {
        fix_command(e, &leaf, purpose, host.as_deref(), &label, ctx);
    }
    Ok(report)
}

/// Rewrites the fix of `e` as one runnable command when it is one.
fn fix_command(
    e: &mut Problem,
    leaf: &X509Certificate<'_>,
    purpose: Purpose,
    host: Option<&str>,
    stem: &str,
    ctx: &FixContext,
) {
    let dir = ctx.dir_for_leaf(leaf.issuer().as_raw()).to_path_buf();
    let kind = |p: Purpose| match p {
        Purpose::Server => "server",
        Purpose::Client => "client",
    };
    let issue = |p: Purpose, extra_san: Option<&str>, out: &str, force: bool| {
        let cn = common_name(leaf).unwrap_or_else(|| "NAME".into());
        let mut a: Vec<String> = vec!["issue".into(), kind(p).into(), "--cn".into(), cn.clone()];
        for s in sans_text(leaf) {
            if s != cn {
                a.extend(["--san".into(), s]);
            }
        }
        if let Some(h) = extra_san {
            a.extend(["--san".into(), h.to_string()]);
        }
        a.extend(["--out".into(), out.to_string()]);
        if force {
            a.push("--force".into());
        }
        ctx.mtls(&dir, &a)
    };
    let leaf_is_ca = matches!(leaf.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
    let (hint, cmd) = match e.code {
        Code::Expired if !e.message.starts_with("the CA certificate") => {
            let cmd = ctx.mtls(&dir, &["renew", "--cert", &format!("{stem}.crt")]);
            (format!("renew it (same names and key type, the old files kept as .bak), then deploy the new files: {cmd}"), cmd)
        }
        Code::NameMismatch if !leaf_is_ca => {
            let Some(h) = host else { return };
            let cmd = issue(purpose, Some(h), stem, true);
            (
                format!(
                    "reissue with --san {} (the old files kept as .bak), then deploy it: {cmd}",
                    crate::inspect::escape(h)
                ),
                cmd,
            )
        }
        Code::WrongPurpose if !leaf_is_ca => {
            let out = format!("{stem}-{}", kind(purpose));
            let cmd = issue(purpose, None, &out, false);
            (
                format!(
                    "issue a separate {} certificate (the {stem} files stay as they are): {cmd}",
                    kind(purpose)
                ),
                cmd,
            )
        }
        Code::UnusableKey if !leaf_is_ca => {
            let cmd = format!("{} --key-type ecdsa-p256", issue(purpose, None, stem, true));
            (
                format!("reissue it with a supported key (the old files kept as .bak): {cmd}"),
                cmd,
            )
        }
        Code::UnknownIssuer
            if !leaf_is_ca
                && e.hint
                    .contains("reissue the certificate from the trusted CA") =>
        {
            let trusted = ctx.issuing_dir(|_| true).unwrap_or(&ctx.dir).to_path_buf();
            let cn = common_name(leaf).unwrap_or_else(|| "NAME".into());
            let mut a: Vec<String> = vec![
                "issue".into(),
                kind(purpose).into(),
                "--cn".into(),
                cn.clone(),
            ];
            for s in sans_text(leaf) {
                if s != cn {
                    a.extend(["--san".into(), s]);
                }
            }
            a.extend(["--out".into(), stem.to_string(), "--force".into()]);
            let cmd = ctx.mtls(&trusted, &a);
            (format!("trust that CA with --ca FILE (peers: add it to their CA bundle), or reissue the certificate from the trusted CA (the old files kept as .bak): {cmd}"), cmd)
        }
        Code::CaUsedAsLeaf => {
            let Some(h) = host else {
                e.hint = format!("give the leaf certificate ({stem}.crt of the server or client), not a CA certificate; a CA signs leaves, it is never one");
                return;
            };
            let ca_dir = ctx
                .dir_of_issuer(leaf.subject().as_raw())
                .unwrap_or(&dir)
                .to_path_buf();
            let cmd = ctx.mtls(&ca_dir, &["issue", kind(purpose), "--cn", h, "--out", h]);
            (format!("give the leaf certificate, not a CA certificate; to make one for {h} from this CA: {cmd}"), cmd)
        }
        _ => return,
    };
    e.hint = hint;
    e.command = Some(cmd);
}

fn name_problem(leaf: &X509Certificate<'_>, purpose: Purpose, host: &str) -> Problem {
    let sans = sans_text(leaf);
    let is_for = if sans.is_empty() {
        "no host name (it has no DNS or IP subjectAltName)".to_string()
    } else {
        sans.join(", ")
    };
    let mut message = format!(
        "the certificate is for {is_for}, not {}",
        crate::inspect::escape(host)
    );
    if common_name(leaf).is_some_and(|cn| cn.eq_ignore_ascii_case(host)) {
        message.push_str(&format!(
            " ({} is only in the subject CN, which rustls and modern clients ignore; openssl-based clients may still accept it)",
            crate::inspect::escape(host)
        ));
    }
    problem(
        Code::NameMismatch,
        message,
        format!(
            "reissue with --san {h}: {}",
            issue_cmd(purpose, leaf, Some(host)),
            h = crate::inspect::escape(host)
        ),
    )
}

fn cert_label_of(
    chain: &[&[u8]],
    matches: impl Fn(&X509Certificate<'_>) -> bool,
) -> Option<(usize, String)> {
    chain.iter().enumerate().find_map(|(i, d)| {
        let c = parse(d)?;
        matches(&c).then(|| (i, fmt_name(c.subject())))
    })
}

#[allow(clippy::too_many_arguments)]
fn explain(
    e: &rustls::Error,
    input: &Input,
    leaf: &X509Certificate<'_>,
    purpose: Purpose,
    host: Option<&str>,
    chain: &[&[u8]],
    warnings: &mut Vec<String>,
) -> Problem {
    let label = &input.cert_label;
    let at = input.at;
    let ce =
        match e {
            rustls::Error::InvalidCertificate(ce) => ce,
            rustls::Error::InvalidCertRevocationList(crl) => return problem(
                Code::BadCrl,
                format!("a CRL cannot be used: {crl:?}"),
                "give the CRL the issuing CA published (mtls-ca crl), not an edited or foreign one",
            ),
            other => {
                return problem(
                    Code::InvalidCertificate,
                    format!("rejected: {other}"),
                    "inspect it with `mtls-ca inspect FILE`",
                )
            }
        };
    let ts = |u: &UnixTime| {
        OffsetDateTime::from_unix_timestamp(u.as_secs() as i64)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    };
    match ce {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            let not_after = match ce {
                CertificateError::ExpiredContext { not_after, .. } => Some(ts(not_after)),
                _ => None,
            };
            let which = not_after.and_then(|na| {
                cert_label_of(chain, |c| {
                    c.validity().not_after.timestamp() == na.unix_timestamp()
                })
            });
            let na = not_after.unwrap_or_else(|| crate::x509::validity(leaf).1);
            let ago = days_phrase((at - na).whole_days());
            let when = if ago == "today" { "today".to_string() } else { format!("{ago} ago") };
            match which {
                Some((i, subject)) if i > 0 => problem(
                    Code::Expired,
                    format!("the CA certificate {subject} expired {when} ({})", crate::ca::fmt_date(na)),
                    "renew that CA and reissue the certificates below it",
                ),
                _ => problem(
                    Code::Expired,
                    format!("expired {when} ({})", crate::ca::fmt_date(na)),
                    format!("mtls-ca renew --cert {}, then deploy the new files", leaf_file(label)),
                ),
            }
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            let nb = match ce {
                CertificateError::NotValidYetContext { not_before, .. } => ts(not_before),
                _ => crate::x509::validity(leaf).0,
            };
            let which = cert_label_of(chain, |c| {
                c.validity().not_before.timestamp() == nb.unix_timestamp()
            });
            let who = match which {
                Some((i, s)) if i > 0 => format!("the CA certificate {s} is "),
                _ => String::new(),
            };
            problem(
                Code::NotYetValid,
                format!(
                    "{who}not valid yet: valid from {} (in {})",
                    crate::ca::fmt_date(nb),
                    days_phrase((nb - at).whole_days().max(0))
                ),
                "check the clock of this machine and of the peer (NTP), or wait until then",
            )
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            name_problem(leaf, purpose, host.unwrap_or(""))
        }
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            let has = ekus(leaf);
            let (message, hint) = match (purpose, has) {
                (Purpose::Server, Some((false, true, _))) => (
                    "this is a client certificate (clientAuth) used as a server".to_string(),
                    format!("issue a server certificate: {}", issue_cmd(Purpose::Server, leaf, None)),
                ),
                (Purpose::Client, Some((true, false, _))) => (
                    "this is a server certificate (serverAuth) used as a client".to_string(),
                    format!("issue a client certificate: {}", issue_cmd(Purpose::Client, leaf, None)),
                ),
                (p, _) => (
                    format!(
                        "the certificate is not allowed for {} authentication (its extendedKeyUsage lacks {})",
                        if p == Purpose::Server { "server" } else { "client" },
                        if p == Purpose::Server { "serverAuth" } else { "clientAuth" }
                    ),
                    format!("issue one with the right profile: {}", issue_cmd(p, leaf, None)),
                ),
            };
            problem(Code::WrongPurpose, message, hint)
        }
        CertificateError::UnknownIssuer => unknown_issuer(input, leaf, chain, purpose),
        CertificateError::Revoked => match revocation_of(chain, &input.crls) {
            Some((subject, date, reason, true)) => problem(
                Code::Revoked,
                format!("revoked on {date} ({reason}): {subject}"),
                "a revoked certificate stays revoked: issue a new one (with a new key) and deploy it",
            ),
            Some((subject, date, reason, false)) => problem(
                Code::Revoked,
                format!("the CA certificate {subject} was revoked on {date} ({reason})"),
                "everything below that CA is untrusted: move to a new CA and reissue",
            ),
            None => problem(
                Code::Revoked,
                "a certificate of the chain is revoked",
                "issue a new certificate and deploy it",
            ),
        },
        CertificateError::UnknownRevocationStatus => {
            let missing: Vec<String> = chain
                .iter()
                .filter_map(|d| parse(d))
                .filter(|c| !is_self_issued(c))
                .filter(|c| {
                    !input.crls.iter().any(|crl| {
                        CertificateRevocationList::from_der(crl)
                            .is_ok_and(|(_, crl)| crl.issuer().as_raw() == c.issuer().as_raw())
                    })
                })
                .map(|c| format!("{} (issuer of {})", fmt_name(c.issuer()), fmt_name(c.subject())))
                .collect();
            problem(
                Code::RevocationUnknown,
                if missing.is_empty() {
                    "the revocation status of a certificate of the chain is unknown: no usable CRL from its issuer".to_string()
                } else {
                    format!("no CRL given from {}: its revocation status is unknown", missing.join(", "))
                },
                "pass the CRL of every CA of the chain with --crl (nginx's ssl_crl needs them all too)",
            )
        }
        CertificateError::ExpiredRevocationList
        | CertificateError::ExpiredRevocationListContext { .. } => problem(
            Code::CrlExpired,
            "a CRL is past its nextUpdate",
            "publish a fresh CRL: mtls-ca crl",
        ),
        CertificateError::BadSignature => problem(
            Code::BadSignature,
            "a signature in the chain does not verify: the certificate was altered or is signed by another key with the same CA name",
            "get the certificate again from its CA; check that --ca is the CA that really issued it",
        ),
        #[allow(deprecated)]
        CertificateError::UnsupportedSignatureAlgorithm
        | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => problem(
            Code::UnsupportedSignatureAlgorithm,
            "a certificate of the chain is signed with an algorithm rustls does not accept (e.g. SHA-1, MD5, RSA-PSS with odd parameters, P-521)",
            "reissue it with ECDSA P-256/P-384, Ed25519 or RSA with SHA-256",
        ),
        CertificateError::BadEncoding => problem(
            Code::BadEncoding,
            "a certificate of the chain is not valid DER as rustls reads it",
            "inspect it with `mtls-ca inspect`; reissue it with a conforming tool",
        ),
        CertificateError::Other(other) => {
            match other.0.downcast_ref::<webpki::Error>() {
                Some(w) => webpki_problem(w, leaf, purpose, chain, warnings),
                None => problem(
                    Code::InvalidCertificate,
                    format!("rejected: {other}"),
                    "inspect it with `mtls-ca inspect FILE`",
                ),
            }
        }
        other => problem(
            Code::InvalidCertificate,
            format!("rejected: {other:?}"),
            "inspect it with `mtls-ca inspect FILE`",
        ),
    }
}

fn webpki_problem(
    w: &webpki::Error,
    leaf: &X509Certificate<'_>,
    purpose: Purpose,
    chain: &[&[u8]],
    warnings: &mut Vec<String>,
) -> Problem {
    use webpki::Error as W;
    match w {
        W::CaUsedAsEndEntity => {
            warnings.push("openssl-based gateways (nginx, HAProxy) accept a CA certificate used as a leaf; rustls does not".into());
            problem(
                Code::CaUsedAsLeaf,
                "this is a CA certificate (CA:TRUE), used here as a server or client certificate",
                format!("issue a leaf from this CA: {}", issue_cmd(purpose, leaf, None)),
            )
        }
        W::EndEntityUsedAsCa => problem(
            Code::LeafUsedAsCa,
            "a leaf certificate (CA:FALSE) appears as the issuer of another certificate",
            "only a CA (mtls-ca init) may issue certificates",
        ),
        W::PathLenConstraintViolated => problem(
            Code::PathlenExceeded,
            "the chain has more CAs below a CA than its pathLenConstraint allows",
            "create the intermediate with a larger --pathlen on its parent, or issue from a higher CA",
        ),
        W::NameConstraintViolation => {
            if chain_has_email_uri_constraints(chain) {
                warnings.push("a CA of the chain has email or URI name constraints: rustls rejects such chains, openssl-based gateways may accept them".into());
            }
            problem(
                Code::NameConstraints,
                "a name of the certificate is outside the name constraints of its CA",
                "issue only names the CA permits (see `mtls-ca inspect ca.crt`), or use another CA",
            )
        }
        W::UnsupportedNameType => {
            if chain_has_email_uri_constraints(chain) {
                warnings.push("a CA of the chain has email or URI name constraints: rustls rejects such chains, openssl-based gateways may accept them".into());
            }
            problem(
                Code::UnsupportedNameType,
                "the chain has a name constraint or name of a type rustls does not support (email or URI constraints)",
                "use a CA constrained by DNS names and IP ranges only",
            )
        }
        W::UnsupportedCriticalExtension => problem(
            Code::UnsupportedCriticalExtension,
            "a certificate of the chain has a critical extension rustls does not understand",
            "reissue it without that extension (or mark it non-critical)",
        ),
        W::MaximumPathDepthExceeded | W::MaximumPathBuildCallsExceeded | W::MaximumSignatureChecksExceeded | W::MaximumNameConstraintComparisonsExceeded => problem(
            Code::ChainTooComplex,
            "the chain is too long or too complex to validate",
            "use a chain of at most a few intermediates",
        ),
        W::CertDistrusted => problem(Code::Distrusted, "the certificate is distrusted", "use another CA"),
        other => problem(
            Code::InvalidCertificate,
            format!("rejected by rustls: {other}"),
            "inspect it with `mtls-ca inspect FILE`",
        ),
    }
}

fn chain_has_email_uri_constraints(chain: &[&[u8]]) -> bool {
    chain.iter().filter_map(|d| parse(d)).any(|c| {
        c.iter_extensions().any(|e| match e.parsed_extension() {
            ParsedExtension::NameConstraints(nc) => nc
                .permitted_subtrees
                .iter()
                .flatten()
                .chain(nc.excluded_subtrees.iter().flatten())
                .any(|s| matches!(s.base, GeneralName::RFC822Name(_) | GeneralName::URI(_))),
            _ => false,
        })
    })
}

fn unknown_issuer(
    input: &Input,
    leaf: &X509Certificate<'_>,
    chain: &[&[u8]],
    purpose: Purpose,
) -> Problem {
    let label = &input.cert_label;
    let last = chain.last().and_then(|d| parse(d));
    let issuer = last
        .as_ref()
        .map(|c| fmt_name(c.issuer()))
        .unwrap_or_else(|| fmt_name(leaf.issuer()));
    // Is a certificate named like the missing issuer nearby, and does it complete the chain?
    let want = last.as_ref().map(|c| c.issuer().as_raw().to_vec());
    let self_issued = last.as_ref().is_some_and(is_self_issued);
    if !self_issued {
        let mut candidates = input.candidates.clone();
        for f in &input.candidate_files {
            if let Ok(v) = crate::x509::read_certs(f) {
                candidates.extend(v);
            }
        }
        let found: Vec<Vec<u8>> = candidates
            .iter()
            .filter(|c| {
                parse(c).is_some_and(|c| {
                    Some(c.subject().as_raw().to_vec()) == want && !is_self_issued(&c)
                })
            })
            .cloned()
            .collect();
        if !found.is_empty() {
            let mut more = input.intermediates.clone();
            more.extend(candidates.iter().cloned());
            let name = ServerName::try_from("invalid.invalid").expect("static name");
            let ok = match rustls_check(input, purpose, &name, &more, false) {
                Ok(()) => true,
                Err(rustls::Error::InvalidCertificate(c)) => !matches!(
                    c,
                    CertificateError::UnknownIssuer | CertificateError::BadSignature
                ),
                Err(_) => false,
            };
            if ok {
                let full = fullchain_name(label);
                return problem(
                    Code::MissingIntermediate,
                    match purpose {
                        Purpose::Server => format!(
                            "the server sent its certificate without the intermediate ({issuer}): clients cannot link it to the trusted CA"
                        ),
                        Purpose::Client => format!(
                            "the client sent its certificate without the intermediate ({issuer}): servers cannot link it to the trusted CA"
                        ),
                    },
                    match purpose {
                        Purpose::Server => format!(
                            "serve {full} (leaf + intermediates) instead of {label} (nginx: ssl_certificate {full}); to check it here, verify {full} or pass --chain"
                        ),
                        Purpose::Client => format!(
                            "send {full} (leaf + intermediates) as the client certificate (curl --cert {full}); to check it here, verify {full} or pass --chain"
                        ),
                    },
                );
            }
        }
        return problem(
            Code::UnknownIssuer,
            format!(
                "issued by {issuer}, which is not among the trusted CAs (and no intermediate links it to them)"
            ),
            format!(
                "if {issuer} is an intermediate CA, serve {} (leaf + intermediates); otherwise trust its root with --ca FILE",
                fullchain_name(label)
            ),
        );
    }
    problem(
        Code::UnknownIssuer,
        format!("issued by {issuer}, which is not among the trusted CAs"),
        format!(
            "trust that CA with --ca FILE (peers: add it to their CA bundle), or reissue the certificate from the trusted CA: {}",
            issue_cmd(purpose, leaf, None)
        ),
    )
}

fn gateway_warnings(
    input: &Input,
    leaf: &X509Certificate<'_>,
    chain: &[&[u8]],
    complete: bool,
    purpose: Purpose,
    warnings: &mut Vec<String>,
) {
    let at = input.at.unix_timestamp();
    if complete && chain.len() >= 2 {
        if let Some(anchor) = parse(chain[chain.len() - 1]) {
            // An expired root: webpki ignores the anchor's validity, openssl does not.
            if anchor.validity().not_after.timestamp() < at {
                warnings.push(format!(
                    "the trusted CA {} expired on {}: rustls still accepts the chain, openssl-based gateways (nginx, HAProxy) reject it",
                    fmt_name(anchor.subject()),
                    crate::ca::fmt_date(anchor.validity().not_after.to_datetime())
                ));
            }
            // Pathlen on the anchor: webpki ignores it, openssl enforces it.
            if let Ok(Some(bc)) = anchor.basic_constraints() {
                if let Some(pl) = bc.value.path_len_constraint {
                    let below = chain.len().saturating_sub(2);
                    if below as u32 > pl {
                        warnings.push(format!(
                            "the trusted CA {} allows {pl} intermediate(s) below it (pathlen) and the chain has {below}: rustls ignores a trust anchor's pathlen, openssl-based gateways reject the chain",
                            fmt_name(anchor.subject())
                        ));
                    }
                }
            }
            // An anchor that is not self-signed: openssl wants the root unless partial chains are allowed.
            let root_given = input.roots.iter().any(|r| {
                parse(r).is_some_and(|r| {
                    r.subject().as_raw() == anchor.issuer().as_raw() && is_self_issued(&r)
                })
            });
            if !is_self_issued(&anchor) && !root_given {
                warnings.push(format!(
                    "the trusted CA {} is an intermediate: openssl-based gateways also need its root in their CA file (or partial-chain mode)",
                    fmt_name(anchor.subject())
                ));
            }
        }
        let intermediates = chain.len().saturating_sub(2);
        if purpose == Purpose::Client && intermediates > 1 {
            warnings.push(format!(
                "the chain has {intermediates} intermediate CAs: nginx needs `ssl_verify_depth {}` (default 1) to accept this client certificate",
                intermediates + 1
            ));
        }
    }
    // Stale CRLs: rustls ignores nextUpdate by default, nginx rejects every client.
    for c in &input.crls {
        if let Ok((_, crl)) = CertificateRevocationList::from_der(c) {
            if let Some(nu) = crl.next_update() {
                if nu.timestamp() < at {
                    warnings.push(format!(
                        "the CRL of {} is past its nextUpdate ({}): nginx then rejects every client; publish a fresh one (mtls-ca crl)",
                        fmt_name(crl.issuer()),
                        crate::ca::fmt_date(nu.to_datetime())
                    ));
                }
            }
        }
    }
    if purpose == Purpose::Server {
        let sans = sans_text(leaf);
        if let Some(cn) = common_name(leaf) {
            if !sans.is_empty()
                && !sans.iter().any(|s| s.eq_ignore_ascii_case(&cn))
                && cn.contains('.')
            {
                warnings.push(format!(
                    "the subject CN {cn} is not among the SANs: clients ignore the CN"
                ));
            }
        }
    }
}
