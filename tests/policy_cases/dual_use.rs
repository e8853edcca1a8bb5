//! `issue server-client`: serverAuth + clientAuth in one certificate, usable on both ends.
use crate::common::*;
use crate::core_support::*;

#[test]
fn dual_use_leaf_is_server_and_client_in_a_real_handshake() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init", "--cn", "Mesh Root"]).ok();
    let r = mtls(
        d,
        &[
            "--json",
            "issue",
            "server-client",
            "--cn",
            "orders.mesh.example.com",
            "--san",
            "spiffe://example.org/ns/prod/sa/orders",
            "--out",
            "orders",
        ],
    )
    .ok();
    assert_eq!(r.json()["profile"], "server-client", "{}", r.stdout);
    mtls(
        d,
        &[
            "issue",
            "server-client",
            "--cn",
            "payments.mesh.example.com",
            "--key-type",
            "rsa-2048",
            "--out",
            "payments",
        ],
    )
    .ok();
    for c in ["orders.crt", "payments.crt"] {
        for purpose in ["sslserver", "sslclient"] {
            verify(d, "pki/ca.crt", None, purpose, &[], c).ok();
        }
        // pkilint's URI validator does not know the spiffe scheme (see pkilint_allowing).
        pkilint_allowing(
            d,
            &d.join("pki/ca.crt"),
            &d.join(c),
            &[(
                "pkix.invalid_uri_syntax",
                "spiffe://example.org/ns/prod/sa/orders",
            )],
        );
        let text = openssl(d, &["x509", "-in", c, "-noout", "-ext", "extendedKeyUsage"])
            .ok()
            .stdout;
        assert!(
            text.contains("TLS Web Server Authentication")
                && text.contains("TLS Web Client Authentication"),
            "{c}: {text}"
        );
    }
    // An RSA dual-use key may encipher (TLS 1.2 RSA key exchange); EC keys never.
    let ku = |c: &str| {
        openssl(d, &["x509", "-in", c, "-noout", "-ext", "keyUsage"])
            .ok()
            .stdout
    };
    assert!(ku("payments.crt").contains("Key Encipherment"));
    assert!(!ku("orders.crt").contains("Key Encipherment"));
    // The same two certificates as server, then as client, in both directions.
    mtls_handshake(
        d,
        &Handshake {
            ca: "pki/ca.crt",
            server_cert: "orders.fullchain.crt",
            server_key: "orders.key",
            client_cert: "payments.fullchain.crt",
            client_key: "payments.key",
            host: "orders.mesh.example.com",
            client_cn: "payments.mesh.example.com",
        },
    );
    mtls_handshake(
        d,
        &Handshake {
            ca: "pki/ca.crt",
            server_cert: "payments.fullchain.crt",
            server_key: "payments.key",
            client_cert: "orders.fullchain.crt",
            client_key: "orders.key",
            host: "payments.mesh.example.com",
            client_cn: "orders.mesh.example.com",
        },
    );
    // A server-only certificate is not a client: openssl refuses it for sslclient.
    mtls(
        d,
        &["issue", "server", "--cn", "web.example.com", "--out", "web"],
    )
    .ok();
    let r = verify(d, "pki/ca.crt", None, "sslclient", &[], "web.crt");
    assert_ne!(r.code, 0, "{}", r.stdout);
    // list and sign know the profile.
    let list = mtls(d, &["--json", "list"]).ok().json();
    let profiles: Vec<&str> = list["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["profile"].as_str())
        .collect();
    assert!(profiles.contains(&"server-client"), "{profiles:?}");
    mtls(
        d,
        &["csr", "--cn", "inventory.mesh.example.com", "--out", "inv"],
    )
    .ok();
    mtls(d, &["sign", "inv.csr", "--profile", "server-client"]).ok();
    verify(d, "pki/ca.crt", None, "sslserver", &[], "inv.crt").ok();
    verify(d, "pki/ca.crt", None, "sslclient", &[], "inv.crt").ok();
    pkilint_cert(d, &d.join("inv.crt"));
}
