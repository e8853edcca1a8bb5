//! The CA's signing key, wherever it lives: a key file (`ca.key`, loaded into memory) or a key
//! inside a PKCS#11 token ([`crate::pkcs11`]). Every signing path — init, issue, sign, renew,
//! CRLs, rotation, intermediates — takes a [`CaKey`] through rcgen's `SigningKey`, so a key-file
//! CA and an HSM CA behave the same.

use rcgen::{KeyPair, PublicKeyData, SigningKey};

use crate::error::Result;
use crate::keys::KeyType;
use crate::pkcs11::TokenKey;

/// A CA key.
#[derive(Debug)]
pub enum CaKey {
    /// A key held in memory (read from a key file).
    File(KeyPair),
    /// A key inside a PKCS#11 token.
    Token(TokenKey),
}

impl CaKey {
    /// The key's type.
    pub fn key_type(&self) -> Result<KeyType> {
        match self {
            CaKey::File(k) => KeyType::of(k),
            CaKey::Token(t) => Ok(t.key_type()),
        }
    }

    /// Where the key lives, for people: `file` or the PKCS#11 URI (never a PIN).
    pub fn location(&self) -> String {
        match self {
            CaKey::File(_) => "file".into(),
            CaKey::Token(t) => t.uri().to_string(),
        }
    }

    /// The token key, when the key lives in a token.
    pub fn token(&self) -> Option<&TokenKey> {
        match self {
            CaKey::Token(t) => Some(t),
            CaKey::File(_) => None,
        }
    }

    /// The in-memory key pair, when the key comes from a file.
    pub fn key_pair(&self) -> Option<&KeyPair> {
        match self {
            CaKey::File(k) => Some(k),
            CaKey::Token(_) => None,
        }
    }
}

impl From<KeyPair> for CaKey {
    fn from(k: KeyPair) -> Self {
        CaKey::File(k)
    }
}

impl PublicKeyData for CaKey {
    fn der_bytes(&self) -> &[u8] {
        match self {
            CaKey::File(k) => k.der_bytes(),
            CaKey::Token(t) => t.public_der(),
        }
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            CaKey::File(k) => PublicKeyData::algorithm(k),
            CaKey::Token(t) => t.algorithm(),
        }
    }

    fn subject_public_key_info(&self) -> Vec<u8> {
        match self {
            CaKey::File(k) => k.subject_public_key_info(),
            CaKey::Token(_) => {
                // rcgen's default: the algorithm and the key bits.
                let alg = self.algorithm();
                let bits = self.der_bytes();
                spki(alg, bits)
            }
        }
    }
}

/// SubjectPublicKeyInfo of `bits` for `alg` (as rcgen writes it).
fn spki(alg: &'static rcgen::SignatureAlgorithm, bits: &[u8]) -> Vec<u8> {
    struct Raw<'a>(&'static rcgen::SignatureAlgorithm, &'a [u8]);
    impl PublicKeyData for Raw<'_> {
        fn der_bytes(&self) -> &[u8] {
            self.1
        }
        fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
            self.0
        }
    }
    Raw(alg, bits).subject_public_key_info()
}

impl SigningKey for CaKey {
    fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
        match self {
            CaKey::File(k) => SigningKey::sign(k, msg),
            CaKey::Token(t) => t.sign(msg),
        }
    }
}
