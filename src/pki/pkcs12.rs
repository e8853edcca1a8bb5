//! PKCS#12 (`.p12`) files: a client's key, certificate and chain in one passphrase-protected file.
//!
//! Two profiles, both written with the `p12-keystore` crate:
//! - [`P12Profile::Modern`] (default): PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC for the key
//!   and the certificates, HMAC-SHA256 MAC. OpenSSL 3, Java ≥ 8u301/11.0.12, Node, Python.
//! - [`P12Profile::Legacy`]: pbeWithSHAAnd3-KeyTripleDES-CBC for key and certificates, SHA-1 MAC,
//!   for macOS Keychain and old Java. Never RC2-40 (`p12-keystore`'s `PbeWithShaAnd40BitRc4Cbc`
//!   selects RC2-40 and is never used here).
//!
//! The leaf carries friendlyName (the alias) and localKeyID (SHA-1 of the leaf, as OpenSSL does);
//! the chain follows the leaf, root last. A passphrase is mandatory. Java truststores (certificates
//! only, marked trusted for any purpose) are written by [`truststore`].

use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, Pkcs12ImportPolicy,
    PrivateKey, PrivateKeyChain,
};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Iteration count of the modern profile (PBKDF2-SHA256, and the MAC).
pub const MODERN_ITERATIONS: u32 = 100_000;
/// Iteration count of the legacy profile (what OpenSSL and Java use for 3DES files).
pub const LEGACY_ITERATIONS: u32 = 10_000;

/// Which algorithms protect the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum P12Profile {
    /// PBES2/PBKDF2-SHA256/AES-256-CBC, HMAC-SHA256 MAC.
    #[default]
    Modern,
    /// PBE-SHA1-3DES, HMAC-SHA1 MAC.
    Legacy,
}

impl P12Profile {
    /// `modern` or `legacy`.
    pub fn as_str(self) -> &'static str {
        match self {
            P12Profile::Modern => "modern",
            P12Profile::Legacy => "legacy",
        }
    }

    /// A one-line description of the algorithms.
    pub fn describe(self) -> &'static str {
        match self {
            P12Profile::Modern => "PBES2/PBKDF2-SHA256/AES-256-CBC, HMAC-SHA256 MAC",
            P12Profile::Legacy => "PBE-SHA1-3DES, HMAC-SHA1 MAC",
        }
    }

    fn algorithms(self) -> (EncryptionAlgorithm, MacAlgorithm, u32) {
        match self {
            P12Profile::Modern => (
                EncryptionAlgorithm::PbeWithHmacSha256AndAes256,
                MacAlgorithm::HmacSha256,
                MODERN_ITERATIONS,
            ),
            P12Profile::Legacy => (
                EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc,
                MacAlgorithm::HmacSha1,
                LEGACY_ITERATIONS,
            ),
        }
    }
}

/// Checks a PKCS#12 passphrase: not empty, no NUL, printable enough for every reader.
pub fn check_passphrase(pass: &str) -> Result<()> {
    if pass.is_empty() {
        return Err(Error::invalid(
            "passphrase",
            "",
            "a PKCS#12 file needs a passphrase",
            "give one with --passphrase-file FILE or --passphrase-env VAR (or type it at the prompt)",
        ));
    }
    if pass.chars().any(|c| c == '\0') {
        return Err(Error::invalid(
            "passphrase",
            "<hidden>",
            "contains a NUL character",
            "use a passphrase without control characters",
        ));
    }
    Ok(())
}

/// Builds a PKCS#12 file holding `key_pkcs8` (DER), `leaf` and `chain` (intermediates then root,
/// DER), the leaf named `alias`. The result is wiped from memory when dropped.
pub fn build(
    leaf: &[u8],
    chain: &[Vec<u8>],
    key_pkcs8: &[u8],
    alias: &str,
    passphrase: &str,
    profile: P12Profile,
) -> Result<Zeroizing<Vec<u8>>> {
    check_passphrase(passphrase)?;
    let fail = |e: p12_keystore::error::Error| Error::Crypto(format!("PKCS#12: {e}"));
    let mut certs = vec![Certificate::from_der(leaf).map_err(fail)?];
    for c in chain {
        certs.push(Certificate::from_der(c).map_err(fail)?);
    }
    let key = PrivateKey::from_der(key_pkcs8).map_err(fail)?;
    let local_key_id = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, leaf)
        .as_ref()
        .to_vec();
    let mut ks = KeyStore::new();
    ks.add_entry(
        alias,
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(local_key_id, key, certs)),
    );
    write(&ks, passphrase, profile)
}

/// Builds a Java truststore: a PKCS#12 file with only certificates, each marked trusted for any
/// purpose (Oracle's trusted-key-usage attribute), named by `alias`.
pub fn truststore(
    certs: &[(String, Vec<u8>)],
    passphrase: &str,
    profile: P12Profile,
) -> Result<Zeroizing<Vec<u8>>> {
    check_passphrase(passphrase)?;
    let mut ks = KeyStore::new();
    for (alias, der) in certs {
        let c = Certificate::from_der(der)
            .map_err(|e| Error::Crypto(format!("PKCS#12 certificate: {e}")))?;
        ks.add_entry(alias, KeyStoreEntry::Certificate(c));
    }
    write(&ks, passphrase, profile)
}

fn write(ks: &KeyStore, passphrase: &str, profile: P12Profile) -> Result<Zeroizing<Vec<u8>>> {
    let (enc, mac, iterations) = profile.algorithms();
    let bytes = ks
        .writer(passphrase)
        .encryption_algorithm(enc)
        .encryption_iterations(iterations)
        .mac_algorithm(mac)
        .mac_iterations(iterations)
        .write()
        .map_err(|e| Error::Crypto(format!("PKCS#12 encoding: {e}")))?;
    Ok(Zeroizing::new(bytes))
}

/// Reads a PKCS#12 file back (checks the MAC with `passphrase`) and returns the number of
/// certificates in its key entry's chain: the self-check after writing.
pub fn check(bytes: &[u8], passphrase: &str) -> Result<usize> {
    let ks = KeyStore::from_pkcs12(bytes, passphrase, Pkcs12ImportPolicy::Relaxed)
        .map_err(|e| Error::SelfCheck(format!("the new PKCS#12 file does not read back: {e}")))?;
    let (_, chain) = ks.private_key_chain().ok_or_else(|| {
        Error::SelfCheck("the new PKCS#12 file holds no private key entry".into())
    })?;
    Ok(chain.certs().len())
}
