//! `sign`: SAN types kept from the CSR, approvals covering the client CN, unsupported keys
//! refused as unsupported, RSA sizes reported exactly.
use crate::common::*;
use crate::core_support::*;

fn csr(d: &std::path::Path, key: &str, subj: &str, san: Option<&str>, out: &str) {
    let mut a = vec!["req", "-new", "-key", key, "-subj", subj, "-out", out];
    if let Some(s) = san {
        a.extend(["-addext", s]);
    }
    openssl(d, &a).ok();
}

#[test]
fn sign_keeps_san_types_and_checks_the_client_cn() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init", "--cn", "Sign Root"]).ok();
    openssl_p256_key(d, "k.key");
    // A URI without an authority (urn:) stays a URI; it is not re-guessed (nor refused) as DNS.
    csr(
        d,
        "k.key",
        "/CN=worker",
        Some("subjectAltName=URI:urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6,DNS:worker.example.com"),
        "w.csr",
    );
    let j = mtls(d, &["--json", "sign", "w.csr", "--profile", "client"])
        .ok()
        .json();
    assert_eq!(
        j["sans"],
        serde_json::json!([
            "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
            "worker.example.com"
        ])
    );
    let text = openssl(
        d,
        &["x509", "-in", "w.crt", "-noout", "-ext", "subjectAltName"],
    )
    .ok()
    .stdout;
    assert!(
        text.contains("URI:urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6")
            && text.contains("DNS:worker.example.com"),
        "{text}"
    );
    verify(d, "pki/ca.crt", None, "sslclient", &[], "w.crt").ok();
    // pkilint's URI validator does not know the urn scheme (see pkilint_allowing).
    pkilint_allowing(
        d,
        &d.join("pki/ca.crt"),
        &d.join("w.crt"),
        &[(
            "pkix.invalid_uri_syntax",
            "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
        )],
    );
    // The approval flags cover the subject CN of a client certificate too.
    csr(
        d,
        "k.key",
        "/CN=admin",
        Some("subjectAltName=email:alice@example.com"),
        "admin.csr",
    );
    let r = expect_bad_input(
        d,
        &[
            "sign",
            "admin.csr",
            "--profile",
            "client",
            "--san",
            "alice@example.com",
        ],
        "admin",
    );
    assert!(
        r.stderr.contains("not among the approved names"),
        "{}",
        r.stderr
    );
    // Approving it explicitly signs it.
    mtls(
        d,
        &[
            "sign",
            "admin.csr",
            "--profile",
            "client",
            "--san",
            "alice@example.com",
            "--san",
            "admin",
        ],
    )
    .ok();
    pkilint_cert(d, &d.join("admin.crt"));
}

#[test]
fn unsupported_keys_are_refused_as_unsupported_with_exact_rsa_sizes() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init", "--cn", "Sign Root"]).ok();
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
            "p521",
            "P-521",
        ),
        (&["-algorithm", "ED448"], "ed448", "Ed448"),
        (
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
            "rsa1024",
            "RSA 1024 bits",
        ),
        (
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2047"],
            "rsa2047",
            "RSA 2047 bits",
        ),
    ];
    for (alg, name, says) in cases {
        let key = format!("{name}.key");
        let mut a = vec!["genpkey"];
        a.extend_from_slice(alg);
        a.extend(["-out", &key]);
        openssl(d, &a).ok();
        let req = format!("{name}.csr");
        csr(d, &key, "/CN=x.example.com", None, &req);
        let r = expect_bad_input(d, &["sign", &req, "--profile", "server"], &req);
        let line = r.stderr.lines().find(|l| l.starts_with("error:")).unwrap();
        assert!(
            line.contains("unsupported")
                && line.contains(says)
                && !line.contains("does not verify"),
            "{name}: {line}"
        );
    }
    // openssl rounds 2049 bits down to 2048: make that key with the rsa crate.
    {
        use rsa::pkcs8::EncodePrivateKey;
        let key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2049).unwrap();
        let pem = key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        std::fs::write(d.join("rsa2049.key"), pem.as_bytes()).unwrap();
        let bits = openssl(d, &["pkey", "-in", "rsa2049.key", "-noout", "-text"])
            .ok()
            .stdout;
        assert!(bits.contains("2049 bit"), "{bits}");
        csr(d, "rsa2049.key", "/CN=x.example.com", None, "rsa2049.csr");
        let r = expect_bad_input(
            d,
            &["sign", "rsa2049.csr", "--profile", "server"],
            "rsa2049.csr",
        );
        assert!(
            r.stderr.contains("unsupported key: RSA 2049 bits"),
            "{}",
            r.stderr
        );
    }
    // DSA: parameters first, then the key.
    openssl(
        d,
        &[
            "genpkey",
            "-genparam",
            "-algorithm",
            "DSA",
            "-pkeyopt",
            "dsa_paramgen_bits:2048",
            "-out",
            "dsa.param",
        ],
    )
    .ok();
    openssl(
        d,
        &["genpkey", "-paramfile", "dsa.param", "-out", "dsa.key"],
    )
    .ok();
    csr(d, "dsa.key", "/CN=x.example.com", None, "dsa.csr");
    let r = expect_bad_input(d, &["sign", "dsa.csr", "--profile", "server"], "dsa.csr");
    assert!(r.stderr.contains("unsupported key: DSA"), "{}", r.stderr);
}
