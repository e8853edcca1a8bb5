//! Fuzz `crl --check` on an arbitrary file (PEM or DER CRL) against a fixed CA directory.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("mtls-ca-fuzz-crl-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("crl.pem");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let now = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let _ = mtls_ca::crl::check(&dir, &path, now);
});
