//! Path validation the way a rustls peer does it, turned into a report a person can act on.
//!
//! The verdict comes from rustls' own [`WebPkiServerVerifier`] / [`WebPkiClientVerifier`] with
//! the ring provider, CRLs included, at a time given by the caller. Every rustls/webpki error is
//! mapped to a stable code (`unknown_issuer`, `missing_intermediate`, `name_mismatch`, …) with a
//! message saying what is wrong and a hint saying how to fix it. Warnings add where
//! openssl-based gateways (nginx, HAProxy) would decide differently, as listed in
//! `profiles.md`. A failed check is a [`Report`] with `valid: false`, never an `Err`: errors are
//! only for inputs that cannot be used at all.

mod crls;
pub mod openssl;
mod rustls;
pub mod strict;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls_pki_types::{ServerName, UnixTime};
use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

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

/// One problem: a stable code, what is wrong, how to fix it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// Stable machine-readable code, e.g. `expired`.
    pub code: String,
    /// What is wrong, in a sentence.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

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
    /// The verdict of each engine that ran (`rustls`, `openssl`), with its own errors.
    pub engines: Vec<Verdict>,
    /// With `--strict`: what RFC 5280 forbids in the chain even where both engines accept.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub strict: Vec<Problem>,
}

/// Which verdicts `verify` computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// rustls only (rustls-based servers and clients).
    Rustls,
    /// The OpenSSL family only (nginx, HAProxy, Kong, Apache).
    Openssl,
    /// Both; the certificate is valid only when both accept.
    #[default]
    All,
}

impl Engine {
    /// Parses `rustls` / `openssl` / `all`.
    pub fn parse(s: &str) -> Result<Engine> {
        match s.trim().to_ascii_lowercase().as_str() {
            "rustls" => Ok(Engine::Rustls),
            "openssl" => Ok(Engine::Openssl),
            "all" | "both" => Ok(Engine::All),
            _ => Err(Error::invalid(
                "--engine",
                s,
                "unknown engine",
                "use --engine rustls, --engine openssl or --engine all",
            )),
        }
    }

    fn rustls(self) -> bool {
        self != Engine::Openssl
    }

    fn openssl(self) -> bool {
        self != Engine::Rustls
    }
}

/// How [`verify_with`] decides.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The engines to run (default: both).
    pub engine: Engine,
    /// Also reject what RFC 5280 forbids where both engines accept.
    pub strict: bool,
    /// A name for each CRL of `Input::crls` (its file), used in warnings and errors.
    pub crl_names: Vec<String>,
    /// Warnings from loading (e.g. files of a CRL directory that are not CRLs).
    pub notes: Vec<String>,
}

/// One engine's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// `rustls` or `openssl`.
    pub engine: &'static str,
    /// The gateways and clients that decide like it.
    pub stands_for: &'static str,
    /// True when this engine accepts.
    pub valid: bool,
    /// Its problems; OpenSSL's carry `openssl_error` (the X509_V_ERR number nginx logs).
    pub errors: Vec<EngineProblem>,
}

/// A problem as one engine reports it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EngineProblem {
    /// Stable code.
    pub code: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
    /// OpenSSL's `X509_V_ERR_*` number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openssl_error: Option<u32>,
    /// Depth in the chain (0 = the certificate itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depth: Option<usize>,
}

/// Who decides like rustls.
pub const RUSTLS_STANDS_FOR: &str = "rustls-based servers and clients";
/// Who decides like OpenSSL.
pub const OPENSSL_STANDS_FOR: &str = "nginx, HAProxy, Kong, Apache (OpenSSL)";

fn problem(code: &str, message: impl Into<String>, hint: impl Into<String>) -> Problem {
    Problem {
        code: code.into(),
        message: message.into(),
        hint: hint.into(),
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

/// The CRLs read from files and directories: one name per CRL, and a warning per file of a
/// directory that could not be used.
#[derive(Debug, Clone, Default)]
pub struct CrlSet {
    /// The CRLs (DER).
    pub ders: Vec<Vec<u8>>,
    /// The file of each CRL (with `#n` when a file holds several).
    pub names: Vec<String>,
    /// Files of a CRL directory that were skipped, with the reason.
    pub warnings: Vec<String>,
}

/// Reads CRL files (an unusable one is an error) and directories (every file in it; one that is
/// not a CRL is a warning).
pub fn read_crl_set(paths: &[PathBuf]) -> Result<CrlSet> {
    let mut set = CrlSet::default();
    let add = |set: &mut CrlSet, path: &Path, ders: Vec<Vec<u8>>| {
        let n = ders.len();
        for (i, d) in ders.into_iter().enumerate() {
            set.ders.push(d);
            set.names.push(if n > 1 {
                format!("{} #{}", path.display(), i + 1)
            } else {
                path.display().to_string()
            });
        }
    };
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| {
                    Error::bad_file(
                        p,
                        format!("cannot read the directory ({e})"),
                        "give a readable directory of CRLs",
                    )
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|e| !e.is_dir())
                .collect();
            entries.sort();
            for e in entries {
                match read_crls(&e) {
                    Ok(d) => add(&mut set, &e, d),
                    Err(err) => set.warnings.push(format!(
                        "{}: skipped, not a usable CRL ({err})",
                        e.display()
                    )),
                }
            }
        } else {
            let d = read_crls(p)?;
            add(&mut set, p, d);
        }
    }
    Ok(set)
}

/// Loads the files into an [`Input`] (purpose, host and time from the caller).
pub fn load(
    f: &Files,
    purpose: Option<Purpose>,
    host: Option<String>,
    at: OffsetDateTime,
) -> Result<Input> {
    load_all(f, purpose, host, at).map(|(i, _)| i)
}

/// Like [`load`], also returning the names of the CRLs and the warnings of CRL directories.
pub fn load_all(
    f: &Files,
    purpose: Option<Purpose>,
    host: Option<String>,
    at: OffsetDateTime,
) -> Result<(Input, CrlSet)> {
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
    let mut set = read_crl_set(&f.crls)?;
    let crls = std::mem::take(&mut set.ders);
    let key_spki = match &f.key {
        Some(k) => {
            let bytes = crate::files::read_limited(k, MAX_INPUT)?;
            let kp = crate::keys::load_private_key(&bytes, k)?;
            Some(rcgen::PublicKeyData::subject_public_key_info(&kp))
        }
        None => None,
    };
    let input = Input {
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
    };
    Ok((input, set))
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

fn days_phrase(days: i64) -> String {
    match days {
        0 => "today".into(),
        1 => "1 day".into(),
        n => format!("{n} days"),
    }
}

fn reason_text(r: &x509_parser::x509::ReasonCode) -> &'static str {
    match r.0 {
        1 => "key-compromise",
        2 => "ca-compromise",
        3 => "affiliation-changed",
        4 => "superseded",
        5 => "cessation-of-operation",
        6 => "certificate-hold",
        8 => "remove-from-crl",
        9 => "privilege-withdrawn",
        10 => "aa-compromise",
        _ => "unspecified",
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
                        .map(|(_, r)| reason_text(&r))
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

/// Verifies `input` the way a rustls peer would and explains the result (the rustls engine only;
/// [`verify_with`] runs both).
pub fn verify(input: &Input) -> Result<Report> {
    verify_with(
        input,
        &Options {
            engine: Engine::Rustls,
            ..Options::default()
        },
    )
}

/// Verifies `input` with the engines of `opts` (and the RFC 5280 rules with `strict`).
pub fn verify_with(input: &Input, opts: &Options) -> Result<Report> {
    let crl_name = |i: usize| {
        opts.crl_names
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("CRL #{}", i + 1))
    };
    // CRLs one by one: what rustls cannot use is left out (a warning), never fatal.
    let sorted = crls::sort_for_rustls(input);
    let mut warnings: Vec<String> = opts.notes.clone();
    for (i, why) in &sorted.unusable {
        warnings.push(format!("{}: not used by rustls: {why}", crl_name(*i)));
    }
    let rin = Input {
        crls: sorted
            .usable
            .iter()
            .map(|i| input.crls[*i].clone())
            .collect(),
        ..input.clone()
    };
    let mut report = verify_rustls(&rin)?;
    report.warnings.splice(0..0, warnings);
    let rustls_problems = report.errors.clone();
    // A CA of the chain whose only CRLs were unusable: its status is unknown.
    let mut rustls_extra = Vec::new();
    if !input.crls.is_empty() {
        for (issuer, subject) in crls::chain_issuers(input) {
            let has_usable = sorted.usable.iter().any(|i| sorted.issuers[*i] == issuer);
            if has_usable {
                continue;
            }
            let files: Vec<String> = sorted
                .unusable
                .iter()
                .filter(|(i, _)| sorted.issuers[*i] == issuer)
                .map(|(i, why)| format!("{} ({why})", crl_name(*i)))
                .collect();
            if files.is_empty() && !rin.crls.is_empty() {
                continue; // rustls itself reports the missing CRL
            }
            let p = problem(
                "revocation_unknown",
                if files.is_empty() {
                    format!("no CRL given from {issuer_name} (issuer of {subject}): its revocation status is unknown", issuer_name = crls::issuer_name(input, &issuer))
                } else {
                    format!(
                        "the revocation status of {subject} is unknown: the only CRL of its issuer cannot be used: {}",
                        files.join("; ")
                    )
                },
                "pass a current, complete CRL of that CA (mtls-ca crl) with --crl",
            );
            if !report.errors.iter().any(|e| e.code == "revocation_unknown") {
                rustls_extra.push(p);
            }
        }
    }
    let mut rustls_all = rustls_problems;
    rustls_all.extend(rustls_extra);
    let rustls_valid = rustls_all.is_empty();
    report.engines.clear();
    if opts.engine.rustls() {
        report.engines.push(Verdict {
            engine: "rustls",
            stands_for: RUSTLS_STANDS_FOR,
            valid: rustls_valid,
            errors: rustls_all.iter().map(engine_problem).collect(),
        });
    }
    let mut errors: Vec<Problem> = if opts.engine.rustls() {
        rustls_all
    } else {
        Vec::new()
    };
    if opts.engine.openssl() {
        let host = report.host.clone();
        let v = openssl::verify(input, report.purpose, host.as_deref());
        for n in &v.unusable_crls {
            report.warnings.push(format!(
                "{}: not used by OpenSSL-based gateways: {}",
                crl_name(n.index),
                n.reason
            ));
        }
        let mut probs: Vec<EngineProblem> = v
            .errors
            .iter()
            .map(|e| {
                let mut p = openssl_problem(e, &crl_name);
                if e.num == 3 {
                    let files: Vec<String> = v
                        .unusable_crls
                        .iter()
                        .filter(|n| n.issuer == e.issuer)
                        .map(|n| format!("{} ({})", crl_name(n.index), n.reason))
                        .collect();
                    if !files.is_empty() {
                        p.message.push_str(&format!(
                            "; the only CRL of {} cannot be used: {}",
                            e.issuer,
                            files.join("; ")
                        ));
                    }
                }
                p
            })
            .collect();
        probs.dedup();
        // The key check is the same for every engine.
        for e in report.errors.iter().filter(|e| e.code == "key_mismatch") {
            probs.push(engine_problem(e));
        }
        let valid = probs.is_empty();
        if !opts.engine.rustls() || (errors.is_empty() && !valid) {
            for p in &probs {
                errors.push(Problem {
                    code: p.code.clone(),
                    message: format!("OpenSSL-based gateways: {}", p.message),
                    hint: p.hint.clone(),
                });
            }
        }
        report.engines.push(Verdict {
            engine: "openssl",
            stands_for: OPENSSL_STANDS_FOR,
            valid,
            errors: probs,
        });
    }
    if opts.strict {
        report.strict = strict::chain_findings(input);
        errors.extend(report.strict.iter().cloned());
    }
    // --strict judges by RFC 5280: the OpenSSL family's path validation (RFC 5280's algorithm)
    // plus the rules of strict.rs. Where rustls rejects what RFC 5280 allows (e-mail or DN name
    // constraints, self-issued intermediates and pathlen) its verdict is shown but
    // does not decide; every other rustls rejection still does.
    report.valid = if opts.strict {
        // (A rustls `bad_signature` where OpenSSL verified every signature of its chain is
        // webpki's path building giving up on a self-issued intermediate.)
        const RFC5280_ALLOWS: &[&str] = &[
            "unsupported_name_type",
            "pathlen_exceeded",
            "name_constraints",
            "bad_signature",
        ];
        // RFC 5280 4.1.2.5: the validity period includes notAfter; OpenSSL 3.0 counts a
        // certificate as expired at its notAfter second already.
        let (chain, _) = build_chain(&input.leaf, &input.intermediates, &input.roots);
        let at_not_after = |p: &EngineProblem| {
            p.openssl_error == Some(10)
                && p.depth
                    .and_then(|d| chain.get(d))
                    .and_then(|d| parse(d))
                    .is_some_and(|c| {
                        c.validity().not_after.timestamp() == input.at.unix_timestamp()
                    })
        };
        let openssl_ok = report
            .engines
            .iter()
            .filter(|e| e.engine == "openssl")
            .all(|e| e.errors.iter().all(at_not_after));
        let rustls_ok = report
            .engines
            .iter()
            .filter(|e| e.engine == "rustls")
            .all(|e| {
                e.valid
                    || (opts.engine.openssl()
                        && e.errors
                            .iter()
                            .all(|p| RFC5280_ALLOWS.contains(&p.code.as_str())))
            });
        openssl_ok && rustls_ok && report.strict.is_empty()
    } else {
        report.engines.iter().all(|e| e.valid)
    };
    report.errors = errors;
    Ok(report)
}

fn engine_problem(p: &Problem) -> EngineProblem {
    EngineProblem {
        code: p.code.clone(),
        message: p.message.clone(),
        hint: p.hint.clone(),
        openssl_error: None,
        depth: None,
    }
}

fn openssl_problem(e: &openssl::OsslError, crl_name: &dyn Fn(usize) -> String) -> EngineProblem {
    let known = crate::diagnose::explain::verify_error(e.num);
    let text = known.map(|k| k.text).unwrap_or("verification error");
    let at = if e.depth == 0 {
        format!("{} (the certificate itself)", e.subject)
    } else {
        format!("{} (depth {})", e.subject, e.depth)
    };
    let (code, message, hint) = match (e.num, e.crl) {
        (3, _) => (
            "revocation_unknown".to_string(),
            format!("no usable CRL from the issuer of {at}: its revocation status is unknown (OpenSSL: {text})"),
            "give the gateway a current CRL of every CA of the chain (nginx ssl_crl): mtls-ca crl".to_string(),
        ),
        (8 | 36 | 44, Some(i)) => (
            "revocation_unknown".to_string(),
            format!("the CRL {} for {at} cannot be used ({text}): its revocation status is unknown", crl_name(i)),
            "give the gateway the CRL the issuing CA published (mtls-ca crl), not an edited, partial or foreign one".to_string(),
        ),
        (n, crl) => (
            known.map(|k| k.code).unwrap_or("verify_unspecified").to_string(),
            match crl {
                Some(i) => format!("{text}: {at}, CRL {}", crl_name(i)),
                None => format!("{text}: {at}"),
            }
            .replace("  ", " ")
                + &if n == 47 || n == 48 { " (its names, including a host-like subject CN, are checked against the CA's name constraints)".to_string() } else { String::new() },
            known.map(|k| k.fix).unwrap_or("inspect it with `mtls-ca inspect FILE`").to_string(),
        ),
    };
    EngineProblem {
        code,
        message,
        hint,
        openssl_error: Some(e.num),
        depth: Some(e.depth),
    }
}

/// The rustls verdict and everything around it (chain, warnings, key check).
fn verify_rustls(input: &Input) -> Result<Report> {
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

    let result = rustls::rustls_check(input, purpose, &check_name, &input.intermediates, false);
    let mut name_reported = false;
    if let Err(e) = &result {
        let p = rustls::explain(
            e,
            input,
            &leaf,
            purpose,
            host.as_deref(),
            &chain,
            &mut warnings,
        );
        if p.code == "name_mismatch" {
            if server_name.is_some() {
                name_reported = true;
                errors.push(p);
            } else if sans_text(&leaf).is_empty() {
                warnings.push(
                    "the certificate has no DNS or IP subjectAltName: rustls and every modern client reject it for any host name".into(),
                );
            }
        } else {
            let unknown = p.code == "revocation_unknown";
            errors.push(p);
            // A missing CRL higher up must not hide a revocation the given CRLs do show.
            if unknown {
                if let Err(e2) =
                    rustls::rustls_check(input, purpose, &check_name, &input.intermediates, true)
                {
                    let p2 = rustls::explain(
                        &e2,
                        input,
                        &leaf,
                        purpose,
                        host.as_deref(),
                        &chain,
                        &mut warnings,
                    );
                    if p2.code == "revoked" {
                        errors.insert(0, p2);
                    }
                }
            }
        }
    }
    // The name is checked on its own too, so a name mismatch shows next to e.g. an expiry.
    if let Some(sn) = &server_name {
        if !name_reported && !rustls::name_ok(&input.leaf, sn) {
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
            "unusable_key",
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
                "key_mismatch",
                "the key does not belong to this certificate",
                format!(
                    "use the key that was written with {label} (same STEM, .key), or issue a new certificate for this key"
                ),
            ));
        }
    }
    openssl::gateway_warnings(input, &leaf, &chain, complete, purpose, &mut warnings);
    if server_name.is_none() && purpose == Purpose::Server && errors.is_empty() {
        warnings.push(
            "no --host given: the names were not checked (pass --host NAME as clients will)".into(),
        );
    }
    let chain_names: Vec<String> = chain
        .iter()
        .filter_map(|d| parse(d).map(|c| fmt_name(c.subject())))
        .collect();
    Ok(Report {
        valid: errors.is_empty(),
        purpose,
        host,
        chain: chain_names,
        chain_complete: complete,
        errors,
        warnings,
        engines: Vec::new(),
        strict: Vec::new(),
    })
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
        "name_mismatch",
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
