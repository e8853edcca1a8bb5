//! `renew` makes a new key by default; `--reuse-key` keeps it with a warning; a CSR-signed
//! certificate keeps its public key (the CA never held the private key), with a warning.
use crate::common::*;

fn pubkey(d: &std::path::Path, cert: &str) -> String {
    openssl(d, &["x509", "-in", cert, "-noout", "-pubkey"])
        .ok()
        .stdout
}

fn key_pub(d: &std::path::Path, key: &str) -> String {
    openssl(d, &["pkey", "-in", key, "-pubout"]).ok().stdout
}

#[test]
fn renew_rotates_the_key_unless_reuse_key() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init", "--cn", "Renew Root"]).ok();
    mtls(
        d,
        &[
            "issue",
            "client",
            "--cn",
            "alice",
            "--key-type",
            "ecdsa-p384",
            "--out",
            "alice",
        ],
    )
    .ok();
    let first = pubkey(d, "alice.crt");
    // Default: a new key of the same type, written over the old one (kept as .bak).
    let r = mtls(d, &["--json", "renew", "--cert", "alice.crt"]).ok();
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
    let second = pubkey(d, "alice.crt");
    assert_ne!(second, first, "renew must make a new key by default");
    assert_eq!(key_pub(d, "alice.key"), second);
    assert_eq!(key_pub(d, "alice.key.bak"), first);
    assert_eq!(r.json()["key_type"], "ecdsa-p384");
    assert!(openssl(d, &["x509", "-in", "alice.crt", "-noout", "-text"])
        .ok()
        .stdout
        .contains("secp384r1"));
    // --reuse-key: the same key, a warning that says why that is risky.
    let r = mtls(d, &["renew", "--cert", "alice.crt", "--reuse-key"]).ok();
    assert!(
        r.stderr.contains("warning") && r.stderr.contains("--reuse-key"),
        "{}",
        r.stderr
    );
    assert_eq!(pubkey(d, "alice.crt"), second);
    assert_eq!(key_pub(d, "alice.key"), second);
    // --rekey and --reuse-key together make no sense.
    mtls(
        d,
        &["renew", "--cert", "alice.crt", "--reuse-key", "--rekey"],
    )
    .expect_code(2);
    // A CSR-signed certificate: the CA has no key to rotate; it keeps the public key and says so.
    mtls(d, &["csr", "--cn", "bob", "--out", "bob"]).ok();
    std::fs::create_dir(d.join("signed")).unwrap();
    mtls(
        d,
        &[
            "sign",
            "bob.csr",
            "--profile",
            "client",
            "--out",
            "signed/bob",
        ],
    )
    .ok();
    let bob = pubkey(d, "signed/bob.crt");
    let r = mtls(d, &["renew", "--cert", "signed/bob.crt"]).ok();
    assert!(r.stderr.contains("new CSR"), "{}", r.stderr);
    assert_eq!(pubkey(d, "signed/bob.crt"), bob);
    assert!(!d.join("signed/bob.key").exists());
    for c in ["alice.crt", "signed/bob.crt"] {
        openssl(
            d,
            &[
                "verify",
                "-CAfile",
                "pki/ca.crt",
                "-purpose",
                "sslclient",
                c,
            ],
        )
        .ok();
        pkilint_cert(d, &d.join(c));
        pkilint_chain(d, &d.join("pki/ca.crt"), &d.join(c));
    }
}
