//! Fuzz the PKCS#12 reader (`pkcs12::check`, which parses and decrypts a `.p12`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mtls_ca::pkcs12::check(data, "password");
    let _ = mtls_ca::pkcs12::check(data, "");
});
