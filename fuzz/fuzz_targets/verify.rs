//! Fuzz `mtls_ca::verify::verify`: the input is split into leaf, intermediate, root and CRL at
//! the first three 0xFF 0x00 separators; any split must yield a report or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mtls_ca::verify::{Input, Purpose};

fuzz_target!(|data: &[u8]| {
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut cur = Vec::new();
    let mut i = 0;
    while i < data.len() {
        if parts.len() < 3 && data[i] == 0xff && data.get(i + 1) == Some(&0) {
            parts.push(std::mem::take(&mut cur));
            i += 2;
            continue;
        }
        cur.push(data[i]);
        i += 1;
    }
    parts.push(cur);
    parts.resize(4, Vec::new());
    let now = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    for purpose in [Purpose::Server, Purpose::Client] {
        let input = Input {
            leaf: parts[0].clone(),
            intermediates: vec![parts[1].clone()],
            roots: vec![parts[2].clone()],
            crls: if parts[3].is_empty() { vec![] } else { vec![parts[3].clone()] },
            purpose: Some(purpose),
            host: Some("api.example.com".into()),
            key_spki: None,
            at: now,
            cert_label: "fuzz.crt".into(),
            candidates: vec![parts[1].clone()],
            candidate_files: Vec::new(),
        };
        let _ = mtls_ca::verify::verify(&input);
    }
});
