//! Fuzz the batch-file reader (CSV and JSON lines, `batch::parse`): any text gives items or one
//! error naming a line; every accepted output stem stays inside the output directory.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let out = Path::new("/nonexistent/out");
    if let Ok(items) = mtls_ca::batch::parse(text, Path::new("fuzz.csv"), Some(out)) {
        for it in items {
            assert!(it.stem.starts_with(out), "{:?} escapes the output directory", it.stem);
            assert!(
                !it.stem.components().any(|c| c == std::path::Component::ParentDir),
                "{:?} has ..",
                it.stem
            );
        }
    }
});
