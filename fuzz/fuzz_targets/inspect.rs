//! Fuzz `mtls_ca::inspect::inspect_bytes`: any bytes (PEM or DER, any object kind) must yield a
//! description or an error, never a panic, and in bounded time.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let _ = mtls_ca::inspect::inspect_bytes(data, "fuzz", None, now);
    let _ = mtls_ca::inspect::inspect_bytes(data, "fuzz", Some("password"), now);
});
