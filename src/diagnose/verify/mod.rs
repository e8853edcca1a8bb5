//! Path validation the way a rustls peer does it, turned into a report a person can act on.
//!
//! The verdict comes from rustls' own
//! [`WebPkiServerVerifier`](::rustls::client::WebPkiServerVerifier) /
//! [`WebPkiClientVerifier`](::rustls::server::WebPkiClientVerifier) with the ring provider,
//! CRLs included, at a time given by the caller. Every rustls/webpki error is mapped to a
//! stable code (`unknown_issuer`, `missing_intermediate`, `name_mismatch`, …) with a
//! message saying what is wrong and a hint saying how to fix it. Warnings add where
//! openssl-based gateways (nginx, HAProxy) would decide differently, as listed in
//! `profiles.md`. A failed check is a [`Report`] with `valid: false`, never an `Err`: errors are
//! only for inputs that cannot be used at all.

mod crls;
mod model;
pub mod openssl;
mod rustls;
pub mod strict;

use std::path::{Path, PathBuf};

use rustls_pki_types::ServerName;
use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::diagnose::finding::{stem_of, Code, FixContext, Side};
use model::{
    build_chain, common_name, ekus, issue_cmd, name_problem, parse, problem, sans_text, side_of,
};
pub use model::{fullchain_name, leaf_file, Input, Problem, Purpose};

use crate::error::{Error, Result};
use crate::inspect::fmt_name;

/// Input files are never read beyond this size.
pub const MAX_INPUT: u64 = 16 * 1024 * 1024;

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
    pub strict: Vec<strict::StrictFinding>,
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
                    if p2.code == Code::Revoked {
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
        engines: Vec::new(),
        strict: Vec::new(),
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

/// Verifies `input` with the engines of `opts` (and the RFC 5280 rules with `strict`).
pub fn verify_engines(input: &Input, ctx: &FixContext, opts: &Options) -> Result<Report> {
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
    let mut report = verify_with(&rin, ctx)?;
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
            let mut p = problem(
                Code::RevocationUnknown,
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
            p.side = Side::Gateway;
            if !report
                .errors
                .iter()
                .any(|e| e.code == Code::RevocationUnknown)
            {
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
        for e in report.errors.iter().filter(|e| e.code == Code::KeyMismatch) {
            probs.push(engine_problem(e));
        }
        let valid = probs.is_empty();
        if !opts.engine.rustls() || (errors.is_empty() && !valid) {
            for p in &probs {
                let code = Code::parse(&p.code).unwrap_or(Code::VerifyFailed);
                let mut f = problem(
                    code,
                    format!("OpenSSL-based gateways: {}", p.message),
                    p.hint.clone(),
                );
                f.side = side_of(code, report.purpose);
                errors.push(f);
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
        for s in &report.strict {
            let mut f = problem(
                Code::NotRfc5280,
                format!("[{}] {}", s.code, s.message),
                s.hint.clone(),
            );
            f.side = side_of(Code::NotRfc5280, report.purpose);
            errors.push(f);
        }
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
        code: p.code.as_str().to_string(),
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
            known.map(|k| k.code.as_str()).unwrap_or("verify_unspecified").to_string(),
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
            let out = format!("{stem}-renewed");
            let cmd = ctx.mtls(
                &dir,
                &["renew", "--cert", &format!("{stem}.crt"), "--out", &out],
            );
            (format!("renew it (same names and key type, into {out}.crt/.key/.fullchain.crt), then deploy the new files: {cmd}"), cmd)
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
