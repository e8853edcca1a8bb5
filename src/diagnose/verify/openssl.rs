//! Where OpenSSL-based gateways (nginx, HAProxy, Kong, Apache) decide differently from rustls:
//! warnings added to the rustls verdict.

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::{common_name, is_self_issued, parse, sans_text, Input, Purpose};
use crate::inspect::fmt_name;

pub(super) fn gateway_warnings(
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
