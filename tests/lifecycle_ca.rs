//! CA keys and CAs: encrypted CA keys (openssl round trip, wrong passphrase writes nothing),
//! importing openssl-made CAs (the seed's RSA recipe, two OUs, every key format, refusals), and
//! `ca rotate` (both CAs' certificates verify against ca-bundle.crt before and after).
use crate::common;
use common::*;

use std::path::Path;

fn write(d: &Path, name: &str, text: &str) {
    std::fs::write(d.join(name), text).unwrap();
}

fn leaf_checks(d: &Path, ca: &str, cert: &str, purpose: &str) {
    let r = openssl(d, &["verify", "-CAfile", ca, "-purpose", purpose, cert]).ok();
    assert!(r.stdout.contains(": OK"), "{r:?}");
    pkilint_cert(d, &d.join(cert));
    pkilint_chain(d, &d.join(ca), &d.join(cert));
}

#[test]
fn encrypted_ca_key_round_trips_with_openssl_and_wrong_passphrase_writes_nothing() {
    let t = tempdir();
    let d = t.path();
    write(d, "pass", "correct horse battery staple\n");
    write(d, "wrong", "incorrect\n");
    mtls(d, &["init", "--encrypt-key", "--passphrase-file", "pass"]).ok();
    let key = std::fs::read_to_string(d.join("pki/ca.key")).unwrap();
    assert!(
        key.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{key}"
    );
    // openssl reads it with the passphrase, and it is the CA's key; PBES2/PBKDF2-SHA256/AES-256-CBC.
    let pubk = openssl(
        d,
        &[
            "pkey",
            "-in",
            "pki/ca.key",
            "-passin",
            "file:pass",
            "-pubout",
        ],
    )
    .ok()
    .stdout;
    let cert_pub = openssl(d, &["x509", "-in", "pki/ca.crt", "-noout", "-pubkey"])
        .ok()
        .stdout;
    assert_eq!(pubk, cert_pub);
    let asn1 = openssl(d, &["asn1parse", "-in", "pki/ca.key"]).ok().stdout;
    assert!(
        asn1.contains("PBES2")
            && asn1.contains("PBKDF2")
            && asn1.contains("hmacWithSHA256")
            && asn1.contains("aes-256-cbc"),
        "{asn1}"
    );
    assert!(
        asn1.contains(":0927C0"),
        "600000 iterations expected: {asn1}"
    );
    assert_ne!(
        openssl(
            d,
            &[
                "pkey",
                "-in",
                "pki/ca.key",
                "-passin",
                "file:wrong",
                "-noout"
            ]
        )
        .code,
        0
    );

    // Wrong or missing passphrase: exit 2, nothing written anywhere.
    let before = snapshot(d);
    for args in [
        vec![
            "issue",
            "server",
            "--cn",
            "api.example.com",
            "--out",
            "api",
            "--passphrase-file",
            "wrong",
        ],
        vec!["issue", "server", "--cn", "api.example.com", "--out", "api"],
        vec!["crl", "--passphrase-file", "wrong"],
        vec!["ca", "rotate", "--passphrase-file", "wrong"],
        vec![
            "renew",
            "--expiring-within",
            "30d",
            "--passphrase-file",
            "wrong",
        ],
        vec![
            "issue",
            "server",
            "--cn",
            "api.example.com",
            "--out",
            "api",
            "--passphrase-env",
            "NO_SUCH_VAR_SET",
        ],
    ] {
        let r = mtls(d, &args).expect_code(2);
        assert!(
            r.stderr.starts_with("error: ") && r.stderr.contains("hint: "),
            "{args:?}: {}",
            r.stderr
        );
    }
    assert_same(&before, &snapshot(d), "a wrong passphrase changed files");

    // The right passphrase, from a file or the environment.
    mtls(
        d,
        &[
            "issue",
            "server",
            "--cn",
            "api.example.com",
            "--out",
            "api",
            "--passphrase-file",
            "pass",
        ],
    )
    .ok();
    leaf_checks(d, "pki/ca.crt", "api.crt", "sslserver");
    let out = std::process::Command::new(bin())
        .args([
            "issue",
            "client",
            "--cn",
            "bob",
            "--out",
            "bob",
            "--passphrase-env",
            "CA_PASS",
        ])
        .current_dir(d)
        .env_remove("MTLS_CA_DIR")
        .env("CA_PASS", "correct horse battery staple")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    leaf_checks(d, "pki/ca.crt", "bob.crt", "sslclient");
    mtls(d, &["crl", "--passphrase-file", "pass"]).ok();
    pkilint_crl(d, &d.join("pki/crl.pem"));
    // An intermediate under the encrypted root: the parent's passphrase opens it.
    mtls(d, &["--dir", "sub", "init", "--parent", "pki"]).expect_code(2);
    mtls(
        d,
        &[
            "--dir",
            "sub",
            "init",
            "--parent",
            "pki",
            "--passphrase-file",
            "pass",
        ],
    )
    .ok();
    mtls(
        d,
        &[
            "--dir", "sub", "issue", "client", "--cn", "carol", "--out", "carol",
        ],
    )
    .ok();
    openssl(
        d,
        &[
            "verify",
            "-CAfile",
            "pki/ca.crt",
            "-untrusted",
            "sub/ca.crt",
            "-purpose",
            "sslclient",
            "carol.crt",
        ],
    )
    .ok();
    // Listing and revoking need no passphrase.
    mtls(d, &["list"]).ok();
    mtls(d, &["revoke", "--cert", "bob.crt"]).ok();
}

#[test]
fn import_the_seed_openssl_rsa_ca_and_issue_from_it() {
    let t = tempdir();
    let d = t.path();
    // The seed recipe's CA, exactly: genrsa 2048 + req -x509.
    openssl(d, &["genrsa", "-out", "ca.key", "2048"]).ok();
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-new",
            "-nodes",
            "-key",
            "ca.key",
            "-sha256",
            "-days",
            "3650",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=My Test CA",
        ],
    )
    .ok();
    mtls(
        d,
        &["init", "--import-cert", "ca.crt", "--import-key", "ca.key"],
    )
    .ok();
    assert_eq!(
        std::fs::read(d.join("ca.crt")).unwrap(),
        std::fs::read(d.join("pki/ca.crt")).unwrap()
    );
    mtls(
        d,
        &[
            "issue",
            "server",
            "--cn",
            "api.example.com",
            "--san",
            "127.0.0.1",
            "--out",
            "server",
        ],
    )
    .ok();
    mtls(
        d,
        &["issue", "client", "--cn", "client-1", "--out", "client"],
    )
    .ok();
    for (c, p) in [("server.crt", "sslserver"), ("client.crt", "sslclient")] {
        openssl(d, &["verify", "-CAfile", "ca.crt", "-purpose", p, c]).ok();
        pkilint_cert(d, &d.join(c));
    }
    // The issuer name is byte-identical to the CA subject.
    let issuer = openssl(
        d,
        &[
            "x509",
            "-in",
            "server.crt",
            "-noout",
            "-issuer",
            "-nameopt",
            "RFC2253",
        ],
    )
    .ok()
    .stdout;
    let subject = openssl(
        d,
        &[
            "x509", "-in", "ca.crt", "-noout", "-subject", "-nameopt", "RFC2253",
        ],
    )
    .ok()
    .stdout;
    assert_eq!(
        issuer.trim_start_matches("issuer="),
        subject.trim_start_matches("subject=")
    );
    mtls(d, &["revoke", "--cert", "client.crt"]).ok();
    mtls(d, &["crl"]).ok();
    pkilint_crl(d, &d.join("pki/crl.pem"));
    let r = openssl(
        d,
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "ca.crt",
            "-CRLfile",
            "pki/crl.pem",
            "client.crt",
        ],
    );
    assert!(
        r.stderr.contains("revoked") || r.stdout.contains("revoked"),
        "{r:?}"
    );
}

#[test]
fn import_a_two_ou_ca_keeps_the_issuer_bytes() {
    let t = tempdir();
    let d = t.path();
    openssl_p256_key(d, "ca.key");
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-days",
            "365",
            "-out",
            "ca.crt",
            "-subj",
            "/C=DE/O=Example GmbH/OU=Platform/OU=Security/CN=Two OU CA",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    )
    .ok();
    // SEC1 form of the key, as `openssl ec` writes it.
    openssl(d, &["ec", "-in", "ca.key", "-out", "ca-sec1.key"]).ok();
    assert!(std::fs::read_to_string(d.join("ca-sec1.key"))
        .unwrap()
        .contains("BEGIN EC PRIVATE KEY"));
    mtls(
        d,
        &[
            "init",
            "--import-cert",
            "ca.crt",
            "--import-key",
            "ca-sec1.key",
        ],
    )
    .ok();
    mtls(d, &["issue", "client", "--cn", "alice", "--out", "alice"]).ok();
    openssl(
        d,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-nodes",
            "-keyout",
            "s.key",
            "-out",
            "s.csr",
            "-subj",
            "/CN=svc.example.com",
        ],
    )
    .ok();
    mtls(d, &["sign", "s.csr", "--profile", "server"]).ok();
    for (c, p) in [("alice.crt", "sslclient"), ("s.crt", "sslserver")] {
        leaf_checks(d, "ca.crt", c, p);
        let issuer_der = openssl(
            d,
            &["x509", "-in", c, "-noout", "-issuer", "-nameopt", "RFC2253"],
        )
        .ok()
        .stdout;
        assert!(
            issuer_der.contains("OU=Security,OU=Platform"),
            "{issuer_der}"
        );
    }
    mtls(
        d,
        &[
            "revoke",
            "--cert",
            "alice.crt",
            "--reason",
            "affiliation-changed",
        ],
    )
    .ok();
    mtls(d, &["crl"]).ok();
    pkilint_crl(d, &d.join("pki/crl.pem"));
    let crl_issuer = openssl(
        d,
        &[
            "crl",
            "-in",
            "pki/crl.pem",
            "-noout",
            "-issuer",
            "-nameopt",
            "RFC2253",
        ],
    )
    .ok()
    .stdout;
    assert!(
        crl_issuer.contains("OU=Security,OU=Platform"),
        "{crl_issuer}"
    );
    let r = openssl(
        d,
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "ca.crt",
            "-CRLfile",
            "pki/crl.pem",
            "alice.crt",
        ],
    );
    assert!(
        format!("{}{}", r.stdout, r.stderr).contains("certificate revoked"),
        "{r:?}"
    );
    openssl(
        d,
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "ca.crt",
            "-CRLfile",
            "pki/crl.pem",
            "s.crt",
        ],
    )
    .ok();
}

#[test]
fn import_pkcs1_and_encrypted_pkcs8_keys() {
    let t = tempdir();
    let d = t.path();
    write(d, "pass", "sesame\n");
    openssl(d, &["genrsa", "-out", "rsa.key", "2048"]).ok();
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "rsa.key",
            "-days",
            "365",
            "-out",
            "rsa.crt",
            "-subj",
            "/O=Example/CN=RSA CA",
        ],
    )
    .ok();
    openssl(
        d,
        &[
            "rsa",
            "-in",
            "rsa.key",
            "-traditional",
            "-out",
            "rsa-pkcs1.key",
        ],
    )
    .ok();
    assert!(std::fs::read_to_string(d.join("rsa-pkcs1.key"))
        .unwrap()
        .contains("BEGIN RSA PRIVATE KEY"));
    mtls(
        d,
        &[
            "--dir",
            "a",
            "init",
            "--import-cert",
            "rsa.crt",
            "--import-key",
            "rsa-pkcs1.key",
        ],
    )
    .ok();
    mtls(
        d,
        &[
            "--dir",
            "a",
            "issue",
            "server",
            "--cn",
            "a.example.com",
            "--out",
            "a",
        ],
    )
    .ok();
    leaf_checks(d, "rsa.crt", "a.crt", "sslserver");

    // An encrypted PKCS#8 key as openssl writes it (PBES2, PBKDF2 with openssl's defaults).
    openssl(
        d,
        &[
            "pkcs8",
            "-topk8",
            "-in",
            "rsa.key",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "file:pass",
            "-out",
            "rsa-enc.key",
        ],
    )
    .ok();
    write(d, "wrong", "nope\n");
    let before = snapshot(d);
    mtls(
        d,
        &[
            "--dir",
            "b",
            "init",
            "--import-cert",
            "rsa.crt",
            "--import-key",
            "rsa-enc.key",
        ],
    )
    .expect_code(2);
    mtls(
        d,
        &[
            "--dir",
            "b",
            "init",
            "--import-cert",
            "rsa.crt",
            "--import-key",
            "rsa-enc.key",
            "--passphrase-file",
            "wrong",
        ],
    )
    .expect_code(2);
    assert_same(&before, &snapshot(d), "a failed import wrote files");
    mtls(
        d,
        &[
            "--dir",
            "b",
            "init",
            "--import-cert",
            "rsa.crt",
            "--import-key",
            "rsa-enc.key",
            "--passphrase-file",
            "pass",
        ],
    )
    .ok();
    // The stored key stays encrypted, with the same passphrase.
    assert!(std::fs::read_to_string(d.join("b/ca.key"))
        .unwrap()
        .contains("ENCRYPTED PRIVATE KEY"));
    openssl(
        d,
        &["pkey", "-in", "b/ca.key", "-passin", "file:pass", "-noout"],
    )
    .ok();
    mtls(
        d,
        &[
            "--dir",
            "b",
            "issue",
            "client",
            "--cn",
            "c1",
            "--out",
            "c1",
            "--passphrase-file",
            "pass",
        ],
    )
    .ok();
    leaf_checks(d, "rsa.crt", "c1.crt", "sslclient");
}

#[test]
fn import_refusals_exit_2_and_write_nothing() {
    let t = tempdir();
    let d = t.path();
    for n in ["one", "two"] {
        openssl(
            d,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &format!("{n}.key"),
            ],
        )
        .ok();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                &format!("{n}.key"),
                "-days",
                "365",
                "-out",
                &format!("{n}.crt"),
                "-subj",
                &format!("/CN={n} CA"),
            ],
        )
        .ok();
    }
    // A CA certificate without keyCertSign.
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "one.key",
            "-days",
            "365",
            "-out",
            "noku.crt",
            "-subj",
            "/CN=No KU CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,digitalSignature",
        ],
    )
    .ok();
    // A leaf (not a CA).
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "one.key",
            "-days",
            "365",
            "-out",
            "leaf.crt",
            "-subj",
            "/CN=leaf.example.com",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ],
    )
    .ok();
    write(d, "garbage.key", "not a key\n");
    let before = snapshot(d);
    for (cert, key, needle) in [
        ("one.crt", "two.key", "does not match"),
        ("noku.crt", "one.key", "keyCertSign"),
        ("leaf.crt", "one.key", "not a CA"),
        ("one.crt", "garbage.key", "garbage.key"),
        ("one.crt", "missing.key", "missing.key"),
    ] {
        let r = mtls(d, &["init", "--import-cert", cert, "--import-key", key]).expect_code(2);
        assert!(r.stderr.contains(needle), "{cert}/{key}: {}", r.stderr);
        assert!(r.stderr.contains("hint: "), "{}", r.stderr);
    }
    assert_same(&before, &snapshot(d), "refused import");
    assert!(!d.join("pki").exists());
}

#[test]
fn rotate_keeps_both_cas_trusted_through_the_bundle() {
    let t = tempdir();
    let d = t.path();
    write(d, "pass", "rotate-me\n");
    mtls(
        d,
        &[
            "init",
            "--cn",
            "Rotating Root",
            "--org",
            "Example",
            "--encrypt-key",
            "--passphrase-file",
            "pass",
        ],
    )
    .ok();
    // Before rotation: the bundle exists and trusts the first CA's certificates.
    mtls(
        d,
        &[
            "issue",
            "server",
            "--cn",
            "old.example.com",
            "--out",
            "old-server",
            "--passphrase-file",
            "pass",
        ],
    )
    .ok();
    mtls(
        d,
        &[
            "issue",
            "client",
            "--cn",
            "old-client",
            "--out",
            "old-client",
            "--passphrase-file",
            "pass",
        ],
    )
    .ok();
    leaf_checks(d, "pki/ca-bundle.crt", "old-server.crt", "sslserver");
    leaf_checks(d, "pki/ca-bundle.crt", "old-client.crt", "sslclient");
    let old_ca = std::fs::read(d.join("pki/ca.crt")).unwrap();
    let old_serial = openssl(d, &["x509", "-in", "pki/ca.crt", "-noout", "-serial"])
        .ok()
        .stdout;
    let prefix: String = old_serial
        .trim()
        .trim_start_matches("serial=")
        .to_ascii_lowercase()
        .chars()
        .take(16)
        .collect();

    let j = mtls(
        d,
        &[
            "--json",
            "ca",
            "rotate",
            "--key-type",
            "ecdsa-p384",
            "--passphrase-file",
            "pass",
        ],
    )
    .ok()
    .json();
    assert!(
        j["new_ca"]["subject"]
            .as_str()
            .unwrap()
            .contains("Rotating Root G2"),
        "{j}"
    );
    // The old CA is kept, byte for byte, its key still encrypted; the new key is encrypted too.
    assert_eq!(
        std::fs::read(d.join(format!("pki/ca-{prefix}.crt"))).unwrap(),
        old_ca
    );
    openssl(
        d,
        &[
            "pkey",
            "-in",
            &format!("pki/ca-{prefix}.key"),
            "-passin",
            "file:pass",
            "-noout",
        ],
    )
    .ok();
    openssl(
        d,
        &[
            "pkey",
            "-in",
            "pki/ca.key",
            "-passin",
            "file:pass",
            "-noout",
        ],
    )
    .ok();
    assert_ne!(std::fs::read(d.join("pki/ca.crt")).unwrap(), old_ca);
    pkilint_cert(d, &d.join("pki/ca.crt"));
    let bundle = std::fs::read_to_string(d.join("pki/ca-bundle.crt")).unwrap();
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 2);

    // After rotation: new issuance uses the new CA; both CAs' certificates verify with the bundle.
    mtls(
        d,
        &[
            "issue",
            "server",
            "--cn",
            "new.example.com",
            "--out",
            "new-server",
            "--passphrase-file",
            "pass",
        ],
    )
    .ok();
    leaf_checks(d, "pki/ca.crt", "new-server.crt", "sslserver");
    for (c, p) in [
        ("old-server.crt", "sslserver"),
        ("old-client.crt", "sslclient"),
        ("new-server.crt", "sslserver"),
    ] {
        openssl(
            d,
            &["verify", "-CAfile", "pki/ca-bundle.crt", "-purpose", p, c],
        )
        .ok();
    }
    assert_ne!(
        openssl(d, &["verify", "-CAfile", "pki/ca.crt", "old-server.crt"]).code,
        0
    );
    // list shows which CA issued what.
    let list = mtls(d, &["--json", "list"]).ok().json();
    let by_cn = |cn: &str| {
        list["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["subject"].as_str().unwrap().contains(cn))
            .unwrap()["ca_serial"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(by_cn("old.example.com").starts_with(&prefix));
    assert!(!by_cn("new.example.com").starts_with(&prefix));
    let text = mtls(d, &["list"]).ok().stdout;
    assert!(
        text.contains("ISSUED BY CA") && text.contains(&prefix),
        "{text}"
    );

    // Revoking an old-CA certificate: the old CA signs its own CRL; both CRLs lint clean.
    mtls(
        d,
        &[
            "revoke",
            "--cert",
            "old-client.crt",
            "--reason",
            "superseded",
        ],
    )
    .ok();
    mtls(d, &["crl", "--passphrase-file", "pass"]).ok();
    let old_crl = format!("pki/crl-{prefix}.pem");
    pkilint_crl(d, &d.join("pki/crl.pem"));
    pkilint_crl(d, &d.join(&old_crl));
    let mut all = std::fs::read_to_string(d.join("pki/crl.pem")).unwrap();
    all.push_str(&std::fs::read_to_string(d.join(&old_crl)).unwrap());
    write(d, "all-crls.pem", &all);
    let r = openssl(
        d,
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "pki/ca-bundle.crt",
            "-CRLfile",
            "all-crls.pem",
            "old-client.crt",
        ],
    );
    assert!(
        format!("{}{}", r.stdout, r.stderr).contains("certificate revoked"),
        "{r:?}"
    );
    for c in ["old-server.crt", "new-server.crt"] {
        openssl(
            d,
            &[
                "verify",
                "-crl_check",
                "-CAfile",
                "pki/ca-bundle.crt",
                "-CRLfile",
                "all-crls.pem",
                c,
            ],
        )
        .ok();
    }
    mtls(d, &["crl", "--check", "--out", &old_crl]).ok();
    // Renewing an old-CA certificate moves it to the new CA.
    mtls(
        d,
        &[
            "renew",
            "--cert",
            "old-server.crt",
            "--passphrase-file",
            "pass",
        ],
    )
    .ok();
    leaf_checks(d, "pki/ca.crt", "old-server.crt", "sslserver");
    // A second rotation keeps every unexpired CA in the bundle.
    mtls(d, &["ca", "rotate", "--passphrase-file", "pass"]).ok();
    let bundle = std::fs::read_to_string(d.join("pki/ca-bundle.crt")).unwrap();
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 3);
    let subj = openssl(d, &["x509", "-in", "pki/ca.crt", "-noout", "-subject"])
        .ok()
        .stdout;
    assert!(subj.contains("Rotating Root G3"), "{subj}");
    for c in ["old-client.crt", "new-server.crt", "old-server.crt"] {
        openssl(d, &["verify", "-CAfile", "pki/ca-bundle.crt", c]).ok();
    }
}

/// Panics naming the files that differ between two snapshots.
#[track_caller]
fn assert_same(
    before: &[(std::path::PathBuf, Vec<u8>)],
    after: &[(std::path::PathBuf, Vec<u8>)],
    what: &str,
) {
    let names = |s: &[(std::path::PathBuf, Vec<u8>)]| {
        s.iter()
            .map(|(p, _)| p.clone())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let (b, a) = (names(before), names(after));
    let added: Vec<_> = a.difference(&b).collect();
    let removed: Vec<_> = b.difference(&a).collect();
    let changed: Vec<_> = before
        .iter()
        .filter(|(p, c)| after.iter().any(|(q, d)| q == p && d != c))
        .map(|(p, _)| p)
        .collect();
    assert!(
        added.is_empty() && removed.is_empty() && changed.is_empty(),
        "{what}: added {added:?}, removed {removed:?}, changed {changed:?}"
    );
}
