//! The OpenSSL-family verdict: what nginx, HAProxy, Kong and Apache (OpenSSL 3, default settings)
//! decide for the same inputs, computed here without OpenSSL.
//!
//! This is OpenSSL's `X509_verify_cert` re-done over x509-parser and ring, step by step in its
//! order. Chain building: trusted issuers first; an issuer matches by subject name, authority key
//! identifier and key type; a trust anchor must be self-signed. Then `check_extensions`: unhandled
//! critical extensions, CA flags, the purpose of every certificate including the intermediates,
//! pathlen with self-issued certificates exempt. Then the host or IP check; revocation with
//! `crl_check_all` semantics, CRLs scored as OpenSSL does it (delta, indirect and
//! reason-partitioned CRLs are not used; IDP scope, cRLSign, critical CRL extensions); signatures
//! and validity of every certificate including the trust anchor; and name constraints (DNS, IP,
//! e-mail, URI, directory names, and the leaf's CN when it has no DNS SAN: OpenSSL error 47).
//! Errors carry OpenSSL's `X509_V_ERR_*` number; like `openssl verify`, checking goes on after an
//! error so that every problem is listed. Its oracle in the tests is the real `openssl verify`
//! with the same flags.

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{
    DistributionPointName, GeneralName, NameConstraints, ParsedExtension,
};
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;
use x509_parser::x509::X509Name;

use super::model::{Input, Purpose};
use crate::inspect::fmt_name;

/// OpenSSL's `X509_V_ERR_*` numbers used here.
pub mod err {
    #![allow(missing_docs)]
    pub const UNSPECIFIED: u32 = 1;
    pub const UNABLE_TO_GET_ISSUER_CERT: u32 = 2;
    pub const UNABLE_TO_GET_CRL: u32 = 3;
    pub const CERT_SIGNATURE_FAILURE: u32 = 7;
    pub const CRL_SIGNATURE_FAILURE: u32 = 8;
    pub const CERT_NOT_YET_VALID: u32 = 9;
    pub const CERT_HAS_EXPIRED: u32 = 10;
    pub const CRL_NOT_YET_VALID: u32 = 11;
    pub const CRL_HAS_EXPIRED: u32 = 12;
    pub const ERROR_IN_CERT_NOT_BEFORE_FIELD: u32 = 13;
    pub const DEPTH_ZERO_SELF_SIGNED_CERT: u32 = 18;
    pub const SELF_SIGNED_CERT_IN_CHAIN: u32 = 19;
    pub const UNABLE_TO_GET_ISSUER_CERT_LOCALLY: u32 = 20;
    pub const CERT_CHAIN_TOO_LONG: u32 = 22;
    pub const CERT_REVOKED: u32 = 23;
    pub const INVALID_CA: u32 = 24;
    pub const PATH_LENGTH_EXCEEDED: u32 = 25;
    pub const INVALID_PURPOSE: u32 = 26;
    pub const KEYUSAGE_NO_CERTSIGN: u32 = 32;
    pub const UNABLE_TO_GET_CRL_ISSUER: u32 = 33;
    pub const UNHANDLED_CRITICAL_EXTENSION: u32 = 34;
    pub const KEYUSAGE_NO_CRL_SIGN: u32 = 35;
    pub const UNHANDLED_CRITICAL_CRL_EXTENSION: u32 = 36;
    pub const INVALID_EXTENSION: u32 = 41;
    pub const DIFFERENT_CRL_SCOPE: u32 = 44;
    pub const PERMITTED_VIOLATION: u32 = 47;
    pub const EXCLUDED_VIOLATION: u32 = 48;
    pub const UNSUPPORTED_CONSTRAINT_TYPE: u32 = 51;
    pub const UNSUPPORTED_NAME_SYNTAX: u32 = 53;
    pub const HOSTNAME_MISMATCH: u32 = 62;
    pub const IP_ADDRESS_MISMATCH: u32 = 64;
}

/// One OpenSSL verify error: its number, the chain depth, the certificate it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsslError {
    /// `X509_V_ERR_*` number, as nginx logs it (`client SSL certificate verify error: (N:…)`).
    pub num: u32,
    /// Depth in the chain (0 = the leaf).
    pub depth: usize,
    /// Subject of the certificate concerned.
    pub subject: String,
    /// Issuer of the certificate concerned.
    pub issuer: String,
    /// The CRL file concerned, for revocation errors.
    pub crl: Option<usize>,
}

/// What happened to one CRL in the OpenSSL engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlNote {
    /// Index into `Input::crls`.
    pub index: usize,
    /// The CRL's issuer.
    pub issuer: String,
    /// Why OpenSSL does not use it.
    pub reason: String,
}

/// The OpenSSL-family verdict.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    /// Every error, in OpenSSL's order (the first is what `openssl verify` reports first).
    pub errors: Vec<OsslError>,
    /// The chain built, leaf first (indices into the engine's certificate list are not exposed).
    pub chain: Vec<String>,
    /// CRLs OpenSSL never uses for this chain, with the reason.
    pub unusable_crls: Vec<CrlNote>,
}

impl Verdict {
    /// True when OpenSSL accepts.
    pub fn valid(&self) -> bool {
        self.errors.is_empty()
    }
}

const KU_DIGITAL_SIGNATURE: u16 = 0x80;
const KU_KEY_ENCIPHERMENT: u16 = 0x20;
const KU_KEY_AGREEMENT: u16 = 0x08;
const KU_KEY_CERT_SIGN: u16 = 0x04;
const KU_CRL_SIGN: u16 = 0x02;

/// x509-parser keeps keyUsage bits as `digitalSignature` = bit 0; OpenSSL as the first octet's
/// high bit. Convert to OpenSSL's layout (first octet only, which is all these checks use).
fn ku_openssl(flags: u16) -> u16 {
    let mut out = 0u16;
    for bit in 0..8 {
        if flags & (1 << bit) != 0 {
            out |= 0x80 >> bit;
        }
    }
    out
}

/// The facts OpenSSL caches per certificate (`ossl_x509v3_cache_extensions`).
struct Cert<'a> {
    der: &'a [u8],
    x: X509Certificate<'a>,
    /// basicConstraints present.
    bcons: bool,
    ca: bool,
    pathlen: Option<u32>,
    ku: Option<u16>,
    /// (serverAuth, clientAuth, nsSGC/msSGC) when an EKU is present.
    xku: Option<(bool, bool, bool)>,
    /// Netscape cert type bits (OpenSSL layout) when present.
    ns: Option<u8>,
    skid: Option<&'a [u8]>,
    akid: Option<Akid>,
    critical_unhandled: bool,
    invalid: bool,
    self_issued: bool,
    /// Self-issued and its AKI (if any) matches itself: OpenSSL's EXFLAG_SS.
    self_signed: bool,
    v1: bool,
    nc: Option<NameConstraints<'a>>,
    crldp: Vec<x509_parser::extensions::CRLDistributionPoint<'a>>,
    trusted: bool,
}

/// An authorityKeyIdentifier, owned.
struct Akid {
    keyid: Option<Vec<u8>>,
    issuer: Option<Canon>,
    serial: Option<Vec<u8>>,
}

type Canon = Vec<Vec<(String, String)>>;

fn akid_of(a: &x509_parser::extensions::AuthorityKeyIdentifier<'_>) -> Akid {
    Akid {
        keyid: a.key_identifier.as_ref().map(|k| k.0.to_vec()),
        issuer: a.authority_cert_issuer.as_ref().and_then(|v| {
            v.iter().find_map(|g| match g {
                GeneralName::DirectoryName(n) => Some(canon(n)),
                _ => None,
            })
        }),
        serial: a.authority_cert_serial.map(|s| s.to_vec()),
    }
}

/// Extensions OpenSSL understands when critical (`X509_supported_extension`).
fn supported_critical(oid: &str) -> bool {
    matches!(
        oid,
        "2.16.840.1.113730.1.1" // netscape cert type
            | "2.5.29.15" // keyUsage
            | "2.5.29.17" // subjectAltName
            | "2.5.29.19" // basicConstraints
            | "2.5.29.32" // certificatePolicies
            | "2.5.29.37" // extKeyUsage
            | "2.5.29.36" // policyConstraints
            | "1.3.6.1.5.5.7.1.14" // proxyCertInfo
            | "2.5.29.30" // nameConstraints
            | "2.5.29.33" // policyMappings
            | "2.5.29.54" // inhibitAnyPolicy
            | "1.3.6.1.5.5.7.1.7" // sbgp-ipAddrBlock
            | "1.3.6.1.5.5.7.1.8" // sbgp-autonomousSysNum
    )
}

fn strip_int(b: &[u8]) -> &[u8] {
    let mut b = b;
    while b.len() > 1 && b[0] == 0 {
        b = &b[1..];
    }
    b
}

impl<'a> Cert<'a> {
    fn new(der: &'a [u8], trusted: bool) -> Option<Cert<'a>> {
        let (_, x) = X509Certificate::from_der(der).ok()?;
        let mut c = Cert {
            der,
            bcons: false,
            ca: false,
            pathlen: None,
            ku: None,
            xku: None,
            ns: None,
            skid: None,
            akid: None,
            critical_unhandled: false,
            invalid: false,
            self_issued: false,
            self_signed: false,
            v1: x.version().0 == 0,
            nc: None,
            crldp: Vec::new(),
            trusted,
            x,
        };
        let mut seen: Vec<String> = Vec::new();
        let exts: Vec<x509_parser::extensions::X509Extension<'a>> =
            c.x.tbs_certificate.extensions().to_vec();
        for e in exts {
            let oid = e.oid.to_id_string();
            if seen.contains(&oid) {
                c.invalid = true;
            }
            seen.push(oid.clone());
            if e.critical && !supported_critical(&oid) {
                c.critical_unhandled = true;
            }
            match e.parsed_extension().clone() {
                ParsedExtension::BasicConstraints(bc) => {
                    c.bcons = true;
                    c.ca = bc.ca;
                    c.pathlen = bc.path_len_constraint;
                }
                ParsedExtension::KeyUsage(ku) => c.ku = Some(ku_openssl(ku.flags)),
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    let sgc = eku.other.iter().any(|o| {
                        let s = o.to_id_string();
                        s == "2.16.840.1.113730.4.1" || s == "1.3.6.1.4.1.311.10.3.3"
                    });
                    c.xku = Some((eku.server_auth, eku.client_auth, sgc));
                }
                ParsedExtension::NSCertType(ns) => {
                    c.ns = Some(
                        u8::from(ns.ssl_client()) << 7
                            | u8::from(ns.ssl_server()) << 6
                            | u8::from(ns.smime()) << 5
                            | u8::from(ns.object_signing()) << 4
                            | u8::from(ns.ssl_ca()) << 2
                            | u8::from(ns.smime_ca()) << 1
                            | u8::from(ns.object_signing_ca()),
                    )
                }
                ParsedExtension::SubjectKeyIdentifier(k) => c.skid = Some(k.0),
                ParsedExtension::AuthorityKeyIdentifier(a) => c.akid = Some(akid_of(&a)),
                ParsedExtension::NameConstraints(nc) => c.nc = Some(nc),
                ParsedExtension::CRLDistributionPoints(dp) => c.crldp = dp.points,
                ParsedExtension::ParseError { .. } => {
                    if matches!(
                        oid.as_str(),
                        "2.5.29.19"
                            | "2.5.29.15"
                            | "2.5.29.37"
                            | "2.5.29.14"
                            | "2.5.29.35"
                            | "2.5.29.17"
                            | "2.5.29.30"
                            | "2.5.29.31"
                            | "2.16.840.1.113730.1.1"
                    ) {
                        c.invalid = true;
                    }
                }
                _ => {}
            }
        }
        c.self_issued = c.x.subject().as_raw() == c.x.issuer().as_raw()
            || names_equal(c.x.subject(), c.x.issuer());
        c.self_signed = c.self_issued && check_akid(&c, c.akid.as_ref()) && sig_alg_matches(&c, &c);
        Some(c)
    }

    fn subject(&self) -> String {
        fmt_name(self.x.subject())
    }
}

/// `X509_check_ca`: 0 = not a CA, 1 = CA by basicConstraints, 3/4/5 = tolerated as CA.
fn check_ca(c: &Cert<'_>) -> u8 {
    if c.ku.is_some_and(|k| k & KU_KEY_CERT_SIGN == 0) {
        return 0;
    }
    if c.bcons {
        return u8::from(c.ca);
    }
    if c.v1 && c.self_signed {
        3
    } else if c.ku.is_some() {
        4
    } else if c.ns.is_some_and(|n| n & 0x07 != 0) {
        5
    } else {
        0
    }
}

/// OpenSSL compares names by their canonical form; this compares RDN by RDN, attribute types
/// exactly and values case-insensitively with whitespace collapsed.
fn names_equal(a: &X509Name<'_>, b: &X509Name<'_>) -> bool {
    if a.as_raw() == b.as_raw() {
        return true;
    }
    canon(a) == canon(b)
}

fn canon(n: &X509Name<'_>) -> Canon {
    n.iter()
        .map(|rdn| {
            let mut v: Vec<(String, String)> = rdn
                .iter()
                .map(|a| {
                    let val = match a.as_str() {
                        Ok(s) => s
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" ")
                            .to_lowercase(),
                        Err(_) => format!("{:?}", a.attr_value().data),
                    };
                    (a.attr_type().to_id_string(), val)
                })
                .collect();
            v.sort();
            v
        })
        .collect()
}

/// `X509_check_akid(issuer, akid)`.
fn check_akid(issuer: &Cert<'_>, akid: Option<&Akid>) -> bool {
    let Some(a) = akid else { return true };
    if let (Some(k), Some(s)) = (&a.keyid, issuer.skid) {
        if k.as_slice() != s {
            return false;
        }
    }
    if let Some(serial) = &a.serial {
        if strip_int(serial) != strip_int(issuer.x.raw_serial()) {
            return false;
        }
    }
    if let Some(n) = &a.issuer {
        if *n != canon(issuer.x.issuer()) {
            return false;
        }
    }
    true
}

fn key_kind(oid: &str) -> &'static str {
    match oid {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => "rsa",
        "1.2.840.10045.2.1" => "ec",
        "1.3.101.112" => "ed25519",
        "1.3.101.113" => "ed448",
        _ => "other",
    }
}

fn sig_kind(oid: &str) -> &'static str {
    match oid {
        "1.2.840.113549.1.1.4"
        | "1.2.840.113549.1.1.5"
        | "1.2.840.113549.1.1.11"
        | "1.2.840.113549.1.1.12"
        | "1.2.840.113549.1.1.13"
        | "1.2.840.113549.1.1.14"
        | "1.3.14.3.2.29"
        | "1.2.840.113549.1.1.10" => "rsa",
        "1.2.840.10045.4.1"
        | "1.2.840.10045.4.3.1"
        | "1.2.840.10045.4.3.2"
        | "1.2.840.10045.4.3.3"
        | "1.2.840.10045.4.3.4" => "ec",
        "1.3.101.112" => "ed25519",
        "1.3.101.113" => "ed448",
        _ => "other",
    }
}

/// `check_sig_alg_match`: the subject's signature algorithm fits the issuer's key type.
fn sig_alg_matches(issuer: &Cert<'_>, subject: &Cert<'_>) -> bool {
    let k = key_kind(&issuer.x.public_key().algorithm.algorithm.to_id_string());
    let s = sig_kind(&subject.x.signature_algorithm.algorithm.to_id_string());
    k == s || k == "other" || s == "other"
}

/// `ossl_x509_likely_issued(issuer, subject)`.
fn likely_issued(issuer: &Cert<'_>, subject: &Cert<'_>) -> bool {
    names_equal(issuer.x.subject(), subject.x.issuer())
        && !issuer.invalid
        && !subject.invalid
        && check_akid(issuer, subject.akid.as_ref())
        && sig_alg_matches(issuer, subject)
}

/// OpenSSL 3.0's `X509_cmp_time` never says "equal": a certificate is valid from notBefore
/// (inclusive) to notAfter (exclusive).
fn time_ok(c: &Cert<'_>, at: i64) -> bool {
    c.x.validity().not_before.timestamp() <= at && at < c.x.validity().not_after.timestamp()
}

fn verify_sig(issuer: &Cert<'_>, subject: &Cert<'_>) -> bool {
    if subject.x.signature_algorithm != subject.x.tbs_certificate.signature {
        return false;
    }
    verify_signature(
        issuer.x.public_key(),
        &subject.x.signature_algorithm,
        &subject.x.signature_value,
        subject.x.tbs_certificate.as_ref(),
    )
}

/// The parameters of an OpenSSL check besides the certificates.
pub struct Params<'p> {
    /// serverAuth or clientAuth purpose.
    pub purpose: Purpose,
    /// `-verify_hostname` / `-verify_ip` value.
    pub host: Option<&'p str>,
    /// Check time (Unix seconds).
    pub at: i64,
    /// CRLs to use: `crl_check_all` when not empty. `None` entries were not loaded.
    pub crls: &'p [Vec<u8>],
}

/// Runs OpenSSL's verification on `input` (its purpose already decided).
pub fn verify(input: &Input, purpose: Purpose, host: Option<&str>) -> Verdict {
    let params = Params {
        purpose,
        host,
        at: input.at.unix_timestamp(),
        crls: &input.crls,
    };
    verify_with(&input.leaf, &input.intermediates, &input.roots, &params)
}

/// Runs OpenSSL's verification for one leaf.
pub fn verify_with(
    leaf: &[u8],
    intermediates: &[Vec<u8>],
    roots: &[Vec<u8>],
    p: &Params<'_>,
) -> Verdict {
    let mut v = Verdict::default();
    let Some(leaf) = Cert::new(leaf, false) else {
        v.errors.push(OsslError {
            num: err::CERT_SIGNATURE_FAILURE,
            depth: 0,
            subject: String::new(),
            issuer: String::new(),
            crl: None,
        });
        return v;
    };
    let trusted: Vec<Cert<'_>> = roots.iter().filter_map(|d| Cert::new(d, true)).collect();
    let untrusted: Vec<Cert<'_>> = intermediates
        .iter()
        .filter_map(|d| Cert::new(d, false))
        .collect();
    // --- build_chain -------------------------------------------------------------------------
    let mut chain: Vec<&Cert<'_>> = vec![&leaf];
    let mut anchored = false;
    let mut build_err: Option<u32> = None;
    // A leaf that is itself a trusted, self-signed certificate.
    if leaf.self_signed && trusted.iter().any(|t| t.der == leaf.der) {
        anchored = true;
        chain[0] = trusted.iter().find(|t| t.der == leaf.der).expect("found");
    }
    while !anchored {
        if chain.len() > 101 {
            build_err = Some(err::CERT_CHAIN_TOO_LONG);
            break;
        }
        let cur = chain[chain.len() - 1];
        let in_chain = |c: &Cert<'_>| chain.iter().any(|x| x.der == c.der);
        let best = |set: &'_ [Cert<'_>], no_dup: bool| -> Option<usize> {
            let mut pick: Option<usize> = None;
            for (i, cand) in set.iter().enumerate() {
                if no_dup && !(cur.self_issued && chain.len() == 1) && in_chain(cand) {
                    continue;
                }
                if !likely_issued(cand, cur) {
                    continue;
                }
                if time_ok(cand, p.at) {
                    return Some(i);
                }
                match pick {
                    Some(j)
                        if set[j].x.validity().not_after.timestamp()
                            >= cand.x.validity().not_after.timestamp() => {}
                    _ => pick = Some(i),
                }
            }
            pick
        };
        // Trusted first; a self-signed certificate is only trusted as itself.
        if cur.self_signed {
            if let Some(t) = trusted.iter().find(|t| t.der == cur.der) {
                let n = chain.len() - 1;
                chain[n] = t;
                break;
            }
            build_err = Some(if chain.len() == 1 {
                err::DEPTH_ZERO_SELF_SIGNED_CERT
            } else {
                err::SELF_SIGNED_CERT_IN_CHAIN
            });
            break;
        }
        if let Some(i) = best(&trusted, true) {
            let t = &trusted[i];
            chain.push(t);
            if t.self_signed {
                anchored = true;
            }
            continue;
        }
        if let Some(i) = best(&untrusted, true) {
            chain.push(&untrusted[i]);
            continue;
        }
        build_err = Some(if chain.iter().any(|c| c.trusted) {
            err::UNABLE_TO_GET_ISSUER_CERT
        } else {
            err::UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        });
        break;
    }
    v.chain = chain.iter().map(|c| c.subject()).collect();
    let push = |v: &mut Verdict, num: u32, depth: usize, c: &Cert<'_>| {
        v.errors.push(OsslError {
            num,
            depth,
            subject: c.subject(),
            issuer: fmt_name(c.x.issuer()),
            crl: None,
        })
    };
    if let Some(e) = build_err {
        let n = chain.len() - 1;
        push(&mut v, e, n, chain[n]);
        // OpenSSL stops here: nothing else can be checked without a trusted chain.
        crl_notes(&mut v, &chain, p);
        return v;
    }
    let num = chain.len();
    // --- check_extensions --------------------------------------------------------------------
    let mut plen: u32 = 0;
    for (i, x) in chain.iter().enumerate() {
        if x.critical_unhandled {
            push(&mut v, err::UNHANDLED_CRITICAL_EXTENSION, i, x);
        }
        let ret = check_ca(x);
        if i > 0 && (ret == 0 || (i + 1 < num && ret != 1)) {
            push(&mut v, err::INVALID_CA, i, x);
        }
        // check_purpose: a self-signed trust anchor is trusted whatever its extensions say.
        let anchor_trusted = x.trusted && x.self_signed && i == num - 1;
        if !anchor_trusted && !x.invalid && !purpose_ok(x, p.purpose, i > 0) {
            push(&mut v, err::INVALID_PURPOSE, i, x);
        }
        if i > 1 {
            if let Some(pl) = x.pathlen {
                if plen > pl {
                    push(&mut v, err::PATH_LENGTH_EXCEEDED, i, x);
                }
            }
        }
        if i > 0 && !x.self_issued {
            plen += 1;
        }
    }
    // --- check_id ----------------------------------------------------------------------------
    if let Some(h) = p.host {
        let h = h.trim_start_matches('[').trim_end_matches(']');
        match h.parse::<std::net::IpAddr>() {
            Ok(ip) => {
                if !ip_matches(&leaf, ip) {
                    push(&mut v, err::IP_ADDRESS_MISMATCH, 0, &leaf);
                }
            }
            Err(_) => {
                if !host_matches(&leaf, h) {
                    push(&mut v, err::HOSTNAME_MISMATCH, 0, &leaf);
                }
            }
        }
    }
    // --- check_revocation (crl_check_all) ------------------------------------------------------
    if !p.crls.is_empty() {
        check_revocation(&mut v, &chain, p);
    } else {
        crl_notes(&mut v, &chain, p);
    }
    // --- internal_verify ---------------------------------------------------------------------
    for n in (0..num).rev() {
        let xs = chain[n];
        let xi = if n + 1 < num { chain[n + 1] } else { xs };
        if !std::ptr::eq(xs, xi) {
            if xi.ku.is_some_and(|k| k & KU_KEY_CERT_SIGN == 0) {
                push(&mut v, err::KEYUSAGE_NO_CERTSIGN, n + 1, xi);
            }
            if !verify_sig(xi, xs) {
                push(&mut v, err::CERT_SIGNATURE_FAILURE, n, xs);
            }
        }
        let val = xs.x.validity();
        if p.at < val.not_before.timestamp() {
            push(&mut v, err::CERT_NOT_YET_VALID, n, xs);
        }
        if p.at >= val.not_after.timestamp() {
            push(&mut v, err::CERT_HAS_EXPIRED, n, xs);
        }
    }
    // --- check_name_constraints --------------------------------------------------------------
    for i in (0..num).rev() {
        let x = chain[i];
        if i != 0 && x.self_issued {
            continue;
        }
        for j in (i + 1..num).rev() {
            let Some(nc) = &chain[j].nc else { continue };
            let mut rv = nc_check(x, nc);
            if rv.is_none() && i == 0 && !has_dns_san(x) {
                rv = nc_check_cn(x, nc);
            }
            if let Some(e) = rv {
                push(&mut v, e, i, x);
            }
        }
    }
    v
}

fn purpose_ok(x: &Cert<'_>, purpose: Purpose, ca: bool) -> bool {
    let xku_reject = |server: bool| match x.xku {
        Some((s, c, sgc)) => {
            if server {
                !(s || sgc)
            } else {
                !c
            }
        }
        None => false,
    };
    let ku_reject = |mask: u16| x.ku.is_some_and(|k| k & mask == 0);
    let ns_reject = |bit: u8| x.ns.is_some_and(|n| n & bit == 0);
    let ssl_ca = || {
        let r = check_ca(x);
        r != 0 && (r != 5 || x.ns.is_some_and(|n| n & 0x04 != 0))
    };
    match purpose {
        Purpose::Server => {
            if xku_reject(true) {
                return false;
            }
            if ca {
                return ssl_ca();
            }
            !ns_reject(0x40)
                && !ku_reject(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT | KU_KEY_AGREEMENT)
        }
        Purpose::Client => {
            if xku_reject(false) {
                return false;
            }
            if ca {
                return ssl_ca();
            }
            !ku_reject(KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT) && !ns_reject(0x80)
        }
    }
}

fn san_names<'c>(x: &'c Cert<'_>) -> Vec<GeneralName<'c>> {
    match x.x.subject_alternative_name() {
        Ok(Some(s)) => s.value.general_names.clone(),
        _ => Vec::new(),
    }
}

fn has_dns_san(x: &Cert<'_>) -> bool {
    san_names(x)
        .iter()
        .any(|g| matches!(g, GeneralName::DNSName(_)))
}

fn ip_matches(x: &Cert<'_>, ip: std::net::IpAddr) -> bool {
    let want: Vec<u8> = match ip {
        std::net::IpAddr::V4(a) => a.octets().to_vec(),
        std::net::IpAddr::V6(a) => a.octets().to_vec(),
    };
    san_names(x)
        .iter()
        .any(|g| matches!(g, GeneralName::IPAddress(b) if *b == want.as_slice()))
}

/// `X509_check_host` with default flags: DNS SANs, else the subject CNs.
fn host_matches(x: &Cert<'_>, host: &str) -> bool {
    let host = host.as_bytes();
    let sans = san_names(x);
    let dns: Vec<&str> = sans
        .iter()
        .filter_map(|g| match g {
            GeneralName::DNSName(s) => Some(*s),
            _ => None,
        })
        .collect();
    if !dns.is_empty() {
        return dns.iter().any(|d| equal_wildcard(d.as_bytes(), host));
    }
    x.x.subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok())
        .any(|cn| equal_wildcard(cn.as_bytes(), host))
}

fn equal_nocase(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && !a.contains(&0) && a.eq_ignore_ascii_case(b)
}

fn valid_star(p: &[u8]) -> Option<usize> {
    const START: u8 = 1;
    const IDNA: u8 = 2;
    const HYPHEN: u8 = 4;
    let mut star = None;
    let mut state = START;
    let mut dots = 0;
    for i in 0..p.len() {
        let c = p[i];
        if c == b'*' {
            let atstart = state & START != 0;
            let atend = i == p.len() - 1 || p[i + 1] == b'.';
            if star.is_some() || state & IDNA != 0 || dots > 0 {
                return None;
            }
            if !atstart && !atend {
                return None;
            }
            star = Some(i);
            state &= !START;
        } else if c.is_ascii_alphanumeric() {
            if state & START != 0 && p.len() - i >= 4 && p[i..i + 4].eq_ignore_ascii_case(b"xn--") {
                state |= IDNA;
            }
            state &= !(HYPHEN | START);
        } else if c == b'.' {
            if state & (HYPHEN | START) != 0 {
                return None;
            }
            state = START;
            dots += 1;
        } else if c == b'-' {
            if state & START != 0 {
                return None;
            }
            state |= HYPHEN;
        } else {
            return None;
        }
    }
    if state & (START | HYPHEN) != 0 || dots < 2 {
        return None;
    }
    star
}

fn equal_wildcard(pattern: &[u8], subject: &[u8]) -> bool {
    let star = if subject.len() > 1 && subject[0] == b'.' {
        None
    } else {
        valid_star(pattern)
    };
    let Some(s) = star else {
        return equal_nocase(pattern, subject);
    };
    let (prefix, suffix) = (&pattern[..s], &pattern[s + 1..]);
    if subject.len() < prefix.len() + suffix.len() {
        return false;
    }
    if !equal_nocase(prefix, &subject[..prefix.len()]) {
        return false;
    }
    let ws = prefix.len();
    let we = subject.len() - suffix.len();
    if !equal_nocase(&subject[we..], suffix) {
        return false;
    }
    let mut allow_idna = false;
    if prefix.is_empty() && suffix.first() == Some(&b'.') {
        if ws == we {
            return false;
        }
        allow_idna = true;
    }
    if !allow_idna && subject.len() >= 4 && subject[..4].eq_ignore_ascii_case(b"xn--") {
        return false;
    }
    if we == ws + 1 && subject[ws] == b'*' {
        return true;
    }
    subject[ws..we]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

// --- name constraints (v3_ncons.c) ---------------------------------------------------------

/// The GeneralName type number (an SmtpUTF8Mailbox otherName counts as an e-mail address).
fn ntype(g: &GeneralName<'_>) -> u8 {
    match g {
        GeneralName::OtherName(oid, _) if oid.to_id_string() == "1.3.6.1.5.5.7.8.9" => 1,
        GeneralName::OtherName(..) => 0,
        GeneralName::RFC822Name(_) => 1,
        GeneralName::DNSName(_) => 2,
        GeneralName::X400Address(_) => 3,
        GeneralName::DirectoryName(_) => 4,
        GeneralName::EDIPartyName(_) => 5,
        GeneralName::URI(_) => 6,
        GeneralName::IPAddress(_) => 7,
        GeneralName::RegisteredID(_) => 8,
        GeneralName::Invalid(..) => 9,
    }
}

/// `nc_match_single`: `Ok(true)` match, `Ok(false)` no match, `Err(n)` an error number.
fn nc_match_single(name: &GeneralName<'_>, base: &GeneralName<'_>) -> Result<bool, u32> {
    match (name, base) {
        (GeneralName::DNSName(d), GeneralName::DNSName(b)) => Ok(nc_dns(d, b)),
        (GeneralName::RFC822Name(e), GeneralName::RFC822Name(b)) => nc_email(e, b),
        (GeneralName::DirectoryName(n), GeneralName::DirectoryName(b)) => {
            let (n, b) = (canon(n), canon(b));
            Ok(b.len() <= n.len() && n[..b.len()] == b[..])
        }
        (GeneralName::URI(u), GeneralName::URI(b)) => nc_uri(u, b),
        (GeneralName::IPAddress(ip), GeneralName::IPAddress(b)) => {
            if b.len() != ip.len() * 2 {
                return Ok(false);
            }
            let (addr, mask) = b.split_at(ip.len());
            Ok(ip
                .iter()
                .zip(addr)
                .zip(mask)
                .all(|((i, a), m)| i & m == a & m))
        }
        _ => Err(err::UNSUPPORTED_CONSTRAINT_TYPE),
    }
}

fn nc_dns(dns: &str, base: &str) -> bool {
    let (d, b) = (dns.as_bytes(), base.as_bytes());
    if b.is_empty() {
        return true;
    }
    if d.len() < b.len() {
        return false;
    }
    let tail = &d[d.len() - b.len()..];
    if d.len() > b.len() && b[0] != b'.' && d[d.len() - b.len() - 1] != b'.' {
        return false;
    }
    tail.eq_ignore_ascii_case(b)
}

fn nc_email(eml: &str, base: &str) -> Result<bool, u32> {
    let Some(emlat) = eml.rfind('@') else {
        return Err(err::UNSUPPORTED_NAME_SYNTAX);
    };
    let baseat = base.rfind('@');
    if baseat.is_none() && base.starts_with('.') {
        return Ok(eml.len() > base.len()
            && eml.as_bytes()[eml.len() - base.len()..].eq_ignore_ascii_case(base.as_bytes()));
    }
    let mut basehost = base;
    if let Some(at) = baseat {
        if at != 0 && base[..at] != eml[..emlat] {
            return Ok(false);
        }
        basehost = &base[at + 1..];
    }
    let emlhost = &eml[emlat + 1..];
    Ok(basehost.eq_ignore_ascii_case(emlhost))
}

fn nc_uri(uri: &str, base: &str) -> Result<bool, u32> {
    let Some(p) = uri.find("://") else {
        return Err(err::UNSUPPORTED_NAME_SYNTAX);
    };
    let rest = &uri[p + 3..];
    let end = rest.find([':', '/']).unwrap_or(rest.len());
    let host = &rest[..end];
    if host.is_empty() {
        return Err(err::UNSUPPORTED_NAME_SYNTAX);
    }
    if base.starts_with('.') {
        return Ok(host.len() > base.len()
            && host.as_bytes()[host.len() - base.len()..].eq_ignore_ascii_case(base.as_bytes()));
    }
    Ok(host.eq_ignore_ascii_case(base))
}

/// `nc_match`: one name against the constraints; `None` when allowed.
fn nc_match(name: &GeneralName<'_>, nc: &NameConstraints<'_>) -> Option<u32> {
    let t = ntype(name);
    let mut state = 0; // 0 no constraint of this type, 1 constrained, 2 matched
    for sub in nc.permitted_subtrees.iter().flatten() {
        if ntype(&sub.base) != t {
            continue;
        }
        if state == 2 {
            continue;
        }
        state = 1;
        match nc_match_single(name, &sub.base) {
            Ok(true) => state = 2,
            Ok(false) => {}
            Err(e) => return Some(e),
        }
    }
    if state == 1 {
        return Some(err::PERMITTED_VIOLATION);
    }
    for sub in nc.excluded_subtrees.iter().flatten() {
        if ntype(&sub.base) != t {
            continue;
        }
        match nc_match_single(name, &sub.base) {
            Ok(true) => return Some(err::EXCLUDED_VIOLATION),
            Ok(false) => {}
            Err(e) => return Some(e),
        }
    }
    None
}

/// `NAME_CONSTRAINTS_check`: the subject DN, its emailAddress attributes, every SAN.
fn nc_check(x: &Cert<'_>, nc: &NameConstraints<'_>) -> Option<u32> {
    let subject = x.x.subject();
    // OpenSSL refuses (X509_V_ERR_UNSPECIFIED) a check of more than 2^20 name × constraint pairs.
    let names = subject.iter_attributes().count() + san_names(x).len();
    let constraints = nc.permitted_subtrees.as_ref().map_or(0, Vec::len)
        + nc.excluded_subtrees.as_ref().map_or(0, Vec::len);
    if names > 0 && constraints > (1 << 20) / names {
        return Some(err::UNSPECIFIED);
    }
    if subject.iter().next().is_some() {
        let dn = GeneralName::DirectoryName(subject.clone());
        if let Some(e) = nc_match(&dn, nc) {
            return Some(e);
        }
        for a in subject.iter_email() {
            let Ok(s) = a.as_str() else {
                return Some(err::UNSUPPORTED_NAME_SYNTAX);
            };
            if let Some(e) = nc_match(&GeneralName::RFC822Name(s), nc) {
                return Some(e);
            }
        }
    }
    for g in san_names(x) {
        if let Some(e) = nc_match(&g, nc) {
            return Some(e);
        }
    }
    None
}

/// `cn2dnsid`: a CN that looks like a DNS name with at least two labels.
fn cn_dns(cn: &str) -> Option<&str> {
    let b = cn.as_bytes();
    let mut is_dns = false;
    for i in 0..b.len() {
        let c = b[i];
        if c.is_ascii_alphanumeric() || c == b'_' {
            continue;
        }
        if i > 0 && i < b.len() - 1 {
            if c == b'-' {
                continue;
            }
            if c == b'.' && b[i + 1] != b'.' && b[i - 1] != b'-' && b[i + 1] != b'-' {
                is_dns = true;
                continue;
            }
        }
        is_dns = false;
        break;
    }
    is_dns.then_some(cn)
}

/// `NAME_CONSTRAINTS_check_CN`: the leaf's CNs that look like host names, as DNS names.
fn nc_check_cn(x: &Cert<'_>, nc: &NameConstraints<'_>) -> Option<u32> {
    for cn in x.x.subject().iter_common_name() {
        let Ok(s) = cn.as_str() else { continue };
        if s.contains('\0') {
            return Some(err::UNSUPPORTED_NAME_SYNTAX);
        }
        if let Some(d) = cn_dns(s) {
            if let Some(e) = nc_match(&GeneralName::DNSName(d), nc) {
                return Some(e);
            }
        }
    }
    None
}

// --- CRLs (crl_check_all) -------------------------------------------------------------------

const SCORE_NOCRITICAL: u32 = 0x100;
const SCORE_SCOPE: u32 = 0x080;
const SCORE_TIME: u32 = 0x040;
const SCORE_ISSUER_NAME: u32 = 0x020;
const SCORE_ISSUER_CERT: u32 = 0x018;
const SCORE_AKID: u32 = 0x004;

/// One CRL as OpenSSL sees it.
struct Crl<'a> {
    x: CertificateRevocationList<'a>,
    akid: Option<Akid>,
    delta: bool,
    indirect: bool,
    reasons: bool,
    idp_invalid: bool,
    /// issuingDistributionPoint: (onlyUser, onlyCA, onlyAttr, its distributionPoint as text).
    idp: Option<(bool, bool, bool, Option<Vec<String>>)>,
    critical: bool,
}

fn dpn_text(d: &DistributionPointName<'_>) -> Vec<String> {
    match d {
        DistributionPointName::FullName(v) => v.iter().map(|g| format!("{g:?}")).collect(),
        DistributionPointName::NameRelativeToCRLIssuer(r) => vec![format!("rdn:{r:?}")],
    }
}

impl<'a> Crl<'a> {
    fn new(der: &'a [u8]) -> Option<Crl<'a>> {
        let (_, x) = CertificateRevocationList::from_der(der).ok()?;
        let mut c = Crl {
            akid: None,
            delta: false,
            indirect: false,
            reasons: false,
            idp_invalid: false,
            idp: None,
            critical: false,
            x,
        };
        let mut akid = None;
        let mut idp = None;
        for e in c.x.tbs_cert_list.extensions() {
            let oid = e.oid.to_id_string();
            if oid == "2.5.29.27" {
                c.delta = true;
            }
            if e.critical && !matches!(oid.as_str(), "2.5.29.28" | "2.5.29.35" | "2.5.29.27") {
                c.critical = true;
            }
            match e.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(a) => akid = Some(akid_of(a)),
                ParsedExtension::IssuingDistributionPoint(i) => {
                    let flags = u8::from(i.only_contains_user_certs)
                        + u8::from(i.only_contains_ca_certs)
                        + u8::from(i.only_contains_attribute_certs);
                    if flags > 1 {
                        c.idp_invalid = true;
                    }
                    c.indirect = i.indirect_crl;
                    c.reasons = i.only_some_reasons.is_some();
                    idp = Some((
                        i.only_contains_user_certs,
                        i.only_contains_ca_certs,
                        i.only_contains_attribute_certs,
                        i.distribution_point.as_ref().map(dpn_text),
                    ));
                }
                ParsedExtension::ParseError { .. } if oid == "2.5.29.28" => c.idp_invalid = true,
                _ => {}
            }
        }
        c.akid = akid;
        c.idp = idp;
        Some(c)
    }

    fn time_ok(&self, at: i64) -> bool {
        self.x.last_update().timestamp() <= at
            && self.x.next_update().is_none_or(|n| at < n.timestamp())
    }
}

fn crl_akid_matches(crl: &Crl<'_>, issuer: &Cert<'_>) -> bool {
    names_equal(issuer.x.subject(), crl.x.issuer()) && check_akid(issuer, crl.akid.as_ref())
}

/// `crl_crldp_check`: is `x` in the CRL's scope?
fn crl_scope(x: &Cert<'_>, crl: &Crl<'_>, score: u32) -> bool {
    if let Some((only_user, only_ca, only_attr, _)) = &crl.idp {
        if *only_attr || (x.ca && *only_user) || (!x.ca && *only_ca) {
            return false;
        }
    }
    for dp in &x.crldp {
        let issuer_ok = match &dp.crl_issuer {
            None => score & SCORE_ISSUER_NAME != 0,
            Some(names) => names.iter().any(
                |g| matches!(g, GeneralName::DirectoryName(n) if names_equal(n, crl.x.issuer())),
            ),
        };
        if issuer_ok {
            let idp_dp = crl.idp.as_ref().and_then(|i| i.3.as_ref());
            match (&dp.distribution_point, idp_dp) {
                (Some(a), Some(b)) if !dpn_text(a).iter().any(|t| b.contains(t)) => {}
                _ => return true,
            }
        }
    }
    crl.idp.as_ref().is_none_or(|i| i.3.is_none()) && score & SCORE_ISSUER_NAME != 0
}

/// `get_crl_score` for CRL `crl` and the certificate at depth `i`.
fn crl_score(chain: &[&Cert<'_>], i: usize, crl: &Crl<'_>, at: i64) -> u32 {
    let x = chain[i];
    if crl.idp_invalid || crl.delta || crl.indirect || crl.reasons {
        return 0;
    }
    let mut score = 0;
    if !names_equal(x.x.issuer(), crl.x.issuer()) {
        return 0;
    }
    score |= SCORE_ISSUER_NAME;
    if !crl.critical {
        score |= SCORE_NOCRITICAL;
    }
    if crl.time_ok(at) {
        score |= SCORE_TIME;
    }
    let cidx = if i + 1 < chain.len() { i + 1 } else { i };
    if crl_akid_matches(crl, chain[cidx]) {
        score |= SCORE_AKID | SCORE_ISSUER_CERT;
    } else if chain[cidx + 1..].iter().any(|c| crl_akid_matches(crl, c)) {
        score |= SCORE_AKID | 0x008;
    } else {
        return 0;
    }
    if crl_scope(x, crl, score) {
        score |= SCORE_SCOPE;
    }
    score
}

/// Why OpenSSL never uses a CRL, whatever the chain (`None`: it may be used).
fn crl_unusable(crl: &Crl<'_>) -> Option<&'static str> {
    if crl.delta {
        Some("a delta CRL: OpenSSL-based gateways do not use delta CRLs (no use_deltas)")
    } else if crl.indirect {
        Some("an indirect CRL: OpenSSL-based gateways need extended CRL support for it")
    } else if crl.reasons {
        Some("a CRL partitioned by reasons (onlySomeReasons): OpenSSL-based gateways need extended CRL support for it")
    } else if crl.idp_invalid {
        Some("its issuingDistributionPoint extension is invalid")
    } else {
        None
    }
}

fn crl_notes(v: &mut Verdict, _chain: &[&Cert<'_>], p: &Params<'_>) {
    for (idx, der) in p.crls.iter().enumerate() {
        match Crl::new(der) {
            None => v.unusable_crls.push(CrlNote {
                index: idx,
                issuer: String::new(),
                reason: "not a CRL OpenSSL can read".into(),
            }),
            Some(c) => {
                if let Some(r) = crl_unusable(&c) {
                    v.unusable_crls.push(CrlNote {
                        index: idx,
                        issuer: fmt_name(c.x.issuer()),
                        reason: r.into(),
                    });
                }
            }
        }
    }
}

fn check_revocation(v: &mut Verdict, chain: &[&Cert<'_>], p: &Params<'_>) {
    crl_notes(v, chain, p);
    let crls: Vec<(usize, Crl<'_>)> = p
        .crls
        .iter()
        .enumerate()
        .filter_map(|(i, d)| Crl::new(d).map(|c| (i, c)))
        .collect();
    let num = chain.len();
    for i in 0..num {
        let x = chain[i];
        if x.self_signed {
            continue;
        }
        // get_crl_sk: best score, the newest of equal scores.
        let mut best: Option<(u32, &(usize, Crl<'_>))> = None;
        for c in &crls {
            let s = crl_score(chain, i, &c.1, p.at);
            if s == 0 {
                continue;
            }
            match &best {
                Some((bs, b)) if s < *bs => {
                    let _ = b;
                    continue;
                }
                Some((bs, b))
                    if s == *bs
                        && c.1.x.last_update().timestamp() <= b.1.x.last_update().timestamp() =>
                {
                    continue;
                }
                _ => best = Some((s, c)),
            }
        }
        let push = |v: &mut Verdict, num: u32, crl: Option<usize>| {
            v.errors.push(OsslError {
                num,
                depth: i,
                subject: x.subject(),
                issuer: fmt_name(x.x.issuer()),
                crl,
            })
        };
        let Some((score, (idx, crl))) = best else {
            push(v, err::UNABLE_TO_GET_CRL, None);
            continue;
        };
        let idx = Some(*idx);
        // check_crl
        let issuer = if i + 1 < num { chain[i + 1] } else { chain[i] };
        if i + 1 >= num && !likely_issued(issuer, issuer) {
            push(v, err::UNABLE_TO_GET_CRL_ISSUER, idx);
        }
        if issuer.ku.is_some_and(|k| k & KU_CRL_SIGN == 0) {
            push(v, err::KEYUSAGE_NO_CRL_SIGN, idx);
        }
        if score & SCORE_SCOPE == 0 {
            push(v, err::DIFFERENT_CRL_SCOPE, idx);
        }
        if crl.idp_invalid {
            push(v, err::INVALID_EXTENSION, idx);
        }
        if score & SCORE_TIME == 0 {
            if p.at < crl.x.last_update().timestamp() {
                push(v, err::CRL_NOT_YET_VALID, idx);
            } else {
                push(v, err::CRL_HAS_EXPIRED, idx);
            }
        }
        if !verify_signature(
            issuer.x.public_key(),
            &crl.x.signature_algorithm,
            &crl.x.signature_value,
            crl.x.tbs_cert_list.as_ref(),
        ) {
            push(v, err::CRL_SIGNATURE_FAILURE, idx);
        }
        // cert_crl
        if crl.critical {
            push(v, err::UNHANDLED_CRITICAL_CRL_EXTENSION, idx);
        }
        let serial = strip_int(x.x.raw_serial());
        if let Some(rc) = crl
            .x
            .iter_revoked_certificates()
            .find(|rc| strip_int(rc.raw_serial()) == serial)
        {
            if rc.reason_code().map(|(_, r)| r.0) != Some(8) {
                push(v, err::CERT_REVOKED, idx);
            }
        }
    }
}

/// A signature check as OpenSSL does it at its default level: x509-parser's (ring) algorithms,
/// plus RSA keys of 1024 bits and more with SHA-256/384/512 (ring's legacy verifiers).
fn verify_signature(
    spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>,
    alg: &x509_parser::x509::AlgorithmIdentifier<'_>,
    sig: &x509_parser::der_parser::asn1_rs::BitString<'_>,
    raw: &[u8],
) -> bool {
    if x509_parser::verify::verify_signature(spki, alg, sig, raw).is_ok() {
        return true;
    }
    let legacy: &dyn ring::signature::VerificationAlgorithm = match alg
        .algorithm
        .to_id_string()
        .as_str()
    {
        "1.2.840.113549.1.1.11" => &ring::signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
        "1.2.840.113549.1.1.13" => &ring::signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
        _ => return false,
    };
    ring::signature::UnparsedPublicKey::new(legacy, &spki.subject_public_key.data)
        .verify(raw, &sig.data)
        .is_ok()
}

// --- warnings where the two families differ (used by the rustls verdict) -------------------

use super::model::{common_name, is_self_issued, parse, sans_text};
use x509_parser::certificate::X509Certificate as Cert509;

pub(super) fn gateway_warnings(
    input: &Input,
    leaf: &Cert509<'_>,
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
