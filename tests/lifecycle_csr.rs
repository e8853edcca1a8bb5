//! CSRs: `mtls-ca csr`, and `mtls-ca sign` of openssl-made CSRs of every key type (P-384 signed
//! with SHA-256 included), CA:TRUE requests, SAN filtering, and bad CSRs (exit 2, nothing written).
use crate::common;
use common::*;

use std::path::Path;

fn init(d: &Path) {
    mtls(d, &["init", "--cn", "CSR Test Root"]).ok();
}

/// An openssl CSR for `cn` with `key_args` (`-newkey ...`), SANs and optional extra -addext.
fn openssl_csr(d: &Path, stem: &str, newkey: &[&str], cn: &str, sans: &str, extra: &[&str]) {
    let mut args: Vec<String> = vec!["req".into(), "-new".into()];
    args.extend(newkey.iter().map(|s| s.to_string()));
    args.extend(
        [
            "-nodes",
            "-keyout",
            &format!("{stem}.key"),
            "-out",
            &format!("{stem}.csr"),
            "-subj",
            &format!("/CN={cn}"),
            "-addext",
            &format!("subjectAltName={sans}"),
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    for e in extra {
        args.push("-addext".into());
        args.push(e.to_string());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    openssl(d, &refs).ok();
}

fn check_leaf(d: &Path, stem: &str, purpose: &str) {
    let r = openssl(
        d,
        &[
            "verify",
            "-CAfile",
            "pki/ca.crt",
            "-purpose",
            purpose,
            &format!("{stem}.crt"),
        ],
    )
    .ok();
    assert!(r.stdout.contains(": OK"), "{r:?}");
    pkilint_cert(d, &d.join(format!("{stem}.crt")));
    pkilint_chain(d, &d.join("pki/ca.crt"), &d.join(format!("{stem}.crt")));
    // The issued certificate carries the CSR's public key.
    let cert_pub = openssl(
        d,
        &["x509", "-in", &format!("{stem}.crt"), "-noout", "-pubkey"],
    )
    .ok();
    let csr_pub = openssl(
        d,
        &["req", "-in", &format!("{stem}.csr"), "-noout", "-pubkey"],
    )
    .ok();
    assert_eq!(
        cert_pub.stdout, csr_pub.stdout,
        "public key differs from the CSR's"
    );
}

#[test]
fn openssl_csrs_of_every_key_type_sign_as_server_and_client() {
    let t = tempdir();
    let d = t.path();
    init(d);
    let kinds: [(&str, &[&str]); 4] = [
        ("rsa", &["-newkey", "rsa:2048"]),
        (
            "p256",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        ),
        // openssl signs a P-384 CSR with SHA-256 by default: the rcgen pitfall 1 case.
        (
            "p384",
            &[
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
                "-sha256",
            ],
        ),
        ("ed25519", &["-newkey", "ed25519"]),
    ];
    for (name, newkey) in kinds {
        let s = format!("srv-{name}");
        openssl_csr(
            d,
            &s,
            newkey,
            &format!("{name}.example.com"),
            &format!("DNS:{name}.example.com,IP:10.0.0.9"),
            &[],
        );
        let r = mtls(
            d,
            &["--json", "sign", &format!("{s}.csr"), "--profile", "server"],
        )
        .ok();
        let j = r.json();
        assert_eq!(j["profile"], "server");
        assert!(j["files"].get("key").is_none(), "sign writes no key: {j}");
        check_leaf(d, &s, "sslserver");
        let text = openssl(d, &["x509", "-in", &format!("{s}.crt"), "-noout", "-text"])
            .ok()
            .stdout;
        assert!(
            text.contains("TLS Web Server Authentication")
                && !text.contains("Client Authentication"),
            "{text}"
        );
        if name == "rsa" {
            assert!(text.contains("Key Encipherment"), "{text}");
        } else {
            assert!(!text.contains("Key Encipherment"), "{text}");
        }
        let c = format!("cli-{name}");
        openssl_csr(
            d,
            &c,
            newkey,
            &format!("svc-{name}"),
            &format!("email:svc-{name}@example.com"),
            &[],
        );
        mtls(
            d,
            &[
                "sign",
                &format!("{c}.csr"),
                "--profile",
                "client",
                "--out",
                &c,
            ],
        )
        .ok();
        check_leaf(d, &c, "sslclient");
        let r = openssl(
            d,
            &[
                "verify",
                "-CAfile",
                "pki/ca.crt",
                "-purpose",
                "sslserver",
                &format!("{c}.crt"),
            ],
        );
        assert_ne!(r.code, 0, "a client certificate must not pass as a server");
    }
    // Every one is in the store.
    let list = mtls(d, &["--json", "list"]).ok().json();
    assert_eq!(list["certificates"].as_array().unwrap().len(), 1 + 8);
}

#[test]
fn csr_asking_for_ca_true_gets_a_leaf() {
    let t = tempdir();
    let d = t.path();
    init(d);
    openssl_csr(
        d,
        "evil",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "evil.example.com",
        "DNS:evil.example.com",
        &[
            "basicConstraints=critical,CA:TRUE",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    let r = mtls(d, &["sign", "evil.csr", "--profile", "server"]).ok();
    assert!(r.stderr.contains("CA:TRUE"), "should warn: {}", r.stderr);
    let text = openssl(d, &["x509", "-in", "evil.crt", "-noout", "-text"])
        .ok()
        .stdout;
    assert!(
        text.contains("CA:FALSE") && !text.contains("Certificate Sign"),
        "{text}"
    );
    check_leaf(d, "evil", "sslserver");
}

#[test]
fn san_filter_keeps_only_approved_names() {
    let t = tempdir();
    let d = t.path();
    init(d);
    openssl_csr(
        d,
        "multi",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "api.example.com",
        "DNS:api.example.com,DNS:admin.example.com,IP:10.1.1.1",
        &[],
    );
    let j = mtls(
        d,
        &[
            "--json",
            "sign",
            "multi.csr",
            "--profile",
            "server",
            "--san",
            "api.example.com",
            "--san",
            "10.1.1.1",
        ],
    )
    .ok()
    .json();
    let sans: Vec<String> = j["sans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(sans, vec!["api.example.com", "10.1.1.1"]);
    check_leaf(d, "multi", "sslserver");
}

#[test]
fn mtls_ca_csr_then_sign() {
    let t = tempdir();
    let d = t.path();
    init(d);
    mtls(
        d,
        &[
            "csr",
            "--cn",
            "web.example.com",
            "--san",
            "10.2.3.4",
            "--key-type",
            "ecdsa-p384",
            "--out",
            "web",
        ],
    )
    .ok();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.join("web.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    openssl(d, &["req", "-in", "web.csr", "-noout", "-verify"]).ok();
    mtls(d, &["sign", "web.csr", "--profile", "server"]).ok();
    check_leaf(d, "web", "sslserver");
    // The key matches the certificate.
    let a = openssl(d, &["pkey", "-in", "web.key", "-pubout"])
        .ok()
        .stdout;
    let b = openssl(d, &["x509", "-in", "web.crt", "-noout", "-pubkey"])
        .ok()
        .stdout;
    assert_eq!(a, b);
    // A second csr to the same stem is refused.
    mtls(d, &["csr", "--cn", "web.example.com", "--out", "web"]).expect_code(2);
}

#[test]
fn bad_csrs_exit_2_and_change_nothing() {
    let t = tempdir();
    let d = t.path();
    init(d);
    openssl_csr(
        d,
        "good",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "api.example.com",
        "DNS:api.example.com",
        &[],
    );
    // Bad signature: change one byte of the subject in the DER.
    openssl(
        d,
        &[
            "req", "-in", "good.csr", "-outform", "DER", "-out", "good.der",
        ],
    )
    .ok();
    let mut der = std::fs::read(d.join("good.der")).unwrap();
    let pos = der.windows(3).position(|w| w == b"api").unwrap();
    der[pos + 2] = b'j';
    std::fs::write(d.join("tampered.csr"), &der).unwrap();
    std::fs::write(
        d.join("garbage.csr"),
        b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
    )
    .unwrap();
    std::fs::write(d.join("random.csr"), [0x30u8, 0x82, 0x01, 0x00, 1, 2, 3]).unwrap();
    // RSA 1024: unsupported key.
    openssl_csr(
        d,
        "weak",
        &["-newkey", "rsa:1024"],
        "weak.example.com",
        "DNS:weak.example.com",
        &[],
    );
    let before = snapshot(d);
    for f in [
        "tampered.csr",
        "garbage.csr",
        "random.csr",
        "weak.csr",
        "missing.csr",
    ] {
        let r = mtls(d, &["sign", f, "--profile", "server"]).expect_code(2);
        assert!(r.stderr.starts_with("error: "), "{f}: {}", r.stderr);
        assert!(r.stderr.contains("hint: "), "{f}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 2, "{f}: {}", r.stderr);
    }
    let r = mtls(d, &["sign", "good.csr", "--profile", "root"]).expect_code(2);
    assert!(r.stderr.contains("--profile"), "{}", r.stderr);
    assert_eq!(snapshot(d), before, "a refused CSR changed files");
}
