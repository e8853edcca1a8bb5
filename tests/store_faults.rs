//! The store under faults, through the real binary: renew and revoke racing for one certificate
//! (with the race window held open by the test, and with 640 concurrent processes), a damaged
//! store, a store that swallows new rows, and a `-wal` file deleted after a crash.
use crate::common;
use crate::core_support;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mtls_ca::store::STORE_FILE;
use rusqlite::{params, Connection};

use common::*;
use core_support::*;

fn serial_of(d: &Path, cert: &str) -> String {
    serial_hex(&pem_certs(&d.join(cert)).pop().expect("a certificate"))
}

fn spawn(cwd: &Path, args: &[&str]) -> Child {
    Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("MTLS_CA_DIR")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mtls-ca")
}

/// Waits (up to a deadline) until `child` sleeps in SQLite's busy handler, i.e. it has done its
/// reads and now waits for the write lock the test holds.
fn wait_until_waiting_for_lock(child: &Child) {
    let path = format!("/proc/{}/syscall", child.id());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = 0;
    while seen < 3 {
        assert!(
            Instant::now() < deadline,
            "the child never waited for the store's write lock"
        );
        let nr = std::fs::read_to_string(&path).unwrap_or_default();
        // nanosleep (35) or clock_nanosleep (230) on x86_64; 101/115 on aarch64.
        let first = nr.split_whitespace().next().unwrap_or("");
        if ["35", "230", "101", "115"].contains(&first) {
            seen += 1;
        } else {
            seen = 0;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn finish(child: Child) -> Run {
    let out = child.wait_with_output().expect("wait");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// (state, superseded_by) of a serial, and the serials recorded as renewing it.
fn successors(conn: &Connection, serial: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT serial FROM certificates WHERE renews = ?1 AND state != 'reserved'")
        .unwrap();
    stmt.query_map(params![serial], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let t = tempdir();
    let d = t.path().to_path_buf();
    mtls(&d, &["--dir", "pki", "init"]).ok();
    (t, d)
}

#[test]
fn renew_loses_to_a_revocation_committed_while_it_waits() {
    let (_t, d) = setup();
    mtls(
        &d,
        &[
            "--dir", "pki", "issue", "client", "--cn", "alice", "--out", "alice",
        ],
    )
    .ok();
    let serial = serial_of(&d, "alice.crt");
    // Hold the write lock: renew reads the certificate (issued, not renewed), then waits.
    let mut conn = Connection::open(d.join("pki").join(STORE_FILE)).unwrap();
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let renew = spawn(&d, &["--dir", "pki", "renew", &serial, "--out", "alice2"]);
    wait_until_waiting_for_lock(&renew);
    // Meanwhile a revocation commits (the statement `mtls-ca revoke` runs).
    tx.execute(
        "UPDATE certificates SET state = 'revoked', revoked_at = strftime('%s','now'),
         revocation_reason = 'key-compromise' WHERE serial = ?1 AND state = 'issued'",
        params![serial],
    )
    .unwrap();
    tx.commit().unwrap();
    let r = finish(renew);
    assert_eq!(r.code, 2, "renew must fail: {r:?}");
    assert!(
        r.stderr.contains("revoked while it was being renewed"),
        "{}",
        r.stderr
    );
    assert_eq!(
        r.stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1
    );
    assert!(
        r.stderr.lines().any(|l| l.starts_with("hint:")),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"));
    assert!(!d.join("alice2.crt").exists() && !d.join("alice2.key").exists());
    assert!(successors(&conn, &serial).is_empty());
    let list = mtls(&d, &["--dir", "pki", "--json", "list"]).ok().json();
    let certs: Vec<_> = list["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["profile"] == "client")
        .collect();
    assert_eq!(certs.len(), 1, "no successor recorded: {list}");
    assert_eq!(certs[0]["status"], "revoked");
}

#[test]
fn two_renewals_waiting_together_make_one_successor() {
    let (_t, d) = setup();
    mtls(
        &d,
        &[
            "--dir",
            "pki",
            "issue",
            "server",
            "--cn",
            "api.example.com",
            "--out",
            "api",
        ],
    )
    .ok();
    let serial = serial_of(&d, "api.crt");
    let mut conn = Connection::open(d.join("pki").join(STORE_FILE)).unwrap();
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let a = spawn(&d, &["--dir", "pki", "renew", &serial, "--out", "a"]);
    let b = spawn(&d, &["--dir", "pki", "renew", &serial, "--out", "b"]);
    wait_until_waiting_for_lock(&a);
    wait_until_waiting_for_lock(&b);
    tx.commit().unwrap();
    let (ra, rb) = (finish(a), finish(b));
    let mut codes = [ra.code, rb.code];
    codes.sort();
    assert_eq!(codes, [0, 2], "exactly one renewal wins: {ra:?} {rb:?}");
    let (winner, loser, lost_stem) = if ra.code == 0 {
        ("a", &rb, "b")
    } else {
        ("b", &ra, "a")
    };
    assert!(
        loser
            .stderr
            .contains("renewed by another process meanwhile"),
        "{}",
        loser.stderr
    );
    assert!(!d.join(format!("{lost_stem}.crt")).exists());
    assert!(!d.join(format!("{lost_stem}.key")).exists());
    let succ = successors(&conn, &serial);
    assert_eq!(succ, vec![serial_of(&d, &format!("{winner}.crt"))]);
    verify(
        &d,
        "pki/ca.crt",
        None,
        "sslserver",
        &[],
        &format!("{winner}.crt"),
    )
    .ok();
}

/// 640 processes renew and revoke 16 certificates at once: no certificate gets two successors,
/// no certificate revoked before its renewal was recorded gets one, every `renew` that says it
/// worked wrote its files and every one that failed wrote nothing.
#[test]
fn six_hundred_forty_concurrent_renew_and_revoke_processes() {
    const CERTS: usize = 16;
    const PER_CERT: usize = 40;
    const PARALLEL: usize = 16;
    let (_t, d) = setup();
    let mut serials = Vec::new();
    for i in 0..CERTS {
        let stem = format!("c{i}");
        mtls(
            &d,
            &[
                "--dir", "pki", "issue", "client", "--cn", &stem, "--out", &stem,
            ],
        )
        .ok();
        serials.push(serial_of(&d, &format!("{stem}.crt")));
    }
    // Jobs interleaved so that each certificate sees renewals and revocations at once.
    let mut jobs: Vec<(usize, usize)> = Vec::new();
    for j in 0..PER_CERT {
        for c in 0..CERTS {
            jobs.push((c, j));
        }
    }
    let jobs = Arc::new(Mutex::new(jobs.into_iter()));
    let results = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..PARALLEL)
        .map(|_| {
            let (jobs, results, d, serials) =
                (jobs.clone(), results.clone(), d.clone(), serials.clone());
            std::thread::spawn(move || loop {
                let Some((c, j)) = jobs.lock().unwrap().next() else {
                    return;
                };
                let serial = &serials[c];
                // One revocation in four, the rest renewals into their own stems.
                let (kind, r) = if j % 4 == 3 {
                    let r = mtls(
                        &d,
                        &[
                            "--dir",
                            "pki",
                            "revoke",
                            serial,
                            "--reason",
                            "key-compromise",
                        ],
                    );
                    ("revoke", r)
                } else {
                    let out = format!("r/c{c}-{j}");
                    let r = mtls(&d, &["--dir", "pki", "renew", serial, "--out", &out]);
                    ("renew", r)
                };
                results.lock().unwrap().push((c, j, kind, r));
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let results = std::mem::take(&mut *results.lock().unwrap());
    assert_eq!(results.len(), CERTS * PER_CERT);
    let conn = Connection::open(d.join("pki").join(STORE_FILE)).unwrap();
    let mut renewed_ok: HashMap<usize, Vec<usize>> = HashMap::new();
    for (c, j, kind, r) in &results {
        assert!(!r.stderr.contains("panicked"), "{r:?}");
        match (*kind, r.code) {
            ("revoke", 0) => {}
            ("renew", 0) => renewed_ok.entry(*c).or_default().push(*j),
            ("renew", 2) => {
                assert!(
                    r.stderr.contains("revoked") || r.stderr.contains("renewed"),
                    "unexpected renew failure: {r:?}"
                );
                let stem = format!("r/c{c}-{j}");
                assert!(
                    !d.join(format!("{stem}.crt")).exists(),
                    "{stem}: failed but wrote"
                );
                assert!(
                    !d.join(format!("{stem}.key")).exists(),
                    "{stem}: failed but wrote"
                );
            }
            _ => panic!("{kind} of c{c}: {r:?}"),
        }
    }
    let mut renewed = 0;
    for (c, serial) in serials.iter().enumerate() {
        let succ = successors(&conn, serial);
        let oks = renewed_ok.get(&c).cloned().unwrap_or_default();
        assert!(
            succ.len() <= 1,
            "c{c} has {} successors: {succ:?}",
            succ.len()
        );
        assert_eq!(
            succ.len(),
            oks.len(),
            "c{c}: successes {oks:?} vs records {succ:?}"
        );
        let (state, revoked_at, superseded_by): (String, Option<i64>, Option<String>) = conn
            .query_row(
                "SELECT state, revoked_at, superseded_by FROM certificates WHERE serial = ?1",
                params![serial],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(state, "revoked", "c{c}: every certificate got revoked");
        if let Some(s) = succ.first() {
            assert_eq!(superseded_by.as_deref(), Some(s.as_str()));
            let issued_at: i64 = conn
                .query_row(
                    "SELECT issued_at FROM certificates WHERE serial = ?1",
                    params![s],
                    |r| r.get(0),
                )
                .unwrap();
            assert!(
                issued_at <= revoked_at.unwrap(),
                "c{c}: successor recorded after the revocation"
            );
            let stem = format!("r/c{c}-{}.crt", oks[0]);
            assert_eq!(serial_of(&d, &stem), *s);
            verify(&d, "pki/ca.crt", None, "sslclient", &[], &stem).ok();
            renewed += 1;
        }
    }
    assert!(renewed > 0, "no renewal ever won: the test did not race");
    // Only successful renewals left files.
    let files = files_ending(&d.join("r"), ".crt")
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(".fullchain.crt"))
        .count();
    assert_eq!(files, renewed);
    let first = files_ending(&d.join("r"), ".crt")
        .into_iter()
        .find(|p| !p.to_string_lossy().ends_with(".fullchain.crt"))
        .unwrap();
    pkilint_chain(&d, &d.join("pki/ca.crt"), &first);
    let status: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(status, "ok");
}

/// Runs `mtls-ca ARGS` with a deadline: a hang fails the test instead of blocking it.
fn run_bounded(cwd: &Path, args: &[&str]) -> Run {
    let mut child = spawn(cwd, args);
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mtls-ca {args:?} did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    finish(child)
}

#[test]
fn a_damaged_store_is_reported_and_not_used() {
    let (_t, d) = setup();
    for n in ["a", "b", "c"] {
        mtls(
            &d,
            &["--dir", "pki", "issue", "client", "--cn", n, "--out", n],
        )
        .ok();
    }
    let serial = serial_of(&d, "b.crt");
    let db = d.join("pki").join(STORE_FILE);
    // Overwrite the serial index's root page (the primary key every write and lookup uses).
    let (page, size): (i64, i64) = {
        let conn = Connection::open(&db).unwrap();
        let page = conn
            .query_row(
                "SELECT rootpage FROM sqlite_master WHERE type = 'index' AND tbl_name = 'certificates'
                 AND name LIKE 'sqlite_autoindex%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let size = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        (page, size)
    };
    let mut bytes = std::fs::read(&db).unwrap();
    let at = ((page - 1) * size) as usize;
    bytes[at..at + size as usize].fill(0xa5);
    std::fs::write(&db, &bytes).unwrap();

    for args in [
        vec!["--dir", "pki", "issue", "client", "--cn", "d", "--out", "d"],
        vec!["--dir", "pki", "revoke", serial.as_str()],
        vec!["--dir", "pki", "renew", serial.as_str(), "--out", "b2"],
    ] {
        let r = expect_bad_input(&d, &args, "damaged");
        assert!(r.stderr.contains("restore"), "{}", r.stderr);
    }
    // The full check (what `doctor` runs) says so too.
    let store = mtls_ca::store::Store::open(&db).expect("the header is intact");
    let err = store.integrity_check().expect_err("damaged");
    assert!(err.to_string().contains("damaged"), "{err}");
}

#[test]
fn a_store_that_swallows_new_rows_fails_instead_of_spinning() {
    let (_t, d) = setup();
    let db = d.join("pki").join(STORE_FILE);
    Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER swallow BEFORE INSERT ON certificates BEGIN SELECT RAISE(IGNORE); END;",
        )
        .unwrap();
    let before = snapshot(&d);
    let r = run_bounded(
        &d,
        &["--dir", "pki", "issue", "client", "--cn", "x", "--out", "x"],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("could not be reserved"), "{}", r.stderr);
    assert!(
        r.stderr.lines().any(|l| l.starts_with("hint:")),
        "{}",
        r.stderr
    );
    assert!(before == snapshot(&d), "nothing written");
}

/// A process killed after it committed leaves records in `store.db-wal`; deleting that file
/// (an operator cleaning up "temporary" files) must not lose them.
#[test]
fn committed_records_survive_a_deleted_wal() {
    let (_t, d) = setup();
    // An open connection keeps the WAL from being folded back at each command's exit, as a
    // crashed process would.
    let holder = Connection::open(d.join("pki").join(STORE_FILE)).unwrap();
    let _: i64 = holder
        .query_row("SELECT COUNT(*) FROM certificates", [], |r| r.get(0))
        .unwrap();
    mtls(
        &d,
        &["--dir", "pki", "issue", "client", "--cn", "a", "--out", "a"],
    )
    .ok();
    mtls(
        &d,
        &["--dir", "pki", "issue", "client", "--cn", "b", "--out", "b"],
    )
    .ok();
    let b = serial_of(&d, "b.crt");
    mtls(&d, &["--dir", "pki", "revoke", &b]).ok();
    mtls(&d, &["--dir", "pki", "crl"]).ok();
    assert!(d.join("pki").join(format!("{STORE_FILE}-wal")).exists());
    // What is left if the -wal file disappears: store.db alone.
    let copy = d.join("copy");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(d.join("pki")).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with("-wal") && !name.ends_with("-shm") && p.is_file() {
            std::fs::copy(&p, copy.join(&name)).unwrap();
        }
    }
    drop(holder);
    let list = mtls(&d, &["--dir", "copy", "--json", "list"]).ok().json();
    let certs = list["certificates"].as_array().unwrap();
    let status: HashMap<String, String> = certs
        .iter()
        .map(|c| {
            (
                c["serial"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        status.get(&serial_of(&d, "a.crt")).map(String::as_str),
        Some("valid")
    );
    assert_eq!(status.get(&b).map(String::as_str), Some("revoked"));
    // The CRL number taken by `crl` survived too: the next one is 2.
    let j = mtls(&d, &["--dir", "copy", "--json", "crl"]).ok().json();
    assert!(j.to_string().contains("\"number\":2"), "{j}");
}
