//! `ca cross-sign`: after a rotation, the old root signs the new root, so chains of the new root
//! verify against the old root alone and against the new root alone (openssl, `mtls-ca
//! verify`, a real handshake), and every certificate passes pkilint.
use crate::common::*;
use crate::core_support::*;

#[test]
fn cross_signed_chains_verify_against_the_old_root_alone_and_the_new_root_alone() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init", "--cn", "Bridge Root"]).ok();
    std::fs::copy(d.join("pki/ca.crt"), d.join("old-root.crt")).unwrap();
    // Nothing to cross-sign with before a rotation.
    expect_bad_input(d, &["ca", "cross-sign"], "no unexpired retired root");
    // A dual-use leaf of the old root, to be moved over after the rotation.
    mtls(
        d,
        &[
            "issue",
            "server-client",
            "--cn",
            "legacy.example.com",
            "--out",
            "legacy",
        ],
    )
    .ok();
    mtls(d, &["ca", "rotate"]).ok();
    std::fs::copy(d.join("pki/ca.crt"), d.join("new-root.crt")).unwrap();
    mtls(
        d,
        &["issue", "server", "--cn", "api.example.com", "--out", "api"],
    )
    .ok();
    mtls(d, &["issue", "client", "--cn", "alice", "--out", "alice"]).ok();
    let j = mtls(d, &["--json", "ca", "cross-sign", "--out", "cross"])
        .ok()
        .json();
    let old_serial = serial_hex(&pem_certs(&d.join("old-root.crt"))[0]);
    assert_eq!(j["signed_by"], old_serial.as_str(), "{j}");
    assert_eq!(j["certificate"]["files"]["cert"], "cross.crt", "{j}");
    // The cross-signed certificate: the new root's subject, key and SKI; issued by the old root.
    let x = |f: &str, what: &str| {
        openssl(d, &["x509", "-in", f, "-noout", what])
            .ok()
            .stdout
            .split_once('=')
            .map(|(_, v)| v.trim().to_string())
            .unwrap()
    };
    assert_eq!(x("cross.crt", "-subject"), x("new-root.crt", "-subject"));
    assert_eq!(x("cross.crt", "-issuer"), x("old-root.crt", "-subject"));
    let pubkey = |f: &str| {
        openssl(d, &["x509", "-in", f, "-noout", "-pubkey"])
            .ok()
            .stdout
    };
    assert_eq!(pubkey("cross.crt"), pubkey("new-root.crt"));
    let ski = |f: &str| {
        openssl(
            d,
            &["x509", "-in", f, "-noout", "-ext", "subjectKeyIdentifier"],
        )
        .ok()
        .stdout
    };
    assert_eq!(ski("cross.crt"), ski("new-root.crt"));
    // pkilint: the cross-signed certificate alone and under the old root; the leaves under it.
    pkilint_cert(d, &d.join("cross.crt"));
    pkilint_chain(d, &d.join("old-root.crt"), &d.join("cross.crt"));
    for leaf in ["api.crt", "alice.crt"] {
        pkilint_chain(d, &d.join("cross.crt"), &d.join(leaf));
    }
    // openssl: the old root alone (through the cross-signed certificate), the new root alone
    // (with and without it in the chain).
    verify(
        d,
        "old-root.crt",
        Some("cross.crt"),
        "sslserver",
        &[],
        "api.crt",
    )
    .ok();
    verify(
        d,
        "old-root.crt",
        Some("cross.crt"),
        "sslclient",
        &[],
        "alice.crt",
    )
    .ok();
    verify(
        d,
        "new-root.crt",
        Some("cross.crt"),
        "sslserver",
        &[],
        "api.crt",
    )
    .ok();
    verify(d, "new-root.crt", None, "sslserver", &[], "api.crt").ok();
    // Without the cross-signed certificate the old root alone does not accept the new leaf.
    assert_ne!(
        verify(d, "old-root.crt", None, "sslserver", &[], "api.crt").code,
        0
    );
    // mtls-ca verify: both trust anchors.
    for ca in ["old-root.crt", "new-root.crt"] {
        let v = mtls(
            d,
            &[
                "--json",
                "verify",
                "--ca",
                ca,
                "--chain",
                "cross.crt",
                "--host",
                "api.example.com",
                "api.crt",
            ],
        )
        .ok()
        .json();
        assert_eq!(v["valid"], true, "{ca}: {v}");
    }
    // A real handshake: the server sends leaf + cross-signed; the client trusts only the old root.
    let bridge = format!(
        "{}{}",
        std::fs::read_to_string(d.join("api.fullchain.crt")).unwrap(),
        std::fs::read_to_string(d.join("cross.crt")).unwrap()
    );
    std::fs::write(d.join("api.bridge.crt"), bridge).unwrap();
    let alice_bridge = format!(
        "{}{}",
        std::fs::read_to_string(d.join("alice.fullchain.crt")).unwrap(),
        std::fs::read_to_string(d.join("cross.crt")).unwrap()
    );
    std::fs::write(d.join("alice.bridge.crt"), alice_bridge).unwrap();
    mtls_handshake(
        d,
        &Handshake {
            ca: "old-root.crt",
            server_cert: "api.bridge.crt",
            server_key: "api.key",
            client_cert: "alice.bridge.crt",
            client_key: "alice.key",
            host: "api.example.com",
            client_cn: "alice",
        },
    );
    // The store records it as issued by the old root; renew refuses it; a second one needs --force.
    let list = mtls(d, &["--json", "list"]).ok().json();
    let rec = list["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["profile"] == "cross-signed")
        .cloned()
        .unwrap_or_else(|| panic!("no cross-signed record: {list}"));
    let serial = rec["serial"].as_str().unwrap().to_string();
    assert_eq!(serial, serial_hex(&pem_certs(&d.join("cross.crt"))[0]));
    expect_bad_input(d, &["renew", &serial], "not renewed this way");
    expect_bad_input(d, &["ca", "cross-sign", "--out", "cross"], "cross.crt");
    expect_bad_input(d, &["ca", "cross-sign", "--by", "ffff"], "ffff");
    // The overlap: the old root's dual-use leaf blocks --finish until renewed; the cross-signed
    // certificate neither blocks it nor is renewed by `renew --issuer retired`.
    let r = mtls(d, &["ca", "rotate", "--finish"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("legacy.example.com"), "{}", r.stderr);
    assert!(!r.stderr.contains("Bridge Root G2"), "{}", r.stderr);
    let renewed = mtls(d, &["--json", "renew", "--issuer", "retired"])
        .ok()
        .json();
    assert_eq!(renewed["renewed"].as_array().unwrap().len(), 1, "{renewed}");
    mtls(d, &["ca", "rotate", "--finish"]).ok();
    verify(
        d,
        "old-root.crt",
        Some("cross.crt"),
        "sslclient",
        &[],
        "legacy.crt",
    )
    .ok();
}

/// A cross-signing that fails at a write step leaves a consistent CA: before the record nothing
/// is left but a reserved serial; a certificate recorded whose file could not be written is
/// voided (revoked), never listed as valid; run again, it works.
#[test]
fn a_cross_signing_failed_at_any_write_step_leaves_a_consistent_ca() {
    for (step, voided) in [
        ("cross-sign.reserve", false),
        ("files.temps", true),
        ("files.link@1", true),
    ] {
        let t = tempdir();
        let d = t.path();
        mtls(d, &["init", "--cn", "Fault Root"]).ok();
        mtls(d, &["ca", "rotate"]).ok();
        let r = mtls_fp(
            d,
            &format!("{step}:error"),
            &["ca", "cross-sign", "--out", "x"],
        );
        assert_eq!(r.code, 2, "{step}: {}", r.stderr);
        assert!(
            r.stderr.contains("injected failure"),
            "{step}: {}",
            r.stderr
        );
        assert!(!d.join("x.crt").exists(), "{step}");
        let list = mtls(d, &["--json", "list"]).ok().json();
        let crossed: Vec<&serde_json::Value> = list["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["profile"] == "cross-signed")
            .collect();
        if voided {
            assert_eq!(crossed.len(), 1, "{step}: {list}");
            assert_eq!(crossed[0]["status"], "revoked", "{step}: {list}");
        } else {
            assert!(crossed.is_empty(), "{step}: {list}");
        }
        let doc = mtls(d, &["--json", "doctor"]);
        assert_eq!(doc.code, 0, "{step}: {}{}", doc.stdout, doc.stderr);
        mtls(d, &["ca", "cross-sign", "--out", "x"]).ok();
        pkilint_cert(d, &d.join("x.crt"));
    }
}

/// After `ca rotate --finish` the old root still signs its CRL while the root it cross-signed is
/// valid: clients that trust only the old root keep getting a fresh CRL for the bridge, and
/// revoking the cross-signed certificate reaches them (openssl with CRL checks on the whole
/// chain refuses it then). A finished root that cross-signed nothing signs no more CRLs.
#[test]
fn a_finished_root_keeps_signing_its_crl_for_the_root_it_cross_signed() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init", "--cn", "Bridge Root"]).ok();
    std::fs::copy(d.join("pki/ca.crt"), d.join("old-root.crt")).unwrap();
    let old_prefix = serial_hex(&pem_certs(&d.join("old-root.crt"))[0])[..16].to_string();
    mtls(d, &["ca", "rotate"]).ok();
    mtls(d, &["issue", "client", "--cn", "alice", "--out", "alice"]).ok();
    mtls(d, &["ca", "cross-sign", "--out", "cross"]).ok();
    mtls(d, &["crl"]).ok();
    let old_crl = d.join(format!("pki/crl-{old_prefix}.pem"));
    assert!(old_crl.exists());
    let r = mtls(d, &["ca", "rotate", "--finish"]).ok();
    assert!(r.stderr.contains("still signs its CRL"), "{}", r.stderr);
    assert!(
        old_crl.exists(),
        "--finish moved the CRL of a root that still signs one"
    );
    assert!(d.join(format!("pki/finished/ca-{old_prefix}.key")).exists());
    // `crl` signs both, from the finished key; `crl --check` and doctor check both.
    let made = mtls(d, &["--json", "crl"]).ok().json();
    let files: Vec<&str> = made["crls"]
        .as_array()
        .unwrap_or_else(|| panic!("{made}"))
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(files.len(), 2, "{made}");
    mtls(d, &["crl", "--check"]).ok();
    mtls(d, &["doctor"]).ok();
    let crl_args = |ca: &str, crl: &std::path::Path| {
        openssl(
            d,
            &["crl", "-in", crl.to_str().unwrap(), "-noout", "-CAfile", ca],
        )
    };
    crl_args("old-root.crt", &old_crl).ok();
    pkilint_crl(d, &old_crl);
    pkilint_crl(d, &d.join("pki/crl.pem"));
    // The bridge works with CRL checks on the whole chain (trusting only the old root).
    let crls = [
        "-crl_check_all",
        "-CRLfile",
        "pki/crl.pem",
        "-CRLfile",
        old_crl.to_str().unwrap(),
    ];
    verify(
        d,
        "old-root.crt",
        Some("cross.crt"),
        "sslclient",
        &crls,
        "alice.crt",
    )
    .ok();
    // Revoking the cross-signed certificate reaches those clients with the next `crl`.
    let cross_serial = serial_hex(&pem_certs(&d.join("cross.crt"))[0]);
    mtls(d, &["revoke", &cross_serial]).ok();
    mtls(d, &["crl"]).ok();
    let text = openssl(
        d,
        &["crl", "-in", old_crl.to_str().unwrap(), "-noout", "-text"],
    )
    .ok()
    .stdout;
    assert!(
        text.to_uppercase().contains(&cross_serial.to_uppercase()),
        "the old root's CRL does not list the revoked bridge: {text}"
    );
    pkilint_crl(d, &old_crl);
    let refused = verify(
        d,
        "old-root.crt",
        Some("cross.crt"),
        "sslclient",
        &crls,
        "alice.crt",
    );
    assert_ne!(refused.code, 0, "{}", refused.stdout);
    assert!(
        format!("{}{}", refused.stdout, refused.stderr).contains("revoked"),
        "{} {}",
        refused.stdout,
        refused.stderr
    );
    // Without a bridge, a finished root signs no more CRLs.
    mtls(d, &["--dir", "plain", "init", "--cn", "Plain Root"]).ok();
    mtls(d, &["--dir", "plain", "ca", "rotate"]).ok();
    mtls(d, &["--dir", "plain", "crl"]).ok();
    let r = mtls(d, &["--dir", "plain", "ca", "rotate", "--finish"]).ok();
    assert!(!r.stderr.contains("still signs"), "{}", r.stderr);
    let made = mtls(d, &["--dir", "plain", "--json", "crl"]).ok().json();
    assert_eq!(made["crls"].as_array().unwrap().len(), 1, "{made}");
}
