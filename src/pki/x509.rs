//! Small facts about certificates, read with x509-parser: names, key identifiers, fingerprints,
//! and the post-signing self-check every new certificate must pass before it is written.

use std::path::Path;

use ring::digest;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use crate::error::{Error, Result};

/// Parses one DER certificate, naming `path` in the error. Trailing bytes are refused.
pub fn parse_cert<'a>(der: &'a [u8], path: &Path) -> Result<X509Certificate<'a>> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(Error::bad_file(
            path,
            "trailing bytes after the certificate",
            "give a clean DER or PEM certificate",
        )),
        Err(e) => Err(Error::bad_file(
            path,
            format!("not a valid X.509 certificate ({e})"),
            "give a PEM or DER certificate",
        )),
    }
}

/// Reads every certificate of a PEM (or one DER) file.
pub fn read_certs(path: &Path) -> Result<Vec<Vec<u8>>> {
    let bytes = crate::files::read_limited(path, 16 * 1024 * 1024)?;
    certs_from_bytes(&bytes, path)
}

/// Every certificate in PEM text or a single DER certificate.
pub fn certs_from_bytes(bytes: &[u8], path: &Path) -> Result<Vec<Vec<u8>>> {
    if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        let blocks = crate::pem::parse_all(bytes, path)?;
        let certs: Vec<Vec<u8>> = blocks
            .iter()
            .filter(|b| b.label == "CERTIFICATE" || b.label == "X509 CERTIFICATE")
            .map(|b| b.der.clone())
            .collect();
        if certs.is_empty() {
            return Err(Error::bad_file(
                path,
                format!(
                    "no certificate in this PEM file (found: {})",
                    crate::pem::labels(&blocks)
                ),
                "give a certificate file (-----BEGIN CERTIFICATE-----)",
            ));
        }
        for c in &certs {
            parse_cert(c, path)?;
        }
        Ok(certs)
    } else {
        parse_cert(bytes, path)?;
        Ok(vec![bytes.to_vec()])
    }
}

/// The subject key identifier, if present.
pub fn ski(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
    cert.iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
}

/// The authority key identifier's keyIdentifier, if present.
pub fn aki(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
    cert.iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
}

/// SHA-256 of the DER, lowercase hex.
pub fn sha256_hex(der: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, der).as_ref())
}

/// SHA-1 of the DER, lowercase hex (for display next to openssl's default fingerprint).
pub fn sha1_hex(der: &[u8]) -> String {
    hex(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der).as_ref())
}

/// Lowercase hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SANs of a certificate as text (`DNS`/`IP`/`email`/`URI` values, no prefixes).
pub fn san_strings(cert: &X509Certificate<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                    out.push(s.to_string())
                }
                GeneralName::IPAddress(b) => {
                    if let Some(ip) = ip_from_bytes(b) {
                        out.push(ip.to_string())
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// An IP address from the 4 or 16 octets of an iPAddress SAN.
pub fn ip_from_bytes(b: &[u8]) -> Option<std::net::IpAddr> {
    match b.len() {
        4 => Some(std::net::IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
        16 => Some(std::net::IpAddr::from(<[u8; 16]>::try_from(b).ok()?)),
        _ => None,
    }
}

/// notBefore / notAfter as `time` values.
pub fn validity(cert: &X509Certificate<'_>) -> (OffsetDateTime, OffsetDateTime) {
    (
        cert.validity().not_before.to_datetime(),
        cert.validity().not_after.to_datetime(),
    )
}

/// The checks every freshly signed certificate must pass before it is recorded or written:
/// issuer bytes equal the CA's subject bytes, AKI equals the CA's SKI, the signature verifies
/// with the CA's key, and the serial and validity are what was asked.
pub fn self_check(
    new_der: &[u8],
    ca_der: &[u8],
    serial: &crate::serial::Serial,
    self_signed: bool,
) -> Result<()> {
    let fail = |m: String| Error::SelfCheck(m);
    let here = Path::new("<new certificate>");
    let cert = parse_cert(new_der, here)?;
    let ca = parse_cert(ca_der, Path::new("<CA certificate>"))?;
    if cert.issuer().as_raw() != ca.subject().as_raw() {
        return Err(fail("issuer name differs from the CA subject bytes".into()));
    }
    if crate::serial::Serial::from_bytes(cert.raw_serial()) != *serial {
        return Err(fail("serial differs from the reserved one".into()));
    }
    if !self_signed && aki(&cert) != ski(&ca) {
        return Err(fail(
            "authority key identifier differs from the CA's SKI".into(),
        ));
    }
    if ski(&cert).is_none() {
        return Err(fail("no subject key identifier".into()));
    }
    cert.verify_signature(Some(ca.public_key()))
        .map_err(|e| fail(format!("signature does not verify with the CA key ({e})")))?;
    Ok(())
}

/// The name of a CRL reason code (RFC 5280 CRLReason), as `mtls-ca revoke --reason` spells it.
pub fn reason_name(code: u8) -> &'static str {
    match code {
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
