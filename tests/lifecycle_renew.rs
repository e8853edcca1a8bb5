//! Renewal (single, --rekey, --cert, --expiring-within for cron) and `list --expiring-within`.
use crate::common;
use common::*;

use std::path::Path;

fn pubkey(d: &Path, cert: &str) -> String {
    openssl(d, &["x509", "-in", cert, "-noout", "-pubkey"])
        .ok()
        .stdout
}

fn verify(d: &Path, purpose: &str, cert: &str) {
    openssl(
        d,
        &["verify", "-CAfile", "pki/ca.crt", "-purpose", purpose, cert],
    )
    .ok();
    pkilint_cert(d, &d.join(cert));
    pkilint_chain(d, &d.join("pki/ca.crt"), &d.join(cert));
}

fn status(d: &Path, serial: &str) -> String {
    let j = mtls(d, &["--json", "list"]).ok().json();
    j["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["serial"] == serial)
        .unwrap_or_else(|| panic!("{serial} not listed: {j}"))["status"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn renew_keeps_key_and_names_and_supersedes() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init"]).ok();
    mtls(
        d,
        &[
            "issue",
            "server",
            "--cn",
            "api.example.com",
            "--san",
            "10.0.0.7",
            "--out",
            "api",
            "--days",
            "90",
        ],
    )
    .ok();
    let old = serial_of(d, "api.crt");
    let old_pub = pubkey(d, "api.crt");
    let old_key = std::fs::read(d.join("api.key")).unwrap();
    let r = mtls(d, &["--json", "renew", &old, "--reuse-key"]).ok();
    assert!(r.stderr.contains("--reuse-key"), "{}", r.stderr);
    let j = r.json();
    let new = j["serial"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(
        j["sans"],
        serde_json::json!(["api.example.com", "10.0.0.7"])
    );
    assert_eq!(j["profile"], "server");
    // Written over the old files (kept as .bak); with --reuse-key the key is untouched.
    assert_eq!(serial_of(d, "api.crt"), new);
    assert_eq!(serial_of(d, "api.crt.bak"), old);
    assert_eq!(std::fs::read(d.join("api.key")).unwrap(), old_key);
    assert_eq!(pubkey(d, "api.crt"), old_pub);
    let days = (chrono_days(&j["not_before"], &j["not_after"])).round() as i64;
    assert_eq!(days, 90, "same validity period as the old certificate");
    verify(d, "sslserver", "api.crt");
    openssl(
        d,
        &[
            "verify",
            "-CAfile",
            "pki/ca.crt",
            "-verify_ip",
            "10.0.0.7",
            "api.crt",
        ],
    )
    .ok();
    assert_eq!(status(d, &old), "superseded");
    assert_eq!(status(d, &new), "valid");
    // Renewing the superseded one again is refused (exit 2), pointing at the successor.
    let r = mtls(d, &["renew", &old]).expect_code(2);
    assert!(r.stderr.contains(&new), "{}", r.stderr);

    // By file, to a new stem: a new key of the same type (the default; --rekey says it again).
    mtls(
        d,
        &[
            "renew", "--cert", "api.crt", "--rekey", "--out", "api2", "--days", "30",
        ],
    )
    .ok();
    assert_ne!(pubkey(d, "api2.crt"), old_pub);
    let k = openssl(d, &["pkey", "-in", "api2.key", "-pubout"])
        .ok()
        .stdout;
    assert_eq!(k, pubkey(d, "api2.crt"));
    assert!(openssl(d, &["x509", "-in", "api2.crt", "-noout", "-text"])
        .ok()
        .stdout
        .contains("prime256v1"));
    verify(d, "sslserver", "api2.crt");
    assert_eq!(status(d, &new), "superseded");
}

fn chrono_days(nb: &serde_json::Value, na: &serde_json::Value) -> f64 {
    let p = |v: &serde_json::Value| {
        time::OffsetDateTime::parse(
            v.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    (p(na) - p(nb)).as_seconds_f64() / 86400.0
}

#[test]
fn expiring_within_lists_and_renews_for_cron() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init"]).ok();
    mtls(
        d,
        &[
            "issue", "client", "--cn", "soon", "--out", "soon", "--days", "10",
        ],
    )
    .ok();
    mtls(
        d,
        &[
            "issue",
            "server",
            "--cn",
            "later.example.com",
            "--out",
            "later",
            "--days",
            "200",
        ],
    )
    .ok();
    let soon = serial_of(d, "soon.crt");
    // list --expiring-within: exit 1 when some valid certificate expires inside the window.
    let r = mtls(d, &["list", "--expiring-within", "30d"]).expect_code(1);
    assert!(
        r.stdout.contains(&soon) && !r.stdout.contains("later.example.com"),
        "{}",
        r.stdout
    );
    let r = mtls(d, &["--json", "list", "--expiring-within", "30d"]).expect_code(1);
    let certs = r.json()["certificates"].as_array().unwrap().clone();
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0]["serial"], soon);
    let r = mtls(d, &["list", "--expiring-within", "5d"]).ok();
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    let r = mtls(d, &["--json", "list", "--expiring-within", "12h"]).ok();
    assert_eq!(r.json()["certificates"].as_array().unwrap().len(), 0);
    mtls(d, &["list", "--expiring-within", "soon"]).expect_code(2);

    // renew --expiring-within into another directory.
    let j = mtls(
        d,
        &[
            "--json",
            "renew",
            "--expiring-within",
            "30d",
            "--out-dir",
            "renewed",
            "--days",
            "60",
        ],
    )
    .ok()
    .json();
    let items = j["renewed"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{j}");
    assert_eq!(items[0]["serial"], soon);
    let new = items[0]["renewed"]["serial"].as_str().unwrap().to_string();
    assert_eq!(serial_of(d, "renewed/soon.crt"), new);
    openssl(
        d,
        &[
            "verify",
            "-CAfile",
            "pki/ca.crt",
            "-purpose",
            "sslclient",
            "renewed/soon.crt",
        ],
    )
    .ok();
    pkilint_cert(d, &d.join("renewed/soon.crt"));
    pkilint_chain(d, &d.join("pki/ca.crt"), &d.join("renewed/soon.crt"));
    // A new key (the default), new serial, old one superseded; nothing is due any more.
    assert_ne!(pubkey(d, "renewed/soon.crt"), pubkey(d, "soon.crt"));
    assert_eq!(
        pubkey(d, "renewed/soon.crt"),
        openssl(d, &["pkey", "-in", "renewed/soon.key", "-pubout"])
            .ok()
            .stdout
    );
    assert_eq!(status(d, &soon), "superseded");
    mtls(d, &["list", "--expiring-within", "30d"]).ok();
    let r = mtls(d, &["renew", "--expiring-within", "30d"]).ok();
    assert!(r.stderr.contains("nothing to renew"), "{}", r.stderr);

    // In place (cron default), with --rekey.
    mtls(
        d,
        &[
            "issue", "client", "--cn", "due", "--out", "due", "--days", "3",
        ],
    )
    .ok();
    let old_pub = pubkey(d, "due.crt");
    mtls(d, &["renew", "--expiring-within", "7d", "--rekey"]).ok();
    assert_ne!(pubkey(d, "due.crt"), old_pub);
    assert_eq!(
        pubkey(d, "due.crt"),
        openssl(d, &["pkey", "-in", "due.key", "-pubout"])
            .ok()
            .stdout
    );
    assert!(d.join("due.key.bak").exists());
    openssl(
        d,
        &[
            "verify",
            "-CAfile",
            "pki/ca.crt",
            "-purpose",
            "sslclient",
            "due.crt",
        ],
    )
    .ok();
    pkilint_cert(d, &d.join("due.crt"));
}

#[test]
fn revoked_certificates_are_not_renewed() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init"]).ok();
    mtls(d, &["issue", "client", "--cn", "gone", "--out", "gone"]).ok();
    let s = serial_of(d, "gone.crt");
    mtls(d, &["revoke", &s]).ok();
    let before = snapshot(d);
    mtls(d, &["renew", &s]).expect_code(2);
    // Prefix lookup works too (and is refused the same way).
    mtls(d, &["renew", &s[..10]]).expect_code(2);
    assert_eq!(snapshot(d), before);
    assert_eq!(status(d, &s), "revoked");
}

/// `renew --out STEM` onto existing files is refused (exit 2, nothing changed, the hint names
/// `--force`); with `--force` the old files are kept as `.bak`.
#[test]
fn renew_out_onto_existing_files_needs_force() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init"]).ok();
    mtls(d, &["issue", "client", "--cn", "a", "--out", "a"]).ok();
    mtls(d, &["issue", "client", "--cn", "b", "--out", "b"]).ok();
    let before = snapshot(d);
    let r = mtls(d, &["renew", "--cert", "a.crt", "--out", "b"]).expect_code(2);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert_eq!(before, snapshot(d));
    let old_b = std::fs::read(d.join("b.crt")).unwrap();
    mtls(d, &["renew", "--cert", "a.crt", "--out", "b", "--force"]).ok();
    assert_eq!(std::fs::read(d.join("b.crt.bak")).unwrap(), old_b);
    let new_serial = serial_of(d, "b.crt");
    assert_eq!(status(d, &serial_of(d, "a.crt")), "superseded");
    assert_eq!(status(d, &new_serial), "valid");
    verify(d, "sslclient", "b.crt");
}

/// Local issuance, signing, batches, renewals and revocations are in the audit log as the
/// online CA's are: one JSON line each, `authorised_by: "cli"`, a renewal naming what it renews.
#[test]
fn local_commands_append_to_the_audit_log() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "pki", "init"]).ok();
    let issued = mtls(
        d,
        &[
            "--dir", "pki", "--json", "issue", "client", "--cn", "alice", "--out", "alice",
        ],
    )
    .ok()
    .json();
    std::fs::write(d.join("b.csv"), "bob\ncarol\n").unwrap();
    mtls(
        d,
        &[
            "--dir",
            "pki",
            "issue",
            "client",
            "--batch",
            "b.csv",
            "--out-dir",
            "b",
        ],
    )
    .ok();
    mtls(d, &["csr", "--cn", "dave", "--out", "dave"]).ok();
    mtls(
        d,
        &[
            "--dir",
            "pki",
            "sign",
            "dave.csr",
            "--profile",
            "client",
            "--out",
            "dave",
        ],
    )
    .ok();
    let old = issued["serial"].as_str().unwrap();
    let renewed = mtls(d, &["--dir", "pki", "--json", "renew", old])
        .ok()
        .json();
    let new = renewed["serial"].as_str().unwrap();
    mtls(d, &["--dir", "pki", "revoke", new]).ok();
    let log = std::fs::read_to_string(d.join("pki/audit.log")).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let events: Vec<(&str, &str)> = lines
        .iter()
        .map(|v| {
            (
                v["event"].as_str().unwrap(),
                v["subject"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        events,
        vec![
            ("issue", "CN=alice"),
            ("issue", "CN=bob"),
            ("issue", "CN=carol"),
            ("issue", "CN=dave"),
            ("renew", "CN=alice"),
            ("revoke", "CN=alice"),
        ],
        "{log}"
    );
    assert!(lines.iter().all(|v| v["authorised_by"] == "cli"), "{log}");
    assert_eq!(lines[0]["serial"], old);
    assert_eq!(lines[4]["serial"], new);
    assert_eq!(lines[4]["renews"], old);
    // Every serial in the log is one the store lists.
    let list = mtls(d, &["--dir", "pki", "--json", "list"]).ok().json();
    for v in &lines {
        assert!(
            list["certificates"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["serial"] == v["serial"]),
            "{v}"
        );
    }
}
