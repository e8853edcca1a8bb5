//! `--strict`: what RFC 5280 forbids even where rustls and OpenSSL accept. `inspect` shows the
//! same findings as warnings.

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::pki::rfc5280::problem;
pub use crate::pki::rfc5280::{cert_findings, Role, StrictFinding};

use super::model::{build_chain, Input};
use crate::inspect::fmt_name;

/// Strict findings for the chain of `input` (as built for display), leaf first.
pub(super) fn chain_findings(input: &Input) -> Vec<StrictFinding> {
    let (chain, _) = build_chain(&input.leaf, &input.intermediates, &input.roots);
    let mut out = Vec::new();
    let n = chain.len();
    for (i, der) in chain.iter().enumerate() {
        let role = if i == 0 {
            Role::Leaf
        } else if i + 1 == n {
            Role::Anchor
        } else {
            Role::Intermediate
        };
        out.extend(cert_findings(der, role));
    }
    // CRLs of the chain's CAs (RFC 5280 5.2.3: a CRL MUST carry a non-critical CRL number).
    let issuers: Vec<Vec<u8>> = chain
        .iter()
        .filter_map(|d| X509Certificate::from_der(d).ok())
        .map(|(_, c)| c.subject().as_raw().to_vec())
        .collect();
    for der in &input.crls {
        let Ok((_, crl)) = CertificateRevocationList::from_der(der) else {
            continue;
        };
        if !issuers.contains(&crl.issuer().as_raw().to_vec()) {
            continue;
        }
        let who = fmt_name(crl.issuer());
        let number = crl
            .extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == "2.5.29.20");
        match number {
            None => out.push(problem(
                "strict_crl_without_number",
                format!("the CRL of {who} has no CRL number (RFC 5280 5.2.3)"),
                "publish CRLs with a conforming CA (mtls-ca crl always writes one)",
            )),
            Some(e) if e.critical => out.push(problem(
                "strict_crl_number_critical",
                format!("the CRL number of the CRL of {who} is marked critical (RFC 5280 5.2.3)"),
                "publish CRLs with a conforming CA (mtls-ca crl)",
            )),
            _ => {}
        }
    }
    out
}
