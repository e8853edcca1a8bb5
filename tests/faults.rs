//! The fault-injection harness of issue 16: every write step of init, init --parent, issue,
//! batch, renew, revoke, crl and ca rotate is killed (SIGKILL) or failed there through the
//! debug build's failpoints (`MTLS_CA_FAILPOINT`). After each, `doctor --repair` brings the
//! directory to the old or the new state, and then: the store passes its integrity check, no
//! serial is used twice, every certificate file has its record, ca.key matches ca.crt (checked
//! with openssl), and the CRL number never goes down.

use crate::common;

use std::collections::HashSet;
use std::path::Path;

use common::{crl_number, mtls, mtls_fp, openssl, tempdir};

/// The public key of a certificate and of a key file, as openssl prints them.
fn key_matches_cert(d: &Path, key: &str, cert: &str) -> bool {
    let a = openssl(d, &["x509", "-in", cert, "-noout", "-pubkey"])
        .ok()
        .stdout;
    let b = openssl(d, &["pkey", "-in", key, "-pubout"]).ok().stdout;
    a == b
}

/// Certificate files (not chains) under `d`, relative paths.
fn cert_files(d: &Path, rel: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(d.join(rel)).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let p = rel.join(&name);
        if e.file_type().unwrap().is_dir() {
            if !name.starts_with('.') {
                cert_files(d, &p, out);
            }
        } else if name.ends_with(".crt")
            && !name.ends_with(".fullchain.crt")
            && !name.starts_with("ca")
            && std::fs::metadata(d.join(&p)).unwrap().len() > 0
        {
            out.push(p.display().to_string());
        }
    }
}

fn serial_of(d: &Path, cert: &str) -> String {
    let out = openssl(d, &["x509", "-in", cert, "-noout", "-serial"])
        .ok()
        .stdout;
    out.trim()
        .trim_start_matches("serial=")
        .trim_start_matches('0')
        .to_ascii_lowercase()
}

/// Serials the store of CA directory `ca` knows (every status).
fn store_serials(d: &Path, ca: &str) -> Vec<String> {
    let list = mtls(d, &["--json", "--dir", ca, "list"]).ok().json();
    list["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["serial"]
                .as_str()
                .unwrap()
                .trim_start_matches('0')
                .to_string()
        })
        .collect()
}

/// The base workspace: a root `ca` with an intermediate `sub`, a client of each, a CRL of each.
fn base(d: &Path) {
    mtls(d, &["--dir", "ca", "init"]).ok();
    mtls(d, &["--dir", "sub", "init", "--parent", "ca"]).ok();
    mtls(
        d,
        &["--dir", "ca", "issue", "client", "--cn", "a", "--out", "a"],
    )
    .ok();
    mtls(
        d,
        &["--dir", "sub", "issue", "client", "--cn", "s", "--out", "s"],
    )
    .ok();
    mtls(d, &["--dir", "ca", "crl"]).ok();
    mtls(d, &["--dir", "sub", "crl"]).ok();
    std::fs::write(d.join("b.csv"), "b1.example.com,,b1\nb2.example.com,,b2\n").unwrap();
}

/// Every invariant, after `doctor --repair`.
fn check(d: &Path, case: &str, crl_before: &[(&str, u64)]) {
    for ca in ["ca", "sub", "new"] {
        if !d.join(ca).is_dir() {
            continue;
        }
        // doctor --repair completes a committed init or rotation, undoes an uncommitted one.
        mtls(d, &["--dir", ca, "doctor", "--repair"]);
        if !d.join(ca).join("ca.crt").exists() {
            // An init that never reached its commit point: nothing of a CA may be left.
            let left: Vec<_> = std::fs::read_dir(d.join(ca))
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != ".mtls-ca.lock")
                .collect();
            assert!(left.is_empty(), "{case}: {ca} holds {left:?}");
            continue;
        }
        // doctor: after repair only decisions are left: records whose files a kill prevented,
        // or whose key file a kill left empty (a bulk write's threads create files in parallel,
        // so which of them exist when the kill lands varies).
        let r = mtls(d, &["--json", "--dir", ca, "doctor", "--repair"]);
        assert!(
            r.code == 0 || r.code == 1,
            "{case}: doctor {ca}: {}",
            r.stderr
        );
        let rep = r.json();
        for f in rep["findings"].as_array().unwrap() {
            let code = f["code"].as_str().unwrap();
            assert!(
                f["repaired"] == true || code == "record-without-files" || code == "empty-file",
                "{case}: {ca}: unexpected finding {f}"
            );
        }
        assert!(!d.join(ca).join(".mtls-ca.journal").exists(), "{case}");
        assert!(!d.join(ca).join(".mtls-ca.pending").exists(), "{case}");
        // ca.key matches ca.crt (openssl), and the CA opens and issues.
        assert!(
            key_matches_cert(d, &format!("{ca}/ca.key"), &format!("{ca}/ca.crt")),
            "{case}: {ca}/ca.key does not match {ca}/ca.crt"
        );
        // No serial used twice.
        let serials = store_serials(d, ca);
        let unique: HashSet<_> = serials.iter().collect();
        assert_eq!(unique.len(), serials.len(), "{case}: {ca}: {serials:?}");
        // CRL numbers never go down: the next CRL is above every one published before.
        let before = crl_before
            .iter()
            .find(|(c, _)| *c == ca)
            .map_or(0, |(_, n)| *n);
        if d.join(ca).join("crl.pem").exists() {
            let now = crl_number(d, &format!("{ca}/crl.pem"));
            assert!(now >= before, "{case}: {ca}: CRL #{now} after #{before}");
        }
        mtls(d, &["--dir", ca, "crl"]).ok();
        let next = crl_number(d, &format!("{ca}/crl.pem"));
        assert!(next > before, "{case}: {ca}: CRL #{next} after #{before}");
    }
    // Every certificate file has its record (in the store of the CA that signed it).
    let mut files = Vec::new();
    cert_files(d, Path::new(""), &mut files);
    let mut known: HashSet<String> = HashSet::new();
    for ca in ["ca", "sub", "new"] {
        if d.join(ca).join("store.db").exists() {
            known.extend(store_serials(d, ca));
        }
    }
    for f in files {
        let s = serial_of(d, &f);
        assert!(known.contains(&s), "{case}: {f} (serial {s}) has no record");
    }
}

type Case = (&'static [&'static str], &'static [&'static str]);

/// Every command that writes, with the write steps to kill or fail it at.
fn all_cases() -> Vec<Case> {
    vec![
        (
            &["--dir", "new", "init"],
            &[
                "init.dir",
                "journal.stage",
                "init.store",
                "init.record",
                "init.commit",
                "init.committed",
                "init.install@1",
                "init.install@3",
                "init.install@5",
            ],
        ),
        (
            &["--dir", "new", "init", "--parent", "ca"],
            &[
                "init.parent-reserve",
                "init.parent-record",
                "journal.stage",
                "init.commit",
                "init.committed",
                "init.install@2",
            ],
        ),
        (
            &["--dir", "ca", "issue", "client", "--cn", "x", "--out", "x"],
            &[
                "issue.reserve",
                "issue.record",
                "files.temps",
                "files.link@1",
                "files.link@2",
                "files.link@3",
            ],
        ),
        (
            &[
                "--dir",
                "sub",
                "issue",
                "server",
                "--batch",
                "b.csv",
                "--out-dir",
                "bo",
            ],
            &[
                "batch.reserve",
                "batch.record",
                "files.bulk@1",
                "files.bulk@4",
            ],
        ),
        (
            &["--dir", "ca", "renew", "--cert", "a.crt"],
            &[
                "renew.start",
                "issue.reserve",
                "issue.record",
                "files.temps",
                "files.link@2",
            ],
        ),
        (
            &["--dir", "sub", "revoke", "--cert", "s.crt"],
            &["revoke.before", "revoke.after"],
        ),
        (&["--dir", "ca", "crl"], &["crl.number", "crl.write"]),
        (
            &["--dir", "ca", "ca", "rotate"],
            &[
                "journal.stage",
                "rotate.commit",
                "rotate.committed",
                "rotate.install@1",
                "rotate.install@4",
                "rotate.install@6",
                "rotate.record",
            ],
        ),
    ]
}

/// Runs the cases whose command (the word after `--dir X`) is one of `verbs`, each step killed
/// and failed, from a fresh copy of the base workspace; returns how many ran.
fn run_cases(verbs: &[&str]) -> usize {
    let t = tempdir();
    let base_dir = t.path().join("base");
    std::fs::create_dir(&base_dir).unwrap();
    base(&base_dir);
    let crl_before = [("ca", 1), ("sub", 1)];
    let cases: Vec<Case> = all_cases()
        .into_iter()
        .filter(|(args, _)| verbs.contains(&args[2]))
        .collect();
    let mut n = 0;
    for (args, steps) in cases {
        for step in steps {
            for action in ["kill", "error"] {
                n += 1;
                let case = format!("{} @ {step}:{action}", args.join(" "));
                let d = t.path().join(format!("w{n}"));
                common::tool(t.path(), "cp", &["-a", "base", &format!("w{n}")]).ok();
                let r = mtls_fp(&d, &format!("{step}:{action}"), args);
                assert_ne!(
                    r.code, 0,
                    "{case}: the failpoint did not fire: {}",
                    r.stderr
                );
                if action == "error" {
                    assert_eq!(r.code, 2, "{case}: {}", r.stderr);
                    assert!(
                        r.stderr.contains("injected failure"),
                        "{case}: {}",
                        r.stderr
                    );
                }
                check(&d, &case, &crl_before);
                // The command works when run again.
                if args[2] != "init" || !d.join("new/ca.crt").exists() {
                    let again = mtls(&d, args);
                    assert!(
                        again.code == 0 || again.stderr.contains("already"),
                        "{case}: again: {}",
                        again.stderr
                    );
                }
            }
        }
    }
    n
}

// The harness in three parts that run in parallel (one per test thread).

#[test]
fn every_write_step_of_init_killed_or_failed_leaves_a_consistent_ca() {
    assert!(run_cases(&["init"]) >= 28);
}

#[test]
fn every_write_step_of_issue_renew_revoke_crl_killed_or_failed_leaves_a_consistent_ca() {
    assert!(run_cases(&["issue", "renew", "revoke", "crl"]) >= 38);
}

#[test]
fn every_write_step_of_ca_rotate_killed_or_failed_leaves_a_consistent_ca() {
    assert!(run_cases(&["ca"]) >= 14);
}

#[test]
fn the_harness_covers_every_writing_command() {
    let cases = all_cases();
    let steps: usize = cases.iter().map(|(_, s)| s.len()).sum();
    assert!(steps * 2 >= 80, "{steps} steps");
    for verb in ["init", "issue", "renew", "revoke", "crl", "ca"] {
        assert!(cases.iter().any(|(a, _)| a[2] == verb), "{verb}");
    }
}

/// A certificate signed and recorded whose files could not be written (disk full, I/O error) is
/// voided at once: revoked with reason cessationOfOperation, so `list --status valid` and the
/// next CRL never present a certificate nobody holds as valid. For one `issue` and for a batch
/// chunk.
#[test]
fn a_certificate_whose_files_were_not_written_is_revoked_not_valid() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init", "--cn", "Void CA"]).ok();
    let r = mtls_fp(d, "files.link@2", &["issue", "client", "--cn", "x"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!d.join("x.crt").exists() && !d.join("x.key").exists());
    std::fs::write(d.join("b.csv"), "a.example.com,,a\nb.example.com,,b\n").unwrap();
    let r = mtls_fp(
        d,
        "files.bulk@1",
        &["issue", "server", "--batch", "b.csv", "--out-dir", "o"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("revoked"), "{}", r.stderr);
    let list = mtls(d, &["--json", "list"]).ok().json();
    let certs = list["certificates"].as_array().unwrap();
    let leaves: Vec<_> = certs.iter().filter(|c| c["profile"] != "root").collect();
    assert_eq!(leaves.len(), 3, "{list:#}");
    for c in &leaves {
        assert_eq!(c["status"], "revoked", "{c}");
    }
    // Nothing left for doctor to decide, and the CRL lists all three.
    mtls(d, &["doctor"]).ok();
    mtls(d, &["crl"]).ok();
    let text = openssl(d, &["crl", "-in", "pki/crl.pem", "-noout", "-text"])
        .ok()
        .stdout;
    assert_eq!(text.matches("Cessation Of Operation").count(), 3, "{text}");
}
