//! The CA key in a real SoftHSM2 token (tests/hsm_support): a root and an intermediate made in
//! the token issue, sign, renew, revoke, publish CRLs and rotate exactly like key-file CAs, and
//! everything they make passes openssl verify and pkilint; keys are not extractable; a wrong PIN,
//! a missing module, token or object and an unusable key are one-line errors that write nothing.
use crate::common;
use crate::hsm_support;

use std::path::Path;

use common::*;
use hsm_support::{one_line_error, Token, PIN};

/// The serial of a certificate file, lowercase hex, as mtls-ca prints it.
fn serial_of(d: &Path, cert: &str) -> String {
    let s = openssl(d, &["x509", "-in", cert, "-noout", "-serial"])
        .ok()
        .stdout;
    s.trim()
        .trim_start_matches("serial=")
        .to_ascii_lowercase()
        .trim_start_matches('0')
        .to_string()
}

/// openssl verify of `cert` against `root` with `untrusted` intermediates; with `crl`,
/// -crl_check_all against those CRLs.
fn ossl_verify(d: &Path, root: &str, untrusted: &str, crls: &[&str], cert: &str) -> Run {
    let mut args = vec!["verify", "-CAfile", root, "-untrusted", untrusted];
    if !crls.is_empty() {
        args.push("-crl_check_all");
        for c in crls {
            args.extend(["-CRLfile", c]);
        }
    }
    args.push(cert);
    openssl(d, &args)
}

fn lint_leaf(d: &Path, issuer: &str, cert: &str) {
    pkilint_cert(d, &d.join(cert));
    pkilint_chain(d, &d.join(issuer), &d.join(cert));
}

#[test]
fn root_and_intermediate_in_the_token_do_everything_a_key_file_ca_does() {
    let t = tempdir();
    let d = t.path();
    let tok = Token::new("mtls-ca-test");
    // Root: ECDSA P-256 generated in the token, module and PIN file in the URI.
    let r = tok
        .mtls(
            d,
            &["--dir", "root", "init", "--key", &tok.uri("root-key")],
            &[],
        )
        .ok();
    assert!(r.stderr.contains("root/ca.key-uri"), "{}", r.stderr);
    assert!(!d.join("root/ca.key").exists(), "a key file was written");
    let recorded = std::fs::read_to_string(d.join("root/ca.key-uri")).unwrap();
    assert!(recorded.starts_with("pkcs11:token=mtls-ca-test;object=root-key;id="));
    assert!(!recorded.contains(PIN), "the PIN was recorded: {recorded}");
    // Intermediate: RSA 3072 generated in the same token, module and PIN from the environment.
    let module = hsm_support::module();
    let env = [
        ("MTLS_CA_PKCS11_MODULE", module.to_str().unwrap()),
        ("MTLS_CA_PKCS11_PIN", PIN),
    ];
    tok.mtls(
        d,
        &[
            "--dir",
            "int",
            "init",
            "--parent",
            "root",
            "--key",
            &tok.bare_uri("int-key"),
            "--key-type",
            "rsa-3072",
        ],
        &env,
    )
    .ok();
    assert!(!d.join("int/ca.key").exists());
    let i = openssl(d, &["x509", "-in", "int/ca.crt", "-noout", "-text"])
        .ok()
        .stdout;
    assert!(i.contains("Public-Key: (3072 bit)"), "{i}");
    pkilint_cert(d, &d.join("root/ca.crt"));
    lint_leaf(d, "root/ca.crt", "int/ca.crt");
    ossl_verify(d, "root/ca.crt", "int/ca.crt", &[], "int/ca.crt").ok();

    // list and inspect say where the key lives.
    let l = tok.mtls(d, &["--dir", "int", "list"], &env).ok();
    assert!(
        l.stderr
            .contains("CA key: pkcs11:token=mtls-ca-test;object=int-key"),
        "{}",
        l.stderr
    );
    let lj = tok.mtls(d, &["--dir", "root", "--json", "list"], &[]).ok();
    assert!(lj.json()["ca_key"]
        .as_str()
        .unwrap()
        .starts_with("pkcs11:token=mtls-ca-test;object=root-key"));
    let ins = tok.mtls(d, &["inspect", "int/ca.key-uri"], &[]).ok();
    assert!(ins.stdout.contains("in a PKCS#11 token"), "{}", ins.stdout);
    assert!(ins.stdout.contains("object=int-key"), "{}", ins.stdout);

    // issue (server and client), sign a CSR, renew, revoke, CRL: all signed in the token.
    tok.mtls(
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
        &env,
    )
    .ok();
    tok.mtls(
        d,
        &[
            "--dir", "int", "issue", "client", "--cn", "alice", "--out", "alice",
        ],
        &env,
    )
    .ok();
    // Bulk issuance signs on several threads through the one token session.
    std::fs::write(
        d.join("hosts.csv"),
        (0..8)
            .map(|i| format!("svc{i}.example.com,10.0.0.{i},bulk/svc{i}\n"))
            .collect::<String>(),
    )
    .unwrap();
    tok.mtls(
        d,
        &[
            "--dir",
            "int",
            "issue",
            "server",
            "--batch",
            "hosts.csv",
            "--threads",
            "4",
        ],
        &env,
    )
    .ok();
    for i in [0, 7] {
        let leaf = format!("bulk/svc{i}.crt");
        ossl_verify(d, "root/ca.crt", "int/ca.crt", &[], &leaf).ok();
        lint_leaf(d, "int/ca.crt", &leaf);
    }
    openssl_p256_key(d, "bob.key");
    openssl(
        d,
        &[
            "req", "-new", "-key", "bob.key", "-subj", "/CN=bob", "-out", "bob.csr",
        ],
    )
    .ok();
    tok.mtls(
        d,
        &[
            "--dir",
            "int",
            "sign",
            "bob.csr",
            "--profile",
            "client",
            "--out",
            "bob",
        ],
        &env,
    )
    .ok();
    let alice = serial_of(d, "alice.crt");
    tok.mtls(
        d,
        &["--dir", "int", "renew", &alice, "--out", "alice2"],
        &env,
    )
    .ok();
    let api = serial_of(d, "api.crt");
    tok.mtls(
        d,
        &["--dir", "int", "revoke", &api, "--reason", "key-compromise"],
        &env,
    )
    .ok();
    tok.mtls(d, &["--dir", "int", "crl"], &env).ok();
    tok.mtls(d, &["--dir", "root", "crl"], &[]).ok();
    for leaf in ["alice.crt", "alice2.crt", "bob.crt"] {
        ossl_verify(
            d,
            "root/ca.crt",
            "int/ca.crt",
            &["int/crl.pem", "root/crl.pem"],
            leaf,
        )
        .ok();
        lint_leaf(d, "int/ca.crt", leaf);
    }
    lint_leaf(d, "int/ca.crt", "api.crt");
    let rv = ossl_verify(
        d,
        "root/ca.crt",
        "int/ca.crt",
        &["int/crl.pem", "root/crl.pem"],
        "api.crt",
    );
    assert_ne!(rv.code, 0);
    assert!(
        rv.stdout.contains("revoked") || rv.stderr.contains("revoked"),
        "{rv:?}"
    );
    pkilint_crl(d, &d.join("int/crl.pem"));
    pkilint_crl(d, &d.join("root/crl.pem"));
    openssl(
        d,
        &[
            "crl",
            "-in",
            "int/crl.pem",
            "-noout",
            "-CAfile",
            "int/ca.crt",
        ],
    )
    .ok();

    // ca rotate: the root's and the intermediate's new keys are generated in the token too.
    tok.mtls(d, &["--dir", "root", "ca", "rotate"], &[]).ok();
    tok.mtls(
        d,
        &["--dir", "int", "ca", "rotate", "--parent", "root"],
        &env,
    )
    .ok();
    assert!(!d.join("root/ca.key").exists() && !d.join("int/ca.key").exists());
    let new_root = std::fs::read_to_string(d.join("root/ca.key-uri")).unwrap();
    assert!(new_root.contains("object=root-key-"), "{new_root}");
    assert_eq!(files_with(d, "root", ".key-uri"), 2);
    assert_eq!(files_with(d, "int", ".key-uri"), 2);
    tok.mtls(
        d,
        &[
            "--dir", "int", "issue", "client", "--cn", "carol", "--out", "carol",
        ],
        &env,
    )
    .ok();
    // One CRL per CA of the overlap, every one signed in the token.
    tok.mtls(d, &["--dir", "root", "crl"], &[]).ok();
    tok.mtls(d, &["--dir", "int", "crl"], &env).ok();
    ossl_verify(
        d,
        "root/ca-bundle.crt",
        "int/ca-chain.crt",
        &["int/crl.pem", "root/crl.pem"],
        "carol.crt",
    )
    .ok();
    pkilint_cert(d, &d.join("root/ca.crt"));
    lint_leaf(d, "root/ca.crt", "int/ca.crt");
    lint_leaf(d, "int/ca.crt", "carol.crt");
    for crl in crls(d, "root").iter().chain(crls(d, "int").iter()) {
        pkilint_crl(d, crl);
    }
    // Certificates of the retired CAs still verify against the bundle.
    ossl_verify(d, "root/ca-bundle.crt", "int/ca-bundle.crt", &[], "bob.crt").ok();
}

fn files_with(d: &Path, dir: &str, suffix: &str) -> usize {
    std::fs::read_dir(d.join(dir))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
        .count()
}

fn crls(d: &Path, dir: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(d.join(dir))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with("crl") && n.ends_with(".pem")
        })
        .collect();
    v.sort();
    assert!(!v.is_empty());
    v
}

/// A `--key` URI, its environment, and what its error must name.
type Case<'a> = (String, Vec<(&'a str, &'a str)>, &'a str);

#[test]
fn bad_pins_modules_tokens_objects_and_keys_are_one_line_errors_that_write_nothing() {
    let t = tempdir();
    let d = t.path();
    let tok = Token::new("bad-input");
    let module = hsm_support::module();
    let m = module.to_str().unwrap();
    let wrong_pin = d.join("wrong-pin");
    std::fs::write(&wrong_pin, "000000\n").unwrap();
    let cases: Vec<Case> = vec![
        // A wrong PIN (file, then environment).
        (
            format!(
                "pkcs11:token=bad-input;object=k?module-path={m}&pin-source=file:{}",
                wrong_pin.display()
            ),
            vec![],
            "PIN",
        ),
        (
            tok.bare_uri("k"),
            vec![("MTLS_CA_PKCS11_MODULE", m), ("MTLS_CA_PKCS11_PIN", "111111")],
            "PIN",
        ),
        // No PIN at all.
        (
            tok.bare_uri("k"),
            vec![("MTLS_CA_PKCS11_MODULE", m)],
            "no PIN",
        ),
        // A PIN file that does not exist.
        (
            format!("pkcs11:token=bad-input;object=k?module-path={m}&pin-source=file:/nonexistent/pin"),
            vec![],
            "/nonexistent/pin",
        ),
        // A missing module, then none named.
        (
            format!(
                "pkcs11:token=bad-input;object=k?module-path=/nonexistent/libpkcs11.so&pin-source=file:{}",
                tok.pin_file.display()
            ),
            vec![],
            "/nonexistent/libpkcs11.so",
        ),
        (tok.bare_uri("k"), vec![("MTLS_CA_PKCS11_PIN", PIN)], "MTLS_CA_PKCS11_MODULE"),
        // A module that is not a PKCS#11 library.
        (
            format!(
                "pkcs11:token=bad-input;object=k?module-path=/etc/hostname&pin-source=file:{}",
                tok.pin_file.display()
            ),
            vec![],
            "/etc/hostname",
        ),
        // A token that does not exist.
        (
            format!(
                "pkcs11:token=no-such-token;object=k?module-path={m}&pin-source=file:{}",
                tok.pin_file.display()
            ),
            vec![],
            "no-such-token",
        ),
        // A PIN in the URI is refused, and never echoed.
        (
            format!("pkcs11:token=bad-input;object=k?module-path={m}&pin-value={PIN}"),
            vec![],
            "never taken from the command line",
        ),
        // Not a key name.
        (format!("pkcs11:token=bad-input?module-path={m}"), vec![], "names no key"),
    ];
    for (uri, env, names) in &cases {
        let r = tok.mtls(d, &["--dir", "ca", "init", "--key", uri], env);
        let line = one_line_error(&r);
        assert!(line.contains(names), "{uri}: {line} (wanted {names})");
        assert!(!r.stderr.contains(PIN), "the PIN leaked: {}", r.stderr);
        assert!(!d.join("ca").exists(), "{uri}: something was written");
    }
    // An unsupported key type for a token key.
    let r = tok.mtls(
        d,
        &[
            "--dir",
            "ca",
            "init",
            "--key",
            &tok.uri("ed"),
            "--key-type",
            "ed25519",
        ],
        &[],
    );
    assert!(one_line_error(&r).contains("--key-type"), "{}", r.stderr);
    assert!(!d.join("ca").exists());
    // --encrypt-key makes no sense for a token key.
    let r = tok.mtls(
        d,
        &[
            "--dir",
            "ca",
            "init",
            "--key",
            &tok.uri("x"),
            "--encrypt-key",
        ],
        &[],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!d.join("ca").exists());

    // A CA whose key object disappeared from the token (ca.key-uri names an object it does not
    // hold): issuing is one error naming the object, nothing written.
    tok.mtls(d, &["--dir", "ca", "init", "--key", &tok.uri("real")], &[])
        .ok();
    let before = snapshot(&d.join("ca"));
    let uri = std::fs::read_to_string(d.join("ca/ca.key-uri")).unwrap();
    let gone = uri
        .replace("object=real", "object=gone")
        .split(";id=")
        .next()
        .unwrap()
        .to_string()
        + "?"
        + uri.split_once('?').unwrap().1;
    std::fs::write(d.join("ca/ca.key-uri"), &gone).unwrap();
    let r = tok.mtls(
        d,
        &["--dir", "ca", "issue", "client", "--cn", "x", "--out", "x"],
        &[],
    );
    assert!(one_line_error(&r).contains("\"gone\""), "{}", r.stderr);
    assert!(!d.join("x.crt").exists() && !d.join("x.key").exists());
    // The same PIN mistakes on an existing CA: exit 2, nothing written.
    let wrong = uri.replace(
        &tok.pin_file.display().to_string(),
        &wrong_pin.display().to_string(),
    );
    std::fs::write(d.join("ca/ca.key-uri"), &wrong).unwrap();
    let r = tok.mtls(d, &["--dir", "ca", "crl"], &[]);
    assert!(one_line_error(&r).contains("PIN"), "{}", r.stderr);
    std::fs::write(d.join("ca/ca.key-uri"), &uri).unwrap();
    // A ca.key-uri others may change could point the CA at another key: refused.
    {
        use std::os::unix::fs::PermissionsExt;
        let p = d.join("ca/ca.key-uri");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        let r = tok.mtls(d, &["--dir", "ca", "crl"], &[]);
        assert!(one_line_error(&r).contains("ca.key-uri"), "{}", r.stderr);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    assert_eq!(snapshot(&d.join("ca")), before);
    assert!(!d.join("ca/crl.pem").exists());
}

#[test]
fn keys_stay_in_the_token_and_existing_keys_are_used_or_refused() {
    use cryptoki::mechanism::Mechanism;
    use cryptoki::object::{Attribute, AttributeType, ObjectClass};
    let t = tempdir();
    let d = t.path();
    let tok = Token::new("attrs");
    tok.mtls(
        d,
        &["--dir", "made", "init", "--key", &tok.uri("made")],
        &[],
    )
    .ok();
    let (_ctx, s) = tok.session();
    // The key mtls-ca generated: private, sensitive, never extractable.
    let found = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(b"made".to_vec()),
        ])
        .unwrap();
    assert_eq!(found.len(), 1);
    let attrs = s
        .get_attributes(
            found[0],
            &[
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::NeverExtractable,
                AttributeType::AlwaysSensitive,
                AttributeType::Token,
                AttributeType::Private,
            ],
        )
        .unwrap();
    for a in &attrs {
        match a {
            Attribute::Sensitive(v)
            | Attribute::NeverExtractable(v)
            | Attribute::AlwaysSensitive(v)
            | Attribute::Token(v)
            | Attribute::Private(v) => assert!(*v, "{a:?}"),
            Attribute::Extractable(v) => assert!(!*v, "the CA key is extractable"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(attrs.len(), 6);
    // The token refuses to hand out the key's value.
    assert!(s
        .get_attributes(found[0], &[AttributeType::Value])
        .map_or(true, |v| v.is_empty()));

    // A P-384 key made outside mtls-ca is used as it is.
    let p384 = vec![0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
    let (pub384, _) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::Verify(true),
                Attribute::EcParams(p384),
                Attribute::Label(b"outside-p384".to_vec()),
                Attribute::Id(vec![0x38, 0x34]),
            ],
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(true),
                Attribute::Label(b"outside-p384".to_vec()),
                Attribute::Id(vec![0x38, 0x34]),
            ],
        )
        .unwrap();
    let point = match s
        .get_attributes(pub384, &[AttributeType::EcPoint])
        .unwrap()
        .remove(0)
    {
        Attribute::EcPoint(p) => p,
        other => panic!("{other:?}"),
    };
    tok.mtls(
        d,
        &["--dir", "p384", "init", "--key", &tok.uri("outside-p384")],
        &[],
    )
    .ok();
    let text = openssl(d, &["x509", "-in", "p384/ca.crt", "-noout", "-text"])
        .ok()
        .stdout;
    assert!(text.contains("NIST CURVE: P-384"), "{text}");
    // The certificate carries the token's public key (the point, without its OCTET STRING).
    let pubhex: String = text
        .split("pub:")
        .nth(1)
        .unwrap()
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("                    "))
        .flat_map(|l| l.trim().split(':'))
        .filter(|h| !h.is_empty())
        .collect();
    let point_hex: String = point[2..].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(pubhex, point_hex);
    tok.mtls(
        d,
        &[
            "--dir",
            "p384",
            "issue",
            "server",
            "--cn",
            "p384.example.com",
            "--out",
            "p384/leaf",
        ],
        &[],
    )
    .ok();
    openssl(d, &["verify", "-CAfile", "p384/ca.crt", "p384/leaf.crt"]).ok();
    pkilint_cert(d, &d.join("p384/ca.crt"));
    pkilint_chain(d, &d.join("p384/ca.crt"), &d.join("p384/leaf.crt"));

    // An RSA-1024 key and an AES key in the token are refused by name, nothing written.
    s.generate_key_pair(
        &Mechanism::RsaPkcsKeyPairGen,
        &[
            Attribute::Token(true),
            Attribute::ModulusBits(1024.into()),
            Attribute::PublicExponent(vec![1, 0, 1]),
            Attribute::Label(b"weak".to_vec()),
        ],
        &[
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sign(true),
            Attribute::Label(b"weak".to_vec()),
        ],
    )
    .unwrap();
    let r = tok.mtls(
        d,
        &["--dir", "weak", "init", "--key", &tok.uri("weak")],
        &[],
    );
    assert!(
        one_line_error(&r).contains("RSA key of 1024 bits"),
        "{}",
        r.stderr
    );
    assert!(!d.join("weak").exists());
    // A secp256k1 key: a curve mtls-ca cannot use.
    let k1 = vec![0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];
    s.generate_key_pair(
        &Mechanism::EccKeyPairGen,
        &[
            Attribute::Token(true),
            Attribute::EcParams(k1),
            Attribute::Label(b"k1".to_vec()),
        ],
        &[
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sign(true),
            Attribute::Label(b"k1".to_vec()),
        ],
    )
    .unwrap();
    let r = tok.mtls(d, &["--dir", "k1", "init", "--key", &tok.uri("k1")], &[]);
    assert!(one_line_error(&r).contains("curve"), "{}", r.stderr);
    assert!(!d.join("k1").exists());
}

#[test]
fn the_online_ca_signs_renewals_in_the_token_on_every_copy() {
    let tok = Token::new("mtls-ca-serve");
    let t = tempdir();
    let d = t.path();
    tok.mtls(
        d,
        &["--dir", "pki", "init", "--key", &tok.uri("ca-key")],
        &[],
    )
    .ok();
    // `ca serve` opens the CA once per signer: every copy logs in to the token.
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let server = Server::start_env(
        d,
        bin().to_str().unwrap(),
        &[
            "--dir", "pki", "ca", "serve", "--listen", &listen, "--rate", "1000",
        ],
        &[("SOFTHSM2_CONF", tok.conf.to_str().unwrap())],
        port,
    );
    let url = format!("https://127.0.0.1:{port}");
    std::fs::create_dir(d.join("a")).unwrap();
    let n = 6;
    for i in 0..n {
        let cn = format!("h{i}");
        let v = tok
            .mtls(
                d,
                &[
                    "--dir",
                    "pki",
                    "--json",
                    "token",
                    "create",
                    "--cn",
                    &cn,
                    "--profile",
                    "client",
                ],
                &[],
            )
            .ok()
            .json();
        let token = v["token"].as_str().unwrap();
        agent_at(
            d,
            &url,
            &format!("a/{cn}"),
            &["--token", token, "--cn", &cn, "--once"],
        )
        .ok();
    }
    let first: Vec<String> = (0..n)
        .map(|i| serial_of(d, &format!("a/h{i}.crt")))
        .collect();
    // All renew at once: several copies sign in the token together.
    let stems: Vec<String> = (0..n).map(|i| format!("a/h{i}")).collect();
    all_succeed(spawn_renewals(d, &url, &stems), || server.stderr());
    let mut all = first.clone();
    for (i, before) in first.iter().enumerate() {
        let cert = format!("a/h{i}.crt");
        let s = serial_of(d, &cert);
        assert_ne!(&s, before, "h{i} renewed");
        all.push(s);
        openssl(d, &["verify", "-CAfile", "pki/ca.crt", &cert]).ok();
        pkilint_cert(d, &d.join(&cert));
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 2 * n, "no serial twice");
    drop(server);
}
