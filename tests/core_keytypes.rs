//! For each key type: init + issue server + issue client with the real binary; openssl
//! verify with the right purposes (and the cross purposes failing), a real mTLS handshake with
//! openssl s_server -Verify / s_client -cert, and pkilint on every certificate and pair.
use crate::common;
use crate::core_support;

use common::*;
use core_support::*;

fn key_type_round_trip(kt: &str) {
    let t = tempdir();
    let d = t.path();
    mtls(
        d,
        &["init", "--cn", &format!("Test Root {kt}"), "--key-type", kt],
    )
    .ok();
    let server = mtls(
        d,
        &[
            "--json",
            "issue",
            "server",
            "--cn",
            "api.example.com",
            "--san",
            "127.0.0.1",
            "--key-type",
            kt,
            "--out",
            "srv",
        ],
    )
    .ok()
    .json();
    assert_eq!(server["key_type"], kt);
    let client = mtls(
        d,
        &[
            "--json",
            "issue",
            "client",
            "--cn",
            "billing-client",
            "--san",
            "billing.example.com",
            "--key-type",
            kt,
            "--out",
            "cli",
        ],
    )
    .ok()
    .json();
    assert_eq!(client["key_type"], kt);

    // The private keys are what was asked for (openssl reads them as PKCS#8).
    for key in ["pki/ca.key", "srv.key", "cli.key"] {
        let r = openssl(d, &["pkey", "-in", key, "-noout", "-text"]).ok();
        let want = match kt {
            "ecdsa-p256" => "P-256",
            "ecdsa-p384" => "P-384",
            "ed25519" => "ED25519",
            "rsa-2048" => "(2048 bit",
            "rsa-3072" => "(3072 bit",
            "rsa-4096" => "(4096 bit",
            _ => unreachable!(),
        };
        assert!(r.stdout.contains(want), "{key} is not {kt}:\n{}", r.stdout);
        let pem = std::fs::read_to_string(d.join(key)).unwrap();
        assert!(
            pem.starts_with("-----BEGIN PRIVATE KEY-----"),
            "{key}: not PKCS#8"
        );
    }

    let ca = "pki/ca.crt";
    // Server: right purpose, host name and IP pass.
    verify(
        d,
        ca,
        None,
        "sslserver",
        &["-verify_hostname", "api.example.com"],
        "srv.crt",
    )
    .ok();
    verify(
        d,
        ca,
        None,
        "sslserver",
        &["-verify_ip", "127.0.0.1"],
        "srv.crt",
    )
    .ok();
    // ... a wrong name or IP fails.
    assert_ne!(
        verify(
            d,
            ca,
            None,
            "sslserver",
            &["-verify_hostname", "other.example.com"],
            "srv.crt"
        )
        .code,
        0
    );
    assert_ne!(
        verify(
            d,
            ca,
            None,
            "sslserver",
            &["-verify_ip", "127.0.0.2"],
            "srv.crt"
        )
        .code,
        0
    );
    // Client: clientAuth passes.
    verify(d, ca, None, "sslclient", &[], "cli.crt").ok();
    // Cross purposes fail.
    let r = verify(d, ca, None, "sslclient", &[], "srv.crt");
    assert_ne!(r.code, 0, "server cert passed as client:\n{}", r.stdout);
    let r = verify(d, ca, None, "sslserver", &[], "cli.crt");
    assert_ne!(r.code, 0, "client cert passed as server:\n{}", r.stdout);
    // The fullchain (no intermediates here) is just the leaf.
    assert_eq!(
        pem_certs(&d.join("srv.fullchain.crt")),
        pem_certs(&d.join("srv.crt"))
    );

    mtls_handshake(
        d,
        &Handshake {
            ca,
            server_cert: "srv.fullchain.crt",
            server_key: "srv.key",
            client_cert: "cli.crt",
            client_key: "cli.key",
            host: "api.example.com",
            client_cn: "billing-client",
        },
    );

    for c in [ca, "srv.crt", "cli.crt"] {
        pkilint_cert(d, &d.join(c));
    }
    pkilint_chain(d, &d.join(ca), &d.join("srv.crt"));
    pkilint_chain(d, &d.join(ca), &d.join("cli.crt"));
}

#[test]
fn ecdsa_p256() {
    key_type_round_trip("ecdsa-p256");
}

#[test]
fn ecdsa_p384() {
    key_type_round_trip("ecdsa-p384");
}

#[test]
fn ed25519() {
    key_type_round_trip("ed25519");
}

#[test]
fn rsa_2048() {
    key_type_round_trip("rsa-2048");
}

#[test]
fn rsa_3072() {
    key_type_round_trip("rsa-3072");
}

#[test]
fn rsa_4096() {
    key_type_round_trip("rsa-4096");
}

/// Mixed key types along the chain: an RSA root signing ECDSA and Ed25519 leaves, and back.
#[test]
fn mixed_key_types() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "rsa", "init", "--key-type", "rsa-2048"]).ok();
    mtls(
        d,
        &[
            "--dir",
            "rsa",
            "issue",
            "server",
            "--cn",
            "api.example.com",
            "--key-type",
            "ed25519",
            "--out",
            "s1",
        ],
    )
    .ok();
    mtls(d, &["--dir", "ec", "init", "--key-type", "ecdsa-p384"]).ok();
    mtls(
        d,
        &[
            "--dir",
            "ec",
            "issue",
            "client",
            "--cn",
            "alice",
            "--key-type",
            "rsa-2048",
            "--out",
            "c1",
        ],
    )
    .ok();
    verify(
        d,
        "rsa/ca.crt",
        None,
        "sslserver",
        &["-verify_hostname", "api.example.com"],
        "s1.crt",
    )
    .ok();
    verify(d, "ec/ca.crt", None, "sslclient", &[], "c1.crt").ok();
    pkilint_cert(d, &d.join("s1.crt"));
    pkilint_cert(d, &d.join("c1.crt"));
    pkilint_chain(d, &d.join("rsa/ca.crt"), &d.join("s1.crt"));
    pkilint_chain(d, &d.join("ec/ca.crt"), &d.join("c1.crt"));
}
