//! The store under concurrency and crashes, through the real binary:
//! 6 parallel workers × 40 `issue client` → 240 successes, 240 unique serials, 240 records;
//! `kill -9` at arbitrary moments of a burst leaves a store that opens, passes
//! `PRAGMA integrity_check`, has a record for every certificate file on disk, and keeps issuing.
use crate::common;
use crate::core_support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mtls_ca::store::{Store, STORE_FILE};

use common::*;
use core_support::*;

const WORKERS: usize = 6;
const PER_WORKER: usize = 40;

/// Every recorded (issued) certificate: serial → DER.
fn recorded(dir: &Path) -> HashMap<String, Vec<u8>> {
    let conn = rusqlite::Connection::open(dir.join(STORE_FILE)).unwrap();
    let mut stmt = conn
        .prepare("SELECT serial, der FROM certificates WHERE state = 'issued'")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows
}

/// The store opens with the library and passes SQLite's integrity check.
fn store_is_sound(dir: &Path) {
    let store = Store::open(&dir.join(STORE_FILE)).expect("store opens");
    store.integrity_check().expect("PRAGMA integrity_check");
}

/// Every leaf certificate file under `dir` has a record holding exactly that certificate.
fn every_file_has_its_record(files_dir: &Path, ca_dir: &Path) -> usize {
    let rec = recorded(ca_dir);
    let leaves: Vec<_> = files_ending(files_dir, ".crt")
        .into_iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            !s.ends_with(".fullchain.crt") && !s.contains("/pki")
        })
        .collect();
    for p in &leaves {
        let der = pem_certs(p).pop().expect("a certificate");
        let serial = serial_hex(&der);
        assert_eq!(
            rec.get(&serial),
            Some(&der),
            "{} (serial {serial}) has no matching record",
            p.display()
        );
    }
    leaves.len()
}

#[test]
fn six_workers_forty_issues_each() {
    let t = tempdir();
    let d = t.path().to_path_buf();
    mtls(&d, &["init"]).ok();
    let handles: Vec<_> = (0..WORKERS)
        .map(|w| {
            let d = d.clone();
            std::thread::spawn(move || {
                (0..PER_WORKER)
                    .map(|i| {
                        let cn = format!("w{w}-c{i}");
                        let out = format!("out/{cn}");
                        let r = mtls(
                            &d,
                            &["--json", "issue", "client", "--cn", &cn, "--out", &out],
                        )
                        .ok();
                        r.json()["serial"].as_str().unwrap().to_string()
                    })
                    .collect::<Vec<String>>()
            })
        })
        .collect();
    let serials: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("a worker failed"))
        .collect();
    assert_eq!(serials.len(), WORKERS * PER_WORKER);
    let unique: HashSet<&String> = serials.iter().collect();
    assert_eq!(unique.len(), 240, "serials are not unique");

    let list = mtls(&d, &["--json", "list"]).ok().json();
    let clients: Vec<&serde_json::Value> = list["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["profile"] == "client")
        .collect();
    assert_eq!(clients.len(), 240, "240 records");
    let listed: HashSet<&str> = clients
        .iter()
        .map(|c| c["serial"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 240);
    for s in &serials {
        assert!(listed.contains(s.as_str()), "serial {s} not listed");
    }
    store_is_sound(&d.join("pki"));
    assert_eq!(
        every_file_has_its_record(&d.join("out"), &d.join("pki")),
        240
    );
    // Serials on disk are unique too.
    let on_disk: HashSet<String> = files_ending(&d.join("out"), ".crt")
        .iter()
        .filter(|p| !p.to_string_lossy().ends_with(".fullchain.crt"))
        .map(|p| serial_hex(&pem_certs(p)[0]))
        .collect();
    assert_eq!(on_disk.len(), 240);
}

#[test]
fn kill_9_during_a_burst_leaves_a_working_store() {
    let t = tempdir();
    let d = t.path().to_path_buf();
    mtls(&d, &["init"]).ok();
    let completed = Arc::new(AtomicU64::new(0));
    let killed = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..WORKERS)
        .map(|w| {
            let d = d.clone();
            let completed = completed.clone();
            let killed = killed.clone();
            std::thread::spawn(move || {
                // A small LCG spreads the kill moments over the whole life of a process.
                let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ (w as u64 + 1);
                for i in 0..PER_WORKER {
                    x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    let delay = Duration::from_micros((x >> 33) % 150_000);
                    let cn = format!("k{w}-c{i}");
                    let out = format!("out/{cn}");
                    let mut child = Command::new(bin())
                        .args(["issue", "client", "--cn", &cn, "--out", &out])
                        .current_dir(&d)
                        .env_remove("MTLS_CA_DIR")
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::piped())
                        .spawn()
                        .unwrap();
                    let start = Instant::now();
                    loop {
                        if let Some(st) = child.try_wait().unwrap() {
                            let mut err = String::new();
                            use std::io::Read;
                            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
                            assert!(st.success(), "{cn}: {st}: {err}");
                            completed.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                        if start.elapsed() >= delay {
                            child.kill().unwrap(); // SIGKILL
                            let st = child.wait().unwrap();
                            if st.success() {
                                completed.fetch_add(1, Ordering::SeqCst);
                            } else {
                                killed.fetch_add(1, Ordering::SeqCst);
                            }
                            break;
                        }
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a worker failed");
    }
    let killed = killed.load(Ordering::SeqCst);
    assert!(killed > 0, "no process was killed");
    eprintln!(
        "burst: {} completed, {killed} killed",
        completed.load(Ordering::SeqCst)
    );

    // The store opens, is sound, lists, and has a record for every certificate file.
    store_is_sound(&d.join("pki"));
    let list = mtls(&d, &["--json", "list"]).ok().json();
    let n_listed = list["certificates"].as_array().unwrap().len();
    let n_files = every_file_has_its_record(&d.join("out"), &d.join("pki"));
    assert!(n_listed > n_files, "root + at least every file is listed");
    assert!(
        n_files as u64 >= completed.load(Ordering::SeqCst),
        "every completed issue left its files"
    );
    // Reserved serials are never reused: every row has a distinct serial (primary key) and the
    // store holds at least as many serials as there were issues.
    let conn = rusqlite::Connection::open(d.join("pki").join(STORE_FILE)).unwrap();
    let (rows, distinct): (i64, i64) = conn
        .query_row(
            "SELECT COUNT(*), COUNT(DISTINCT serial) FROM certificates",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(rows, distinct);
    let reserved: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM certificates WHERE state = 'reserved'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    eprintln!(
        "store: {rows} serials, {reserved} reserved but never recorded, {n_files} leaf files"
    );
    let serials_of = |conn: &rusqlite::Connection, state: &str| -> HashSet<String> {
        let mut stmt = conn
            .prepare("SELECT serial FROM certificates WHERE state = ?1")
            .unwrap();
        let rows = stmt
            .query_map([state], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows
    };
    let reserved_before = serials_of(&conn, "reserved");
    drop(conn);

    // Issuing still works, in parallel too.
    let handles: Vec<_> = (0..3)
        .map(|w| {
            let d = d.clone();
            std::thread::spawn(move || {
                let cn = format!("after-{w}");
                let out = format!("after/{cn}");
                mtls(&d, &["issue", "client", "--cn", &cn, "--out", &out]).ok();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    for w in 0..3 {
        openssl(
            &d,
            &[
                "verify",
                "-CAfile",
                "pki/ca.crt",
                "-purpose",
                "sslclient",
                &format!("after/after-{w}.crt"),
            ],
        )
        .ok();
    }
    store_is_sound(&d.join("pki"));
    assert_eq!(
        every_file_has_its_record(&d.join("after"), &d.join("pki")),
        3
    );
    // The serials reserved by killed processes are still held, never handed out again.
    let conn = rusqlite::Connection::open(d.join("pki").join(STORE_FILE)).unwrap();
    assert_eq!(serials_of(&conn, "reserved"), reserved_before);
    for w in 0..3 {
        let der = pem_certs(&d.join(format!("after/after-{w}.crt")))
            .pop()
            .unwrap();
        assert!(!reserved_before.contains(&serial_hex(&der)));
    }
}
