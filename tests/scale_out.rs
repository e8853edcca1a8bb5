//! Several hosts, one CA: four CA directories joined to one PostgreSQL store (tests/pg_support)
//! and one SoftHSM2 token (tests/hsm_support) issue, renew, revoke and make CRLs at the same
//! time while one host's processes are killed with SIGKILL and PostgreSQL restarts. Afterwards:
//! every serial is unique and recorded, CRL numbers strictly increase, every revocation committed
//! on any host is in every CRL started after it on any host, openssl verifies everything
//! against the one root, pkilint is clean. (tests/store_postgres.rs covers the same properties
//! with key files, one fault at a time; this adds the shared token, renewals and both faults in
//! one burst.)
use crate::common;
use crate::core_support;
use crate::hsm_support;
use crate::pg_support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use core_support::{files_ending, pem_certs, serial_hex};
use hsm_support::Token;
use pg_support::{Cluster, PASSWORD};

const HOSTS: usize = 4;
const PER_HOST: usize = 10;

fn run(tok: &Token, d: &Path, args: &[&str]) -> Run {
    tok.mtls(d, args, &[("MTLS_CA_STORE_PASSWORD", PASSWORD)])
}

/// A command that failed during a fault: exit 2 with one `error:` line, never a panic.
#[track_caller]
fn failed_cleanly(r: &Run) {
    assert_eq!(r.code, 2, "{r:?}");
    assert!(!r.stderr.contains("panicked"), "{r:?}");
    assert_eq!(
        r.stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{r:?}"
    );
}

/// A CRL made during the burst: who, when it started and ended, its number, and the
/// revocations committed (on any host) before it started.
struct CrlMade {
    host: String,
    file: String,
    started: Instant,
    ended: Instant,
    number: u64,
    must_list: Vec<String>,
}

#[test]
fn four_hosts_one_store_one_token_through_kill_and_restart() {
    let pg = Cluster::start();
    pg.create_db("scale");
    let tok = Token::new("shared-ca");
    let t = tempdir();
    let d = t.path().to_path_buf();
    std::fs::create_dir(d.join("out")).unwrap();
    // h0 makes the CA: records in PostgreSQL, key in the token; h1..h3 join with public parts
    // only (ca.key-uri names the shared key, no secret is copied).
    let url = pg.url("scale");
    run(
        &tok,
        &d,
        &[
            "--dir",
            "h0",
            "init",
            "--store",
            &url,
            "--key",
            &tok.uri("ca-key"),
            "--cn",
            "Scale Root",
        ],
    )
    .ok();
    let hosts: Vec<String> = (0..HOSTS).map(|i| format!("h{i}")).collect();
    for h in &hosts[1..] {
        let r = run(&tok, &d, &["--dir", h, "init", "--join", "h0"]).ok();
        assert!(!r.stderr.contains("copy ca.key"), "{}", r.stderr);
        assert!(d.join(h).join("ca.key-uri").exists());
        assert!(!d.join(h).join("ca.key").exists());
    }
    let tok = Arc::new(tok);
    let revoked: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let crls: Arc<Mutex<Vec<CrlMade>>> = Arc::new(Mutex::new(Vec::new()));
    // The last error of each issuance that was given up (for the failure message).
    let gave_up: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = hosts
        .iter()
        .cloned()
        .map(|h| {
            let (d, tok, revoked, crls, gave_up) = (
                d.clone(),
                tok.clone(),
                revoked.clone(),
                crls.clone(),
                gave_up.clone(),
            );
            std::thread::spawn(move || {
                let mut ok = Vec::new();
                for i in 0..PER_HOST {
                    let stem = format!("out/{h}-{i}");
                    let cn = format!("{h}-c{i}");
                    let issue = || {
                        run(
                            &tok,
                            &d,
                            &["--dir", &h, "issue", "client", "--cn", &cn, "--out", &stem],
                        )
                    };
                    let nothing_written = |r: &Run| {
                        failed_cleanly(r);
                        for ext in ["crt", "key", "fullchain.crt"] {
                            assert!(!d.join(format!("{stem}.{ext}")).exists(), "{stem}");
                        }
                    };
                    // A clean failure (the database restarting) changes nothing; retried as a
                    // script would, every 250 ms for up to 20 s, so that a slow restart on a
                    // loaded machine does not starve the burst.
                    let mut r = issue();
                    let give_up = Instant::now() + Duration::from_secs(20);
                    while r.code != 0 && Instant::now() < give_up {
                        nothing_written(&r);
                        std::thread::sleep(Duration::from_millis(250));
                        r = issue();
                    }
                    if r.code != 0 {
                        nothing_written(&r);
                        gave_up.lock().unwrap().push(r.stderr.trim().to_string());
                        continue;
                    }
                    ok.push(stem.clone());
                    let crt = format!("{stem}.crt");
                    let serial = serial_hex(&pem_certs(&d.join(&crt)).pop().unwrap());
                    match i % 3 {
                        // Revoke it: once committed, every later CRL of any host lists it.
                        0 => {
                            let r = run(&tok, &d, &["--dir", &h, "revoke", &serial]);
                            if r.code == 0 {
                                revoked.lock().unwrap().push(serial);
                            } else {
                                failed_cleanly(&r);
                            }
                        }
                        // Renew it (a new key, signed in the token).
                        1 => {
                            let new = format!("{stem}-r");
                            let r = run(&tok, &d, &["--dir", &h, "renew", &serial, "--out", &new]);
                            if r.code == 0 {
                                ok.push(new);
                            } else {
                                failed_cleanly(&r);
                            }
                        }
                        _ => {
                            let file = format!("out/{h}-crl{i}.pem");
                            let must_list = revoked.lock().unwrap().clone();
                            let started = Instant::now();
                            let r = run(&tok, &d, &["--dir", &h, "crl", "--out", &file]);
                            let ended = Instant::now();
                            if r.code == 0 {
                                let number = crl_number(&d, &file);
                                crls.lock().unwrap().push(CrlMade {
                                    host: h.clone(),
                                    file,
                                    started,
                                    ended,
                                    number,
                                    must_list,
                                });
                            } else {
                                failed_cleanly(&r);
                            }
                        }
                    }
                }
                ok
            })
        })
        .collect();
    // Faults mid-burst: h3's extra `issue` processes are killed with SIGKILL at growing moments,
    // and PostgreSQL restarts once.
    let deadline = Instant::now() + Duration::from_secs(300);
    while files_ending(&d.join("out"), ".crt").len() < 6 {
        assert!(Instant::now() < deadline, "the burst never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut killed_stems = Vec::new();
    for k in 0..6u64 {
        let stem = format!("out/killed-{k}");
        let mut child = Command::new(bin())
            .args([
                "--dir",
                "h3",
                "issue",
                "client",
                "--cn",
                &format!("killed-{k}"),
                "--out",
                &stem,
            ])
            .current_dir(&d)
            .env("SOFTHSM2_CONF", &tok.conf)
            .env("MTLS_CA_STORE_PASSWORD", PASSWORD)
            .env_remove("MTLS_CA_STORE")
            .env_remove("MTLS_CA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(40 * k));
        let _ = child.kill();
        let _ = child.wait();
        killed_stems.push(stem);
        if k == 2 {
            pg.restart();
        }
    }
    let mut issued: Vec<String> = Vec::new();
    for w in workers {
        issued.extend(w.join().unwrap());
    }
    assert!(
        issued.len() >= HOSTS * PER_HOST / 2,
        "too few issued: {}; the last errors of those given up: {:?}",
        issued.len(),
        gave_up
            .lock()
            .unwrap()
            .iter()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
    );

    // Every certificate file left (the killed processes' included) is recorded, once.
    let mut c = pg.client("scale");
    let certs: Vec<PathBuf> = files_ending(&d.join("out"), ".crt")
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(".fullchain.crt"))
        .collect();
    let mut serials = HashSet::new();
    for p in &certs {
        let der = pem_certs(p).pop().unwrap();
        let s = serial_hex(&der);
        assert!(serials.insert(s.clone()), "serial {s} used twice");
        let row = c
            .query_opt("SELECT der FROM certificates WHERE serial = $1", &[&s])
            .unwrap()
            .unwrap_or_else(|| panic!("{} has no record", p.display()));
        assert_eq!(row.get::<_, Vec<u8>>(0), der, "{}", p.display());
    }
    for stem in &issued {
        assert!(d.join(format!("{stem}.crt")).exists(), "{stem}");
    }
    let distinct: i64 = c
        .query_one("SELECT COUNT(DISTINCT serial) FROM certificates", &[])
        .unwrap()
        .get(0);
    let all: i64 = c
        .query_one("SELECT COUNT(*) FROM certificates", &[])
        .unwrap()
        .get(0);
    assert_eq!(distinct, all);
    // One successor at most per certificate.
    let twice: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM (SELECT renews FROM certificates WHERE renews IS NOT NULL
             GROUP BY renews HAVING COUNT(*) > 1) x",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(twice, 0);

    // CRL numbers: unique, and a CRL started after another ended has a larger number.
    let crls = crls.lock().unwrap();
    assert!(crls.len() >= HOSTS, "too few CRLs: {}", crls.len());
    let numbers: HashSet<u64> = crls.iter().map(|c| c.number).collect();
    assert_eq!(numbers.len(), crls.len(), "a CRL number was used twice");
    for a in crls.iter() {
        for b in crls.iter() {
            if b.started > a.ended {
                assert!(
                    b.number > a.number,
                    "{} ({}) after {} ({}) has a smaller number",
                    b.file,
                    b.host,
                    a.file,
                    a.host
                );
            }
        }
        // Every revocation committed anywhere before this CRL started is in it.
        let listed = crl_serials(&d, &a.file);
        for s in &a.must_list {
            assert!(listed.contains(s), "{} ({}) misses {s}", a.file, a.host);
        }
    }
    // A revocation on one host is in the next CRL of another.
    let victim = serial_hex(
        &pem_certs(&d.join(format!("{}.crt", issued[1])))
            .pop()
            .unwrap(),
    );
    run(
        &tok,
        &d,
        &[
            "--dir",
            "h2",
            "revoke",
            &victim,
            "--reason",
            "key-compromise",
        ],
    );
    run(&tok, &d, &["--dir", "h1", "crl", "--out", "final.pem"]).ok();
    let listed = crl_serials(&d, "final.pem");
    assert!(listed.contains(&victim));
    for s in revoked.lock().unwrap().iter() {
        assert!(listed.contains(s), "{s} missing from the final CRL");
    }
    assert!(crl_number(&d, "final.pem") > *numbers.iter().max().unwrap());

    // openssl verifies every certificate and every CRL against the one root; pkilint is clean.
    for p in &certs {
        openssl(
            &d,
            &[
                "verify",
                "-CAfile",
                "h0/ca.crt",
                "-purpose",
                "sslclient",
                p.to_str().unwrap(),
            ],
        )
        .ok();
    }
    for c in crls.iter().map(|c| c.file.as_str()).chain(["final.pem"]) {
        openssl(&d, &["crl", "-in", c, "-CAfile", "h3/ca.crt", "-noout"]).ok();
    }
    pkilint_cert(&d, &d.join("h0/ca.crt"));
    for p in certs.iter().step_by(7) {
        pkilint_chain(&d, &d.join("h0/ca.crt"), p);
    }
    pkilint_crl(&d, &d.join("final.pem"));
    pkilint_crl(&d, &d.join(&crls[0].file));
    // Every host keeps working after the faults.
    for h in &hosts {
        let stem = format!("out/{h}-after");
        run(
            &tok,
            &d,
            &[
                "--dir",
                h,
                "issue",
                "client",
                "--cn",
                &stem[4..],
                "--out",
                &stem,
            ],
        )
        .ok();
    }
    let _ = killed_stems;
}
