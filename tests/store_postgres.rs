//! The store on PostgreSQL, with a real throwaway cluster (tests/pg_support): four CA
//! directories ("hosts") joined to one database issue, renew, revoke and make CRLs at once;
//! bad URLs, passwords and an unreachable server are one-line errors that write nothing.
use crate::common;
use crate::core_support;
use crate::pg_support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use core_support::*;
use pg_support::{mtls_pg, Cluster, PASSWORD};

fn hosts(d: &Path, pg: &Cluster, db: &str, n: usize) -> Vec<String> {
    let url = pg.url(db);
    let r = mtls_pg(d, &["--dir", "h0", "init", "--store", &url]).ok();
    assert!(r.stderr.contains("root CA"), "{}", r.stderr);
    assert!(!d.join("h0/store.db").exists());
    let recorded = std::fs::read_to_string(d.join("h0/store.url")).unwrap();
    assert_eq!(recorded.trim(), url);
    let mut names = vec!["h0".to_string()];
    for i in 1..n {
        let h = format!("h{i}");
        mtls_pg(d, &["--dir", &h, "init", "--join", "h0"]).ok();
        // The key travels separately (a secure channel, or an HSM both hosts reach).
        assert!(!d.join(&h).join("ca.key").exists(), "join copied the key");
        std::fs::copy(d.join("h0/ca.key"), d.join(&h).join("ca.key")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            d.join(&h).join("ca.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        names.push(h);
    }
    names
}

#[test]
fn four_hosts_share_one_postgresql_store() {
    const PER_HOST: usize = 12;
    let pg = Cluster::start();
    pg.create_db("ca4");
    let t = tempdir();
    let d = t.path().to_path_buf();
    let hosts = hosts(&d, &pg, "ca4", 4);
    // Every host issues, revokes one in three of its own and makes CRLs, all at once.
    let workers: Vec<_> = hosts
        .iter()
        .cloned()
        .map(|h| {
            let d = d.clone();
            std::thread::spawn(move || {
                let mut numbers = Vec::new();
                let mut revoked = Vec::new();
                for i in 0..PER_HOST {
                    let stem = format!("out/{h}-{i}");
                    let cn = format!("{h}-c{i}");
                    mtls_pg(
                        &d,
                        &["--dir", &h, "issue", "client", "--cn", &cn, "--out", &stem],
                    )
                    .ok();
                    if i % 3 == 0 {
                        let crt = format!("{stem}.crt");
                        mtls_pg(&d, &["--dir", &h, "revoke", "--cert", &crt]).ok();
                        revoked.push(serial_hex(&pem_certs(&d.join(&crt)).pop().unwrap()));
                    }
                    if i % 4 == 3 {
                        let crl = format!("out/{h}-crl{i}.pem");
                        mtls_pg(&d, &["--dir", &h, "crl", "--out", &crl]).ok();
                        numbers.push(crl_number(&d, &crl));
                        // Every revocation this host committed is in its next CRL.
                        let listed = crl_serials(&d, &crl);
                        for s in &revoked {
                            assert!(listed.contains(s), "{h}: {s} missing from {crl}");
                        }
                    }
                }
                (h, numbers, revoked)
            })
        })
        .collect();
    let mut all_numbers = Vec::new();
    let mut all_revoked = Vec::new();
    for w in workers {
        let (h, numbers, revoked) = w.join().unwrap();
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "{h}: CRL numbers not increasing: {numbers:?}"
        );
        all_numbers.extend(numbers);
        all_revoked.extend(revoked);
    }
    let unique: HashSet<_> = all_numbers.iter().collect();
    assert_eq!(
        unique.len(),
        all_numbers.len(),
        "a CRL number was used twice: {all_numbers:?}"
    );
    // Serials: every certificate is recorded once, seen from any host.
    let certs: Vec<PathBuf> = files_ending(&d.join("out"), ".crt")
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(".fullchain.crt"))
        .collect();
    assert_eq!(certs.len(), 4 * PER_HOST);
    let serials: HashSet<String> = certs
        .iter()
        .map(|p| serial_hex(&pem_certs(p).pop().unwrap()))
        .collect();
    assert_eq!(serials.len(), certs.len(), "serials must be unique");
    let list = mtls_pg(&d, &["--dir", "h3", "--json", "list"]).ok().json();
    let listed: HashSet<String> = list["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["profile"] == "client")
        .map(|c| c["serial"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, serials);
    // A revocation from any host is in the next CRL made on any other.
    let victim = certs
        .iter()
        .find(|p| p.to_string_lossy().contains("h2-1."))
        .unwrap();
    let victim_serial = serial_hex(&pem_certs(victim).pop().unwrap());
    mtls_pg(
        &d,
        &[
            "--dir",
            "h2",
            "revoke",
            &victim_serial,
            "--reason",
            "key-compromise",
        ],
    )
    .ok();
    mtls_pg(&d, &["--dir", "h1", "crl", "--out", "final.pem"]).ok();
    let listed = crl_serials(&d, "final.pem");
    assert!(listed.contains(&victim_serial));
    for s in &all_revoked {
        assert!(listed.contains(s), "{s} missing from the final CRL");
    }
    assert!(crl_number(&d, "final.pem") > *all_numbers.iter().max().unwrap());
    // openssl verifies every certificate and the CRL against the one root; pkilint is clean.
    for c in &certs {
        verify(&d, "h0/ca.crt", None, "sslclient", &[], c.to_str().unwrap()).ok();
    }
    openssl(
        &d,
        &["crl", "-in", "final.pem", "-CAfile", "h3/ca.crt", "-noout"],
    )
    .ok();
    pkilint_chain(&d, &d.join("h0/ca.crt"), &certs[0]);
    pkilint_crl(&d, &d.join("final.pem"));
}

#[test]
fn renewals_of_one_certificate_from_four_hosts_make_one_successor() {
    let pg = Cluster::start();
    pg.create_db("race");
    let t = tempdir();
    let d = t.path().to_path_buf();
    let hosts = hosts(&d, &pg, "race", 4);
    mtls_pg(
        &d,
        &[
            "--dir", "h0", "issue", "client", "--cn", "svc", "--out", "svc",
        ],
    )
    .ok();
    let serial = serial_hex(&pem_certs(&d.join("svc.crt")).pop().unwrap());
    let workers: Vec<_> = (0..16)
        .map(|i| {
            let (d, h, serial) = (d.clone(), hosts[i % 4].clone(), serial.clone());
            std::thread::spawn(move || {
                let out = format!("r{i}");
                let r = if i % 5 == 4 {
                    mtls_pg(&d, &["--dir", &h, "revoke", &serial])
                } else {
                    mtls_pg(&d, &["--dir", &h, "renew", &serial, "--out", &out])
                };
                (i, r)
            })
        })
        .collect();
    let mut renewed = Vec::new();
    for w in workers {
        let (i, r) = w.join().unwrap();
        assert!(r.code == 0 || r.code == 2, "{r:?}");
        assert!(!r.stderr.contains("panicked"));
        if r.code == 0 && i % 5 != 4 {
            renewed.push(i);
        } else if r.code == 2 {
            assert!(
                !d.join(format!("r{i}.crt")).exists(),
                "failed renew wrote files"
            );
        }
    }
    assert!(renewed.len() <= 1, "two successors: {renewed:?}");
    let mut c = pg.client("race");
    let n: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM certificates WHERE renews = $1 AND state != 'reserved'",
            &[&serial],
        )
        .unwrap()
        .get(0);
    assert_eq!(n as usize, renewed.len());
}

#[test]
fn bad_urls_passwords_and_servers_are_one_line_errors() {
    let pg = Cluster::start();
    let t = tempdir();
    let d = t.path();
    // Wrong password: one line naming the store, nothing written.
    let before = snapshot(d);
    let r = mtls_env(
        d,
        &["--dir", "x", "init", "--store", &pg.url("postgres")],
        &[("MTLS_CA_STORE_PASSWORD", "wrong")],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(
        r.stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("password authentication failed"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("wrong"),
        "the password is never printed: {}",
        r.stderr
    );
    assert!(snapshot(d) == before && !d.join("x").exists());
    // A password in the URL is used and never printed or recorded.
    let with_pw = pg
        .url("postgres")
        .replace("mtls@", &format!("mtls:{PASSWORD}@"));
    let r = mtls_env(d, &["--dir", "y", "init", "--store", &with_pw], &[]).ok();
    assert!(!r.stderr.contains(PASSWORD) && !r.stdout.contains(PASSWORD));
    let recorded = std::fs::read_to_string(d.join("y/store.url")).unwrap();
    assert!(!recorded.contains(PASSWORD), "{recorded}");
    // The store now holds a CA: a second init on it is refused.
    let r = mtls_pg(d, &["--dir", "z", "init", "--store", &pg.url("postgres")]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("already holds"), "{}", r.stderr);
    assert!(!d.join("z/ca.crt").exists());
    // Unreachable server.
    let closed = format!(
        "postgres://mtls@127.0.0.1:{}/x?sslmode=disable&connect_timeout=3",
        free_port()
    );
    let before = snapshot(d);
    let r = mtls_pg(d, &["--dir", "u", "init", "--store", &closed]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(
        r.stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);
    assert!(snapshot(d) == before);
    // Not a URL at all: usage error.
    let r = mtls_pg(d, &["--dir", "v", "init", "--store", "mysql://x"]);
    assert_eq!(r.code, 2, "{r:?}");
    // A joined directory whose server is gone: one line, exit 2.
    let r = mtls_env(
        d,
        &["--dir", "y", "list"],
        &[
            ("MTLS_CA_STORE", &closed),
            ("MTLS_CA_STORE_PASSWORD", PASSWORD),
        ],
    );
    assert_eq!(r.code, 2, "{r:?}");
    // Joining a CA with a local store.db is refused.
    mtls(d, &["--dir", "local", "init"]).ok();
    let r = mtls(d, &["--dir", "j", "init", "--join", "local"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("store.db"), "{}", r.stderr);
}

#[test]
fn sslmode_require_goes_through_rustls() {
    let pg = Cluster::start();
    let t = tempdir();
    let d = t.path();
    // The server's certificate comes from an mtls-ca CA of its own.
    mtls(d, &["--dir", "dbca", "init"]).ok();
    mtls(
        d,
        &[
            "--dir",
            "dbca",
            "issue",
            "server",
            "--cn",
            "127.0.0.1",
            "--out",
            "db",
        ],
    )
    .ok();
    pg.require_tls(&d.join("db.fullchain.crt"), &d.join("db.key"));
    let plain = pg.url("postgres");
    let r = mtls_pg(d, &["--dir", "plain", "init", "--store", &plain]);
    assert_eq!(r.code, 2, "the server refuses plain TCP: {r:?}");
    assert!(!d.join("plain").exists());
    let tls = plain.replace("sslmode=disable", "sslmode=require");
    mtls_pg(d, &["--dir", "ca", "init", "--store", &tls]).ok();
    // Authenticated against the roots given, too.
    let r = mtls_env(
        d,
        &["--dir", "ca", "issue", "client", "--cn", "c", "--out", "c"],
        &[
            ("MTLS_CA_STORE_PASSWORD", PASSWORD),
            ("MTLS_CA_STORE_CA", "dbca/ca.crt"),
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    // Roots that did not issue the server's certificate: refused, nothing written.
    mtls(d, &["--dir", "other", "init"]).ok();
    let r = mtls_env(
        d,
        &["--dir", "ca", "issue", "client", "--cn", "e", "--out", "e"],
        &[
            ("MTLS_CA_STORE_PASSWORD", PASSWORD),
            ("MTLS_CA_STORE_CA", "other/ca.crt"),
        ],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(!d.join("e.crt").exists());
}

/// PostgreSQL restarted in the middle of a burst from four hosts: every command completes
/// (exit 0, its files and its record) or fails with exit 2 and writes nothing; no serial is
/// used twice; every certificate file has its record afterwards.
#[test]
fn a_postgresql_restart_mid_burst_loses_nothing_committed() {
    const PER_HOST: usize = 10;
    let pg = Cluster::start();
    pg.create_db("burst");
    let t = tempdir();
    let d = t.path().to_path_buf();
    let hosts = hosts(&d, &pg, "burst", 4);
    let workers: Vec<_> = hosts
        .iter()
        .cloned()
        .map(|h| {
            let d = d.clone();
            std::thread::spawn(move || {
                (0..PER_HOST)
                    .map(|i| {
                        let stem = format!("out/{h}-{i}");
                        let cn = format!("{h}-{i}");
                        let r = mtls_pg(
                            &d,
                            &["--dir", &h, "issue", "client", "--cn", &cn, "--out", &stem],
                        );
                        (stem, r)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    // Restart once the burst is under way.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while files_ending(&d.join("out"), ".key").len() < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "the burst never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    pg.restart();
    let mut ok = 0;
    let mut failed = 0;
    for w in workers {
        for (stem, r) in w.join().unwrap() {
            assert!(!r.stderr.contains("panicked"), "{r:?}");
            match r.code {
                0 => {
                    assert!(d.join(format!("{stem}.crt")).exists());
                    ok += 1;
                }
                2 => {
                    assert_eq!(
                        r.stderr.lines().filter(|l| l.starts_with("error:")).count(),
                        1,
                        "{r:?}"
                    );
                    for ext in ["crt", "key", "fullchain.crt"] {
                        assert!(
                            !d.join(format!("{stem}.{ext}")).exists(),
                            "{stem}: wrote files"
                        );
                    }
                    failed += 1;
                }
                _ => panic!("{stem}: {r:?}"),
            }
        }
    }
    assert_eq!(ok + failed, 4 * PER_HOST);
    assert!(ok > 0);
    let mut c = pg.client("burst");
    let certs: Vec<PathBuf> = files_ending(&d.join("out"), ".crt")
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(".fullchain.crt"))
        .collect();
    assert_eq!(certs.len(), ok);
    let mut serials = HashSet::new();
    for p in &certs {
        let der = pem_certs(p).pop().unwrap();
        let s = serial_hex(&der);
        assert!(serials.insert(s.clone()), "serial {s} used twice");
        let row = c
            .query_one(
                "SELECT der FROM certificates WHERE serial = $1 AND state = 'issued'",
                &[&s],
            )
            .unwrap();
        assert_eq!(
            row.get::<_, Vec<u8>>(0),
            der,
            "{}: record differs",
            p.display()
        );
    }
    // The hosts keep issuing after the restart.
    mtls_pg(
        &d,
        &[
            "--dir", "h2", "issue", "client", "--cn", "after", "--out", "after",
        ],
    )
    .ok();
}

/// `kill -9` of one host's `issue` at growing moments while another host issues: no serial is
/// reused, every certificate file left has its record, and both hosts keep working.
#[test]
fn kill_nine_of_one_host_loses_nothing_committed() {
    let pg = Cluster::start();
    pg.create_db("kill");
    let t = tempdir();
    let d = t.path().to_path_buf();
    hosts(&d, &pg, "kill", 2);
    for i in 0..12u64 {
        let stem = format!("out/k{i}");
        let child = Command::new(bin())
            .args([
                "--dir",
                "h1",
                "issue",
                "client",
                "--cn",
                &format!("k{i}"),
                "--out",
                &stem,
            ])
            .current_dir(&d)
            .env("MTLS_CA_STORE_PASSWORD", PASSWORD)
            .env_remove("MTLS_CA_STORE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let other = format!("out/o{i}");
        let cn = format!("o{i}");
        let r = mtls_pg(
            &d,
            &[
                "--dir", "h0", "issue", "client", "--cn", &cn, "--out", &other,
            ],
        );
        std::thread::sleep(std::time::Duration::from_millis(15 * i));
        let mut k = Killed(child);
        let _ = k.0.kill();
        let _ = k.0.wait();
        r.ok();
    }
    let mut c = pg.client("kill");
    let mut serials = HashSet::new();
    for p in files_ending(&d.join("out"), ".crt")
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(".fullchain.crt"))
    {
        let der = pem_certs(&p).pop().unwrap();
        let s = serial_hex(&der);
        assert!(serials.insert(s.clone()), "serial {s} used twice");
        let row = c
            .query_opt("SELECT der FROM certificates WHERE serial = $1", &[&s])
            .unwrap()
            .unwrap_or_else(|| panic!("{} has no record", p.display()));
        assert_eq!(row.get::<_, Vec<u8>>(0), der);
    }
    let n: i64 = c
        .query_one("SELECT COUNT(DISTINCT serial) FROM certificates", &[])
        .unwrap()
        .get(0);
    let all: i64 = c
        .query_one("SELECT COUNT(*) FROM certificates", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, all);
    mtls_pg(
        &d,
        &[
            "--dir", "h1", "issue", "client", "--cn", "after", "--out", "after",
        ],
    )
    .ok();
    mtls_pg(&d, &["--dir", "h1", "crl"]).ok();
}

/// `ca rotate` of a CA whose store is PostgreSQL: the rotation records the new root in the
/// database (it used to look for `store.db` and stop half-way), the overlap's CRLs come from
/// both roots, `--finish` sees the database's certificates (it refuses while the old root's
/// leaf is valid, then ends the overlap), `doctor` checks the database, and no `store.db` is
/// ever made. A second host that joined before the rotation issues from the retired root until
/// it joins again; `--finish` names what it issued.
#[test]
fn a_ca_on_postgresql_rotates_finishes_and_passes_doctor() {
    let pg = Cluster::start();
    pg.create_db("rot");
    let t = tempdir();
    let d = t.path().to_path_buf();
    let hosts = hosts(&d, &pg, "rot", 2);
    let (h0, h1) = (hosts[0].as_str(), hosts[1].as_str());
    mtls_pg(
        &d,
        &[
            "--dir", h0, "issue", "client", "--cn", "old-a", "--out", "old-a",
        ],
    )
    .ok();
    std::fs::copy(d.join(h0).join("ca.crt"), d.join("old-root.crt")).unwrap();
    let old_root = pem_certs(&d.join("old-root.crt")).remove(0);
    let issuer = |f: &str| {
        openssl(&d, &["x509", "-in", f, "-noout", "-issuer"])
            .ok()
            .stdout
            .trim()
            .to_string()
    };
    let r = mtls_pg(&d, &["--dir", h0, "--json", "ca", "rotate"]).ok();
    let j = r.json();
    let old_serial = serial_hex(&old_root);
    assert_eq!(j["old_serial"], old_serial.as_str(), "{j}");
    assert!(
        !d.join(h0).join(".mtls-ca.journal").exists(),
        "rotation left its journal"
    );
    let new_serial = serial_hex(&pem_certs(&d.join(h0).join("ca.crt"))[0]);
    // Both roots are in the shared database.
    let mut db = pg.client("rot");
    let roots: Vec<String> = db
        .query(
            "SELECT serial FROM certificates WHERE profile = 'root' ORDER BY serial",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut want = vec![old_serial.clone(), new_serial.clone()];
    want.sort();
    assert_eq!(roots, want);
    // The other host has not joined again: it still issues from the retired root.
    mtls_pg(
        &d,
        &[
            "--dir", h1, "issue", "client", "--cn", "stale-b", "--out", "stale-b",
        ],
    )
    .ok();
    let stale = pem_certs(&d.join("stale-b.crt")).remove(0);
    assert_eq!(issuer("stale-b.crt"), "issuer=CN = mtls-ca Root CA");
    // One CRL per root, each signed by its root, both pass pkilint.
    mtls_pg(&d, &["--dir", h0, "crl"]).ok();
    let old_crl = d.join(h0).join(format!("crl-{}.pem", &old_serial[..16]));
    for (crl, ca) in [
        (d.join(h0).join("crl.pem"), d.join(h0).join("ca.crt")),
        (old_crl.clone(), d.join("old-root.crt")),
    ] {
        openssl(
            &d,
            &[
                "crl",
                "-in",
                crl.to_str().unwrap(),
                "-noout",
                "-CAfile",
                ca.to_str().unwrap(),
            ],
        )
        .ok();
        pkilint_crl(&d, &crl);
    }
    mtls_pg(&d, &["--dir", h0, "crl", "--check"]).ok();
    // --finish sees both hosts' certificates of the retired root in the database.
    let r = mtls_pg(&d, &["--dir", h0, "ca", "rotate", "--finish"]).expect_code(2);
    assert!(r.stderr.contains("2 unexpired"), "{}", r.stderr);
    assert!(
        r.stderr.contains("old-a") && r.stderr.contains("stale-b"),
        "{}",
        r.stderr
    );
    // The second host joins again (the new root's files) and gets the new key; renewing the
    // retired root's leaves from either host moves them over.
    mtls_pg(&d, &["--dir", h1, "init", "--join", h0, "--force"]).ok();
    std::fs::copy(d.join(h0).join("ca.key"), d.join(h1).join("ca.key")).unwrap();
    mtls_pg(
        &d,
        &[
            "--dir", h1, "issue", "client", "--cn", "fresh-c", "--out", "fresh-c",
        ],
    )
    .ok();
    assert_eq!(issuer("fresh-c.crt"), "issuer=CN = mtls-ca Root CA G2");
    let renewed = mtls_pg(&d, &["--dir", h0, "--json", "renew", "--issuer", "retired"])
        .ok()
        .json();
    assert_eq!(renewed["renewed"].as_array().unwrap().len(), 2, "{renewed}");
    mtls_pg(&d, &["--dir", h0, "ca", "rotate", "--finish"]).ok();
    assert!(d.join(h0).join("finished").is_dir());
    let stale_serial = serial_hex(&stale);
    let status: String = db
        .query_one(
            "SELECT CASE WHEN superseded_by IS NULL THEN 'open' ELSE 'superseded' END
             FROM certificates WHERE serial = $1",
            &[&stale_serial],
        )
        .unwrap()
        .get(0);
    assert_eq!(status, "superseded");
    // doctor checks the database, on both hosts; neither ever had a store.db.
    for h in [h0, h1] {
        let r = mtls_pg(&d, &["--dir", h, "doctor"]).ok();
        assert!(r.stderr.contains("no problems found"), "{h}: {}", r.stderr);
        assert!(!d.join(h).join("store.db").exists(), "{h} made a store.db");
    }
}
