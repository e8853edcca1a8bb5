//! `mtls-ca verify`: gather the files, let the library decide like rustls, render the report.

use std::path::{Path, PathBuf};

use clap::Args;
use mtls_ca::ca::layout;
use mtls_ca::verify::{self, Files, Purpose};
use time::format_description::well_known::Rfc3339;

use crate::output::Output;
use crate::Outcome;

pub const HELP: &str = "Gives two verdicts: rustls' (WebPkiServerVerifier / WebPkiClientVerifier) and the OpenSSL family's\n(what nginx, HAProxy, Kong and Apache decide with default settings, crl_check_all included), then\nexplains each problem and how to fix it. --strict also rejects what RFC 5280 forbids.\nA --crl DIR reads every CRL in it; a CRL an engine cannot use is a warning, never fatal.\nA CERT file holding a chain (STEM.fullchain.crt) supplies its own intermediates.\n\nEXAMPLES:\n  mtls-ca verify api.example.com.fullchain.crt --host api.example.com\n  mtls-ca verify alice.crt --purpose client --crl pki/crl.pem\n  mtls-ca verify server.crt --ca other-ca.crt --key server.key\n  mtls-ca verify server.crt --at 2027-06-01T00:00:00Z\n  mtls-ca verify alice.crt --purpose client --crl /etc/nginx/crls/ --engine openssl\n  mtls-ca verify imported.crt --ca root.crt --strict\n  mtls-ca --json verify server.crt | jq '.errors[].code'\n\nERROR CODES (JSON .errors[].code):\n  unknown_issuer, missing_intermediate, name_mismatch, expired, not_yet_valid, wrong_purpose,\n  revoked, revocation_unknown, crl_expired, bad_crl, key_mismatch, bad_signature,\n  unsupported_signature_algorithm, bad_encoding, ca_used_as_leaf, leaf_used_as_ca,\n  pathlen_exceeded, name_constraints, unsupported_name_type, unsupported_critical_extension,\n  chain_too_complex, invalid_certificate; OpenSSL's (JSON .engines[1].errors[], with openssl_error):\n  the names of `mtls-ca explain` (cert_expired, ca_without_crlsign, name_constraint_violation,\n  unhandled_critical_extension, …); strict findings start with strict_\n\nEXIT CODES:\n  0  valid: every engine selected accepts it (and the key matches, with --key)\n  1  invalid: an engine rejects it (or --strict finds an RFC 5280 violation); see the errors\n  2  usage or input error (a file is unreadable or not what it should be)";

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The certificate to check (PEM or DER; a fullchain file brings its intermediates).
    #[arg(value_name = "CERT")]
    pub cert: PathBuf,
    /// Trusted CA certificates (repeatable; default: DIR/ca.crt when it exists).
    #[arg(long, value_name = "FILE")]
    pub ca: Vec<PathBuf>,
    /// Intermediate certificates to use (repeatable).
    #[arg(long, value_name = "FILE")]
    pub chain: Vec<PathBuf>,
    /// Check as a server or a client certificate (default: from --host or the certificate's EKU).
    #[arg(long, value_name = "server|client")]
    pub purpose: Option<String>,
    /// The host name or IP address clients connect to.
    #[arg(long, value_name = "NAME|IP")]
    pub host: Option<String>,
    /// Check that this private key belongs to the certificate.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// CRL files or directories of CRLs, checked for the whole chain (repeatable).
    #[arg(long, value_name = "FILE")]
    pub crl: Vec<PathBuf>,
    /// Check at this time instead of now (RFC 3339, e.g. 2027-01-01T00:00:00Z).
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
    /// Which verdicts: rustls, openssl (nginx, HAProxy, Kong, Apache) or all (default).
    #[arg(long, value_name = "rustls|openssl|all", default_value = "all")]
    pub engine: String,
    /// Also reject what RFC 5280 forbids even where both engines accept.
    #[arg(long)]
    pub strict: bool,
}

pub fn run(dir: &Path, a: &VerifyArgs, out: &Output) -> anyhow::Result<Outcome> {
    let at = match &a.at {
        Some(s) => {
            time::OffsetDateTime::parse(s, &Rfc3339).map_err(|e| mtls_ca::Error::InvalidValue {
                what: "--at",
                value: s.clone(),
                reason: format!("not an RFC 3339 time ({e})"),
                hint: "write it like 2027-01-01T00:00:00Z".into(),
            })?
        }
        None => super::now(),
    };
    let purpose = a.purpose.as_deref().map(Purpose::parse).transpose()?;
    let engine = verify::Engine::parse(&a.engine)?;
    let mut ca = a.ca.clone();
    let dir_ca = layout::cert(dir);
    if ca.is_empty() {
        // The directory's whole trust: every CA of a rotation's overlap (ca-bundle.crt).
        if let Some(f) = mtls_ca::ca::overlap::default_trust_file(dir) {
            ca.push(f);
        } else {
            return Err(mtls_ca::Error::InvalidValue {
                what: "--ca",
                value: String::new(),
                reason: format!(
                    "no trusted CA given and {} does not exist",
                    dir_ca.display()
                ),
                hint: "pass --ca FILE (the CA that should have issued it), or --dir DIR of the CA"
                    .into(),
            }
            .into());
        }
    }
    let cert_label = a.cert.display().to_string();
    let mut candidates = vec![PathBuf::from(verify::fullchain_name(&cert_label))];
    candidates.push(layout::chain(dir));
    candidates.push(dir_ca);
    candidates.retain(|p| p.exists() && p != &a.cert);
    let files = Files {
        cert: a.cert.clone(),
        ca,
        chain: a.chain.clone(),
        key: a.key.clone(),
        crls: mtls_ca::crl::with_retired_siblings(dir, &a.crl, at)?,
        candidates,
    };
    let (input, crls) = verify::load_all(&files, purpose, a.host.clone(), at)?;
    let ctx = mtls_ca::diagnose::finding::FixContext::discover(dir);
    let opts = verify::Options {
        engine,
        strict: a.strict,
        crl_names: crls.names,
        notes: crls.warnings,
    };
    let report = verify::verify_engines(&input, &ctx, &opts)?;
    if out.json {
        out.json_doc(&serde_json::to_value(&report)?)?;
    } else {
        let color = out.stdout_color();
        let paint = |code: &str, s: &str| crate::output::paint(color, code, s);
        let what = match report.purpose {
            Purpose::Server => "server",
            Purpose::Client => "client",
        };
        let for_host = report
            .host
            .as_ref()
            .map(|h| format!(" for {}", mtls_ca::inspect::escape(h)))
            .unwrap_or_default();
        let who = |e: &verify::Verdict| match e.engine {
            "rustls" => "a rustls peer".to_string(),
            _ => format!(
                "OpenSSL-based gateways ({})",
                e.stands_for.trim_end_matches(" (OpenSSL)")
            ),
        };
        let accept: Vec<String> = report.engines.iter().filter(|e| e.valid).map(who).collect();
        let reject: Vec<String> = report
            .engines
            .iter()
            .filter(|e| !e.valid)
            .map(who)
            .collect();
        let verdict = match (accept.is_empty(), reject.is_empty()) {
            (false, true) => format!(
                "{} accept{}",
                accept.join(" and "),
                if accept.len() == 1 && accept[0].starts_with("a rustls") {
                    "s"
                } else {
                    ""
                }
            ),
            (true, false) => format!(
                "{} reject{}",
                reject.join(" and "),
                if reject.len() == 1 && reject[0].starts_with("a rustls") {
                    "s"
                } else {
                    ""
                }
            ),
            _ => format!(
                "{} reject{} it, {} accept{} it",
                reject.join(" and "),
                if reject[0].starts_with("a rustls") {
                    "s"
                } else {
                    ""
                },
                accept.join(" and "),
                if accept[0].starts_with("a rustls") {
                    "s"
                } else {
                    ""
                }
            ),
        };
        let verdict = if accept.is_empty() || reject.is_empty() {
            format!("{verdict} it")
        } else {
            verdict
        };
        let mut text = if report.valid {
            format!(
                "{} {cert_label} is a valid {what} certificate{for_host}: {verdict}\n",
                paint("32;1", "VALID")
            )
        } else {
            format!(
                "{} {cert_label} as a {what} certificate{for_host}: {verdict}\n",
                paint("31;1", "INVALID")
            )
        };
        let mut chain = report.chain.join("\n    → ");
        if report.chain_complete {
            chain.push_str("  (trusted)");
        } else {
            chain.push_str("\n    → ?  (no trusted CA reached)");
        }
        text.push_str(&format!("  chain: {chain}\n"));
        for e in &report.errors {
            text.push_str(&format!(
                "{} [{}] {}\n  fix: {}\n",
                paint("31", "error:"),
                e.code_str(),
                e.message,
                e.hint
            ));
            if let Some(c) = &e.command {
                text.push_str(&format!("  run: {c}\n"));
            }
        }
        // Where the engines differ, each one's own errors.
        if report.engines.len() == 2 && report.engines[0].valid != report.engines[1].valid {
            for e in report.engines.iter().filter(|e| !e.valid) {
                for p in &e.errors {
                    let num = p
                        .openssl_error
                        .map(|n| format!(" (OpenSSL error {n})"))
                        .unwrap_or_default();
                    text.push_str(&format!(
                        "  {}: [{}] {}{num}\n",
                        e.engine, p.code, p.message
                    ));
                }
            }
        }
        for w in &report.warnings {
            text.push_str(&format!("{} {w}\n", paint("33", "warning:")));
        }
        out.data(text)?;
    }
    Ok(if report.valid {
        Outcome::Ok
    } else {
        Outcome::CheckFailed
    })
}
