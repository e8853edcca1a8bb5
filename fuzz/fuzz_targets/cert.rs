//! Fuzz certificate parsing and every accessor the CA uses on a parsed certificate (SANs,
//! validity, SKI/AKI, serial): DER in, values or an error out, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = mtls_ca::x509::parse_cert(data, Path::new("fuzz.crt")) {
        let _ = mtls_ca::x509::san_strings(&c);
        let _ = mtls_ca::x509::validity(&c);
        let _ = mtls_ca::x509::ski(&c);
        let _ = mtls_ca::x509::aki(&c);
        let _ = mtls_ca::serial::Serial::from_bytes(c.raw_serial()).hex();
        let _ = mtls_ca::x509::self_check(data, data, &mtls_ca::serial::Serial::from_bytes(c.raw_serial()), true);
    }
});
