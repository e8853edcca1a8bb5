//! Fuzz the private-key readers: plain PKCS#8, SEC1, PKCS#1, and encrypted PKCS#8 (with and
//! without a passphrase). PBKDF2 iteration counts are capped by the reader, so every input ends.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let p = Path::new("fuzz.key");
    let _ = mtls_ca::keycrypt::is_encrypted(data);
    let _ = mtls_ca::keys::load_private_key(data, p);
    if let Ok(pass) = mtls_ca::secret::Passphrase::new(
        zeroize::Zeroizing::new(b"correct horse".to_vec()),
        "fuzz",
    ) {
        let _ = mtls_ca::keys::load_private_key_with(data, p, Some(&pass));
    }
});
