//! Serials: 10,000 certificates issued through the library's real issuance path
//! (`Ca::issue`: reserve in the store, sign, self-check, record, write files) are unique,
//! positive, at most 20 octets, at least 64 bits. The serials are read back from the store's
//! recorded certificates (DER) and from the certificate files on disk, not from the generator.
//! Running the binary 10,000 times would only add process start-up; the binary path is covered by
//! tests/core_concurrency.rs (240 issues through the binary).
//!
//! Every issue fsyncs five times (two store commits, three files); on a disk that is minutes
//! for 10,000. The test therefore runs in /dev/shm (tmpfs, where fsync is free) when it exists,
//! which changes nothing in the code path under test.
use crate::common;
use crate::core_support;

use std::collections::HashSet;

use mtls_ca::ca::{Ca, InitOptions, IssueOptions};
use mtls_ca::keys::KeyType;
use mtls_ca::profile::{Constraints, Profile};
use mtls_ca::store::STORE_FILE;

use common::*;
use core_support::*;

const N: usize = 10_000;
/// Files are read back and removed every BATCH issues, to keep the disk footprint small.
const BATCH: usize = 1_000;

#[test]
fn ten_thousand_serials() {
    let shm = std::path::Path::new("/dev/shm");
    let t = if shm.is_dir() {
        tempfile::Builder::new()
            .prefix("mtls-ca-serials-")
            .tempdir_in(shm)
            .unwrap_or_else(|_| tempdir())
    } else {
        tempdir()
    };
    let d = t.path();
    let now = time::OffsetDateTime::now_utc();
    let (mut ca, root) = Ca::init(
        &d.join("pki"),
        &InitOptions {
            subject: Default::default(),
            cn: Some("Serial Test Root".into()),
            org: None,
            key_type: KeyType::EcdsaP256,
            days: None,
            pathlen: None,
            constraints: Constraints::default(),
            parent: None,
            force: false,
        },
        now,
    )
    .unwrap();
    let mut returned = HashSet::new();
    let mut from_files = HashSet::new();
    let out = d.join("out");
    for i in 0..N {
        let issued = ca
            .issue(
                &IssueOptions {
                    subject: Default::default(),
                    profile: if i % 2 == 0 {
                        Profile::Client
                    } else {
                        Profile::Server
                    },
                    cn: format!("host{i}.example.com"),
                    sans: Vec::new(),
                    days: Some(30),
                    valid: None,
                    key_type: KeyType::EcdsaP256,
                    stem: out.join(format!("c{i}")),
                    force: false,
                    allow_long_validity: false,
                },
                now,
            )
            .unwrap();
        returned.insert(issued.serial);
        if (i + 1) % BATCH == 0 {
            // Read this batch's certificate files back, then remove them.
            let leaves: Vec<_> = files_ending(&out, ".crt")
                .into_iter()
                .filter(|p| !p.to_string_lossy().ends_with(".fullchain.crt"))
                .collect();
            assert_eq!(leaves.len(), BATCH);
            for p in leaves {
                let certs = pem_certs(&p);
                assert_eq!(certs.len(), 1);
                let raw = raw_serial(&certs[0]);
                check_serial_rules(&raw);
                assert!(
                    from_files.insert(raw),
                    "duplicate serial in {}",
                    p.display()
                );
            }
            if i + 1 == BATCH {
                // A sample of each profile passes pkilint like every other certificate.
                for c in ["c0.crt", "c1.crt"] {
                    pkilint_chain(d, &d.join("pki/ca.crt"), &out.join(c));
                    pkilint_cert(d, &out.join(c));
                }
            }
            std::fs::remove_dir_all(&out).unwrap();
        }
    }
    assert_eq!(from_files.len(), N);
    assert_eq!(returned.len(), N);
    drop(ca);

    // Read back from the store: every recorded DER certificate, parsed.
    let conn = rusqlite::Connection::open(d.join("pki").join(STORE_FILE)).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let mut stmt = conn
        .prepare("SELECT serial, der FROM certificates WHERE state = 'issued'")
        .unwrap();
    let rows: Vec<(String, Vec<u8>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), N + 1, "10,000 leaves + the root's own record");
    let mut from_store = HashSet::new();
    for (serial, der) in &rows {
        let raw = raw_serial(der);
        check_serial_rules(&raw);
        assert_eq!(serial, &serial_hex(der), "store column vs certificate");
        assert!(
            from_store.insert(raw),
            "duplicate serial {serial} in the store"
        );
    }
    assert_eq!(from_store.len(), N + 1);

    // Every file's serial is a recorded one.
    assert!(from_files.is_subset(&from_store));
    assert!(!returned.contains(&root.serial));

    // The binary sees the same store.
    let list = mtls(d, &["--json", "list"]).ok().json();
    assert_eq!(list["certificates"].as_array().unwrap().len(), N + 1);
}
