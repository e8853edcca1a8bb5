//! The shared model of `verify`: its input, the purpose, problems, and the chain helpers that
//! both engines and the report use.

use std::path::PathBuf;
use std::time::Duration;

use rustls_pki_types::UnixTime;
use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::diagnose::finding::{Code, Finding, Side};
use crate::error::{Error, Result};
use crate::inspect::fmt_name;

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

/// Everything [`verify`](super::verify) needs, already decoded. Times and paths are parameters.
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

pub(super) fn problem(code: Code, message: impl Into<String>, hint: impl Into<String>) -> Problem {
    // The side is settled once the purpose is known (see `verify`).
    Finding::new(code, Side::Client, message, hint)
}

/// Who must act on a verify problem: CRL problems are the verifier's (the gateway's), everything
/// else belongs to the holder of the certificate.
pub(super) fn side_of(code: Code, purpose: Purpose) -> Side {
    match code {
        Code::RevocationUnknown | Code::CrlExpired | Code::BadCrl => Side::Gateway,
        _ => match purpose {
            Purpose::Server => Side::Server,
            Purpose::Client => Side::Client,
        },
    }
}

pub(super) fn unix(t: OffsetDateTime) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(t.unix_timestamp().max(0) as u64))
}

pub(super) fn parse<'a>(der: &'a [u8]) -> Option<X509Certificate<'a>> {
    X509Certificate::from_der(der).ok().map(|(_, c)| c)
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

pub(super) fn ekus(cert: &X509Certificate<'_>) -> Option<(bool, bool, bool)> {
    match cert.extended_key_usage() {
        Ok(Some(e)) => Some((e.value.server_auth, e.value.client_auth, e.value.any)),
        _ => None,
    }
}

pub(super) fn sans_text(cert: &X509Certificate<'_>) -> Vec<String> {
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

pub(super) fn common_name(cert: &X509Certificate<'_>) -> Option<String> {
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(crate::inspect::escape)
}

pub(super) fn is_self_issued(cert: &X509Certificate<'_>) -> bool {
    cert.subject().as_raw() == cert.issuer().as_raw()
}

/// Builds the chain by names for display: leaf, intermediates, then the trusted CA if reached.
pub(super) fn build_chain<'a>(
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

pub(super) fn days_phrase(days: i64) -> String {
    match days {
        0 => "today".into(),
        1 => "1 day".into(),
        n => format!("{n} days"),
    }
}

/// Finds the revocation entry of one of the chain's certificates in the CRLs.
pub(super) fn revocation_of(
    chain: &[&[u8]],
    crls: &[Vec<u8>],
) -> Option<(String, String, String, bool)> {
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

pub(super) fn issue_cmd(
    purpose: Purpose,
    leaf: &X509Certificate<'_>,
    extra_san: Option<&str>,
) -> String {
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

pub(super) fn name_problem(leaf: &X509Certificate<'_>, purpose: Purpose, host: &str) -> Problem {
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

pub(super) fn cert_label_of(
    chain: &[&[u8]],
    matches: impl Fn(&X509Certificate<'_>) -> bool,
) -> Option<(usize, String)> {
    chain.iter().enumerate().find_map(|(i, d)| {
        let c = parse(d)?;
        matches(&c).then(|| (i, fmt_name(c.subject())))
    })
}
