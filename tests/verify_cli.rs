//! `mtls-ca verify` on the seed's troubleshooting list, with the real binary: each broken case
//! exits 1 with its code and hint, the fixed variant exits 0. CRLs are made with `openssl ca`.
use crate::common;
use std::path::Path;

use common::*;

/// A root CA in `pki`, an issuing CA in `pki/issuing`, a server and a client leaf from it.
fn setup(d: &Path) {
    root_issuing_server(d);
    mtls(
        d,
        &[
            "--dir",
            "pki/issuing",
            "issue",
            "client",
            "--cn",
            "billing.example.com",
            "--out",
            "billing",
        ],
    )
    .ok();
    pkilint_cert(d, &d.join("billing.crt"));
    pkilint_chain(d, &d.join("pki/issuing/ca.crt"), &d.join("billing.crt"));
    for f in ["api.example.com.crt", "billing.crt"] {
        openssl(
            d,
            &[
                "verify",
                "-CAfile",
                "pki/ca.crt",
                "-untrusted",
                "pki/issuing/ca.crt",
                f,
            ],
        )
        .ok();
    }
}

fn verify(d: &Path, args: &[&str]) -> Run {
    let mut a = vec!["verify"];
    a.extend_from_slice(args);
    mtls(d, &a)
}

fn verify_json(d: &Path, args: &[&str]) -> (i32, serde_json::Value) {
    let mut a = vec!["--json", "verify"];
    a.extend_from_slice(args);
    let r = mtls(d, &a);
    let j = r.json();
    (r.code, j)
}

/// Asserts exit 1, the error code in JSON and the words of the hint in the text output.
#[track_caller]
fn expect_problem(d: &Path, args: &[&str], code: &str, words: &[&str]) {
    let (rc, j) = verify_json(d, args);
    assert_eq!(rc, 1, "{args:?}: {j:#}");
    assert_eq!(j["valid"], false);
    let codes: Vec<&str> = j["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&code), "{args:?}: want {code}, got {j:#}");
    let text = verify(d, args).expect_code(1);
    for w in words {
        assert!(
            text.stdout.contains(w),
            "{args:?}: {w:?} missing from\n{}",
            text.stdout
        );
    }
}

#[track_caller]
fn expect_valid(d: &Path, args: &[&str]) -> serde_json::Value {
    let (rc, j) = verify_json(d, args);
    assert_eq!(rc, 0, "{args:?}: {j:#}");
    assert_eq!(j["valid"], true);
    let t = verify(d, args).ok();
    assert!(t.stdout.starts_with("VALID"), "{}", t.stdout);
    j
}

#[test]
fn leaf_without_intermediate_then_fullchain() {
    let t = tempdir();
    let d = t.path();
    setup(d);
    expect_problem(
        d,
        &[
            "api.example.com.crt",
            "--ca",
            "pki/ca.crt",
            "--host",
            "api.example.com",
        ],
        "missing_intermediate",
        &[
            "the server sent its certificate without the intermediate (CN=Example Issuing CA)",
            "serve api.example.com.fullchain.crt",
        ],
    );
    let j = expect_valid(
        d,
        &[
            "api.example.com.fullchain.crt",
            "--ca",
            "pki/ca.crt",
            "--host",
            "api.example.com",
        ],
    );
    assert_eq!(
        j["chain"],
        serde_json::json!([
            "CN=api.example.com",
            "CN=Example Issuing CA",
            "CN=Example Root CA"
        ])
    );
    // The same for a client certificate.
    expect_problem(
        d,
        &["billing.crt", "--ca", "pki/ca.crt", "--purpose", "client"],
        "missing_intermediate",
        &[
            "the client sent its certificate without the intermediate",
            "send billing.fullchain.crt",
        ],
    );
    // --chain supplies the intermediate too; openssl agrees.
    expect_valid(
        d,
        &[
            "api.example.com.crt",
            "--ca",
            "pki/ca.crt",
            "--chain",
            "pki/issuing/ca.crt",
            "--host",
            "api.example.com",
        ],
    );
    openssl(
        d,
        &[
            "verify",
            "-CAfile",
            "pki/ca.crt",
            "-untrusted",
            "pki/issuing/ca.crt",
            "api.example.com.crt",
        ],
    )
    .ok();
}

#[test]
fn san_mismatch_dns_and_ip() {
    let t = tempdir();
    let d = t.path();
    setup(d);
    let base = [
        "api.example.com.fullchain.crt",
        "--ca",
        "pki/ca.crt",
        "--host",
    ];
    let with = |h: &'static str| {
        let mut v = base.to_vec();
        v.push(h);
        v
    };
    expect_problem(
        d,
        &with("www.example.com"),
        "name_mismatch",
        &[
            "the certificate is for api.example.com, 10.0.0.5, not www.example.com",
            "reissue with --san www.example.com",
        ],
    );
    expect_problem(
        d,
        &with("10.0.0.6"),
        "name_mismatch",
        &["not 10.0.0.6", "reissue with --san 10.0.0.6"],
    );
    expect_valid(d, &with("api.example.com"));
    expect_valid(d, &with("10.0.0.5"));
    // The fix the hint gives works.
    mtls(
        d,
        &[
            "--dir",
            "pki/issuing",
            "issue",
            "server",
            "--cn",
            "api.example.com",
            "--san",
            "10.0.0.5",
            "--san",
            "www.example.com",
            "--out",
            "api2",
        ],
    )
    .ok();
    pkilint_cert(d, &d.join("api2.crt"));
    openssl(
        d,
        &[
            "verify",
            "-CAfile",
            "pki/ca.crt",
            "-untrusted",
            "pki/issuing/ca.crt",
            "api2.crt",
        ],
    )
    .ok();
    expect_valid(
        d,
        &[
            "api2.fullchain.crt",
            "--ca",
            "pki/ca.crt",
            "--host",
            "www.example.com",
        ],
    );
}

#[test]
fn expired_and_not_yet_valid_with_at() {
    let t = tempdir();
    let d = t.path();
    setup(d);
    let args = |at: &'static str| {
        vec![
            "api.example.com.fullchain.crt",
            "--ca",
            "pki/ca.crt",
            "--host",
            "api.example.com",
            "--at",
            at,
        ]
    };
    expect_problem(
        d,
        &args("2028-06-01T00:00:00Z"),
        "expired",
        &[
            "expired",
            "days ago",
            "mtls-ca renew --cert api.example.com.crt",
        ],
    );
    expect_problem(
        d,
        &args("2020-01-01T00:00:00Z"),
        "not_yet_valid",
        &["not valid yet", "clock"],
    );
    expect_valid(d, &args("2027-01-01T00:00:00Z"));
    // A bad --at is a usage error.
    let r = verify(d, &args("next tuesday")).expect_code(2);
    assert!(r.stderr.contains("--at"), "{}", r.stderr);
}

#[test]
fn wrong_purpose_both_ways() {
    let t = tempdir();
    let d = t.path();
    setup(d);
    expect_problem(
        d,
        &[
            "billing.fullchain.crt",
            "--ca",
            "pki/ca.crt",
            "--purpose",
            "server",
        ],
        "wrong_purpose",
        &[
            "client certificate (clientAuth) used as a server",
            "mtls-ca issue server",
        ],
    );
    expect_problem(
        d,
        &[
            "api.example.com.fullchain.crt",
            "--ca",
            "pki/ca.crt",
            "--purpose",
            "client",
        ],
        "wrong_purpose",
        &[
            "server certificate (serverAuth) used as a client",
            "mtls-ca issue client",
        ],
    );
    expect_valid(
        d,
        &[
            "billing.fullchain.crt",
            "--ca",
            "pki/ca.crt",
            "--purpose",
            "client",
        ],
    );
    let j = expect_valid(
        d,
        &[
            "api.example.com.fullchain.crt",
            "--ca",
            "pki/ca.crt",
            "--purpose",
            "server",
            "--host",
            "api.example.com",
        ],
    );
    assert_eq!(j["purpose"], "server");
}

#[test]
fn other_ca() {
    let t = tempdir();
    let d = t.path();
    setup(d);
    mtls(d, &["--dir", "other", "init", "--cn", "Other Root"]).ok();
    mtls(
        d,
        &[
            "--dir",
            "other",
            "issue",
            "server",
            "--cn",
            "api.example.com",
            "--out",
            "foreign",
        ],
    )
    .ok();
    pkilint_cert(d, &d.join("foreign.crt"));
    openssl(d, &["verify", "-CAfile", "other/ca.crt", "foreign.crt"]).ok();
    expect_problem(
        d,
        &[
            "foreign.crt",
            "--ca",
            "pki/ca.crt",
            "--host",
            "api.example.com",
        ],
        "unknown_issuer",
        &[
            "issued by CN=Other Root, which is not among the trusted CAs",
            "--ca",
        ],
    );
    expect_valid(
        d,
        &[
            "foreign.crt",
            "--ca",
            "other/ca.crt",
            "--host",
            "api.example.com",
        ],
    );
    // A CA file holding the intermediate and the root: no partial-chain warning.
    let j = expect_valid(
        d,
        &[
            "api.example.com.crt",
            "--ca",
            "pki/issuing/ca-chain.crt",
            "--host",
            "api.example.com",
        ],
    );
    assert_eq!(j["warnings"], serde_json::json!([]), "{j:#}");
    // An intermediate alone as the trust anchor: rustls accepts it (with the partial-chain
    // warning); OpenSSL-family gateways (no partial_chain) refuse it, so the default verdict,
    // which holds every engine, is invalid.
    let j = expect_valid(
        d,
        &[
            "api.example.com.crt",
            "--ca",
            "pki/issuing/ca.crt",
            "--host",
            "api.example.com",
            "--engine",
            "rustls",
        ],
    );
    assert!(j["warnings"].to_string().contains("partial-chain"), "{j:#}");
    let (rc, j) = verify_json(
        d,
        &[
            "api.example.com.crt",
            "--ca",
            "pki/issuing/ca.crt",
            "--host",
            "api.example.com",
        ],
    );
    assert_eq!(rc, 1, "{j:#}");
    assert_eq!(j["valid"], false, "{j:#}");
    // Several --ca: either may anchor it.
    expect_valid(
        d,
        &[
            "foreign.crt",
            "--ca",
            "pki/ca.crt",
            "--ca",
            "other/ca.crt",
            "--host",
            "api.example.com",
        ],
    );
    // Default --ca is DIR/ca.crt.
    let r = mtls(
        d,
        &[
            "--dir",
            "other",
            "verify",
            "foreign.crt",
            "--host",
            "api.example.com",
        ],
    )
    .ok();
    assert!(r.stdout.starts_with("VALID"), "{}", r.stdout);
}

#[test]
fn key_mismatch() {
    let t = tempdir();
    let d = t.path();
    setup(d);
    expect_problem(
        d,
        &[
            "api.example.com.fullchain.crt",
            "--ca",
            "pki/ca.crt",
            "--key",
            "billing.key",
        ],
        "key_mismatch",
        &["the key does not belong to this certificate"],
    );
    expect_valid(
        d,
        &[
            "api.example.com.fullchain.crt",
            "--ca",
            "pki/ca.crt",
            "--key",
            "api.example.com.key",
        ],
    );
    // openssl-made key formats are read too (SEC1 here).
    openssl(d, &["ec", "-in", "api.example.com.key", "-out", "sec1.key"]).ok();
    expect_valid(
        d,
        &[
            "api.example.com.fullchain.crt",
            "--ca",
            "pki/ca.crt",
            "--key",
            "sec1.key",
        ],
    );
}

/// `openssl ca` configuration for a CA directory made by mtls-ca, so openssl can revoke and
/// publish CRLs with the same key.
fn openssl_ca(d: &Path, ca_dir: &str) -> String {
    let db = d.join(format!("{ca_dir}/ossl"));
    std::fs::create_dir_all(&db).unwrap();
    std::fs::write(db.join("index.txt"), "").unwrap();
    std::fs::write(db.join("crlnumber"), "1000\n").unwrap();
    let cnf = db.join("ca.cnf");
    std::fs::write(
        &cnf,
        format!(
            "[ ca ]\ndefault_ca = CA_default\n[ CA_default ]\ndatabase = {db}/index.txt\ncrlnumber = {db}/crlnumber\n\
             certificate = {dir}/ca.crt\nprivate_key = {dir}/ca.key\ndefault_md = sha256\ndefault_crl_days = 7\n\
             crl_extensions = crl_ext\n[ crl_ext ]\nauthorityKeyIdentifier = keyid:always\n",
            db = db.display(),
            dir = d.join(ca_dir).display()
        ),
    )
    .unwrap();
    cnf.display().to_string()
}

fn gencrl(d: &Path, cnf: &str, out: &str) {
    openssl(d, &["ca", "-config", cnf, "-gencrl", "-out", out]).ok();
    pkilint_crl(d, &d.join(out));
}

#[test]
fn revoked_with_crls_of_root_and_intermediate() {
    let t = tempdir();
    let d = t.path();
    setup(d);
    mtls(
        d,
        &[
            "--dir",
            "pki/issuing",
            "issue",
            "server",
            "--cn",
            "api.example.com",
            "--out",
            "good",
        ],
    )
    .ok();
    let root = openssl_ca(d, "pki");
    let issuing = openssl_ca(d, "pki/issuing");
    openssl(
        d,
        &[
            "ca",
            "-config",
            &issuing,
            "-revoke",
            "api.example.com.crt",
            "-crl_reason",
            "keyCompromise",
        ],
    )
    .ok();
    gencrl(d, &issuing, "issuing.crl");
    gencrl(d, &root, "root.crl");
    let crls = ["--crl", "root.crl", "--crl", "issuing.crl"];
    let mut args = vec!["api.example.com.fullchain.crt", "--ca", "pki/ca.crt"];
    args.extend_from_slice(&crls);
    expect_problem(
        d,
        &args,
        "revoked",
        &["revoked on", "(key-compromise)", "issue a new one"],
    );
    openssl(
        d,
        &[
            "verify",
            "-crl_check_all",
            "-CAfile",
            "pki/ca.crt",
            "-untrusted",
            "pki/issuing/ca.crt",
            "-CRLfile",
            "root.crl",
            "-CRLfile",
            "issuing.crl",
            "api.example.com.crt",
        ],
    )
    .expect_code(2);
    // Only the issuing CA's CRL: the revocation still shows, next to the missing root CRL.
    let (rc, j) = verify_json(
        d,
        &[
            "api.example.com.fullchain.crt",
            "--ca",
            "pki/ca.crt",
            "--crl",
            "issuing.crl",
        ],
    );
    assert_eq!(rc, 1);
    assert_eq!(j["errors"][0]["code"], "revoked", "{j:#}");
    assert_eq!(j["errors"][1]["code"], "revocation_unknown", "{j:#}");
    // The fixed variant: a certificate that is not revoked passes with the same CRLs.
    let mut good = vec![
        "good.fullchain.crt",
        "--ca",
        "pki/ca.crt",
        "--host",
        "api.example.com",
    ];
    good.extend_from_slice(&crls);
    let j = expect_valid(d, &good);
    assert!(j["warnings"].as_array().unwrap().is_empty(), "{j:#}");
    // The intermediate revoked in the root's CRL: everything below it fails.
    openssl(
        d,
        &[
            "ca",
            "-config",
            &root,
            "-revoke",
            "pki/issuing/ca.crt",
            "-crl_reason",
            "cACompromise",
        ],
    )
    .ok();
    gencrl(d, &root, "root2.crl");
    expect_problem(
        d,
        &[
            "good.fullchain.crt",
            "--ca",
            "pki/ca.crt",
            "--crl",
            "root2.crl",
            "--crl",
            "issuing.crl",
        ],
        "revoked",
        &[
            "the CA certificate CN=Example Issuing CA was revoked on",
            "(ca-compromise)",
        ],
    );
    // A CRL past its nextUpdate is a warning (nginx rejects every client then).
    let j = verify_json(
        d,
        &[
            "good.fullchain.crt",
            "--ca",
            "pki/ca.crt",
            "--crl",
            "root.crl",
            "--crl",
            "issuing.crl",
            "--at",
            "2027-01-01T00:00:00Z",
        ],
    )
    .1;
    assert!(j["warnings"].to_string().contains("nextUpdate"), "{j:#}");
    // A CA of the chain without its CRL: unknown status is refused, as rustls and nginx do.
    expect_problem(
        d,
        &[
            "good.fullchain.crt",
            "--ca",
            "pki/ca.crt",
            "--crl",
            "issuing.crl",
        ],
        "revocation_unknown",
        &[
            "no CRL given from CN=Example Root CA (issuer of CN=Example Issuing CA)",
            "every CA",
        ],
    );
}

#[test]
fn ca_used_as_leaf_and_gateway_warnings() {
    let t = tempdir();
    let d = t.path();
    setup(d);
    let (rc, j) = verify_json(
        d,
        &[
            "pki/issuing/ca.crt",
            "--ca",
            "pki/ca.crt",
            "--purpose",
            "client",
        ],
    );
    assert_eq!(rc, 1);
    assert_eq!(j["errors"][0]["code"], "ca_used_as_leaf", "{j:#}");
    assert!(
        j["warnings"].to_string().contains("openssl-based gateways"),
        "{j:#}"
    );
    // A deeper chain: nginx needs ssl_verify_depth.
    mtls(
        d,
        &[
            "--dir",
            "pki/issuing2",
            "init",
            "--parent",
            "pki",
            "--cn",
            "Example Issuing CA 2",
            "--pathlen",
            "1",
        ],
    )
    .ok();
    mtls(
        d,
        &[
            "--dir",
            "pki/deep",
            "init",
            "--parent",
            "pki/issuing2",
            "--cn",
            "Example Deep CA",
        ],
    )
    .ok();
    mtls(
        d,
        &[
            "--dir",
            "pki/deep",
            "issue",
            "client",
            "--cn",
            "deep-client",
            "--out",
            "deep",
        ],
    )
    .ok();
    pkilint_cert(d, &d.join("deep.crt"));
    pkilint_cert(d, &d.join("pki/deep/ca.crt"));
    pkilint_cert(d, &d.join("pki/issuing2/ca.crt"));
    openssl(
        d,
        &[
            "verify",
            "-CAfile",
            "pki/ca.crt",
            "-untrusted",
            "pki/deep/ca-chain.crt",
            "deep.crt",
        ],
    )
    .ok();
    let j = expect_valid(
        d,
        &[
            "deep.fullchain.crt",
            "--ca",
            "pki/ca.crt",
            "--purpose",
            "client",
        ],
    );
    assert!(
        j["warnings"].to_string().contains("ssl_verify_depth 3"),
        "{j:#}"
    );
}

#[test]
fn unusable_inputs_exit_2() {
    let t = tempdir();
    let d = t.path();
    setup(d);
    std::fs::write(d.join("empty.crt"), "").unwrap();
    for args in [
        vec!["missing.crt", "--ca", "pki/ca.crt"],
        vec!["empty.crt", "--ca", "pki/ca.crt"],
        vec!["api.example.com.key", "--ca", "pki/ca.crt"],
        vec!["api.example.com.crt", "--ca", "api.example.com.key"],
        vec![
            "api.example.com.crt",
            "--ca",
            "pki/ca.crt",
            "--crl",
            "pki/ca.crt",
        ],
        vec![
            "api.example.com.crt",
            "--ca",
            "pki/ca.crt",
            "--key",
            "api.example.com.crt",
        ],
        vec![
            "api.example.com.crt",
            "--ca",
            "pki/ca.crt",
            "--purpose",
            "email",
        ],
        vec![
            "api.example.com.crt",
            "--ca",
            "pki/ca.crt",
            "--host",
            "bad host!",
        ],
        vec!["api.example.com.crt", "--dir", "nowhere"],
    ] {
        let r = verify(d, &args).expect_code(2);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
        assert!(r.stderr.starts_with("error: "), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{args:?}: {}", r.stderr);
    }
    let r = verify(d, &["api.example.com.key", "--ca", "pki/ca.crt"]).expect_code(2);
    assert!(
        r.stderr.contains("api.example.com.key") && r.stderr.contains("PRIVATE KEY"),
        "{}",
        r.stderr
    );
}

#[test]
fn host_only_in_cn() {
    let t = tempdir();
    let d = t.path();
    std::fs::write(
        d.join("req.cnf"),
        "[req]\ndistinguished_name=dn\n[dn]\n[v3]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n",
    )
    .unwrap();
    std::fs::write(
        d.join("leaf.ext"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:other.example.com\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n",
    )
    .unwrap();
    openssl_p256_key(d, "ca.key");
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/CN=CN Test Root",
            "-days",
            "30",
            "-config",
            "req.cnf",
            "-extensions",
            "v3",
            "-out",
            "ca.crt",
        ],
    )
    .ok();
    openssl_p256_key(d, "leaf.key");
    openssl(
        d,
        &[
            "req",
            "-new",
            "-key",
            "leaf.key",
            "-subj",
            "/CN=cn-only.example.com",
            "-out",
            "leaf.csr",
        ],
    )
    .ok();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "20",
            "-extfile",
            "leaf.ext",
            "-out",
            "leaf.crt",
        ],
    )
    .ok();
    pkilint_cert(d, &d.join("ca.crt"));
    pkilint_cert(d, &d.join("leaf.crt"));
    pkilint_chain(d, &d.join("ca.crt"), &d.join("leaf.crt"));
    openssl(d, &["verify", "-CAfile", "ca.crt", "leaf.crt"]).ok();
    expect_problem(
        d,
        &[
            "leaf.crt",
            "--ca",
            "ca.crt",
            "--host",
            "cn-only.example.com",
        ],
        "name_mismatch",
        &[
            "the certificate is for other.example.com, not cn-only.example.com",
            "only in the subject CN",
            "reissue with --san cn-only.example.com",
        ],
    );
    expect_valid(
        d,
        &["leaf.crt", "--ca", "ca.crt", "--host", "other.example.com"],
    );
}
