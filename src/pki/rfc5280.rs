//! RFC 5280 (and CA/Browser Forum profile) rules a certificate breaks even where rustls and
//! OpenSSL accept it: `verify --strict` rejects on them, `inspect` shows them as warnings.

use serde::Serialize;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

fn fmt_name(n: &X509Name<'_>) -> String {
    let s = n.to_string();
    if s.is_empty() {
        "(empty name)".into()
    } else {
        s.chars()
            .flat_map(|c| {
                if c.is_control() {
                    c.escape_unicode().collect::<Vec<_>>()
                } else {
                    vec![c]
                }
            })
            .collect()
    }
}

/// One RFC 5280 finding: a stable code (`strict_…`), what is wrong, how to fix it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StrictFinding {
    /// Stable code, e.g. `strict_serial_zero`.
    pub code: String,
    /// What is wrong, naming the certificate.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

/// A finding from its parts.
pub fn problem(code: &str, message: impl Into<String>, hint: impl Into<String>) -> StrictFinding {
    StrictFinding {
        code: code.into(),
        message: message.into(),
        hint: hint.into(),
    }
}

/// Where the certificate sits in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The certificate checked.
    Leaf,
    /// An intermediate CA.
    Intermediate,
    /// The trust anchor.
    Anchor,
}

/// Every RFC 5280 (and CA/Browser Forum profile) violation of one certificate.
pub fn cert_findings(der: &[u8], role: Role) -> Vec<StrictFinding> {
    let is_ca_in_chain = role != Role::Leaf;
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
    if role == Role::Anchor {
        // A root is trusted as configured: its serial is nobody's to check.
    } else if sig.is_empty() {
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
    if serial.len() > 20 && role != Role::Anchor {
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
    } else if role == Role::Intermediate || (role == Role::Leaf && is_ca) {
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
    if !empty_subject && has_san && san_critical {
        add(
            "strict_critical_san_with_subject",
            "a critical subjectAltName next to a non-empty subject (RFC 5280 4.2.1.6: SHOULD NOT)"
                .into(),
            reissue,
        );
    }
    // The key: RSA moduli whose size is not a multiple of 8 bits (CA/B Forum 6.1.5).
    if let Ok(x509_parser::public_key::PublicKey::RSA(rsa)) = c.public_key().parsed() {
        let m: Vec<u8> = rsa
            .modulus
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        let bits = m.len() * 8 - m.first().map_or(0, |b| b.leading_zeros() as usize);
        if bits < 2048 {
            add(
                "strict_weak_rsa_key",
                format!("an RSA key of {bits} bits, fewer than 2048 (CA/B Forum 6.1.5)"),
                reissue,
            );
        }
        if !bits.is_multiple_of(8) {
            add(
                "strict_rsa_modulus_size",
                format!("an RSA key of {bits} bits, not a multiple of 8 (CA/B Forum 6.1.5)"),
                reissue,
            );
        }
    }
    let eku = c.extended_key_usage().ok().flatten();
    match role {
        Role::Leaf => {
            match &eku {
                Some(e) if e.value.any => add(
                    "strict_leaf_any_eku",
                    "anyExtendedKeyUsage in a leaf certificate (CA/B Forum 7.1.2.7)".into(),
                    reissue,
                ),
                Some(e) if e.critical => add(
                    "strict_leaf_critical_eku",
                    "a critical extendedKeyUsage in a leaf certificate (CA/B Forum 7.1.2.7)".into(),
                    reissue,
                ),
                _ => {}
            }
            if let Some(cn) = c.subject().iter_common_name().next() {
                if let Some(f) = cn_finding(&c, cn.as_str().unwrap_or("")) {
                    add("strict_cn_not_in_san", f, reissue);
                }
            }
        }
        Role::Anchor => {
            if eku.is_some() {
                add(
                    "strict_anchor_with_eku",
                    "a root certificate with extendedKeyUsage (CA/B Forum 7.1.2.1)".into(),
                    reissue,
                );
            }
        }
        Role::Intermediate => {}
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

/// CA/B Forum 7.1.4.3: a subject CN must be one of the SANs, byte for byte. An IP-like CN is
/// compared with the IP SANs as written by RFC 5952 / dotted quad; a host-like CN with the DNS
/// SANs, where a CN naming the domain the SANs are under is tolerated (common in private PKIs).
fn cn_finding(c: &X509Certificate<'_>, cn: &str) -> Option<String> {
    let names: Vec<GeneralName<'_>> = c
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|s| s.value.general_names.clone())
        .unwrap_or_default();
    let ip_like = cn.contains(':')
        || cn.to_ascii_lowercase().starts_with("0x")
        || (!cn.is_empty() && cn.chars().all(|ch| ch.is_ascii_digit() || ch == '.'));
    if ip_like {
        let ips: Vec<String> = names
            .iter()
            .filter_map(|g| match g {
                GeneralName::IPAddress(b) => crate::x509::ip_from_bytes(b).map(|i| i.to_string()),
                _ => None,
            })
            .collect();
        if ips.is_empty() || ips.iter().any(|i| i == cn) {
            return None;
        }
        return Some(format!(
            "the subject CN {cn:?} is not one of the IP subjectAltNames as written ({}) (CA/B Forum 7.1.4.3)",
            ips.join(", ")
        ));
    }
    let dns: Vec<&str> = names
        .iter()
        .filter_map(|g| match g {
            GeneralName::DNSName(d) => Some(*d),
            _ => None,
        })
        .collect();
    if dns.is_empty() || dns.contains(&cn) {
        return None;
    }
    if dns.iter().any(|d| d.ends_with(&format!(".{cn}"))) {
        return None;
    }
    Some(format!(
        "the subject CN {cn:?} is not one of the DNS subjectAltNames, byte for byte ({}) (CA/B Forum 7.1.4.3)",
        dns.join(", ")
    ))
}
