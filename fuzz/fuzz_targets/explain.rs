//! Fuzz `explain` (handshake error lines from logs): any text gives an explanation.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = mtls_ca::explain::explain(&text);
    let _ = mtls_ca::explain::explain_lines(text.lines());
});
