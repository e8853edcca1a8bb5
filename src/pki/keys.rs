//! Private keys: the supported key types, generation, and loading of every format openssl writes.
//!
//! All signing goes through ring (via rcgen's [`KeyPair`]). ring cannot generate RSA keys nor read
//! SEC1 (`EC PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`) files, so RSA keys are generated with the
//! `rsa` crate and the legacy formats are re-wrapped as PKCS#8 with the RustCrypto `der` types
//! before ring sees them. Keys are always written as unencrypted PKCS#8 PEM (see `files.rs` for
//! the 0600 mode).

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use pkcs8::der::{asn1::OctetString, Any, Decode, Encode};
use pkcs8::spki::AlgorithmIdentifierOwned;
use pkcs8::ObjectIdentifier;
use rcgen::{KeyPair, PublicKeyData};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The key types mtls-ca issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyType {
    /// ECDSA on P-256 with SHA-256 (the default: small, fast, accepted everywhere).
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384,
    /// Ed25519 (not accepted by AWS API Gateway nor by most browsers).
    Ed25519,
    /// RSA 2048 bits, PKCS#1 v1.5 with SHA-256.
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    /// RSA 3072 bits.
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    /// RSA 4096 bits.
    #[serde(rename = "rsa-4096")]
    Rsa4096,
}

impl KeyType {
    /// Every key type, in the order `--help` lists them.
    pub const ALL: [KeyType; 6] = [
        KeyType::EcdsaP256,
        KeyType::EcdsaP384,
        KeyType::Ed25519,
        KeyType::Rsa2048,
        KeyType::Rsa3072,
        KeyType::Rsa4096,
    ];

    /// The name used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
            KeyType::Ed25519 => "ed25519",
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
            KeyType::Rsa4096 => "rsa-4096",
        }
    }

    /// True for the RSA types (they get keyEncipherment in server certificates).
    pub fn is_rsa(self) -> bool {
        matches!(self, KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096)
    }

    fn rsa_bits(self) -> Option<usize> {
        match self {
            KeyType::Rsa2048 => Some(2048),
            KeyType::Rsa3072 => Some(3072),
            KeyType::Rsa4096 => Some(4096),
            _ => None,
        }
    }

    /// The rcgen signature algorithm a key of this type signs with.
    pub fn signature_algorithm(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            KeyType::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyType::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyType::Ed25519 => &rcgen::PKCS_ED25519,
            _ => &rcgen::PKCS_RSA_SHA256,
        }
    }

    /// The key type of a loaded key pair, RSA sizes taken from the modulus.
    pub fn of(key: &KeyPair) -> Result<KeyType> {
        let alg = key.algorithm();
        if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
            Ok(KeyType::EcdsaP256)
        } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
            Ok(KeyType::EcdsaP384)
        } else if alg == &rcgen::PKCS_ED25519 {
            Ok(KeyType::Ed25519)
        } else {
            let bits = rsa_modulus_bits(&key.subject_public_key_info()).unwrap_or(0);
            match bits {
                2048 => Ok(KeyType::Rsa2048),
                3072 => Ok(KeyType::Rsa3072),
                4096 => Ok(KeyType::Rsa4096),
                other => Err(Error::Crypto(format!(
                    "unsupported RSA key size {other} bits (use 2048, 3072 or 4096)"
                ))),
            }
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        let kt = match norm.as_str() {
            "ecdsa-p256" | "p256" | "p-256" | "ec" | "ecdsa" | "ec-p256" => KeyType::EcdsaP256,
            "ecdsa-p384" | "p384" | "p-384" | "ec-p384" => KeyType::EcdsaP384,
            "ed25519" => KeyType::Ed25519,
            "rsa-2048" | "rsa2048" | "rsa" => KeyType::Rsa2048,
            "rsa-3072" | "rsa3072" => KeyType::Rsa3072,
            "rsa-4096" | "rsa4096" => KeyType::Rsa4096,
            _ => {
                let reason = if let Some(bits) = norm
                    .strip_prefix("rsa-")
                    .or_else(|| norm.strip_prefix("rsa"))
                    .and_then(|b| b.parse::<u32>().ok())
                {
                    if bits < 2048 {
                        format!("RSA keys below 2048 bits are insecure ({bits} given)")
                    } else {
                        format!("RSA-{bits} is not supported")
                    }
                } else if norm.contains("521") {
                    "P-521 is not supported by the ring crypto backend".into()
                } else {
                    "unknown key type".into()
                };
                return Err(Error::invalid(
                    "--key-type",
                    s,
                    reason,
                    "use one of: ecdsa-p256 (default), ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096",
                ));
            }
        };
        Ok(kt)
    }
}

/// Generates a new key pair of the given type from the OS CSPRNG.
pub fn generate(kt: KeyType) -> Result<KeyPair> {
    match kt.rsa_bits() {
        None => Ok(KeyPair::generate_for(kt.signature_algorithm())?),
        Some(bits) => {
            use rsa::pkcs8::EncodePrivateKey;
            let key = rsa::PrivateKey::new(&mut getrandom::SysRng, bits)
                .map_err(|e| Error::Crypto(format!("RSA key generation: {e}")))?;
            let doc = key
                .to_pkcs8_der()
                .map_err(|e| Error::Crypto(format!("RSA key encoding: {e}")))?;
            let der = rustls_pki_types::PrivatePkcs8KeyDer::from(doc.as_bytes());
            Ok(KeyPair::from_pkcs8_der_and_sign_algo(
                &der,
                &rcgen::PKCS_RSA_SHA256,
            )?)
        }
    }
}

/// The PKCS#8 PEM text of a key, in a buffer that is wiped when dropped.
///
/// Ed25519 keys are written as PKCS#8 v1 (no embedded public key): ring produces v2, which
/// OpenSSL 3.0 (and so nginx, HAProxy, curl linked to it) cannot read. ring loads v1 too.
pub fn to_pkcs8_pem(key: &KeyPair) -> Zeroizing<String> {
    if key.algorithm() == &rcgen::PKCS_ED25519 {
        let der = Zeroizing::new(key.serialize_der());
        if let Ok(mut info) = pkcs8::PrivateKeyInfoRef::try_from(der.as_slice()) {
            info.public_key = None;
            if let Ok(v1) = info.to_der() {
                let v1 = Zeroizing::new(v1);
                return Zeroizing::new(crate::pem::encode("PRIVATE KEY", &v1));
            }
        }
    }
    Zeroizing::new(key.serialize_pem())
}

const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Loads a private key from PEM (PKCS#8, SEC1 `EC PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`) or
/// DER (PKCS#8). `path` only names the file in errors.
pub fn load_private_key(bytes: &[u8], path: &Path) -> Result<KeyPair> {
    load_private_key_with(bytes, path, None)
}

/// Like [`load_private_key`], and decrypts `ENCRYPTED PRIVATE KEY` (PBES2) with `passphrase`.
pub fn load_private_key_with(
    bytes: &[u8],
    path: &Path,
    passphrase: Option<&crate::secret::Passphrase>,
) -> Result<KeyPair> {
    let not_a_key = |reason: &str| {
        Error::bad_file(
            path,
            reason.to_string(),
            "give a private key file in PEM (PKCS#8, SEC1 or PKCS#1) or DER PKCS#8 form",
        )
    };
    if bytes.windows(10).any(|w| w == b"Proc-Type:") {
        return Err(crate::keycrypt::legacy_encryption(path));
    }
    let pkcs8: Zeroizing<Vec<u8>> = if looks_like_pem(bytes) {
        let blocks = crate::pem::parse_all(bytes, path)?;
        let block = blocks
            .iter()
            .find(|b| b.label.ends_with("PRIVATE KEY"))
            .ok_or_else(|| {
                not_a_key(&format!(
                    "no private key in this PEM file (found: {})",
                    crate::pem::labels(&blocks)
                ))
            })?;
        match block.label.as_str() {
            "PRIVATE KEY" => Zeroizing::new(block.der.clone()),
            "EC PRIVATE KEY" => sec1_to_pkcs8(&block.der).map_err(|r| not_a_key(&r))?,
            "RSA PRIVATE KEY" => rsa_pkcs1_to_pkcs8(&block.der).map_err(|r| not_a_key(&r))?,
            "ENCRYPTED PRIVATE KEY" => match passphrase {
                Some(p) => crate::keycrypt::decrypt_pkcs8(&block.der, p, path)?,
                None => return Err(crate::keycrypt::needs_passphrase(path)),
            },
            other => return Err(not_a_key(&format!("unsupported key format {other:?}"))),
        }
    } else {
        Zeroizing::new(bytes.to_vec())
    };
    let der = rustls_pki_types::PrivateKeyDer::Pkcs8(pkcs8.as_slice().into());
    KeyPair::try_from(&der).map_err(|e| {
        not_a_key(&format!(
            "not a usable private key ({e}); supported: ECDSA P-256/P-384, Ed25519, RSA 2048-4096"
        ))
    })
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Wraps a SEC1 ECPrivateKey in a PKCS#8 PrivateKeyInfo, taking the curve from its parameters.
fn sec1_to_pkcs8(der: &[u8]) -> std::result::Result<Zeroizing<Vec<u8>>, String> {
    let ec = sec1::EcPrivateKey::from_der(der).map_err(|e| format!("bad EC private key: {e}"))?;
    let curve = ec
        .parameters
        .and_then(|p| p.named_curve())
        .ok_or("EC private key without a named curve")?;
    if ec.public_key.is_none() {
        return Err("EC private key without its public key (re-export it with openssl)".into());
    }
    wrap_pkcs8(OID_EC_PUBLIC_KEY, Some(Any::from(&curve)), der)
}

/// Wraps a PKCS#1 RSAPrivateKey in a PKCS#8 PrivateKeyInfo.
fn rsa_pkcs1_to_pkcs8(der: &[u8]) -> std::result::Result<Zeroizing<Vec<u8>>, String> {
    pkcs1::RsaPrivateKeyRef::from_der(der).map_err(|e| format!("bad RSA private key: {e}"))?;
    wrap_pkcs8(OID_RSA_ENCRYPTION, Some(Any::null()), der)
}

fn wrap_pkcs8(
    oid: ObjectIdentifier,
    parameters: Option<Any>,
    inner: &[u8],
) -> std::result::Result<Zeroizing<Vec<u8>>, String> {
    let alg = AlgorithmIdentifierOwned { oid, parameters };
    let inner = OctetString::new(inner.to_vec()).map_err(|e| e.to_string())?;
    let info = pkcs8::PrivateKeyInfoOwned::new(alg, inner);
    info.to_der().map(Zeroizing::new).map_err(|e| e.to_string())
}

/// The modulus size of an RSA SubjectPublicKeyInfo, if it is one.
pub fn rsa_modulus_bits(spki_der: &[u8]) -> Option<usize> {
    use x509_parser::prelude::FromDer;
    use x509_parser::public_key::PublicKey;
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki_der).ok()?;
    match spki.parsed().ok()? {
        PublicKey::RSA(rsa) => Some(rsa.key_size()),
        _ => None,
    }
}
