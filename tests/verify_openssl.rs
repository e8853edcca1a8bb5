//! The OpenSSL-family verdict against real OpenSSL-based components: a corpus of certificates
//! where rustls and OpenSSL decide differently (tests/data/verify_openssl_corpus.sh, built with
//! `openssl ca`/`openssl x509`) is served to a real nginx with `ssl_verify_client on`, and
//! `mtls-ca verify --engine openssl` must predict its answer (exit 0 ↔ HTTP 200, exit 1 ↔ 400).
//! CRL sets: CRLs that an engine cannot use (delta, indirect, reason-partitioned, IDP-scoped) of
//! another CA never change the verdict of a valid chain, and a CA whose only CRL is unusable is
//! `revocation_unknown`.

use crate::common;

use std::path::Path;

use common::*;

fn corpus(d: &Path) {
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/verify_openssl_corpus.sh"),
        d.join("mk.sh"),
    )
    .unwrap();
    tool(d, "bash", &["mk.sh"]).ok();
}

/// HTTP status nginx answers for a client certificate (000 when the handshake fails).
fn nginx_status(d: &Path, root: &str, leaf: &str, crl: Option<&str>) -> String {
    let port = free_port();
    let sub = d.join(format!("nginx-{leaf}"));
    std::fs::create_dir_all(&sub).unwrap();
    for f in [
        format!("{root}.crt"),
        "server.crt".into(),
        "server.key".into(),
    ] {
        std::fs::copy(d.join(&f), sub.join(&f)).unwrap();
    }
    let extra = match crl {
        Some(c) => {
            std::fs::copy(d.join(c), sub.join(c)).unwrap();
            format!("ssl_crl {}/{c};", sub.display())
        }
        None => String::new(),
    };
    // The CRL directive belongs in the server block; nginx accepts it at http level too.
    let conf = nginx_conf(
        &sub,
        port,
        "server.crt",
        "server.key",
        &format!("{root}.crt"),
        &extra,
    );
    let _srv = start_nginx(&sub, &conf, port);
    let url = format!("https://127.0.0.1:{port}/");
    let cert = d.join(format!("{leaf}.crt")).display().to_string();
    let key = d.join(format!("{leaf}.key")).display().to_string();
    let r = tool(
        d,
        "curl",
        &[
            "-sk",
            "--max-time",
            "20",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--cert",
            &cert,
            "--key",
            &key,
            &url,
        ],
    );
    r.stdout.trim().to_string()
}

#[test]
fn nginx_answers_as_the_openssl_verdict_predicts() {
    let t = tempdir();
    let d = t.path();
    corpus(d);
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.crt",
            "-subj",
            "/CN=localhost",
            "-days",
            "2",
        ],
    )
    .ok();
    // (leaf, root, CRL, what rustls says)
    let cases: &[(&str, &str, Option<&str>, bool)] = &[
        ("good", "okroot", None, true),
        ("expired-root", "expiredroot", None, true),
        ("cn-outside-nc", "ncroot", None, true),
        ("future-ca", "futureroot", None, true),
        ("critical-aki", "okroot", None, false),
        (
            "crl-signer-without-crlsign",
            "nocrlsign",
            Some("nocrlsign.crl"),
            true,
        ),
        ("email-nc", "emailroot", None, false),
    ];
    let mut differ = 0;
    for (leaf, root, crl, rustls_accepts) in cases {
        let mut args = vec![
            "--json".to_string(),
            "verify".into(),
            format!("{leaf}.crt"),
            "--ca".into(),
            format!("{root}.crt"),
            "--purpose".into(),
            "client".into(),
        ];
        if let Some(c) = crl {
            args.extend(["--crl".into(), c.to_string()]);
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let all = mtls(d, &a);
        let doc = all.json();
        let verdict = |engine: &str| {
            doc["engines"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["engine"] == engine)
                .unwrap()["valid"]
                .as_bool()
                .unwrap()
        };
        let openssl_ok = verdict("openssl");
        assert_eq!(
            verdict("rustls"),
            *rustls_accepts,
            "{leaf}: rustls: {}",
            all.stdout
        );
        // The default (both engines) exits 1 when any engine rejects.
        assert_eq!(
            all.code,
            if openssl_ok && *rustls_accepts { 0 } else { 1 },
            "{leaf}"
        );
        // --engine openssl alone decides like the gateway.
        let mut one = a.clone();
        one.extend(["--engine", "openssl"]);
        let only = mtls(d, &one);
        assert_eq!(
            only.code,
            if openssl_ok { 0 } else { 1 },
            "{leaf}: {}",
            only.stdout
        );
        let status = nginx_status(d, root, leaf, *crl);
        let predicted = if openssl_ok { "200" } else { "400" };
        assert_eq!(
            status, predicted,
            "{leaf}: nginx answered {status}, the OpenSSL verdict predicts {predicted}: {}",
            all.stdout
        );
        if openssl_ok != *rustls_accepts {
            differ += 1;
            // The text output shows both verdicts and who each stands for.
            let text = mtls(d, &a[1..]);
            assert!(
                text.stdout.contains("OpenSSL-based gateways (nginx"),
                "{}",
                text.stdout
            );
            assert!(text.stdout.contains("rustls"), "{}", text.stdout);
        }
    }
    assert_eq!(differ, 5, "the cases where rustls and OpenSSL differ");
}

#[test]
fn crls_of_other_cas_that_cannot_be_used_do_not_change_the_verdict() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init", "--cn", "Own Root"]).ok();
    mtls(d, &["issue", "client", "--cn", "alice"]).ok();
    mtls(d, &["crl"]).ok();
    // Another CA's CRLs of every kind rustls or OpenSSL cannot use.
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "other.key",
            "-out",
            "other.crt",
            "-subj",
            "/CN=Other CA",
            "-days",
            "30",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    )
    .ok();
    std::fs::write(d.join("index.txt"), "").unwrap();
    std::fs::write(d.join("crlnumber"), "01\n").unwrap();
    std::fs::write(
        d.join("crl.cnf"),
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 30\n\
         [delta]\ndeltaCRL = critical,DER:02:01:01\n\
         [indirect]\nissuingDistributionPoint = critical, @idp_indirect\n[idp_indirect]\nindirectCRL = TRUE\n\
         [reasons]\nissuingDistributionPoint = critical, @idp_reasons\n[idp_reasons]\nonlysomereasons = keyCompromise\n\
         [scoped]\nissuingDistributionPoint = critical, @idp_scoped\n[idp_scoped]\nfullname = URI:http://other.example/part1.crl\n",
    )
    .unwrap();
    std::fs::create_dir(d.join("crls")).unwrap();
    std::fs::copy(d.join("pki/crl.pem"), d.join("crls/own.pem")).unwrap();
    for kind in ["delta", "indirect", "reasons", "scoped"] {
        openssl(
            d,
            &[
                "ca",
                "-gencrl",
                "-config",
                "crl.cnf",
                "-cert",
                "other.crt",
                "-keyfile",
                "other.key",
                "-crlexts",
                kind,
                "-out",
                &format!("crls/other-{kind}.pem"),
            ],
        )
        .ok();
    }
    std::fs::write(d.join("crls/README"), "not a CRL\n").unwrap();
    let base = mtls(
        d,
        &["--json", "verify", "alice.crt", "--crl", "pki/crl.pem"],
    );
    assert_eq!(base.code, 0, "{}", base.stdout);
    let r = mtls(d, &["--json", "verify", "alice.crt", "--crl", "crls"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let doc = r.json();
    assert_eq!(doc["valid"], true);
    for e in doc["engines"].as_array().unwrap() {
        assert_eq!(e["valid"], true, "{e}");
    }
    let warnings = doc["warnings"].to_string();
    for (file, why) in [
        ("other-delta.pem", "delta"),
        ("other-indirect.pem", "indirect"),
        ("other-reasons.pem", "reasons"),
        ("README", "not a usable CRL"),
    ] {
        assert!(
            warnings.contains(file) && warnings.contains(why),
            "no warning for {file}: {warnings}"
        );
    }
    // Each file on its own (not a directory) is a warning too, never an abort.
    let r = mtls(
        d,
        &[
            "verify",
            "alice.crt",
            "--crl",
            "pki/crl.pem",
            "--crl",
            "crls/other-delta.pem",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // The engines agree with openssl verify -crl_check_all on the same set.
    let cat: String = [
        "pki/crl.pem",
        "crls/other-delta.pem",
        "crls/other-indirect.pem",
        "crls/other-reasons.pem",
        "crls/other-scoped.pem",
    ]
    .iter()
    .map(|f| std::fs::read_to_string(d.join(f)).unwrap())
    .collect();
    std::fs::write(d.join("all-crls.pem"), cat).unwrap();
    let o = openssl(
        d,
        &[
            "verify",
            "-purpose",
            "sslclient",
            "-crl_check_all",
            "-CRLfile",
            "all-crls.pem",
            "-CAfile",
            "pki/ca.crt",
            "alice.crt",
        ],
    );
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
}

#[test]
fn a_ca_whose_only_crl_is_unusable_is_revocation_unknown() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init", "--cn", "Own Root"]).ok();
    mtls(d, &["issue", "client", "--cn", "alice"]).ok();
    // An indirect CRL signed by the CA itself: neither rustls nor OpenSSL (by default) uses it.
    std::fs::write(d.join("index.txt"), "").unwrap();
    std::fs::write(d.join("crlnumber"), "01\n").unwrap();
    std::fs::write(
        d.join("crl.cnf"),
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 30\n\
         [indirect]\nissuingDistributionPoint = critical, @idp\n[idp]\nindirectCRL = TRUE\n",
    )
    .unwrap();
    openssl(
        d,
        &[
            "ca",
            "-gencrl",
            "-config",
            "crl.cnf",
            "-cert",
            "pki/ca.crt",
            "-keyfile",
            "pki/ca.key",
            "-crlexts",
            "indirect",
            "-out",
            "indirect.pem",
        ],
    )
    .ok();
    let r = mtls(
        d,
        &["--json", "verify", "alice.crt", "--crl", "indirect.pem"],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let doc = r.json();
    for e in doc["engines"].as_array().unwrap() {
        assert_eq!(e["valid"], false, "{e}");
        let first = &e["errors"][0];
        assert_eq!(first["code"], "revocation_unknown", "{e}");
        assert!(
            first["message"].as_str().unwrap().contains("indirect.pem"),
            "the file is named: {e}"
        );
    }
    let text = mtls(d, &["verify", "alice.crt", "--crl", "indirect.pem"]);
    assert_eq!(text.code, 1);
    assert!(
        text.stdout.contains("revocation_unknown"),
        "{}",
        text.stdout
    );
    // openssl verify rejects it too.
    let o = openssl(
        d,
        &[
            "verify",
            "-purpose",
            "sslclient",
            "-crl_check_all",
            "-CRLfile",
            "indirect.pem",
            "-CAfile",
            "pki/ca.crt",
            "alice.crt",
        ],
    );
    assert_ne!(o.code, 0);
}
