//! `export` on bad input: a stem missing its key or chain, a key that does not match, missing or
//! incomplete CRLs, an unknown target, files in the way: exit 2, one error + hint, nothing written.
use crate::common;
use crate::export_support;

use common::*;
use export_support::*;

/// Runs `mtls-ca --dir pki/int ARGS`, expects exit 2 with `needle` in the error and a hint, and
/// checks that nothing changed on disk.
#[track_caller]
fn refused(k: &Pki, args: &[&str], needle: &str) {
    let before = snapshot(k.dir());
    let r = k.int(args).expect_code(2);
    assert!(
        r.stderr.starts_with("error: ") || r.stderr.contains("\nerror: "),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(needle), "want {needle:?}:\n{}", r.stderr);
    assert!(r.stderr.contains("hint: "), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert_eq!(before, snapshot(k.dir()), "nothing may be written");
}

#[test]
fn bad_inputs_exit_2_and_write_nothing() {
    let k = pki();
    let d = k.dir();
    // A stem without its key, one without its chain, one whose key belongs to another cert.
    std::fs::copy(d.join("api.crt"), d.join("nokey.crt")).unwrap();
    std::fs::copy(d.join("api.fullchain.crt"), d.join("nokey.fullchain.crt")).unwrap();
    std::fs::copy(d.join("api.crt"), d.join("nochain.crt")).unwrap();
    std::fs::copy(d.join("api.key"), d.join("nochain.key")).unwrap();
    std::fs::copy(d.join("api.crt"), d.join("mixed.crt")).unwrap();
    std::fs::copy(d.join("api.fullchain.crt"), d.join("mixed.fullchain.crt")).unwrap();
    std::fs::copy(d.join("alice.key"), d.join("mixed.key")).unwrap();

    refused(
        &k,
        &["export", "nginx", "--server", "nokey", "--out", "o"],
        "nokey.key",
    );
    refused(
        &k,
        &["export", "nginx", "--server", "nochain", "--out", "o"],
        "nochain.fullchain.crt",
    );
    refused(
        &k,
        &["export", "haproxy", "--server", "mixed", "--out", "o"],
        "does not match",
    );
    refused(
        &k,
        &[
            "export",
            "nginx",
            "--server",
            "api",
            "--crl",
            "missing-crl.pem",
            "--out",
            "o",
        ],
        "missing-crl.pem",
    );
    // A CRL for the intermediate only: nginx would reject every client.
    refused(
        &k,
        &[
            "export",
            "nginx",
            "--server",
            "api",
            "--crl",
            "pki/int/crl.pem",
            "--out",
            "o",
        ],
        "no CRL for the CA",
    );
    // A CRL from a CA outside the chain.
    mtls(
        d,
        &["--dir", "other", "init", "--cn", "Unrelated CA", "--force"],
    )
    .ok();
    gencrl(d, &d.join("other"), &[]);
    refused(
        &k,
        &[
            "export",
            "haproxy",
            "--server",
            "api",
            "--crl",
            "pki/crl.pem",
            "--crl",
            "pki/int/crl.pem",
            "--crl",
            "other/crl.pem",
            "--out",
            "o",
        ],
        "not signed by any CA of this chain",
    );
    refused(
        &k,
        &["export", "lighttpd", "--server", "api"],
        "unknown export target",
    );
    refused(
        &k,
        &["export", "nginx", "--out", "o"],
        "needs the server certificate",
    );
    refused(
        &k,
        &["export", "curl", "--client", "mallory", "--out", "o"],
        "not issued by the CA",
    );
    refused(
        &k,
        &[
            "export", "nginx", "--server", "api", "--listen", "nowhere", "--out", "o",
        ],
        "--listen",
    );
    refused(
        &k,
        &[
            "export",
            "nginx",
            "--server",
            "api",
            "--upstream",
            "ftp://x",
            "--out",
            "o",
        ],
        "--upstream",
    );
    // No CA directory.
    let r = mtls(d, &["--dir", "nope", "export", "aws", "--out", "o"]).expect_code(2);
    assert!(r.stderr.contains("no CA in nope"), "{}", r.stderr);
}

#[test]
fn files_in_the_way_need_force_and_are_kept_as_bak() {
    let k = pki();
    let d = k.dir();
    k.int(&["export", "nginx", "--server", "api", "--out", "gw"])
        .ok();
    // Only one file in the way: the whole export is refused, the others are not written again.
    std::fs::remove_file(d.join("gw/nginx-main.conf")).unwrap();
    std::fs::write(d.join("gw/nginx.conf"), "mine\n").unwrap();
    refused(
        &k,
        &["export", "nginx", "--server", "api", "--out", "gw"],
        "already exists",
    );
    assert!(!d.join("gw/nginx-main.conf").exists(), "nothing partial");
    k.int(&[
        "export", "nginx", "--server", "api", "--out", "gw", "--force",
    ])
    .ok();
    assert_eq!(
        std::fs::read_to_string(d.join("gw/nginx.conf.bak")).unwrap(),
        "mine\n"
    );
    assert!(d.join("gw/nginx-main.conf").exists());
}

/// Regenerates CA_DIR/crl.pem with `openssl ca -gencrl EXTRA` (the config from `gencrl`).
fn regen(k: &Pki, ca: &str, extra: &[&str]) {
    let cnf = k.s(&format!("{ca}/ossl/ca.cnf"));
    let out = k.s(&format!("{ca}/crl.pem"));
    let mut args = vec!["ca", "-config", &cnf, "-gencrl", "-out", &out];
    args.extend_from_slice(extra);
    openssl(k.dir(), &args).ok();
}

#[test]
fn a_crl_near_expiry_warns_and_an_expired_one_is_refused() {
    let k = pki();
    regen(&k, "pki/int", &["-crlhours", "2"]);
    pkilint_crl(k.dir(), &k.p("pki/int/crl.pem"));
    let r = k
        .int(&[
            "export",
            "nginx",
            "--server",
            "api",
            "--crl",
            "pki/crl.pem",
            "--crl",
            "pki/int/crl.pem",
            "--out",
            "soon",
        ])
        .ok();
    assert!(
        r.stderr.contains("warning:")
            && r.stderr.contains("expires in 1 hour")
            && r.stderr.contains("nginx rejects every client"),
        "{}",
        r.stderr
    );
    regen(&k, "pki/int", &["-crlsec", "1"]);
    // Wait until its nextUpdate has passed (no timing assertion: the loop only waits).
    let crl = k.s("pki/int/crl.pem");
    wait_until(
        "the CRL to expire",
        std::time::Duration::from_secs(30),
        || {
            !openssl(k.dir(), &["crl", "-in", &crl, "-noout", "-nextupdate"])
                .stdout
                .is_empty()
                && !openssl(
                    k.dir(),
                    &[
                        "verify",
                        "-crl_check",
                        "-CAfile",
                        &k.s("pki/int/ca-chain.crt"),
                        "-CRLfile",
                        &crl,
                        &k.s("alice.crt"),
                    ],
                )
                .stdout
                .contains(": OK")
        },
    );
    refused(
        &k,
        &[
            "export",
            "haproxy",
            "--server",
            "api",
            "--crl",
            "pki/crl.pem",
            "--crl",
            "pki/int/crl.pem",
            "--out",
            "late",
        ],
        "expired",
    );
}
