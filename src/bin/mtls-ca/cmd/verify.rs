//! `mtls-ca verify`: gather the files, let the library decide like rustls, render the report.

use std::path::{Path, PathBuf};

use clap::Args;
use mtls_ca::ca::layout;
use mtls_ca::verify::{self, Files, Purpose};
use time::format_description::well_known::Rfc3339;

use crate::output::Output;
use crate::Outcome;

pub const HELP: &str = "Decides exactly as a rustls peer would (rustls' WebPkiServerVerifier / WebPkiClientVerifier),\nthen explains each problem and how to fix it, and warns where nginx/HAProxy (openssl) would differ.\nA CERT file holding a chain (STEM.fullchain.crt) supplies its own intermediates.\n\nEXAMPLES:\n  mtls-ca verify api.example.com.fullchain.crt --host api.example.com\n  mtls-ca verify alice.crt --purpose client --crl pki/crl.pem\n  mtls-ca verify server.crt --ca other-ca.crt --key server.key\n  mtls-ca verify server.crt --at 2027-06-01T00:00:00Z\n  mtls-ca --json verify server.crt | jq '.errors[].code'\n\nERROR CODES (JSON .errors[].code):\n  unknown_issuer, missing_intermediate, name_mismatch, expired, not_yet_valid, wrong_purpose,\n  revoked, revocation_unknown, crl_expired, bad_crl, key_mismatch, bad_signature,\n  unsupported_signature_algorithm, bad_encoding, ca_used_as_leaf, leaf_used_as_ca,\n  pathlen_exceeded, name_constraints, unsupported_name_type, unsupported_critical_extension,\n  chain_too_complex, invalid_certificate\n\nEXIT CODES:\n  0  valid: a rustls peer accepts it (and the key matches, with --key)\n  1  invalid: see the errors and their fixes\n  2  usage or input error (a file is unreadable or not what it should be)";

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
    /// CRLs to check revocation against, for the whole chain (repeatable).
    #[arg(long, value_name = "FILE")]
    pub crl: Vec<PathBuf>,
    /// Check at this time instead of now (RFC 3339, e.g. 2027-01-01T00:00:00Z).
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
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
    let mut ca = a.ca.clone();
    let dir_ca = layout::cert(dir);
    if ca.is_empty() {
        if dir_ca.exists() {
            ca.push(dir_ca.clone());
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
        crls: a.crl.clone(),
        candidates,
    };
    let input = verify::load(&files, purpose, a.host.clone(), at)?;
    let ctx = mtls_ca::diagnose::finding::FixContext::discover(dir);
    let report = verify::verify_with(&input, &ctx)?;
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
        let mut text = if report.valid {
            format!(
                "{} {cert_label} is a valid {what} certificate{for_host}: a rustls peer accepts it\n",
                paint("32;1", "VALID")
            )
        } else {
            format!(
                "{} {cert_label} as a {what} certificate{for_host}: a rustls peer rejects it\n",
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
