//! Crash safety and hostile directories (issue 16): failpoints injected at the write steps of
//! `init` and `ca rotate`, batch outputs that try to leave `--out-dir`, a CA certificate that is
//! not a CA, concurrent CRL publication, untrusted directory permissions.
//!
//! Failpoints (`MTLS_CA_FAILPOINT=NAME[:ACTION]`) exist in debug builds only; the tests run the
//! debug binary.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{mtls, mtls_fp, tempdir};

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// Names in `dir` that a finished command must not leave: staging, journal, temp files.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp") || n == ".mtls-ca.pending" || n == ".mtls-ca.journal")
        .collect()
}

fn roots(list: &serde_json::Value) -> Vec<String> {
    list["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["profile"] == "root")
        .map(|c| c["serial"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn rotate_killed_or_failed_at_every_step_leaves_the_old_or_the_new_ca() {
    let t = tempdir();
    let base = t.path().join("base");
    mtls(t.path(), &["--dir", "base", "init"]).ok();
    mtls(
        t.path(),
        &[
            "--dir", "base", "issue", "client", "--cn", "a", "--out", "a",
        ],
    )
    .ok();
    let old_crt = read(&base.join("ca.crt"));
    let steps = [
        "journal.stage",
        "rotate.commit",
        "rotate.committed",
        "rotate.install@1",
        "rotate.install@2",
        "rotate.install@3",
        "rotate.install@4",
        "rotate.install@5",
        "rotate.install@6",
        "rotate.record",
    ];
    for step in steps {
        for action in ["kill", "exit", "error"] {
            let name = format!("ca-{}-{action}", step.replace('@', "-"));
            let dir = t.path().join(&name);
            common::tool(t.path(), "cp", &["-a", "base", &name]).ok();
            let r = mtls_fp(
                t.path(),
                &format!("{step}:{action}"),
                &["--dir", &name, "ca", "rotate"],
            );
            assert_ne!(r.code, 0, "{step}:{action} did not interrupt the rotation");
            if action == "error" {
                assert_eq!(r.code, 2, "{step}:{action}: {}", r.stderr);
            }
            // The next command completes or undoes the change.
            let list = mtls(t.path(), &["--dir", &name, "list", "--json"]).ok();
            let list = list.json();
            let crt = read(&dir.join("ca.crt"));
            let new_state = crt != old_crt;
            let retired: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("ca-") && n.len() == 23)
                .collect();
            if new_state {
                assert_eq!(roots(&list).len(), 2, "{step}:{action}: {list}");
                assert_eq!(retired.len(), 2, "{step}:{action}: {retired:?}");
                let bundle = String::from_utf8(read(&dir.join("ca-bundle.crt"))).unwrap();
                assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 2);
            } else {
                assert_eq!(roots(&list).len(), 1, "{step}:{action}: {list}");
                assert!(retired.is_empty(), "{step}:{action}: {retired:?}");
            }
            // A commit point exists: failing before it is old state, after it new state.
            let after_commit = !matches!(step, "journal.stage" | "rotate.commit");
            assert_eq!(new_state, after_commit, "{step}:{action}");
            assert!(
                leftovers(&dir).is_empty(),
                "{step}:{action}: {:?}",
                leftovers(&dir)
            );
            // ca.key matches ca.crt (open checks it), issuing and CRLs work, a rotation works.
            mtls(
                t.path(),
                &[
                    "--dir",
                    &name,
                    "issue",
                    "client",
                    "--cn",
                    "b",
                    "--out",
                    &format!("{name}-b"),
                ],
            )
            .ok();
            let crl = mtls(t.path(), &["--dir", &name, "crl", "--json"])
                .ok()
                .json();
            let made = crl["crls"].as_array().map_or(0, Vec::len);
            assert_eq!(
                made,
                if new_state { 2 } else { 1 },
                "{step}:{action}: {crl}"
            );
            mtls(t.path(), &["--dir", &name, "ca", "rotate"]).ok();
        }
    }
}

#[test]
fn init_killed_at_every_step_can_be_run_again() {
    let t = tempdir();
    for step in [
        "init.dir",
        "journal.stage",
        "init.store",
        "init.record",
        "init.commit",
        "init.committed",
        "init.install@1",
        "init.install@3",
        "init.install@5",
    ] {
        let name = format!("ca-{}", step.replace('@', "-"));
        let dir = t.path().join(&name);
        let r = mtls_fp(t.path(), &format!("{step}:kill"), &["--dir", &name, "init"]);
        assert_ne!(r.code, 0, "{step}");
        let committed = matches!(step, "init.committed") || step.starts_with("init.install");
        if committed {
            // The next command completes it: a whole CA.
            mtls(t.path(), &["--dir", &name, "list"]).ok();
            mtls(
                t.path(),
                &[
                    "--dir",
                    &name,
                    "issue",
                    "client",
                    "--cn",
                    "x",
                    "--out",
                    &format!("{name}-x"),
                ],
            )
            .ok();
        } else {
            // Nothing half-made is left: init runs again.
            mtls(t.path(), &["--dir", &name, "init"]).ok();
        }
        assert!(leftovers(&dir).is_empty(), "{step}: {:?}", leftovers(&dir));
        for f in ["ca.crt", "ca.key", "ca-chain.crt", "store.db"] {
            assert!(dir.join(f).exists(), "{step}: {f}");
        }
    }
}

#[test]
fn failed_init_force_keeps_the_old_ca() {
    let t = tempdir();
    let dir = t.path().join("ca");
    mtls(t.path(), &["--dir", "ca", "init"]).ok();
    mtls(
        t.path(),
        &["--dir", "ca", "issue", "client", "--cn", "a", "--out", "a"],
    )
    .ok();
    let before = read(&dir.join("ca.crt"));
    // A directory in the way of a .bak name.
    std::fs::create_dir(dir.join("store.db.bak")).unwrap();
    let r = mtls(t.path(), &["--dir", "ca", "init", "--force"]).expect_code(2);
    assert!(r.stderr.contains("store.db.bak"), "{}", r.stderr);
    assert_eq!(read(&dir.join("ca.crt")), before);
    let list = mtls(t.path(), &["--dir", "ca", "list", "--json"])
        .ok()
        .json();
    assert_eq!(list["certificates"].as_array().unwrap().len(), 2);
    // A failure in the middle (store creation) also keeps it.
    std::fs::remove_dir(dir.join("store.db.bak")).unwrap();
    for step in ["init.store:error", "init.commit:error", "init.store:kill"] {
        let r = mtls_fp(t.path(), step, &["--dir", "ca", "init", "--force"]);
        assert_ne!(r.code, 0, "{step}");
        assert_eq!(read(&dir.join("ca.crt")), before, "{step}");
        let list = mtls(t.path(), &["--dir", "ca", "list", "--json"])
            .ok()
            .json();
        assert_eq!(list["certificates"].as_array().unwrap().len(), 2, "{step}");
        assert!(!dir.join("ca.crt.bak").exists(), "{step}");
    }
    // A force that is killed after its commit point ends as the new CA with the old one kept.
    let r = mtls_fp(
        t.path(),
        "init.install@2:kill",
        &["--dir", "ca", "init", "--force"],
    );
    assert_ne!(r.code, 0);
    let list = mtls(t.path(), &["--dir", "ca", "list", "--json"])
        .ok()
        .json();
    assert_eq!(list["certificates"].as_array().unwrap().len(), 1);
    assert_ne!(read(&dir.join("ca.crt")), before);
    assert_eq!(read(&dir.join("ca.crt.bak")), before);
    assert!(dir.join("store.db.bak").exists());
}

#[test]
fn init_refuses_a_shared_directory_instead_of_taking_it_over() {
    let t = tempdir();
    let dir = t.path().join("shared");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let r = mtls(t.path(), &["--dir", "shared", "init"]).expect_code(2);
    assert!(
        r.stderr.contains("writable by group or others"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("chmod 700"), "{}", r.stderr);
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o1777, "init must not chmod a shared directory");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}

#[test]
fn batch_outputs_cannot_escape_out_dir_and_replace_another_cas_key() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "ca1", "init"]).ok();
    mtls(d, &["--dir", "cax", "init"]).ok();
    let cax_key = read(&d.join("cax/ca.key"));
    let cax_crt = read(&d.join("cax/ca.crt"));
    // The reproduction of issue 16, High 2.
    std::fs::write(d.join("b.csv"), "evil.example.com,,../../cax/ca\n").unwrap();
    std::fs::create_dir_all(d.join("outd/sub")).unwrap();
    let r = mtls(
        d,
        &[
            "--dir",
            "ca1",
            "issue",
            "server",
            "--batch",
            "b.csv",
            "--out-dir",
            "outd/sub",
            "--force",
        ],
    )
    .expect_code(2);
    assert!(r.stderr.contains("b.csv:1"), "{}", r.stderr);
    assert!(r.stderr.contains(".."), "{}", r.stderr);
    assert_eq!(read(&d.join("cax/ca.key")), cax_key);
    assert_eq!(read(&d.join("cax/ca.crt")), cax_crt);
    // Nothing was recorded either.
    let list = mtls(d, &["--dir", "ca1", "list", "--json"]).ok().json();
    assert_eq!(list["certificates"].as_array().unwrap().len(), 1);
    // Absolute paths, NUL and newlines (JSON lines can carry them) are refused too.
    let abs = d.join("cax/ca").display().to_string();
    for line in [
        format!("evil.example.com,,{abs}"),
        format!("{{\"cn\": \"evil.example.com\", \"out\": {:?}}}", abs),
        "{\"cn\": \"evil.example.com\", \"out\": \"a\\nb\"}".to_string(),
        "{\"cn\": \"evil.example.com\", \"out\": \"a\\u0000b\"}".to_string(),
        "{\"cn\": \"evil.example.com\", \"out\": \"../x\"}".to_string(),
        "evil.example.com,,sub/../../x".to_string(),
    ] {
        std::fs::write(d.join("b.csv"), format!("{line}\n")).unwrap();
        let r = mtls(
            d,
            &[
                "--dir",
                "ca1",
                "issue",
                "server",
                "--batch",
                "b.csv",
                "--out-dir",
                "outd/sub",
                "--force",
            ],
        )
        .expect_code(2);
        assert!(r.stderr.contains("b.csv:1"), "{line}: {}", r.stderr);
    }
    assert_eq!(read(&d.join("cax/ca.key")), cax_key);
    // A relative stem in a subdirectory of --out-dir is fine.
    std::fs::write(d.join("b.csv"), "ok.example.com,,team/ok\n").unwrap();
    mtls(
        d,
        &[
            "--dir",
            "ca1",
            "issue",
            "server",
            "--batch",
            "b.csv",
            "--out-dir",
            "outd/sub",
        ],
    )
    .ok();
    assert!(d.join("outd/sub/team/ok.crt").exists());
}

#[test]
fn a_ca_directory_whose_ca_crt_is_not_a_ca_is_refused() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "ca1", "init"]).ok();
    mtls(d, &["--dir", "cax", "init"]).ok();
    mtls(
        d,
        &[
            "--dir",
            "ca1",
            "issue",
            "server",
            "--cn",
            "leaf.example.com",
            "--out",
            "leaf",
        ],
    )
    .ok();
    // What the batch escape did: a leaf and its key in place of cax's CA files.
    std::fs::copy(d.join("leaf.crt"), d.join("cax/ca.crt")).unwrap();
    std::fs::copy(d.join("leaf.key"), d.join("cax/ca.key")).unwrap();
    let r = mtls(
        d,
        &["--dir", "cax", "issue", "client", "--cn", "x", "--out", "x"],
    )
    .expect_code(2);
    assert!(r.stderr.contains("not a CA certificate"), "{}", r.stderr);
    assert!(!d.join("x.crt").exists());
    for args in [
        &["--dir", "cax", "crl"][..],
        &["--dir", "cax", "ca", "rotate"][..],
    ] {
        mtls(d, args).expect_code(2);
    }
}

#[test]
fn a_foreign_ca_pair_is_not_this_stores_ca() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "ca1", "init"]).ok();
    mtls(d, &["--dir", "ca2", "init"]).ok();
    mtls(
        d,
        &["--dir", "ca1", "issue", "client", "--cn", "a", "--out", "a"],
    )
    .ok();
    mtls(d, &["--dir", "ca1", "revoke", "--cert", "a.crt"]).ok();
    for f in ["ca.crt", "ca.key", "ca-chain.crt"] {
        std::fs::copy(d.join("ca2").join(f), d.join("ca1").join(f)).unwrap();
    }
    // crl would otherwise publish a CRL without the earlier revocation.
    let r = mtls(d, &["--dir", "ca1", "crl"]).expect_code(2);
    assert!(
        r.stderr.contains("is not the CA of the store"),
        "{}",
        r.stderr
    );
    assert!(!d.join("ca1/crl.pem").exists());
}

#[test]
fn untrusted_permissions_are_refused_with_the_fix() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "ca", "init"]).ok();
    std::fs::set_permissions(d.join("ca"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let r = mtls(
        d,
        &["--dir", "ca", "issue", "client", "--cn", "a", "--out", "a"],
    )
    .expect_code(2);
    assert!(
        r.stderr.contains("writable by group or others"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("chmod 700"), "{}", r.stderr);
    std::fs::set_permissions(d.join("ca"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(d.join("ca/ca.crt"), std::fs::Permissions::from_mode(0o666)).unwrap();
    let r = mtls(d, &["--dir", "ca", "ca", "rotate"]).expect_code(2);
    assert!(r.stderr.contains("chmod 644"), "{}", r.stderr);
    std::fs::set_permissions(d.join("ca/ca.crt"), std::fs::Permissions::from_mode(0o644)).unwrap();
    mtls(
        d,
        &["--dir", "ca", "issue", "client", "--cn", "a", "--out", "a"],
    )
    .ok();
}

/// The number of the CRL `mtls-ca crl --check` reports for CA directory `dir`.
fn published_crl_number(d: &Path, dir: &str) -> u64 {
    let c = mtls(d, &["--dir", dir, "crl", "--check", "--json"]).json();
    c["number"]
        .as_u64()
        .or_else(|| c["crls"][0]["number"].as_u64())
        .unwrap_or_else(|| panic!("no number in {c}"))
}

#[test]
fn concurrent_crl_runs_never_publish_an_older_crl_over_a_newer_one() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "ca", "init"]).ok();
    mtls(
        d,
        &["--dir", "ca", "issue", "client", "--cn", "a", "--out", "a"],
    )
    .ok();
    // The slow run takes its number, then pauses before writing (issue 16, High 3).
    let slow = Command::new(common::bin())
        .args(["--dir", "ca", "crl"])
        .current_dir(d)
        .env("MTLS_CA_FAILPOINT", "crl.write:sleep-1500")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    mtls(
        d,
        &[
            "--dir",
            "ca",
            "revoke",
            "--cert",
            "a.crt",
            "--reason",
            "key-compromise",
        ],
    )
    .ok();
    let fast = mtls(d, &["--dir", "ca", "crl", "--json"]).ok().json();
    let slow = slow.wait_with_output().unwrap();
    assert!(slow.status.success());
    assert_eq!(fast["crls"][0]["revoked"], 1, "{fast}");
    // The published CRL is the newest, and lists the revocation.
    assert_eq!(published_crl_number(d, "ca"), 2);
    let r = mtls(
        d,
        &[
            "verify",
            "a.crt",
            "--ca",
            "ca/ca.crt",
            "--crl",
            "ca/crl.pem",
        ],
    );
    assert_ne!(r.code, 0, "the revoked certificate verified: {}", r.stdout);
    // A CRL file is never replaced by one with a lower number (here: another CA's run).
    mtls(d, &["--dir", "ca2", "init"]).ok();
    let before = read(&d.join("ca/crl.pem"));
    let r = mtls(d, &["--dir", "ca2", "crl", "--out", "ca/crl.pem"]).expect_code(2);
    assert!(r.stderr.contains("newer"), "{}", r.stderr);
    assert_eq!(read(&d.join("ca/crl.pem")), before);
}

#[test]
fn two_forced_writes_of_one_stem_never_mix_their_files() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "ca", "init"]).ok();
    mtls(
        d,
        &["--dir", "ca", "issue", "client", "--cn", "s", "--out", "s"],
    )
    .ok();
    // One writer pauses between placing its key and its certificate (issue 16, Medium 7).
    let slow = Command::new(common::bin())
        .args([
            "--dir", "ca", "issue", "client", "--cn", "s", "--out", "s", "--force",
        ])
        .current_dir(d)
        .env("MTLS_CA_FAILPOINT", "files.link@2:sleep-1200")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    mtls(
        d,
        &[
            "--dir", "ca", "issue", "client", "--cn", "s", "--out", "s", "--force",
        ],
    )
    .ok();
    assert!(slow.wait_with_output().unwrap().status.success());
    mtls(
        d,
        &["verify", "s.crt", "--ca", "ca/ca.crt", "--key", "s.key"],
    )
    .ok();
    mtls(
        d,
        &[
            "verify",
            "s.crt.bak",
            "--ca",
            "ca/ca.crt",
            "--key",
            "s.key.bak",
        ],
    )
    .ok();
}

#[test]
fn an_output_that_cannot_be_created_changes_nothing_in_the_store() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "ca", "init"]).ok();
    std::fs::write(d.join("afile"), b"x").unwrap();
    let r = mtls(
        d,
        &[
            "--dir", "ca", "issue", "client", "--cn", "a", "--out", "afile/a",
        ],
    )
    .expect_code(2);
    assert!(!r.stderr.contains("another process"), "{}", r.stderr);
    let list = mtls(d, &["--dir", "ca", "list", "--json"]).ok().json();
    assert_eq!(list["certificates"].as_array().unwrap().len(), 1, "{list}");
}

#[test]
fn an_error_with_stderr_a_closed_pipe_exits_2() {
    let t = tempdir();
    let mut child = Command::new(common::bin())
        .args(["--dir", "nowhere", "issue", "client", "--cn", "a"])
        .current_dir(t.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(2), "{status:?}");
}

/// The codes of `doctor --json`'s findings, in order.
fn finding_codes(doc: &serde_json::Value) -> Vec<&str> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect()
}

#[test]
fn doctor_finds_and_repairs_what_crashes_leave() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "ca", "init"]).ok();
    mtls(
        d,
        &["--dir", "ca", "issue", "client", "--cn", "a", "--out", "a"],
    )
    .ok();
    mtls(d, &["--dir", "ca", "doctor"]).ok();
    // A kill after the record, before the files are linked: temp files (one a key) and a
    // record without files. A rotation killed after its commit point.
    mtls_fp(
        d,
        "files.temps:kill",
        &["--dir", "ca", "issue", "client", "--cn", "b", "--out", "b"],
    );
    mtls_fp(d, "rotate.committed:kill", &["--dir", "ca", "ca", "rotate"]);
    let r = mtls(d, &["--json", "--dir", "ca", "doctor"])
        .expect_code(1)
        .json();
    let codes = finding_codes(&r);
    assert!(codes.contains(&"interrupted-change"), "{r}");
    assert!(codes.contains(&"temp-file"), "{r}");
    assert!(codes.contains(&"record-without-files"), "{r}");
    // doctor alone changes nothing.
    assert!(d.join("ca/.mtls-ca.journal").exists());
    let r = mtls(d, &["--json", "--dir", "ca", "doctor", "--repair"])
        .expect_code(1)
        .json();
    assert!(!d.join("ca/.mtls-ca.journal").exists());
    let unrepaired: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["repaired"] == false)
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(unrepaired, ["record-without-files"], "{r}");
    let temp: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(temp.is_empty(), "{temp:?}");
    // The fix it gives (revoke) settles the rest.
    let serial = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "record-without-files")
        .unwrap()["message"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    mtls(d, &["--dir", "ca", "revoke", &serial]).ok();
    mtls(d, &["--dir", "ca", "doctor"]).ok();
    // A leaf in place of ca.crt, a key readable by others, a stale CRL are reported.
    mtls(d, &["--dir", "ca", "crl", "--days", "1"]).ok();
    let later = mtls(d, &["--json", "--dir", "ca", "doctor"]);
    assert_eq!(later.code, 0, "{}", later.stdout);
    std::fs::copy(d.join("a.crt"), d.join("ca/ca.crt")).unwrap();
    let r = mtls(d, &["--json", "--dir", "ca", "doctor"])
        .expect_code(1)
        .json();
    let codes = finding_codes(&r);
    assert!(codes.contains(&"not-a-ca"), "{r}");
    assert!(codes.contains(&"key-mismatch"), "{r}");
}

/// A rotated intermediate is recorded in its parent's store, so its own store knows it only once
/// it issues: doctor must not call it foreign meanwhile (it did: exit 1 right after every
/// intermediate rotation), through two rotations in a row, and must still call a CA copied in
/// from elsewhere (another intermediate of the same root) foreign.
#[test]
fn doctor_knows_a_rotated_intermediate_and_still_finds_a_foreign_one() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "root", "init"]).ok();
    mtls(d, &["--dir", "int", "init", "--parent", "root"]).ok();
    mtls(
        d,
        &[
            "--dir",
            "int",
            "issue",
            "server",
            "--cn",
            "a.example.com",
            "--out",
            "a",
        ],
    )
    .ok();
    for _ in 0..2 {
        mtls(d, &["--dir", "int", "ca", "rotate", "--parent", "root"]).ok();
        let r = mtls(d, &["--json", "--dir", "int", "doctor"]);
        assert_eq!(r.code, 0, "{}", r.stdout);
    }
    mtls(d, &["--dir", "other", "init", "--parent", "root"]).ok();
    for f in ["ca.crt", "ca.key", "ca-chain.crt"] {
        std::fs::copy(d.join("other").join(f), d.join("int").join(f)).unwrap();
    }
    let r = mtls(d, &["--json", "--dir", "int", "doctor"])
        .expect_code(1)
        .json();
    let codes = finding_codes(&r);
    assert_eq!(codes, ["foreign-ca"], "{r}");
}

#[test]
fn doctor_reports_empty_files_a_killed_batch_leaves() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "ca", "init"]).ok();
    std::fs::write(d.join("b.csv"), "b1.example.com,,b1\nb2.example.com,,b2\n").unwrap();
    mtls(
        d,
        &[
            "--dir",
            "ca",
            "issue",
            "server",
            "--batch",
            "b.csv",
            "--out-dir",
            "o",
        ],
    )
    .ok();
    mtls(d, &["--dir", "ca", "doctor"]).ok();
    std::fs::write(d.join("o/b2.key"), b"").unwrap();
    let r = mtls(d, &["--json", "--dir", "ca", "doctor"])
        .expect_code(1)
        .json();
    let f = &r["findings"][0];
    assert_eq!(f["code"], "empty-file", "{r}");
    assert!(f["path"].as_str().unwrap().ends_with("o/b2.key"), "{r}");
}
