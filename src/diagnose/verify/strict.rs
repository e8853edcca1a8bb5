//! `--strict`: what RFC 5280 forbids even where rustls and OpenSSL accept. `inspect` shows the
//! same findings as warnings.

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use super::{build_chain, problem, Input, Problem};
use crate::inspect::fmt_name;

/// Every RFC 5280 violation of one certificate (`is_ca_in_chain`: it issues another one here).
pub fn cert_findings(der: &[u8], is_ca_in_chain: bool) -> Vec<Problem> {
    let Ok((_, c)) = X509Certificate::from_der(der) else {
        return Vec::new();
    };
    let who = fmt_name(c.subject());
    let mut out = Vec::new();
    let mut add = |code: &str, what: String, fix: &str| {
        out.push(problem(code, format!("{what}: {who}"), fix));
    };
    let reissue =
        "reissue it with a conforming CA (mtls-ca issue / mtls-ca init write none of these)";
    // Serial number (4.1.2.2): positive, at most 20 octets.
    let serial = c.raw_serial();
    let sig: Vec<u8> = serial.iter().copied().skip_while(|b| *b == 0).collect();
    if sig.is_empty() {
        add(
            "strict_serial_zero",
            "the serial number is zero (RFC 5280 4.1.2.2)".into(),
            reissue,
        );
    } else if serial.first().is_some_and(|b| b & 0x80 != 0) {
        add(
            "strict_serial_negative",
            "the serial number is negative (RFC 5280 4.1.2.2)".into(),
            reissue,
        );
    }
    if serial.len() > 20 {
        add(
            "strict_serial_too_long",
            format!(
                "the serial number is {} octets long, more than 20 (RFC 5280 4.1.2.2)",
                serial.len()
            ),
            reissue,
        );
    }
    let self_issued = c.subject().as_raw() == c.issuer().as_raw();
    let exts = c.extensions();
    let mut seen = Vec::new();
    let (mut bc, mut bc_critical, mut ku, mut ski, mut aki, mut aki_keyid) =
        (None, false, None, false, false, false);
    let mut san_critical = false;
    let mut has_san = false;
    for e in exts {
        let oid = e.oid.to_id_string();
        if seen.contains(&oid) {
            add(
                "strict_duplicate_extension",
                format!("the extension {oid} appears twice (RFC 5280 4.2)"),
                reissue,
            );
        }
        seen.push(oid.clone());
        if e.value.is_empty() {
            add(
                "strict_empty_extension",
                format!("the extension {oid} is empty"),
                reissue,
            );
        }
        match e.parsed_extension() {
            ParsedExtension::ParseError { .. } => add(
                "strict_malformed_extension",
                format!("the extension {oid} is malformed"),
                reissue,
            ),
            ParsedExtension::BasicConstraints(b) => {
                bc = Some(b.clone());
                bc_critical = e.critical;
            }
            ParsedExtension::KeyUsage(k) => ku = Some(k.flags),
            ParsedExtension::SubjectKeyIdentifier(_) => {
                ski = true;
                if e.critical {
                    add(
                        "strict_critical_ski",
                        "the subjectKeyIdentifier is marked critical (RFC 5280 4.2.1.2: MUST NOT)"
                            .into(),
                        reissue,
                    );
                }
            }
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                aki = true;
                aki_keyid = a.key_identifier.is_some();
                if e.critical {
                    add("strict_critical_aki", "the authorityKeyIdentifier is marked critical (RFC 5280 4.2.1.1: MUST NOT)".into(), reissue);
                }
            }
            ParsedExtension::SubjectAlternativeName(s) => {
                has_san = true;
                san_critical = e.critical;
                if s.general_names.is_empty() {
                    add(
                        "strict_empty_san",
                        "the subjectAltName extension is empty (RFC 5280 4.2.1.6)".into(),
                        reissue,
                    );
                }
                for n in &s.general_names {
                    if let GeneralName::DNSName(d) = n {
                        if !d.starts_with("*.") && d.contains('_') || d.is_empty() {
                            add("strict_bad_dns_name", format!("the DNS name {d:?} is not a valid host name (RFC 5280 4.2.1.6)"), reissue);
                        }
                    }
                }
            }
            ParsedExtension::NameConstraints(nc) => {
                if !e.critical {
                    add("strict_noncritical_name_constraints", "the nameConstraints extension is not critical (RFC 5280 4.2.1.10: MUST be)".into(), reissue);
                }
                if !bc.as_ref().is_some_and(|b| b.ca)
                    && !is_ca_in_chain
                    && c.basic_constraints()
                        .ok()
                        .flatten()
                        .is_none_or(|b| !b.value.ca)
                {
                    add(
                        "strict_name_constraints_in_leaf",
                        "a certificate that is not a CA has nameConstraints (RFC 5280 4.2.1.10)"
                            .into(),
                        reissue,
                    );
                }
                let empty = nc.permitted_subtrees.as_ref().is_none_or(Vec::is_empty)
                    && nc.excluded_subtrees.as_ref().is_none_or(Vec::is_empty);
                if empty {
                    add(
                        "strict_empty_name_constraints",
                        "the nameConstraints extension has no subtrees (RFC 5280 4.2.1.10)".into(),
                        reissue,
                    );
                }
                for s in nc
                    .permitted_subtrees
                    .iter()
                    .flatten()
                    .chain(nc.excluded_subtrees.iter().flatten())
                {
                    if let GeneralName::DNSName(d) = &s.base {
                        if d.starts_with('.') {
                            add("strict_bad_name_constraint", format!("the DNS name constraint {d:?} starts with a period (RFC 5280 4.2.1.10)"), reissue);
                        }
                    }
                }
            }
            ParsedExtension::PolicyConstraints(_) if !e.critical => add(
                "strict_noncritical_policy_constraints",
                "the policyConstraints extension is not critical (RFC 5280 4.2.1.11: MUST be)"
                    .into(),
                reissue,
            ),
            _ => {}
        }
    }
    let is_ca = bc.as_ref().is_some_and(|b| b.ca);
    if is_ca_in_chain && bc.is_none() {
        add(
            "strict_ca_without_basic_constraints",
            "a CA certificate without basicConstraints (RFC 5280 4.2.1.9)".into(),
            reissue,
        );
    }
    if is_ca && !bc_critical {
        add(
            "strict_noncritical_basic_constraints",
            "the CA's basicConstraints is not critical (RFC 5280 4.2.1.9: MUST be)".into(),
            reissue,
        );
    }
    if let Some(b) = &bc {
        if !b.ca && b.path_len_constraint.is_some() {
            add(
                "strict_pathlen_without_ca",
                "a pathLenConstraint in a certificate that is not a CA (RFC 5280 4.2.1.9)".into(),
                reissue,
            );
        }
    }
    if let Some(k) = ku {
        if k & (1 << 5) != 0 && !is_ca {
            add(
                "strict_keycertsign_in_leaf",
                "keyCertSign in a certificate that is not a CA (RFC 5280 4.2.1.3)".into(),
                reissue,
            );
        }
    } else if is_ca || is_ca_in_chain {
        add(
            "strict_ca_without_key_usage",
            "a CA certificate without keyUsage (RFC 5280 4.2.1.3)".into(),
            reissue,
        );
    }
    if (is_ca || is_ca_in_chain) && !ski {
        add(
            "strict_missing_ski",
            "a CA certificate without subjectKeyIdentifier (RFC 5280 4.2.1.2)".into(),
            reissue,
        );
    }
    if !self_issued && (!aki || !aki_keyid) {
        add("strict_missing_aki", "no authorityKeyIdentifier keyIdentifier in a certificate that is not self-issued (RFC 5280 4.2.1.1)".into(), reissue);
    }
    if self_issued && aki && !aki_keyid {
        add(
            "strict_aki_without_keyid",
            "an authorityKeyIdentifier without keyIdentifier (RFC 5280 4.2.1.1)".into(),
            reissue,
        );
    }
    let empty_subject = c.subject().iter().next().is_none();
    if empty_subject && (is_ca || is_ca_in_chain) {
        add(
            "strict_ca_empty_subject",
            "a CA certificate with an empty subject (RFC 5280 4.1.2.6)".into(),
            reissue,
        );
    }
    if empty_subject && has_san && !san_critical {
        add("strict_noncritical_san_empty_subject", "an empty subject with a non-critical subjectAltName (RFC 5280 4.2.1.6: MUST be critical)".into(), reissue);
    }
    if c.version().0 < 2 && !exts.is_empty() {
        add(
            "strict_extensions_in_v1",
            "extensions in a certificate that is not version 3 (RFC 5280 4.1.2.9)".into(),
            reissue,
        );
    }
    out
}

/// Strict findings for the chain of `input` (as built for display), leaf first.
pub(super) fn chain_findings(input: &Input) -> Vec<Problem> {
    let (chain, _) = build_chain(&input.leaf, &input.intermediates, &input.roots);
    let mut out = Vec::new();
    for (i, der) in chain.iter().enumerate() {
        out.extend(cert_findings(der, i > 0));
    }
    out
}
