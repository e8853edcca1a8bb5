//! Any PEM, DER or PKCS#12 input turned into a serialisable description with warnings.
//!
//! [`inspect_bytes`] detects what each block or file is (certificate, chain, CSR, CRL, private
//! key, PKCS#12) and describes it: names, serial, validity, SANs by type, key type and size,
//! constraints, usages, fingerprints, key identifiers. Private keys are described by type and
//! size only, never by their secret. Warnings are computed against a time given by the caller.
//! Inputs are bounded (size, PEM blocks, DER nesting depth, PKCS#12 iteration counts) so that a
//! hostile file fails fast with an [`Error`] naming it. Strings from certificates are escaped
//! ([`escape`]) so control characters never reach a terminal.

use std::path::Path;

use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::revocation_list::CertificateRevocationList;
use x509_parser::x509::{SubjectPublicKeyInfo, X509Name};

use crate::error::{Error, Result};

/// Inputs larger than this are refused.
pub const MAX_INPUT: u64 = 16 * 1024 * 1024;
/// DER nested deeper than this is refused (real certificates stay below 15).
pub const MAX_DEPTH: usize = 64;
/// PKCS#12 files asking for more key-derivation iterations than this are refused before any work.
pub const MAX_PKCS12_ITERATIONS: u64 = 1_000_000;
/// Certificates expiring within this many days get a warning.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// Text from a certificate made safe to print: control and bidi characters escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}');
        if c.is_control() || bidi {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// A distinguished name as `CN=…, O=…` (certificate order), escaped.
pub fn fmt_name(name: &X509Name<'_>) -> String {
    let s = crate::subject::display(name);
    if s.is_empty() {
        "(empty name)".into()
    } else {
        escape(&s)
    }
}

/// One subjectAltName (or name-constraint subtree) with its type.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Name {
    /// `dns`, `ip`, `email`, `uri`, `dirname` or `other`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The value as text (IP ranges as `addr/prefix`).
    pub value: String,
}

/// Name constraints of a CA.
#[derive(Debug, Clone, Serialize, Default)]
pub struct NameConstraints {
    /// Permitted subtrees.
    pub permitted: Vec<Name>,
    /// Excluded subtrees.
    pub excluded: Vec<Name>,
}

/// A certificate, described.
#[derive(Debug, Clone, Serialize)]
pub struct CertInfo {
    /// Serial number, lowercase hex without separators.
    pub serial: String,
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// notBefore (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// notAfter (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Whole days until notAfter (negative once expired).
    pub expires_in_days: i64,
    /// subjectAltNames with their types.
    pub sans: Vec<Name>,
    /// Key type, e.g. `ecdsa-p256`, `rsa`, `ed25519`.
    pub key_type: String,
    /// Key size in bits.
    pub key_bits: usize,
    /// basicConstraints CA flag.
    pub is_ca: bool,
    /// pathLenConstraint, if any.
    pub path_len: Option<u32>,
    /// keyUsage bits by name.
    pub key_usage: Vec<String>,
    /// extendedKeyUsage purposes (names or OIDs); `None` when the extension is absent.
    pub extended_key_usage: Option<Vec<String>>,
    /// Name constraints, if any.
    pub name_constraints: Option<NameConstraints>,
    /// Signature algorithm.
    pub signature_algorithm: String,
    /// SHA-256 of the DER, colon-separated uppercase hex (as openssl prints it).
    pub sha256_fingerprint: String,
    /// SHA-1 of the DER, same format.
    pub sha1_fingerprint: String,
    /// SHA-256 of the SubjectPublicKeyInfo (pairs the certificate with its key).
    pub public_key_sha256: String,
    /// Subject key identifier (hex).
    pub subject_key_id: Option<String>,
    /// Authority key identifier (hex).
    pub authority_key_id: Option<String>,
    /// Subject equals issuer and the signature verifies with its own key.
    pub self_signed: bool,
    /// What looks wrong.
    pub warnings: Vec<String>,
}

/// A certificate signing request, described.
#[derive(Debug, Clone, Serialize)]
pub struct CsrInfo {
    /// Subject DN.
    pub subject: String,
    /// Requested subjectAltNames.
    pub sans: Vec<Name>,
    /// Key type.
    pub key_type: String,
    /// Key size in bits.
    pub key_bits: usize,
    /// Signature algorithm.
    pub signature_algorithm: String,
    /// Whether the CSR's own signature verifies.
    pub signature_valid: bool,
    /// What looks wrong.
    pub warnings: Vec<String>,
}

/// One revoked entry of a CRL.
#[derive(Debug, Clone, Serialize)]
pub struct Revoked {
    /// Serial, lowercase hex.
    pub serial: String,
    /// Revocation date.
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
    /// Reason, if given.
    pub reason: Option<String>,
}

/// A CRL, described.
#[derive(Debug, Clone, Serialize)]
pub struct CrlInfo {
    /// Issuer DN.
    pub issuer: String,
    /// thisUpdate.
    #[serde(with = "time::serde::rfc3339")]
    pub this_update: OffsetDateTime,
    /// nextUpdate, if present.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_update: Option<OffsetDateTime>,
    /// CRL number (hex).
    pub crl_number: Option<String>,
    /// Authority key identifier (hex).
    pub authority_key_id: Option<String>,
    /// Signature algorithm.
    pub signature_algorithm: String,
    /// Revoked certificates.
    pub revoked: Vec<Revoked>,
    /// What looks wrong.
    pub warnings: Vec<String>,
}

/// A private key, described by type and size only.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    /// `pkcs8`, `sec1`, `pkcs1` or `encrypted-pkcs8`.
    pub format: String,
    /// Key type (`None` when encrypted).
    pub key_type: Option<String>,
    /// Key size in bits (`None` when encrypted).
    pub key_bits: Option<usize>,
    /// Whether the key is encrypted.
    pub encrypted: bool,
    /// SHA-256 of the public key (SubjectPublicKeyInfo), to pair keys with certificates.
    pub public_key_sha256: Option<String>,
    /// The subject of the certificate in the same input that this key belongs to.
    pub matches_certificate: Option<String>,
    /// Where the key lives when it is not in the input: the PKCS#11 URI of a key kept in a
    /// token (`ca.key-uri`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// What looks wrong.
    pub warnings: Vec<String>,
}

/// A PKCS#12 file, described.
#[derive(Debug, Clone, Serialize)]
pub struct Pkcs12Info {
    /// The certificates inside, in file order.
    pub certificates: Vec<CertInfo>,
    /// The keys inside.
    pub keys: Vec<KeyInfo>,
    /// Friendly names of the bags.
    pub friendly_names: Vec<String>,
    /// The highest key-derivation iteration count found.
    pub max_iterations: u64,
    /// What looks wrong.
    pub warnings: Vec<String>,
}

/// One object found in the input.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Object {
    /// An X.509 certificate.
    Certificate(Box<CertInfo>),
    /// A PKCS#10 request.
    Csr(CsrInfo),
    /// A CRL.
    Crl(CrlInfo),
    /// A private key.
    PrivateKey(KeyInfo),
    /// A PKCS#12 bundle.
    Pkcs12(Pkcs12Info),
}

/// Everything found in one input.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// The input's name (file, `-`, or `host:port`).
    pub source: String,
    /// The objects, in input order.
    pub objects: Vec<Object>,
    /// Warnings about the input as a whole (chain order, gaps).
    pub warnings: Vec<String>,
}

fn colon_hex(b: &[u8]) -> String {
    b.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Checks that DER nests no deeper than [`MAX_DEPTH`] (constructed tags only; cheap, iterative
/// over siblings, recursive over depth which is capped).
pub fn der_depth_ok(mut input: &[u8], depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    while !input.is_empty() {
        let Some((tag, content, rest)) = tlv(input) else {
            return true; // not DER at this level: the parsers will say so
        };
        // Constructed values, and OCTET STRINGs that wrap DER (extensions, PKCS#12 safes).
        let wraps_der = tag == 0x04 && content.first() == Some(&0x30);
        if (tag & 0x20 != 0 || wraps_der) && !der_depth_ok(content, depth + 1) {
            return false;
        }
        input = rest;
    }
    true
}

/// One DER TLV: (tag byte, content, rest). Low-tag-number form only, definite lengths.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *input.first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let l0 = *input.get(1)? as usize;
    let (len, hdr) = if l0 < 0x80 {
        (l0, 2)
    } else {
        let n = l0 & 0x7f;
        if n == 0 || n > 4 || input.len() < 2 + n {
            return None;
        }
        (
            input[2..2 + n]
                .iter()
                .fold(0usize, |a, b| (a << 8) | *b as usize),
            2 + n,
        )
    };
    let end = hdr.checked_add(len)?;
    if input.len() < end {
        return None;
    }
    Some((tag, &input[hdr..end], &input[end..]))
}

/// The highest iteration count in a PKCS#12 structure: every `SEQUENCE { OCTET STRING salt,
/// INTEGER count, … }` (MacData, PBKDF2-params, pkcs-12PbeParams), also inside OCTET STRINGs that
/// hold DER. Only reads; never derives a key.
pub fn pkcs12_max_iterations(input: &[u8]) -> u64 {
    fn walk(mut input: &[u8], depth: usize, max: &mut u64) {
        if depth > MAX_DEPTH {
            return;
        }
        let mut prev_octets = false;
        while let Some((tag, content, rest)) = tlv(input) {
            if tag == 0x02 && prev_octets {
                let v = if content.len() > 8 {
                    u64::MAX
                } else {
                    content.iter().fold(0u64, |a, b| (a << 8) | *b as u64)
                };
                *max = (*max).max(v);
            }
            prev_octets = tag == 0x04;
            if tag & 0x20 != 0 || tag == 0x04 {
                walk(content, depth + 1, max);
            }
            input = rest;
        }
    }
    let mut max = 0;
    walk(input, 0, &mut max);
    max
}

fn name_of(g: &GeneralName<'_>) -> Name {
    let (kind, value) = match g {
        GeneralName::DNSName(s) => ("dns", escape(s)),
        GeneralName::RFC822Name(s) => ("email", escape(s)),
        GeneralName::URI(s) => ("uri", escape(s)),
        GeneralName::IPAddress(b) => (
            "ip",
            match b.len() {
                4 | 16 => crate::x509::ip_from_bytes(b)
                    .map(|i| i.to_string())
                    .unwrap_or_default(),
                8 | 32 => {
                    let h = b.len() / 2;
                    let ip = crate::x509::ip_from_bytes(&b[..h])
                        .map(|i| i.to_string())
                        .unwrap_or_default();
                    let prefix: u32 = b[h..].iter().map(|m| m.count_ones()).sum();
                    format!("{ip}/{prefix}")
                }
                _ => format!("(bad length {})", b.len()),
            },
        ),
        GeneralName::DirectoryName(n) => ("dirname", fmt_name(n)),
        other => ("other", escape(&format!("{other:?}"))),
    };
    Name {
        kind: kind.into(),
        value,
    }
}

fn curve_name(oid: &str) -> &'static str {
    match oid {
        "1.2.840.10045.3.1.7" => "p256",
        "1.3.132.0.34" => "p384",
        "1.3.132.0.35" => "p521",
        "1.3.132.0.10" => "secp256k1",
        _ => "unknown-curve",
    }
}

/// Key type and size from a SubjectPublicKeyInfo.
pub(crate) fn spki_type(spki: &SubjectPublicKeyInfo<'_>) -> (String, usize) {
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        "1.3.101.112" => ("ed25519".into(), 256),
        "1.3.101.113" => ("ed448".into(), 456),
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| curve_name(&o.to_id_string()))
                .unwrap_or("unknown-curve");
            let bits = spki.parsed().map(|k| k.key_size()).unwrap_or(0);
            (format!("ecdsa-{curve}"), bits)
        }
        "1.2.840.113549.1.1.1" => (
            "rsa".into(),
            match spki.parsed() {
                Ok(PublicKey::RSA(r)) => r.key_size(),
                _ => 0,
            },
        ),
        "1.2.840.113549.1.1.10" => (
            "rsa-pss".into(),
            match spki.parsed() {
                Ok(PublicKey::RSA(r)) => r.key_size(),
                _ => 0,
            },
        ),
        other => (format!("unknown ({other})"), 0),
    }
}

fn sig_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption".into(),
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption".into(),
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption".into(),
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption".into(),
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption".into(),
        "1.2.840.113549.1.1.10" => "rsassaPss".into(),
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256".into(),
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384".into(),
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512".into(),
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1".into(),
        "1.3.101.112" => "ED25519".into(),
        "1.3.101.113" => "ED448".into(),
        other => other.into(),
    }
}

fn weak_sig(name: &str) -> bool {
    name.contains("sha1") || name.contains("SHA1") || name.contains("md5")
}

const KU_NAMES: [&str; 9] = [
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
];

/// "1 day", "3 days" (of the absolute value).
pub fn days_text(n: i64) -> String {
    if n.abs() == 1 {
        "1 day".into()
    } else {
        format!("{} days", n.abs())
    }
}

/// Describes one DER certificate at time `now`.
pub fn describe_cert(der: &[u8], path: &Path, now: OffsetDateTime) -> Result<CertInfo> {
    let cert = crate::x509::parse_cert(der, path)?;
    let (not_before, not_after) = crate::x509::validity(&cert);
    let expires_in_days = (not_after - now).whole_days();
    let mut sans = Vec::new();
    let mut key_usage = Vec::new();
    let mut eku: Option<Vec<String>> = None;
    let mut nc: Option<NameConstraints> = None;
    let (mut is_ca, mut path_len) = (false, None);
    let mut warnings = Vec::new();
    for ext in cert.iter_extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(s) => {
                sans.extend(s.general_names.iter().map(name_of))
            }
            ParsedExtension::KeyUsage(k) => {
                for (i, n) in KU_NAMES.iter().enumerate() {
                    if k.flags >> i & 1 == 1 {
                        key_usage.push(n.to_string());
                    }
                }
            }
            ParsedExtension::ExtendedKeyUsage(e) => {
                let mut v = Vec::new();
                if e.any {
                    v.push("anyExtendedKeyUsage".into());
                }
                if e.server_auth {
                    v.push("serverAuth".into());
                }
                if e.client_auth {
                    v.push("clientAuth".into());
                }
                if e.code_signing {
                    v.push("codeSigning".into());
                }
                if e.email_protection {
                    v.push("emailProtection".into());
                }
                if e.time_stamping {
                    v.push("timeStamping".into());
                }
                if e.ocsp_signing {
                    v.push("OCSPSigning".into());
                }
                v.extend(e.other.iter().map(|o| o.to_id_string()));
                eku = Some(v);
            }
            ParsedExtension::BasicConstraints(b) => {
                is_ca = b.ca;
                path_len = b.path_len_constraint;
            }
            ParsedExtension::NameConstraints(n) => {
                nc = Some(NameConstraints {
                    permitted: n
                        .permitted_subtrees
                        .iter()
                        .flatten()
                        .map(|s| name_of(&s.base))
                        .collect(),
                    excluded: n
                        .excluded_subtrees
                        .iter()
                        .flatten()
                        .map(|s| name_of(&s.base))
                        .collect(),
                })
            }
            ParsedExtension::ParseError { error } => warnings.push(format!(
                "extension {} cannot be parsed ({error})",
                ext.oid.to_id_string()
            )),
            _ => {}
        }
    }
    let (key_type, key_bits) = spki_type(cert.public_key());
    let signature_algorithm = sig_name(&cert.signature_algorithm.algorithm.to_id_string());
    let self_issued = cert.subject().as_raw() == cert.issuer().as_raw();
    let self_signed = self_issued && cert.verify_signature(None).is_ok();
    // Validity.
    if now > not_after {
        warnings.push(format!(
            "expired {} ago ({})",
            days_text((now - not_after).whole_days()),
            crate::ca::fmt_date(not_after)
        ));
    } else if now < not_before {
        warnings.push(format!(
            "not valid yet: valid from {} (in {})",
            crate::ca::fmt_date(not_before),
            days_text((not_before - now).whole_days())
        ));
    } else if expires_in_days < EXPIRY_WARNING_DAYS {
        warnings.push(format!(
            "expires in {} ({}): renew it (mtls-ca renew --cert FILE)",
            days_text(expires_in_days),
            crate::ca::fmt_date(not_after)
        ));
    }
    // Names and purposes of leaves.
    if !is_ca {
        let server = eku
            .as_ref()
            .is_some_and(|e| e.iter().any(|p| p == "serverAuth"));
        let cn = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|c| c.as_str().ok())
            .map(escape);
        let dns_ip: Vec<&Name> = sans
            .iter()
            .filter(|n| n.kind == "dns" || n.kind == "ip")
            .collect();
        if server && dns_ip.is_empty() {
            warnings.push(
                "server certificate without a DNS or IP subjectAltName: clients ignore the CN and will reject it".into(),
            );
        } else if server {
            if let Some(cn) = &cn {
                let hostlike = cn.contains('.') || cn.contains(':');
                if hostlike && !dns_ip.iter().any(|n| n.value.eq_ignore_ascii_case(cn)) {
                    warnings.push(format!(
                        "the CN {cn} is not among the SANs: clients ignore the CN, so {cn} will not match"
                    ));
                }
            }
        }
        match &eku {
            None => warnings.push(
                "no extendedKeyUsage: any purpose is allowed; gateways such as AWS and Kong expect serverAuth or clientAuth".into(),
            ),
            Some(e) if !e.iter().any(|p| p == "serverAuth" || p == "clientAuth") => warnings.push(
                "extendedKeyUsage has neither serverAuth nor clientAuth: TLS peers will reject it".into(),
            ),
            _ => {}
        }
        if self_signed {
            warnings.push(
                "self-signed leaf: peers must trust this very certificate; issue it from a CA instead (mtls-ca issue)".into(),
            );
        }
    }
    if key_type == "rsa" && key_bits < 2048 {
        warnings.push(format!("weak key: RSA {key_bits} bits (use 2048 or more)"));
    }
    if weak_sig(&signature_algorithm) && !self_signed {
        warnings.push(format!(
            "weak signature algorithm {signature_algorithm}: rustls and modern clients reject it"
        ));
    }
    // What RFC 5280 forbids (the findings of `verify --strict`), as warnings.
    let role = if !is_ca {
        crate::pki::rfc5280::Role::Leaf
    } else if self_signed {
        crate::pki::rfc5280::Role::Anchor
    } else {
        crate::pki::rfc5280::Role::Intermediate
    };
    for f in crate::pki::rfc5280::cert_findings(der, role) {
        if f.code != "strict_weak_rsa_key" {
            warnings.push(format!(
                "not RFC 5280 conformant [{}]: {}",
                f.code, f.message
            ));
        }
    }
    Ok(CertInfo {
        serial: crate::x509::hex(cert.raw_serial()),
        subject: fmt_name(cert.subject()),
        issuer: fmt_name(cert.issuer()),
        not_before,
        not_after,
        expires_in_days,
        sans,
        key_type,
        key_bits,
        is_ca,
        path_len,
        key_usage,
        extended_key_usage: eku,
        name_constraints: nc,
        signature_algorithm,
        sha256_fingerprint: colon_hex(ring::digest::digest(&ring::digest::SHA256, der).as_ref()),
        sha1_fingerprint: colon_hex(
            ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der).as_ref(),
        ),
        public_key_sha256: colon_hex(
            ring::digest::digest(&ring::digest::SHA256, cert.public_key().raw).as_ref(),
        ),
        subject_key_id: crate::x509::ski(&cert).map(|k| colon_hex(&k)),
        authority_key_id: crate::x509::aki(&cert).map(|k| colon_hex(&k)),
        self_signed,
        warnings,
    })
}

fn describe_csr(der: &[u8], path: &Path) -> Result<CsrInfo> {
    let csr = match X509CertificationRequest::from_der(der) {
        Ok(([], c)) => c,
        _ => {
            return Err(Error::bad_file(
                path,
                "not a valid certificate signing request",
                "create a new CSR (mtls-ca csr, or openssl req -new)",
            ))
        }
    };
    let mut sans = Vec::new();
    if let Some(exts) = csr.requested_extensions() {
        for e in exts {
            if let ParsedExtension::SubjectAlternativeName(s) = e {
                sans.extend(s.general_names.iter().map(name_of));
            }
        }
    }
    let info = &csr.certification_request_info;
    let (key_type, key_bits) = spki_type(&info.subject_pki);
    let signature_algorithm = sig_name(&csr.signature_algorithm.algorithm.to_id_string());
    let signature_valid = csr.verify_signature().is_ok();
    let mut warnings = Vec::new();
    if !signature_valid {
        warnings.push(
            "the CSR's signature does not verify: it was altered; mtls-ca sign refuses it".into(),
        );
    }
    if key_type == "rsa" && key_bits < 2048 {
        warnings.push(format!("weak key: RSA {key_bits} bits (use 2048 or more)"));
    }
    if weak_sig(&signature_algorithm) {
        warnings.push(format!("weak signature algorithm {signature_algorithm}"));
    }
    if sans.is_empty() {
        warnings.push(
            "no subjectAltName requested: add names when signing (mtls-ca sign --san)".into(),
        );
    }
    Ok(CsrInfo {
        subject: fmt_name(&info.subject),
        sans,
        key_type,
        key_bits,
        signature_algorithm,
        signature_valid,
        warnings,
    })
}

fn describe_crl(der: &[u8], path: &Path, now: OffsetDateTime) -> Result<CrlInfo> {
    let crl = match CertificateRevocationList::from_der(der) {
        Ok(([], c)) => c,
        _ => {
            return Err(Error::bad_file(
                path,
                "not a valid X.509 CRL",
                "publish a new CRL (mtls-ca crl)",
            ))
        }
    };
    let this_update = crl.last_update().to_datetime();
    let next_update = crl.next_update().map(|t| t.to_datetime());
    let mut aki = None;
    for e in crl.extensions() {
        if let ParsedExtension::AuthorityKeyIdentifier(a) = e.parsed_extension() {
            aki = a.key_identifier.as_ref().map(|k| colon_hex(k.0));
        }
    }
    let revoked = crl
        .iter_revoked_certificates()
        .map(|r| Revoked {
            serial: crate::x509::hex(r.raw_serial()),
            revoked_at: r.revocation_date.to_datetime(),
            reason: r
                .reason_code()
                .map(|(_, c)| crate::x509::reason_name(c.0).to_string()),
        })
        .collect();
    let mut warnings = Vec::new();
    match next_update {
        Some(nu) if nu < now => warnings.push(format!(
            "past its nextUpdate ({}, {} ago): nginx rejects every client with this CRL; publish a fresh one (mtls-ca crl)",
            crate::ca::fmt_date(nu),
            days_text((now - nu).whole_days())
        )),
        Some(_) => {}
        None => warnings.push("no nextUpdate: peers cannot tell when it is stale".into()),
    }
    if this_update > now {
        warnings.push("thisUpdate is in the future: check the CA's clock".into());
    }
    Ok(CrlInfo {
        issuer: fmt_name(crl.issuer()),
        this_update,
        next_update,
        crl_number: crl.crl_number().map(|n| format!("{n:x}")),
        authority_key_id: aki,
        signature_algorithm: sig_name(&crl.signature_algorithm.algorithm.to_id_string()),
        revoked,
        warnings,
    })
}

/// Type and size of a PKCS#8 PrivateKeyInfo, without keeping the secret.
fn pkcs8_type(der: &[u8]) -> Option<(String, usize)> {
    use pkcs8::der::Decode;
    let info = pkcs8::PrivateKeyInfoRef::from_der(der).ok()?;
    let oid = info.algorithm.oid.to_string();
    Some(match oid.as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => {
            let bits = rsa_bits(info.private_key.as_bytes()).unwrap_or(0);
            ("rsa".into(), bits)
        }
        "1.2.840.10045.2.1" => {
            let curve = info
                .algorithm
                .parameters
                .and_then(|p| p.decode_as::<pkcs8::ObjectIdentifier>().ok())
                .map(|o| curve_name(&o.to_string()))
                .unwrap_or("unknown-curve");
            (format!("ecdsa-{curve}"), curve_bits(curve))
        }
        "1.3.101.112" => ("ed25519".into(), 256),
        "1.3.101.113" => ("ed448".into(), 456),
        "1.3.101.110" => ("x25519".into(), 256),
        other => (format!("unknown ({other})"), 0),
    })
}

fn curve_bits(curve: &str) -> usize {
    match curve {
        "p256" | "secp256k1" => 256,
        "p384" => 384,
        "p521" => 521,
        _ => 0,
    }
}

fn rsa_bits(pkcs1: &[u8]) -> Option<usize> {
    use pkcs8::der::Decode;
    let k = pkcs1::RsaPrivateKeyRef::from_der(pkcs1).ok()?;
    let m = k.modulus.as_bytes();
    let m = &m[m.iter().position(|b| *b != 0).unwrap_or(m.len())..];
    Some(m.len() * 8 - m.first().map(|b| b.leading_zeros() as usize).unwrap_or(0))
}

fn sec1_type(der: &[u8]) -> Option<(String, usize)> {
    use pkcs8::der::Decode;
    let k = sec1::EcPrivateKey::from_der(der).ok()?;
    let curve = k
        .parameters
        .and_then(|p| p.named_curve())
        .map(|o| curve_name(&o.to_string()))
        .unwrap_or("unknown-curve");
    Some((format!("ecdsa-{curve}"), curve_bits(curve)))
}

fn key_info(format: &str, t: Option<(String, usize)>) -> KeyInfo {
    let encrypted = format == "encrypted-pkcs8";
    let mut warnings = Vec::new();
    if let Some((kt, bits)) = &t {
        if kt == "rsa" && *bits < 2048 {
            warnings.push(format!("weak key: RSA {bits} bits (use 2048 or more)"));
        }
    }
    if encrypted {
        warnings.push("encrypted, type unknown without passphrase".into());
    }
    KeyInfo {
        format: format.into(),
        key_type: t.as_ref().map(|t| t.0.clone()),
        key_bits: t.map(|t| t.1),
        encrypted,
        public_key_sha256: None,
        matches_certificate: None,
        location: None,
        warnings,
    }
}

/// The public-key fingerprint of a private key, through the same loader `--key` uses. The
/// temporary PEM text holding the secret is wiped when dropped.
fn key_fingerprint(mut info: KeyInfo, label: &str, der: &[u8]) -> KeyInfo {
    let pem = zeroize::Zeroizing::new(crate::pem::encode(label, der));
    if let Ok(k) = crate::keys::load_private_key(pem.as_bytes(), Path::new("-")) {
        let spki = rcgen::PublicKeyData::subject_public_key_info(&k);
        info.public_key_sha256 = Some(colon_hex(
            ring::digest::digest(&ring::digest::SHA256, &spki).as_ref(),
        ));
    }
    info
}

/// Pairs keys with the certificates of the same input, and warns about a key that belongs to none.
fn link_keys(certs: &[&CertInfo], keys: &mut [&mut KeyInfo]) {
    if certs.is_empty() {
        return;
    }
    for k in keys.iter_mut() {
        let Some(fp) = &k.public_key_sha256 else {
            continue;
        };
        match certs.iter().find(|c| &c.public_key_sha256 == fp) {
            Some(c) => k.matches_certificate = Some(c.subject.clone()),
            None => k.warnings.push(
                "this key belongs to none of the certificates next to it: pair each certificate with the key it was issued for".into(),
            ),
        }
    }
}

fn is_encrypted_pkcs8(der: &[u8]) -> bool {
    use pkcs8::der::Decode;
    pkcs8::EncryptedPrivateKeyInfoRef::from_der(der).is_ok()
}

fn unreadable(path: &Path, what: &str) -> Error {
    Error::bad_file(
        path,
        format!("damaged {what}"),
        "the file is truncated or was edited; export it again from its source",
    )
}

fn too_deep(path: &Path) -> Error {
    Error::bad_file(
        path,
        format!("DER nested deeper than {MAX_DEPTH} levels: not a certificate, key, CSR, CRL or PKCS#12"),
        "give a real certificate, key, CSR, CRL or PKCS#12 file",
    )
}

/// Inspects one input's bytes. `passphrase` unlocks PKCS#12 (the empty password is tried
/// when none is given).
pub fn inspect_bytes(
    bytes: &[u8],
    source: &str,
    passphrase: Option<&str>,
    now: OffsetDateTime,
) -> Result<Inspection> {
    let path = Path::new(source);
    if bytes.is_empty() {
        return Err(Error::bad_file(
            path,
            "empty input",
            "give a certificate, key, CSR, CRL or PKCS#12 file (PEM or DER)",
        ));
    }
    if bytes.len() as u64 > MAX_INPUT {
        return Err(Error::bad_file(
            path,
            format!("larger than {} MiB", MAX_INPUT / (1024 * 1024)),
            "give a single certificate, key, CSR, CRL or PKCS#12 file",
        ));
    }
    // A CA key kept in a PKCS#11 token is named by its URI (`ca.key-uri`).
    let text = String::from_utf8_lossy(bytes);
    if crate::pkcs11::is_uri(text.trim()) {
        let uri = crate::pkcs11::Pkcs11Uri::parse(text.trim()).map_err(|e| {
            Error::bad_file(
                path,
                format!("not a PKCS#11 URI ({e})"),
                "give the ca.key-uri of a CA directory",
            )
        })?;
        let mut info = key_info("pkcs11-uri", None);
        info.location = Some(uri.to_string());
        return Ok(Inspection {
            source: source.to_string(),
            objects: vec![Object::PrivateKey(info)],
            warnings: Vec::new(),
        });
    }
    let mut objects = Vec::new();
    if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        let blocks = crate::pem::parse_all(bytes, path)?;
        for b in &blocks {
            if !der_depth_ok(&b.der, 0) {
                return Err(too_deep(path));
            }
            let o = match b.label.as_str() {
                "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" => {
                    let der = if b.label == "TRUSTED CERTIFICATE" {
                        // openssl's trusted form: certificate then trust settings.
                        tlv(&b.der)
                            .map(|(_, _, rest)| b.der[..b.der.len() - rest.len()].to_vec())
                            .unwrap_or_else(|| b.der.clone())
                    } else {
                        b.der.clone()
                    };
                    Object::Certificate(Box::new(describe_cert(&der, path, now)?))
                }
                "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => {
                    Object::Csr(describe_csr(&b.der, path)?)
                }
                "X509 CRL" => Object::Crl(describe_crl(&b.der, path, now)?),
                "PRIVATE KEY" => Object::PrivateKey(key_fingerprint(
                    key_info(
                        "pkcs8",
                        Some(
                            pkcs8_type(&b.der)
                                .ok_or_else(|| unreadable(path, "PKCS#8 private key"))?,
                        ),
                    ),
                    &b.label,
                    &b.der,
                )),
                "ENCRYPTED PRIVATE KEY" => {
                    if !is_encrypted_pkcs8(&b.der) {
                        return Err(unreadable(path, "encrypted PKCS#8 private key"));
                    }
                    Object::PrivateKey(key_info("encrypted-pkcs8", None))
                }
                "EC PRIVATE KEY" => Object::PrivateKey(key_fingerprint(
                    key_info(
                        "sec1",
                        Some(sec1_type(&b.der).ok_or_else(|| unreadable(path, "EC private key"))?),
                    ),
                    &b.label,
                    &b.der,
                )),
                "RSA PRIVATE KEY" => {
                    if b.der.is_empty() {
                        return Err(unreadable(path, "RSA private key"));
                    }
                    let bits = rsa_bits(&b.der).ok_or_else(|| {
                        Error::bad_file(
                            path,
                            "damaged RSA private key (or an old encrypted one with Proc-Type headers)",
                            "convert it: openssl pkey -in KEY -out KEY.pem",
                        )
                    })?;
                    Object::PrivateKey(key_fingerprint(
                        key_info("pkcs1", Some(("rsa".into(), bits))),
                        &b.label,
                        &b.der,
                    ))
                }
                "PKCS12" => Object::Pkcs12(describe_pkcs12(&b.der, path, passphrase, now)?),
                "PUBLIC KEY"
                | "EC PARAMETERS"
                | "DH PARAMETERS"
                | "PKCS7"
                | "CMS"
                | "OPENSSH PRIVATE KEY" => {
                    return Err(Error::bad_file(
                        path,
                        format!(
                            "holds a {} block, which mtls-ca does not inspect",
                            escape(&b.label)
                        ),
                        "give a certificate, CSR, CRL, private key or PKCS#12 file",
                    ))
                }
                other => {
                    return Err(Error::bad_file(
                        path,
                        format!("unknown PEM block {:?}", escape(other)),
                        "give a certificate, CSR, CRL, private key or PKCS#12 file",
                    ))
                }
            };
            objects.push(o);
        }
    } else {
        if !der_depth_ok(bytes, 0) {
            return Err(too_deep(path));
        }
        objects.push(detect_der(bytes, path, passphrase, now)?);
    }
    let warnings = chain_warnings(&objects);
    let certs: Vec<CertInfo> = objects
        .iter()
        .filter_map(|o| match o {
            Object::Certificate(c) => Some(c.as_ref().clone()),
            _ => None,
        })
        .collect();
    let cert_refs: Vec<&CertInfo> = certs.iter().collect();
    let mut keys: Vec<&mut KeyInfo> = objects
        .iter_mut()
        .filter_map(|o| match o {
            Object::PrivateKey(k) => Some(k),
            _ => None,
        })
        .collect();
    link_keys(&cert_refs, &mut keys);
    Ok(Inspection {
        source: source.to_string(),
        objects,
        warnings,
    })
}

fn detect_der(
    bytes: &[u8],
    path: &Path,
    passphrase: Option<&str>,
    now: OffsetDateTime,
) -> Result<Object> {
    use pkcs8::der::Decode;
    if bytes.first() != Some(&0x30) {
        let hint = if bytes.iter().take(512).all(|b| b.is_ascii()) {
            "it looks like text without a -----BEGIN …----- line; give a PEM or DER file"
        } else {
            "give a certificate, CSR, CRL, private key or PKCS#12 file (PEM or DER)"
        };
        return Err(Error::bad_file(
            path,
            "not a certificate, CSR, CRL, private key or PKCS#12 (neither PEM nor DER)",
            hint,
        ));
    }
    if let Ok(([], _)) = X509Certificate::from_der(bytes) {
        return Ok(Object::Certificate(Box::new(describe_cert(
            bytes, path, now,
        )?)));
    }
    if let Ok(([], _)) = CertificateRevocationList::from_der(bytes) {
        return Ok(Object::Crl(describe_crl(bytes, path, now)?));
    }
    if let Ok(([], _)) = X509CertificationRequest::from_der(bytes) {
        return Ok(Object::Csr(describe_csr(bytes, path)?));
    }
    if let Some(t) = pkcs8_type(bytes) {
        return Ok(Object::PrivateKey(key_fingerprint(
            key_info("pkcs8", Some(t)),
            "PRIVATE KEY",
            bytes,
        )));
    }
    if is_encrypted_pkcs8(bytes) {
        return Ok(Object::PrivateKey(key_info("encrypted-pkcs8", None)));
    }
    if let Some(t) = sec1_type(bytes) {
        return Ok(Object::PrivateKey(key_fingerprint(
            key_info("sec1", Some(t)),
            "EC PRIVATE KEY",
            bytes,
        )));
    }
    if let Some(bits) = rsa_bits(bytes) {
        return Ok(Object::PrivateKey(key_fingerprint(
            key_info("pkcs1", Some(("rsa".into(), bits))),
            "RSA PRIVATE KEY",
            bytes,
        )));
    }
    if looks_like_pfx(bytes) {
        return Ok(Object::Pkcs12(describe_pkcs12(
            bytes, path, passphrase, now,
        )?));
    }
    let _ = pkcs8::der::asn1::Any::from_der(bytes);
    Err(Error::bad_file(
        path,
        "DER data that is not a certificate, CSR, CRL, private key or PKCS#12 (or is truncated)",
        "give a complete certificate, CSR, CRL, private key or PKCS#12 file",
    ))
}

/// PFX: SEQUENCE { INTEGER 3, SEQUENCE { OID pkcs7-data … } … }.
fn looks_like_pfx(bytes: &[u8]) -> bool {
    let Some((0x30, content, _)) = tlv(bytes) else {
        return false;
    };
    matches!(tlv(content), Some((0x02, [3], _)))
}

/// Opens a PKCS#12 file: refuses absurd iteration counts before deriving any key, and turns
/// wrong passwords and unsupported algorithms into errors that say what to do.
fn open_pkcs12(
    der: &[u8],
    path: &Path,
    passphrase: Option<&str>,
) -> Result<(p12_keystore::Pkcs12Archive, u64)> {
    let iterations = pkcs12_max_iterations(der);
    if iterations > MAX_PKCS12_ITERATIONS {
        return Err(Error::bad_file(
            path,
            format!(
                "PKCS#12 asks for {} key-derivation iterations (more than {MAX_PKCS12_ITERATIONS}): refused without trying",
                if iterations == u64::MAX { "an absurd number of".to_string() } else { iterations.to_string() }
            ),
            "re-export it with a normal iteration count (openssl pkcs12 -export -iter 100000 -maciter 100000 …)",
        ));
    }
    let pw = passphrase.unwrap_or("");
    let archive = p12_keystore::Pkcs12Archive::from_pkcs12(der, pw).map_err(|e| {
        use p12_keystore::error::Error as E;
        match e {
            E::MacError(_) | E::UnpadError => Error::bad_file(
                path,
                if passphrase.is_some() {
                    "wrong PKCS#12 password"
                } else {
                    "the PKCS#12 file needs a password"
                },
                "pass the right one with --passphrase-file FILE or --passphrase-env VAR",
            ),
            E::UnsupportedEncryptionScheme | E::UnsupportedMacAlgorithm => Error::bad_file(
                path,
                format!("PKCS#12 uses an algorithm mtls-ca cannot read ({e})"),
                "re-export it with AES-256 and SHA-256: openssl pkcs12 -export (OpenSSL 3 defaults)",
            ),
            other => Error::bad_file(
                path,
                format!("damaged PKCS#12 ({other})"),
                "the file is truncated or not PKCS#12; export it again",
            ),
        }
    })?;
    Ok((archive, iterations))
}

/// Certificates (DER, leaf first) and the private key (PKCS#8 DER, wiped on drop).
pub type Identity = (Vec<Vec<u8>>, zeroize::Zeroizing<Vec<u8>>);

/// The client identity inside a PKCS#12 file: its certificates (leaf first, as stored) and
/// its private key (PKCS#8 DER, wiped on drop). Used by `probe --p12`.
pub fn pkcs12_identity(der: &[u8], path: &Path, passphrase: Option<&str>) -> Result<Identity> {
    let (archive, _) = open_pkcs12(der, path, passphrase)?;
    let key = archive.keys.first().ok_or_else(|| {
        Error::bad_file(
            path,
            "the PKCS#12 file holds no private key",
            "export it with the key: openssl pkcs12 -export -inkey KEY -in CRT",
        )
    })?;
    let key_der = zeroize::Zeroizing::new(key.key.as_der().to_vec());
    let certs: Vec<Vec<u8>> = archive
        .certs
        .iter()
        .map(|c| c.cert.as_der().to_vec())
        .collect();
    if certs.is_empty() {
        return Err(Error::bad_file(
            path,
            "the PKCS#12 file holds no certificate",
            "export it with the certificate: openssl pkcs12 -export -inkey KEY -in CRT",
        ));
    }
    // Leaf first: the certificate whose public key matches the private key.
    let spki = crate::keys::load_private_key(&key_der, path)
        .map(|k| rcgen::PublicKeyData::subject_public_key_info(&k))
        .ok();
    let mut ordered = certs.clone();
    if let Some(spki) = spki {
        if let Some(i) = certs.iter().position(|c| {
            crate::x509::parse_cert(c, path).is_ok_and(|x| x.public_key().raw == spki.as_slice())
        }) {
            let leaf = ordered.remove(i);
            ordered.insert(0, leaf);
        }
    }
    Ok((ordered, key_der))
}

fn describe_pkcs12(
    der: &[u8],
    path: &Path,
    passphrase: Option<&str>,
    now: OffsetDateTime,
) -> Result<Pkcs12Info> {
    let (archive, iterations) = open_pkcs12(der, path, passphrase)?;
    let mut certificates = Vec::new();
    let mut friendly_names = Vec::new();
    for c in &archive.certs {
        certificates.push(describe_cert(c.cert.as_der(), path, now)?);
        if let Some(n) = &c.friendly_name {
            friendly_names.push(escape(n));
        }
    }
    let mut keys = Vec::new();
    for k in &archive.keys {
        keys.push(key_fingerprint(
            key_info("pkcs8", pkcs8_type(k.key.as_der())),
            "PRIVATE KEY",
            k.key.as_der(),
        ));
        if let Some(n) = &k.friendly_name {
            friendly_names.push(escape(n));
        }
    }
    {
        let cert_refs: Vec<&CertInfo> = certificates.iter().collect();
        let mut key_refs: Vec<&mut KeyInfo> = keys.iter_mut().collect();
        link_keys(&cert_refs, &mut key_refs);
    }
    let mut warnings = Vec::new();
    if passphrase.is_none() {
        warnings.push("the PKCS#12 password is empty: anyone with the file has the key".into());
    }
    if keys.is_empty() {
        warnings.push("no private key inside: clients cannot use it to authenticate".into());
    }
    Ok(Pkcs12Info {
        certificates,
        keys,
        friendly_names,
        max_iterations: iterations,
        warnings,
    })
}

/// Order and gaps of the certificates of one input (a chain: leaf first, each next one its issuer).
fn chain_warnings(objects: &[Object]) -> Vec<String> {
    let certs: Vec<&CertInfo> = objects
        .iter()
        .filter_map(|o| match o {
            Object::Certificate(c) => Some(c.as_ref()),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    if certs.len() < 2 {
        return out;
    }
    for (i, c) in certs.iter().enumerate().take(certs.len() - 1) {
        if c.self_signed {
            out.push(format!(
                "certificate {} ({}) is self-signed but is not last: a chain goes leaf first, root last",
                i + 1,
                c.subject
            ));
            continue;
        }
        let next = certs[i + 1];
        if next.subject == c.issuer {
            continue;
        }
        if let Some(j) = certs.iter().position(|o| o.subject == c.issuer) {
            out.push(format!(
                "chain out of order: the issuer of certificate {} ({}) is certificate {}; order it leaf first, then each issuer",
                i + 1,
                c.issuer,
                j + 1
            ));
        } else {
            out.push(format!(
                "chain has a gap: the issuer of certificate {} ({}) is missing from the file",
                i + 1,
                c.issuer
            ));
        }
    }
    if certs[0].is_ca && certs.iter().skip(1).any(|c| !c.is_ca) {
        out.push("the first certificate is a CA but a leaf comes later: put the leaf first".into());
    }
    out
}

/// Inspects a file (at most [`MAX_INPUT`] bytes).
pub fn inspect_file(
    path: &Path,
    passphrase: Option<&str>,
    now: OffsetDateTime,
) -> Result<Inspection> {
    let bytes = crate::files::read_limited(path, MAX_INPUT)?;
    inspect_bytes(&bytes, &path.display().to_string(), passphrase, now)
}
