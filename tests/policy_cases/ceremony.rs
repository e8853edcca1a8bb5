//! The offline-root ceremony across two CA directories: the intermediate's key never leaves
//! its directory, the root's never leaves its own.
use crate::common::*;
use crate::core_support::*;

#[test]
fn offline_root_signs_an_intermediate_made_elsewhere() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "root", "init", "--cn", "Offline Root"]).ok();
    let root_key = std::fs::read(d.join("root/ca.key")).unwrap();
    // 1. Issuing host: key and CSR only; not a CA yet.
    mtls(
        d,
        &[
            "--dir",
            "int",
            "init",
            "--csr",
            "--cn",
            "Issuing CA",
            "--subject",
            "O=Acme,C=US",
        ],
    )
    .ok();
    assert_eq!(mode(&d.join("int/ca.key")), 0o600);
    assert!(d.join("int/ca.csr").exists() && !d.join("int/ca.crt").exists());
    let int_key = std::fs::read(d.join("int/ca.key")).unwrap();
    mtls(d, &["--dir", "int", "issue", "client", "--cn", "x"]).expect_code(2);
    // 2. Root's host: only the CSR travels.
    std::fs::copy(d.join("int/ca.csr"), d.join("transfer.csr")).unwrap();
    let j = mtls(
        d,
        &[
            "--dir",
            "root",
            "--json",
            "sign",
            "transfer.csr",
            "--profile",
            "intermediate",
            "--pathlen",
            "0",
            "--out",
            "issuing",
        ],
    )
    .ok()
    .json();
    assert_eq!(j["profile"], "intermediate");
    let serial = j["serial"].as_str().unwrap().to_string();
    let list = mtls(d, &["--dir", "root", "--json", "list"]).ok().json();
    assert!(
        list.to_string().contains(&serial),
        "recorded in the root's store: {list}"
    );
    // 3. Back on the issuing host: only the certificate (and its chain) travel.
    mtls(d, &["--dir", "int", "init", "--import-cert", "issuing.crt"]).ok();
    assert_eq!(std::fs::read(d.join("int/ca.key")).unwrap(), int_key);
    assert_eq!(std::fs::read(d.join("root/ca.key")).unwrap(), root_key);
    assert_eq!(pem_certs(&d.join("int/ca-chain.crt")).len(), 2);
    mtls(
        d,
        &[
            "--dir",
            "int",
            "issue",
            "server",
            "--cn",
            "api.example.com",
            "--out",
            "api",
        ],
    )
    .ok();
    verify(
        d,
        "root/ca.crt",
        Some("int/ca.crt"),
        "sslserver",
        &[],
        "api.crt",
    )
    .ok();
    openssl(
        d,
        &[
            "verify",
            "-CAfile",
            "root/ca.crt",
            "-untrusted",
            "int/ca-chain.crt",
            "int/ca.crt",
        ],
    )
    .ok();
    mtls(
        d,
        &[
            "verify",
            "api.fullchain.crt",
            "--ca",
            "root/ca.crt",
            "--purpose",
            "server",
        ],
    )
    .ok();
    pkilint_cert(d, &d.join("int/ca.crt"));
    pkilint_chain(d, &d.join("root/ca.crt"), &d.join("int/ca.crt"));
    pkilint_cert(d, &d.join("api.crt"));
    pkilint_chain(d, &d.join("int/ca.crt"), &d.join("api.crt"));
    // pathLen 0: the new intermediate may not sign another CA.
    mtls(d, &["--dir", "x", "init", "--csr", "--cn", "Sub CA"]).ok();
    expect_bad_input(
        d,
        &[
            "--dir",
            "int",
            "sign",
            "x/ca.csr",
            "--profile",
            "intermediate",
            "--out",
            "sub",
        ],
        "pathLen",
    );
}
