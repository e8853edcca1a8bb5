//! Root → intermediate → leaf (`init --parent`): ca-chain.crt order, STEM.fullchain.crt
//! = leaf + intermediates (no root), openssl verify through the chain, a handshake with the
//! intermediate-issued pair, pkilint on every certificate and every issuer/subject pair; the
//! intermediate is recorded in the parent's store. Also pkilint on quickstart's output.
use crate::common;
use crate::core_support;

use common::*;
use core_support::*;

#[test]
fn root_intermediate_leaf() {
    let t = tempdir();
    let d = t.path();
    mtls(
        d,
        &[
            "--dir",
            "root",
            "init",
            "--cn",
            "Example Root CA",
            "--org",
            "Example",
        ],
    )
    .ok();
    let inter = mtls(
        d,
        &[
            "--json",
            "--dir",
            "root/issuing",
            "init",
            "--parent",
            "root",
            "--cn",
            "Example Issuing CA",
            "--key-type",
            "ecdsa-p384",
        ],
    )
    .ok()
    .json();
    assert_eq!(inter["profile"], "intermediate");
    mtls(
        d,
        &[
            "--dir",
            "root/issuing",
            "issue",
            "server",
            "--cn",
            "api.example.com",
            "--san",
            "127.0.0.1",
            "--out",
            "srv",
        ],
    )
    .ok();
    mtls(
        d,
        &[
            "--dir",
            "root/issuing",
            "issue",
            "client",
            "--cn",
            "billing-client",
            "--out",
            "cli",
        ],
    )
    .ok();

    let root = pem_certs(&d.join("root/ca.crt"));
    let issuing = pem_certs(&d.join("root/issuing/ca.crt"));
    let srv = pem_certs(&d.join("srv.crt"));
    let cli = pem_certs(&d.join("cli.crt"));
    assert_eq!(
        (root.len(), issuing.len(), srv.len(), cli.len()),
        (1, 1, 1, 1)
    );
    // ca-chain.crt: this CA, then its parents, root last.
    assert_eq!(
        pem_certs(&d.join("root/issuing/ca-chain.crt")),
        vec![issuing[0].clone(), root[0].clone()]
    );
    assert_eq!(pem_certs(&d.join("root/ca-chain.crt")), root);
    // fullchain: leaf + intermediates, never the root.
    assert_eq!(
        pem_certs(&d.join("srv.fullchain.crt")),
        vec![srv[0].clone(), issuing[0].clone()]
    );
    assert_eq!(
        pem_certs(&d.join("cli.fullchain.crt")),
        vec![cli[0].clone(), issuing[0].clone()]
    );

    // The parent's store records the intermediate.
    let list = mtls(d, &["--dir", "root", "--json", "list"]).ok().json();
    let serials: Vec<&str> = list["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["serial"].as_str().unwrap())
        .collect();
    assert!(
        serials.contains(&serial_hex(&issuing[0]).as_str()),
        "{list}"
    );
    assert!(list["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["profile"] == "intermediate"));

    // openssl: through the chain, with the intermediate untrusted.
    let ca = "root/ca.crt";
    let chain = "root/issuing/ca.crt";
    verify(
        d,
        ca,
        Some(chain),
        "sslserver",
        &["-verify_hostname", "api.example.com"],
        "srv.crt",
    )
    .ok();
    verify(
        d,
        ca,
        Some(chain),
        "sslserver",
        &["-verify_ip", "127.0.0.1"],
        "srv.crt",
    )
    .ok();
    verify(d, ca, Some(chain), "sslclient", &[], "cli.crt").ok();
    assert_ne!(
        verify(d, ca, Some(chain), "sslclient", &[], "srv.crt").code,
        0
    );
    assert_ne!(
        verify(d, ca, Some(chain), "sslserver", &[], "cli.crt").code,
        0
    );
    // Without the intermediate the leaf does not verify (the fullchain is what servers send).
    assert_ne!(verify(d, ca, None, "sslserver", &[], "srv.crt").code, 0);
    verify(d, ca, None, "any", &[], "root/issuing/ca.crt").ok();

    mtls_handshake(
        d,
        &Handshake {
            ca,
            server_cert: "srv.fullchain.crt",
            server_key: "srv.key",
            client_cert: "cli.fullchain.crt",
            client_key: "cli.key",
            host: "api.example.com",
            client_cn: "billing-client",
        },
    );

    // pkilint: every certificate, every issuer/subject pair.
    for c in ["root/ca.crt", "root/issuing/ca.crt", "srv.crt", "cli.crt"] {
        pkilint_cert(d, &d.join(c));
    }
    pkilint_chain(d, &d.join("root/ca.crt"), &d.join("root/issuing/ca.crt"));
    pkilint_chain(d, &d.join("root/issuing/ca.crt"), &d.join("srv.crt"));
    pkilint_chain(d, &d.join("root/issuing/ca.crt"), &d.join("cli.crt"));
}

/// Intermediate defaults: pathlen 0, so it cannot sign another CA; a chain of two intermediates
/// works when the first allows it.
#[test]
fn intermediate_pathlen() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "root", "init"]).ok();
    mtls(d, &["--dir", "i1", "init", "--parent", "root"]).ok();
    expect_bad_input(d, &["--dir", "i2", "init", "--parent", "i1"], "i1");
    mtls(
        d,
        &[
            "--dir",
            "j1",
            "init",
            "--parent",
            "root",
            "--pathlen",
            "1",
            "--cn",
            "J1 CA",
        ],
    )
    .ok();
    mtls(
        d,
        &["--dir", "j2", "init", "--parent", "j1", "--cn", "J2 CA"],
    )
    .ok();
    mtls(
        d,
        &[
            "--dir",
            "j2",
            "issue",
            "client",
            "--cn",
            "deep-client",
            "--out",
            "deep",
        ],
    )
    .ok();
    let j2 = pem_certs(&d.join("j2/ca.crt"));
    let j1 = pem_certs(&d.join("j1/ca.crt"));
    let root = pem_certs(&d.join("root/ca.crt"));
    assert_eq!(
        pem_certs(&d.join("j2/ca-chain.crt")),
        vec![j2[0].clone(), j1[0].clone(), root[0].clone()]
    );
    let leaf = pem_certs(&d.join("deep.crt"));
    assert_eq!(
        pem_certs(&d.join("deep.fullchain.crt")),
        vec![leaf[0].clone(), j2[0].clone(), j1[0].clone()]
    );
    std::fs::write(
        d.join("untrusted.pem"),
        [
            std::fs::read(d.join("j2/ca.crt")).unwrap(),
            std::fs::read(d.join("j1/ca.crt")).unwrap(),
        ]
        .concat(),
    )
    .unwrap();
    verify(
        d,
        "root/ca.crt",
        Some("untrusted.pem"),
        "sslclient",
        &[],
        "deep.crt",
    )
    .ok();
    pkilint_cert(d, &d.join("j1/ca.crt"));
    pkilint_cert(d, &d.join("j2/ca.crt"));
    pkilint_cert(d, &d.join("deep.crt"));
    pkilint_chain(d, &d.join("root/ca.crt"), &d.join("j1/ca.crt"));
    pkilint_chain(d, &d.join("j1/ca.crt"), &d.join("j2/ca.crt"));
    pkilint_chain(d, &d.join("j2/ca.crt"), &d.join("deep.crt"));
}

/// quickstart's certificates are lint-clean too. Its server certificate carries the single-label
/// DNS name "localhost", which pkilint's DNS syntax validator refuses: for that one certificate
/// only that finding is tolerated.
#[test]
fn quickstart_is_lint_clean() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["quickstart", "--out", "qs"]).ok();
    pkilint_cert(d, &d.join("qs/pki/ca.crt"));
    pkilint_cert(d, &d.join("qs/client.crt"));
    pkilint_chain(d, &d.join("qs/pki/ca.crt"), &d.join("qs/client.crt"));
    pkilint_allowing(
        d,
        &d.join("qs/pki/ca.crt"),
        &d.join("qs/server.crt"),
        &[("pkix.invalid_domain_name_syntax", "localhost")],
    );
    verify(
        d,
        "qs/pki/ca.crt",
        None,
        "sslserver",
        &["-verify_ip", "127.0.0.1"],
        "qs/server.crt",
    )
    .ok();
    verify(
        d,
        "qs/pki/ca.crt",
        None,
        "sslserver",
        &["-verify_hostname", "localhost"],
        "qs/server.crt",
    )
    .ok();
    verify(d, "qs/pki/ca.crt", None, "sslclient", &[], "qs/client.crt").ok();
}
