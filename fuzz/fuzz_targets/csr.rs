//! Fuzz the CSR reader used by `sign` (`csr::parse`): PEM or DER, any content.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mtls_ca::csr::parse(data, std::path::Path::new("fuzz.csr"));
});
