//! How the binary reaches a CA key in a PKCS#11 token when its URI leaves something open:
//! `MTLS_CA_PKCS11_MODULE` (the PKCS#11 library) and `MTLS_CA_PKCS11_PIN` (the user PIN; a PIN
//! is never taken from argv). Read here, passed to the library once.

use mtls_ca::pkcs11::Pkcs11Env;

pub fn set() {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    mtls_ca::pkcs11::set_env(Pkcs11Env {
        module: env("MTLS_CA_PKCS11_MODULE").map(std::path::PathBuf::from),
        pin: env("MTLS_CA_PKCS11_PIN").map(zeroize::Zeroizing::new),
    });
}
