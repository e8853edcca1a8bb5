//! Certificate signing requests: making one (`csr`, the key never leaves the host) and signing
//! one (`sign`).
//!
//! Signing never uses rcgen's `CertificateSigningRequestParams` (it takes the key type from the
//! CSR's *signature* algorithm, so a P-384 key in a SHA-256-signed CSR yields a corrupt
//! certificate, and it copies a requested CA:TRUE). Instead the CSR is parsed with x509-parser,
//! its self-signature verified, and only the public key, the subject CN and the SANs are taken;
//! the profile decides every extension. Signing then goes through [`Ca::issue_leaf`].

use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, DistinguishedName, DnType};
use time::OffsetDateTime;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use crate::ca::{Ca, Issued, LeafKey, LeafRequest, LEAF_DAYS};
use crate::error::{Error, Result};
use crate::files::{FileSet, Written};
use crate::keys::{self, KeyType};
use crate::names::San;
use crate::profile::{self, Profile};

/// Largest CSR file read.
const MAX_CSR: u64 = 1024 * 1024;

/// Options of `csr`.
#[derive(Debug, Clone)]
pub struct CsrOptions {
    /// Subject CN.
    pub cn: String,
    /// SANs as typed.
    pub sans: Vec<String>,
    /// Key type.
    pub key_type: KeyType,
    /// STEM.csr and STEM.key.
    pub stem: PathBuf,
    /// Back up and replace existing files.
    pub force: bool,
}

/// What `csr` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CsrMade {
    /// The CSR file.
    pub csr: PathBuf,
    /// The private key file (0600).
    pub key: PathBuf,
    /// Subject CN.
    pub cn: String,
    /// SANs.
    pub sans: Vec<String>,
    /// Key type.
    pub key_type: KeyType,
    /// Everything written.
    #[serde(skip)]
    pub written: Vec<Written>,
}

/// Makes a key and a CSR for it: STEM.key (0600, PKCS#8) and STEM.csr.
pub fn make(opts: &CsrOptions) -> Result<CsrMade> {
    profile::check_cn(&opts.cn)?;
    let sans = crate::names::parse_all(&opts.sans)?;
    let csr_path = crate::ca::with_ext(&opts.stem, "csr");
    let key_path = crate::ca::with_ext(&opts.stem, "key");
    for p in [&csr_path, &key_path] {
        if !opts.force && std::fs::symlink_metadata(p).is_ok() {
            return Err(Error::FileExists { path: p.clone() });
        }
    }
    let key = keys::generate(opts.key_type)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, opts.cn.as_str());
    params.distinguished_name = dn;
    params.subject_alt_names = sans.iter().map(San::to_rcgen).collect::<Result<Vec<_>>>()?;
    let csr = params.serialize_request(&key)?;
    let mut fs = FileSet::new();
    fs.private(
        &key_path,
        zeroize::Zeroizing::new(keys::to_pkcs8_pem(&key).as_bytes().to_vec()),
    );
    fs.public(
        &csr_path,
        crate::pem::encode("CERTIFICATE REQUEST", csr.der()),
    );
    let written = fs.commit(opts.force)?;
    Ok(CsrMade {
        csr: csr_path,
        key: key_path,
        cn: opts.cn.clone(),
        sans: sans.iter().map(San::to_string).collect(),
        key_type: opts.key_type,
        written,
    })
}

/// What a verified CSR asks for.
#[derive(Debug, Clone)]
pub struct CsrInfo {
    /// The subject CN, if any.
    pub cn: Option<String>,
    /// The subject's C/ST/L/O/OU attributes (used when signing a CA).
    pub subject: crate::subject::Subject,
    /// Requested SANs (validated).
    pub sans: Vec<San>,
    /// The SubjectPublicKeyInfo, DER.
    pub spki: Vec<u8>,
    /// The key type.
    pub key_type: KeyType,
    /// Things that were asked for and will not be honoured.
    pub ignored: Vec<String>,
}

/// Parses a CSR (PEM or DER), verifies its signature and reads what it asks for.
pub fn parse(bytes: &[u8], path: &Path) -> Result<CsrInfo> {
    let der = if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        let blocks = crate::pem::parse_all(bytes, path)?;
        blocks
            .into_iter()
            .find(|b| b.label == "CERTIFICATE REQUEST" || b.label == "NEW CERTIFICATE REQUEST")
            .ok_or_else(|| {
                Error::bad_file(
                    path,
                    "no CERTIFICATE REQUEST block in this PEM file",
                    "give a CSR (-----BEGIN CERTIFICATE REQUEST-----), e.g. from `mtls-ca csr` or `openssl req -new`",
                )
            })?
            .der
    } else {
        bytes.to_vec()
    };
    let bad = |reason: String| {
        Error::bad_file(
            path,
            reason,
            "make a new CSR: mtls-ca csr --cn NAME, or openssl req -new -key KEY -subj /CN=NAME",
        )
    };
    let csr = match X509CertificationRequest::from_der(&der) {
        Ok(([], c)) => c,
        Ok(_) => return Err(bad("trailing bytes after the CSR".into())),
        Err(e) => return Err(bad(format!("not a valid CSR ({e})"))),
    };
    let sig_oid = csr.signature_algorithm.algorithm.to_id_string();
    if matches!(
        sig_oid.as_str(),
        "1.2.840.113549.1.1.5" | "1.3.14.3.2.29" | "1.2.840.113549.1.1.4" | "1.2.840.10045.4.1"
    ) {
        return Err(bad(
            "the CSR is signed with SHA-1 or MD5, which are refused".into(),
        ));
    }
    let info = &csr.certification_request_info;
    let spki = info.subject_pki.raw.to_vec();
    // An unsupported key is refused as such, before a signature check that could not succeed.
    let key_type = spki_key_type(&spki).map_err(bad)?;
    csr.verify_signature().map_err(|e| {
        bad(format!(
            "the CSR's signature does not verify ({e}): it was altered or is damaged"
        ))
    })?;
    let cn = info
        .subject
        .iter_common_name()
        .next()
        .map(|a| {
            a.as_str()
                .map(str::to_string)
                .map_err(|_| bad("the subject CN is not a string".into()))
        })
        .transpose()?;
    let mut sans = Vec::new();
    let mut ignored = Vec::new();
    if let Some(exts) = csr.requested_extensions() {
        for e in exts {
            match e {
                ParsedExtension::SubjectAlternativeName(san) => {
                    for n in &san.general_names {
                        // Each SAN keeps the type the CSR gave it.
                        let typed = match n {
                            GeneralName::DNSName(v) => San::typed("dns", v),
                            GeneralName::RFC822Name(v) => San::typed("email", v),
                            GeneralName::URI(v) => San::typed("uri", v),
                            GeneralName::IPAddress(b) => match crate::x509::ip_from_bytes(b) {
                                Some(ip) => Ok(San::Ip(ip)),
                                None => {
                                    return Err(bad("a SAN holds a malformed IP address".into()))
                                }
                            },
                            other => {
                                ignored.push(format!("SAN {other} (unsupported type)"));
                                continue;
                            }
                        };
                        let s = typed.map_err(|e| {
                            bad(format!("the CSR requests an unacceptable SAN: {e}"))
                        })?;
                        if !sans.contains(&s) {
                            sans.push(s);
                        }
                    }
                }
                ParsedExtension::BasicConstraints(bc) if bc.ca => {
                    ignored.push("basicConstraints CA:TRUE (a CSR gets a leaf, CA:FALSE)".into())
                }
                ParsedExtension::BasicConstraints(_) => {}
                ParsedExtension::KeyUsage(_) => {
                    ignored.push("keyUsage (the profile decides)".into())
                }
                ParsedExtension::ExtendedKeyUsage(_) => {
                    ignored.push("extendedKeyUsage (the profile decides)".into())
                }
                _ => ignored.push("an extension (the profile decides every extension)".into()),
            }
        }
    }
    ignored.dedup();
    Ok(CsrInfo {
        subject: crate::subject::Subject::from_name(&info.subject),
        cn,
        sans,
        spki,
        key_type,
        ignored,
    })
}

/// The key type of a SubjectPublicKeyInfo, or why it is refused.
pub fn spki_key_type(spki: &[u8]) -> std::result::Result<KeyType, String> {
    use x509_parser::public_key::PublicKey;
    let (_, p) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki)
        .map_err(|e| format!("bad public key ({e})"))?;
    let alg = p.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        "1.2.840.10045.2.1" => {
            let curve = p
                .algorithm
                .parameters
                .as_ref()
                .and_then(|a| a.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            match curve.as_str() {
                "1.2.840.10045.3.1.7" => Ok(KeyType::EcdsaP256),
                "1.3.132.0.34" => Ok(KeyType::EcdsaP384),
                "1.3.132.0.35" => {
                    Err("unsupported key: P-521 (ring cannot use it); use P-256 or P-384".into())
                }
                other => Err(format!(
                    "unsupported elliptic curve {other}; use P-256 or P-384"
                )),
            }
        }
        "1.3.101.112" => Ok(KeyType::Ed25519),
        "1.2.840.113549.1.1.1" => match p.parsed() {
            Ok(PublicKey::RSA(r)) => match rsa_bits(r.modulus) {
                2048 => Ok(KeyType::Rsa2048),
                3072 => Ok(KeyType::Rsa3072),
                4096 => Ok(KeyType::Rsa4096),
                n if n < 2048 => Err(format!(
                    "unsupported key: RSA {n} bits is too weak (2048 at least)"
                )),
                n => Err(format!(
                    "unsupported key: RSA {n} bits (use 2048, 3072 or 4096)"
                )),
            },
            _ => Err("bad RSA public key".into()),
        },
        "1.3.101.113" => {
            Err("unsupported key: Ed448; use Ed25519, ECDSA P-256/P-384 or RSA".into())
        }
        "1.2.840.10040.4.1" => {
            Err("unsupported key: DSA; use ECDSA P-256/P-384, Ed25519 or RSA".into())
        }
        "1.3.101.110" | "1.3.101.111" => Err(
            "unsupported key: X25519/X448 cannot sign; use Ed25519, ECDSA P-256/P-384 or RSA"
                .into(),
        ),
        "1.2.840.113549.1.1.10" => {
            Err("unsupported key: RSA-PSS keys; use a plain RSA (rsaEncryption) key".into())
        }
        other => Err(format!(
            "unsupported key algorithm {other}; use ECDSA P-256/P-384, Ed25519 or RSA 2048-4096"
        )),
    }
}

/// The exact size in bits of an RSA modulus (big-endian, possibly with leading zero bytes).
pub fn rsa_bits(modulus: &[u8]) -> usize {
    let m: &[u8] = match modulus.iter().position(|b| *b != 0) {
        Some(i) => &modulus[i..],
        None => return 0,
    };
    m.len() * 8 - m[0].leading_zeros() as usize
}

/// Options of `sign`.
#[derive(Debug, Clone)]
pub struct SignOptions {
    /// The CSR file.
    pub csr: PathBuf,
    /// server or client.
    pub profile: Profile,
    /// Approved SANs: when given, only requested SANs in this list are kept.
    pub sans: Vec<String>,
    /// Validity in days.
    pub days: Option<u32>,
    /// Validity as a duration (`--valid 30m`); wins over `days`.
    pub valid: Option<time::Duration>,
    /// Output stem (default: the CSR path without `.csr`).
    pub stem: Option<PathBuf>,
    /// Back up and replace existing files.
    pub force: bool,
    /// Permit server certificates above 825 days.
    pub allow_long_validity: bool,
}

/// Signs a CSR: STEM.crt and STEM.fullchain.crt (no key: it stays with the requester).
pub fn sign(ca: &mut Ca, opts: &SignOptions, now: OffsetDateTime) -> Result<Issued> {
    sign_with(ca, opts, None, now)
}

/// [`sign`] with a profile from `profiles.toml` (`opts.profile` is replaced by its kind): its
/// policy covers the CSR's CN and SANs, its key types the CSR's key.
pub fn sign_with(
    ca: &mut Ca,
    opts: &SignOptions,
    file_profile: Option<&crate::pki::leaf_profile::FileProfile>,
    now: OffsetDateTime,
) -> Result<Issued> {
    let mut opts = opts.clone();
    if let Some(f) = file_profile {
        opts.profile = f.kind;
    }
    let opts = &opts;
    if !opts.profile.is_leaf() {
        return Err(Error::invalid(
            "--profile",
            opts.profile.as_str(),
            "a CSR is signed as a leaf",
            "use --profile server, client or server-client",
        ));
    }
    let bytes = crate::files::read_limited(&opts.csr, MAX_CSR)?;
    let info = parse(&bytes, &opts.csr)?;
    let mut warnings: Vec<String> = info
        .ignored
        .iter()
        .map(|i| format!("the CSR asked for {i}: ignored"))
        .collect();
    let mut sans = info.sans.clone();
    // Approved names compared as text, so that any SAN type (urn: URIs too) can be approved.
    let approved: Vec<String> = opts
        .sans
        .iter()
        .map(|v| San::parse(v).map_or_else(|_| v.trim().to_string(), |s| s.to_string()))
        .collect();
    let is_approved = |s: &str| approved.iter().any(|a| a.eq_ignore_ascii_case(s));
    if !opts.sans.is_empty() {
        let (keep, dropped): (Vec<San>, Vec<San>) =
            sans.into_iter().partition(|s| is_approved(&s.to_string()));
        for d in dropped {
            warnings.push(format!("requested SAN {d} is not in --san: left out"));
        }
        sans = keep;
    }
    let cn = match (&info.cn, opts.profile) {
        (Some(cn), _) => cn.clone(),
        (None, p) if p.is_server() => sans
            .iter()
            .find(|s| matches!(s, San::Dns(_) | San::Ip(_)))
            .map(San::to_string)
            .ok_or_else(|| {
                Error::bad_file(
                    &opts.csr,
                    "the CSR has neither a CN nor a DNS/IP SAN",
                    "make the CSR with a CN: mtls-ca csr --cn HOST",
                )
            })?,
        (None, _) => sans.first().map(San::to_string).ok_or_else(|| {
            Error::bad_file(
                &opts.csr,
                "the CSR has neither a CN nor a SAN: no identity to certify",
                "make the CSR with a CN: mtls-ca csr --cn NAME",
            )
        })?,
    };
    profile::check_cn(&cn).map_err(|e| {
        Error::bad_file(
            &opts.csr,
            format!("unacceptable subject CN: {e}"),
            "make a new CSR with a short CN",
        )
    })?;
    let (cn, sans) = match opts.profile {
        p if p.is_server() => {
            let sans = profile::server_sans(&cn, sans).map_err(|_| {
                Error::bad_file(
                    &opts.csr,
                    format!("the CSR's CN {cn:?} is not a DNS name or IP address, as a server's must be"),
                    "make the CSR with --cn HOST, or sign it with --profile client",
                )
            })?;
            if !opts.sans.is_empty() && !is_approved(&sans[0].to_string()) {
                return Err(Error::invalid(
                    "--san",
                    opts.sans.join(","),
                    format!("the CSR's CN {} is not among the approved names", sans[0]),
                    "add it with --san, or ask for a CSR with another CN",
                ));
            }
            (sans[0].to_string(), sans)
        }
        _ => {
            // The approval covers the subject too: a client CSR with CN=admin signed with
            // `--san alice@example.com` must not come out as CN=admin.
            if !opts.sans.is_empty() && !is_approved(&cn) {
                return Err(Error::invalid(
                    "--san",
                    opts.sans.join(","),
                    format!("the CSR's subject CN {cn:?} is not among the approved names"),
                    format!("approve it with --san {cn:?}, or ask for a CSR with an approved CN"),
                ));
            }
            (cn, sans)
        }
    };
    crate::ca::check_leaf_days(
        opts.profile,
        opts.days,
        opts.allow_long_validity,
        &mut warnings,
    )?;
    let stem = opts.stem.clone().unwrap_or_else(|| default_stem(&opts.csr));
    ca.issue_leaf_with(
        LeafRequest {
            profile: opts.profile,
            cn,
            subject: Default::default(),
            sans,
            days: opts.days,
            valid: opts.valid,
            default_days: LEAF_DAYS,
            stem,
            force: opts.force,
            renews: None,
            warnings,
        },
        LeafKey::Public {
            spki: info.spki,
            key_type: info.key_type,
        },
        now,
        file_profile,
    )
}

/// `dir/name.csr` → `dir/name`.
fn default_stem(csr: &Path) -> PathBuf {
    match csr.extension().and_then(|e| e.to_str()) {
        Some("csr") | Some("req") | Some("pem") => csr.with_extension(""),
        _ => csr.to_path_buf(),
    }
}
