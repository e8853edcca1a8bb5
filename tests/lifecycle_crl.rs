//! Revocation and CRLs: revoke (durable, idempotent, unknown serial), CRL numbers, reason codes,
//! pkilint on every CRL, `openssl verify -crl_check`, `crl --check` freshness.
use crate::common;
use common::*;

#[test]
fn revoke_then_crl_makes_openssl_reject_the_certificate() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init", "--cn", "CRL Test Root", "--org", "Example"]).ok();
    mtls(d, &["issue", "client", "--cn", "alice", "--out", "alice"]).ok();
    mtls(d, &["issue", "client", "--cn", "bob", "--out", "bob"]).ok();
    mtls(
        d,
        &["issue", "server", "--cn", "api.example.com", "--out", "api"],
    )
    .ok();
    // An empty CRL first: lint-clean, and nothing is revoked.
    mtls(d, &["crl"]).ok();
    pkilint_crl(d, &d.join("pki/crl.pem"));
    openssl(
        d,
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "pki/ca.crt",
            "-CRLfile",
            "pki/crl.pem",
            "alice.crt",
        ],
    )
    .ok();
    let n1 = crl_number(d, "pki/crl.pem");

    let alice = serial_of(d, "alice.crt");
    let r = mtls(d, &["revoke", &alice, "--reason", "key-compromise"]).ok();
    assert!(r.stderr.contains("revoked"), "{}", r.stderr);
    // Twice: a no-op that says so.
    let r = mtls(d, &["--json", "revoke", &alice]).ok();
    assert_eq!(r.json()["already_revoked"], true);
    assert_eq!(r.json()["reason"], "key-compromise");
    let r = mtls(d, &["revoke", "--cert", "alice.crt"]).ok();
    assert!(r.stderr.contains("already revoked"), "{}", r.stderr);
    // By file, reason unspecified (no reasonCode in the CRL).
    mtls(d, &["revoke", "--cert", "bob.crt"]).ok();

    let j = mtls(d, &["--json", "crl"]).ok().json();
    assert_eq!(j["crls"][0]["revoked"], 2);
    pkilint_crl(d, &d.join("pki/crl.pem"));
    let n2 = crl_number(d, "pki/crl.pem");
    assert!(n2 > n1, "CRL number must increase: {n1} then {n2}");
    for who in ["alice.crt", "bob.crt"] {
        let r = openssl(
            d,
            &[
                "verify",
                "-crl_check",
                "-CAfile",
                "pki/ca.crt",
                "-CRLfile",
                "pki/crl.pem",
                who,
            ],
        );
        assert_ne!(r.code, 0);
        assert!(
            format!("{}{}", r.stdout, r.stderr).contains("certificate revoked"),
            "{r:?}"
        );
    }
    openssl(
        d,
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "pki/ca.crt",
            "-CRLfile",
            "pki/crl.pem",
            "api.crt",
        ],
    )
    .ok();
    let text = openssl(d, &["crl", "-in", "pki/crl.pem", "-noout", "-text"])
        .ok()
        .stdout;
    assert!(text.contains("Version 2"), "{text}");
    assert!(text.contains("Authority Key Identifier"), "{text}");
    assert_eq!(
        text.matches("CRL Reason Code").count(),
        1,
        "only key-compromise carries a reason: {text}"
    );
    assert!(text.contains("Key Compromise"), "{text}");
    assert!(!text.contains("Hold"), "{text}");
    // AKI = the CA's SKI.
    let ca_text = openssl(
        d,
        &[
            "x509",
            "-in",
            "pki/ca.crt",
            "-noout",
            "-ext",
            "subjectKeyIdentifier",
        ],
    )
    .ok()
    .stdout;
    let ski = ca_text.lines().nth(1).unwrap().trim().to_string();
    assert!(text.contains(&ski), "AKI {ski} missing: {text}");

    // The number strictly increases on every run; every CRL lints clean.
    let mut last = n2;
    for _ in 0..3 {
        mtls(d, &["crl", "--days", "3"]).ok();
        pkilint_crl(d, &d.join("pki/crl.pem"));
        let n = crl_number(d, "pki/crl.pem");
        assert!(n > last, "{last} then {n}");
        last = n;
    }
    // The list shows the revoked status.
    let list = mtls(d, &["--json", "list", "--status", "revoked"])
        .ok()
        .json();
    assert_eq!(list["certificates"].as_array().unwrap().len(), 2);
}

#[test]
fn crl_check_exit_codes() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init"]).ok();
    // Missing.
    let r = mtls(d, &["crl", "--check"]).expect_code(1);
    assert!(r.stderr.contains("missing"), "{}", r.stderr);
    mtls(d, &["crl"]).ok();
    mtls(d, &["crl", "--check"]).ok();
    let j = mtls(d, &["--json", "crl", "--check"]).ok().json();
    assert_eq!(j["ok"], true);
    // Within a day of nextUpdate.
    mtls(d, &["crl", "--days", "1"]).ok();
    pkilint_crl(d, &d.join("pki/crl.pem"));
    let r = mtls(d, &["crl", "--check"]).expect_code(1);
    assert!(r.stderr.contains("within a day"), "{}", r.stderr);
    // Custom --out, checked with --out.
    mtls(d, &["crl", "--out", "published.crl"]).ok();
    pkilint_crl(d, &d.join("published.crl"));
    mtls(d, &["crl", "--check", "--out", "published.crl"]).ok();
    // A CRL from another CA fails the check.
    let other = tempdir();
    mtls(other.path(), &["init"]).ok();
    mtls(other.path(), &["crl"]).ok();
    std::fs::copy(other.path().join("pki/crl.pem"), d.join("foreign.crl")).unwrap();
    let r = mtls(d, &["crl", "--check", "--out", "foreign.crl"]).expect_code(1);
    assert!(r.stderr.contains("does not verify"), "{}", r.stderr);
}

#[test]
fn unknown_serial_and_bad_reason_exit_2_with_nothing_changed() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init"]).ok();
    mtls(d, &["issue", "client", "--cn", "carol", "--out", "carol"]).ok();
    let before = snapshot(d);
    let r = mtls(d, &["revoke", "7fffffffffffffffffffffffffffffffffffffff"]).expect_code(2);
    assert!(
        r.stderr.contains("no certificate with serial"),
        "{}",
        r.stderr
    );
    mtls(d, &["revoke", "not-hex"]).expect_code(2);
    mtls(
        d,
        &[
            "revoke",
            &serial_of(d, "carol.crt"),
            "--reason",
            "certificate-hold",
        ],
    )
    .expect_code(2);
    mtls(
        d,
        &["revoke", &serial_of(d, "carol.crt"), "--reason", "because"],
    )
    .expect_code(2);
    mtls(d, &["renew", "7fffffffffffffffffffffffffffffffffffffff"]).expect_code(2);
    // The CA's own certificate cannot be revoked.
    mtls(d, &["revoke", &serial_of(d, "pki/ca.crt")]).expect_code(2);
    assert_eq!(snapshot(d), before);
}

#[test]
fn a_ca_without_crl_sign_is_refused_before_the_crl_number_is_taken() {
    let t = tempdir();
    let d = t.path();
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "n.key",
            "-out",
            "n.crt",
            "-subj",
            "/CN=No CRL Sign CA",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    )
    .ok();
    let r = mtls(
        d,
        &["init", "--import-cert", "n.crt", "--import-key", "n.key"],
    )
    .ok();
    assert!(r.stderr.contains("cRLSign"), "should warn: {}", r.stderr);
    let before = snapshot(d);
    let r = mtls(d, &["crl"]).expect_code(2);
    assert!(r.stderr.contains("cRLSign"), "{}", r.stderr);
    assert!(
        snapshot(d) == before,
        "a refused crl changed files or the store"
    );
}
