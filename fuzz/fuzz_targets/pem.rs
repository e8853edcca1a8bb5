//! Fuzz the PEM reader and the certificate-bundle reader (`pem::parse_all`,
//! `x509::certs_from_bytes`): any bytes give blocks or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let p = Path::new("fuzz.pem");
    if let Ok(blocks) = mtls_ca::pem::parse_all(data, p) {
        let _ = mtls_ca::pem::labels(&blocks);
    }
    let _ = mtls_ca::x509::certs_from_bytes(data, p);
});
