//! Encrypted private keys at rest: PKCS#8 `ENCRYPTED PRIVATE KEY` with PBES2.
//!
//! Writing: PBKDF2-HMAC-SHA256 with 600,000 iterations (the OWASP figure), a 16-byte random salt
//! and AES-256-CBC, which `openssl pkey -passin` reads. Reading: PBES2 with PBKDF2 (SHA-256/384/
//! 512 PRFs) or scrypt, AES-CBC/GCM, as openssl writes them. The cost parameters of a file are
//! checked *before* deriving anything, so a hostile file cannot make us spin for hours or
//! allocate gigabytes; PBES1 (DES, RC2, SHA-1) is refused. A wrong passphrase is indistinguishable
//! from a damaged file and is reported as "wrong passphrase".

use std::path::Path;

use pkcs8::der::Decode;
use pkcs8::pkcs5::{pbes2, EncryptionScheme};
use rcgen::KeyPair;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secret::Passphrase;

/// PBKDF2 iterations used when writing.
pub const PBKDF2_ITERATIONS: u32 = 600_000;
/// Highest PBKDF2 iteration count accepted when reading (about 10 s of work).
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// Highest scrypt memory accepted when reading (128·r·N bytes).
pub const MAX_SCRYPT_MEMORY: u64 = 256 * 1024 * 1024;
/// Highest scrypt parallelization accepted when reading.
pub const MAX_SCRYPT_P: u16 = 16;

/// True when `bytes` hold an encrypted private key (PKCS#8 or legacy PEM encryption).
pub fn is_encrypted(bytes: &[u8]) -> bool {
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    has(b"-----BEGIN ENCRYPTED PRIVATE KEY") || has(b"Proc-Type:")
}

/// The error for an encrypted key read without a passphrase.
pub fn needs_passphrase(path: &Path) -> Error {
    Error::bad_file(
        path,
        "the private key is encrypted and no passphrase was given",
        "pass --passphrase-file FILE or --passphrase-env VAR (or run on a terminal to be prompted)",
    )
}

/// The error for openssl's legacy `Proc-Type: 4,ENCRYPTED` PEM encryption.
pub fn legacy_encryption(path: &Path) -> Error {
    Error::bad_file(
        path,
        "the key uses legacy PEM encryption (Proc-Type: 4,ENCRYPTED), which is weak and unsupported",
        "convert it to encrypted PKCS#8: openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 -iter 600000 -in OLD.key -out NEW.key",
    )
}

fn wrong_passphrase(path: &Path) -> Error {
    Error::bad_file(
        path,
        "cannot decrypt the private key: wrong passphrase (or a damaged file)",
        "check the passphrase file or variable; nothing was written",
    )
}

/// Refuses PBES2 parameters whose cost is absurd (a hostile file could otherwise hang us).
fn check_cost(params: &pbes2::Parameters, path: &Path) -> Result<()> {
    let refuse = |why: String| {
        Error::bad_file(
            path,
            format!("refusing to decrypt: {why}"),
            "re-encrypt the key with sane parameters (e.g. openssl pkcs8 -topk8 -v2 aes-256-cbc -iter 600000)",
        )
    };
    match &params.kdf {
        pbes2::Kdf::Pbkdf2(p) => {
            if p.iteration_count > MAX_PBKDF2_ITERATIONS {
                return Err(refuse(format!(
                    "PBKDF2 iteration count {} is above {MAX_PBKDF2_ITERATIONS}",
                    p.iteration_count
                )));
            }
            if p.iteration_count == 0 {
                return Err(refuse("PBKDF2 iteration count 0".into()));
            }
        }
        pbes2::Kdf::Scrypt(s) => {
            let n = s.cost_parameter;
            let r = u64::from(s.block_size);
            let mem = 128u64.saturating_mul(r).saturating_mul(n);
            if n == 0 || !n.is_power_of_two() || r == 0 || mem > MAX_SCRYPT_MEMORY {
                return Err(refuse(format!(
                    "scrypt N={n} r={r} needs {} MiB (limit {} MiB)",
                    mem / (1024 * 1024),
                    MAX_SCRYPT_MEMORY / (1024 * 1024)
                )));
            }
            if s.parallelization == 0 || s.parallelization > MAX_SCRYPT_P {
                return Err(refuse(format!(
                    "scrypt p={} (limit {MAX_SCRYPT_P})",
                    s.parallelization
                )));
            }
        }
        _ => return Err(refuse("unknown key derivation function".into())),
    }
    Ok(())
}

/// Decrypts an `EncryptedPrivateKeyInfo` (DER) to plain PKCS#8 DER.
pub fn decrypt_pkcs8(
    der: &[u8],
    passphrase: &Passphrase,
    path: &Path,
) -> Result<Zeroizing<Vec<u8>>> {
    let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(der).map_err(|e| {
        Error::bad_file(
            path,
            format!("damaged encrypted private key ({e})"),
            "export the key again",
        )
    })?;
    match &info.encryption_algorithm {
        EncryptionScheme::Pbes2(p) => check_cost(p, path)?,
        EncryptionScheme::Pbes1(_) => {
            return Err(Error::bad_file(
                path,
                "the key is encrypted with legacy PBES1 (DES/RC2), which is unsupported",
                "convert it: openssl pkcs8 -topk8 -v2 aes-256-cbc -iter 600000 -in OLD.key -out NEW.key",
            ))
        }
        _ => {
            return Err(Error::bad_file(
                path,
                "unknown key encryption scheme",
                "convert it: openssl pkcs8 -topk8 -v2 aes-256-cbc -iter 600000 -in OLD.key -out NEW.key",
            ))
        }
    }
    let doc = info
        .decrypt(passphrase.as_bytes())
        .map_err(|_| wrong_passphrase(path))?;
    Ok(Zeroizing::new(doc.as_bytes().to_vec()))
}

/// The key as encrypted PKCS#8 PEM (PBKDF2-SHA256 600k, AES-256-CBC).
pub fn encrypt_pem(key: &KeyPair, passphrase: &Passphrase) -> Result<Zeroizing<Vec<u8>>> {
    let rng = SystemRandom::new();
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    rng.fill(&mut salt)
        .and_then(|_| rng.fill(&mut iv))
        .map_err(|_| Error::Crypto("the OS random generator failed".into()))?;
    let params = pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(PBKDF2_ITERATIONS, &salt, iv)
        .map_err(|e| Error::Crypto(format!("PBES2 parameters: {e}")))?;
    let der = Zeroizing::new(key.serialize_der());
    let info = pkcs8::PrivateKeyInfoRef::from_der(&der)
        .map_err(|e| Error::Crypto(format!("PKCS#8 encoding: {e}")))?;
    let doc = info
        .encrypt_with_params(params, passphrase.as_bytes())
        .map_err(|e| Error::Crypto(format!("key encryption: {e}")))?;
    let pem = doc
        .to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF)
        .map_err(|e| Error::Crypto(format!("PEM encoding: {e}")))?;
    Ok(Zeroizing::new(pem.as_bytes().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pkcs8::pkcs5::pbes2::{Kdf, Parameters, Pbkdf2Params, ScryptParams};

    fn pbkdf2(iter: u32) -> Parameters {
        Parameters {
            kdf: Kdf::Pbkdf2(Pbkdf2Params::hmac_sha256(iter, &[7u8; 16]).unwrap()),
            encryption: pbes2::EncryptionScheme::Aes256Cbc { iv: [0u8; 16] },
        }
    }

    fn scrypt(n: u64, r: u16, p: u16) -> Parameters {
        Parameters {
            kdf: Kdf::Scrypt(ScryptParams {
                salt: (&[7u8; 16][..]).try_into().unwrap(),
                cost_parameter: n,
                block_size: r,
                parallelization: p,
                key_length: None,
            }),
            encryption: pbes2::EncryptionScheme::Aes256Cbc { iv: [0u8; 16] },
        }
    }

    #[test]
    fn absurd_costs_are_refused_before_any_work() {
        let here = Path::new("k");
        assert!(check_cost(&pbkdf2(600_000), here).is_ok());
        assert!(check_cost(&pbkdf2(2048), here).is_ok());
        assert!(check_cost(&pbkdf2(50_000_000), here).is_err());
        assert!(check_cost(&pbkdf2(0), here).is_err());
        assert!(check_cost(&scrypt(1 << 14, 8, 1), here).is_ok());
        assert!(check_cost(&scrypt(1 << 20, 8, 1), here).is_err()); // 1 GiB
        assert!(check_cost(&scrypt(1 << 14, 8, 1000), here).is_err());
        assert!(check_cost(&scrypt(12345, 8, 1), here).is_err());
    }

    #[test]
    fn encrypt_then_decrypt_and_wrong_passphrase() {
        let key = crate::keys::generate(crate::keys::KeyType::EcdsaP256).unwrap();
        let pass = Passphrase::new(Zeroizing::new(b"pw\n".to_vec()), "test").unwrap();
        let pem = encrypt_pem(&key, &pass).unwrap();
        let here = Path::new("k");
        let back = crate::keys::load_private_key_with(&pem, here, Some(&pass)).unwrap();
        assert_eq!(back.serialize_der(), key.serialize_der());
        let wrong = Passphrase::new(Zeroizing::new(b"nope".to_vec()), "test").unwrap();
        let err = crate::keys::load_private_key_with(&pem, here, Some(&wrong))
            .unwrap_err()
            .to_string();
        assert!(err.contains("wrong passphrase"), "{err}");
        assert!(crate::keys::load_private_key_with(&pem, here, None).is_err());
    }
}
