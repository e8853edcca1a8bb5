//! Issue 10 §1: a CA rotation end to end on real nginx and HAProxy, with curl and Python
//! requests, and no file edited by hand. During the overlap (`ca rotate` + `crl` + `export
//! --force`), old and new clients get 200 and a revoked old client is refused; after every old
//! leaf is renewed (`renew --issuer retired`) and the overlap ends (`ca rotate --finish` + `crl` +
//! `export --force`), a client still holding an old-CA certificate is refused and new ones get
//! 200. Also: the same story for an intermediate (`ca rotate --parent`), and every bad input of
//! the new flags (one error line + hint, exit 2, nothing changed).
use crate::common;
use crate::export_support;

use std::path::Path;

use common::*;
use export_support::curl;

/// The verdict a gateway gives one client: `Ok(body)` for HTTP 200, `Err(why)` otherwise.
fn call(d: &Path, url: &str, ca: &str, client: &str) -> Result<String, String> {
    let (code, http, body) = curl(d, url, ca, Some(client));
    if code == 0 && http == "200" {
        Ok(body)
    } else {
        Err(format!("curl exit {code}, http {http}, {body}"))
    }
}

/// nginx refuses with HTTP 400, HAProxy in the handshake (curl exit != 0, http 000).
fn assert_refused(target: &str, d: &Path, url: &str, ca: &str, client: &str) {
    let (code, http, body) = curl(d, url, ca, Some(client));
    match target {
        "nginx" => assert_eq!(
            (code, http.as_str()),
            (0, "400"),
            "nginx must refuse {client} with HTTP 400 ({body})"
        ),
        _ => assert!(
            code != 0 && http == "000",
            "HAProxy must fail the handshake for {client} (curl exit {code}, http {http})"
        ),
    }
}

fn start(d: &Path, target: &str, out: &str, port: u16) -> Server {
    let o = d.join(out);
    let os = o.display().to_string();
    match target {
        "nginx" => {
            let main = format!("{os}/nginx-main.conf");
            tool(d, "nginx", &["-t", "-p", &os, "-c", &main, "-e", "stderr"]).ok();
            Server::start(d, "nginx", &["-p", &os, "-c", &main, "-e", "stderr"], port)
        }
        _ => {
            let cfg = format!("{os}/haproxy.cfg");
            tool(d, "haproxy", &["-c", "-f", &cfg]).ok();
            Server::start(d, "haproxy", &["-db", "-f", &cfg], port)
        }
    }
}

/// `export TARGET --server gw --crl pki/crl.pem --listen … --out OUT --force`.
fn export(d: &Path, target: &str, out: &str, port: u16) -> Run {
    let listen = format!("127.0.0.1:{port}");
    mtls(
        d,
        &[
            "export",
            target,
            "--server",
            "gw",
            "--crl",
            "pki/crl.pem",
            "--listen",
            &listen,
            "--out",
            out,
            "--force",
        ],
    )
    .ok()
}

/// Python requests, with the script `export requests` writes, against `url`: its stdout.
fn requests(d: &Path, client: &str, port: u16, out: &str) -> String {
    mtls(
        d,
        &[
            "export",
            "requests",
            "--client",
            client,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--out",
            out,
            "--force",
        ],
    )
    .ok();
    let script = d.join(out).join("client_requests.py");
    tool(
        d,
        "python3",
        &[
            script.to_str().unwrap(),
            &format!("https://127.0.0.1:{port}/"),
        ],
    )
    .stdout
}

fn baks(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".bak"))
        .collect();
    v.sort();
    v
}

fn copy_client(d: &Path, from: &str, to: &str) {
    for ext in ["crt", "fullchain.crt", "key"] {
        std::fs::copy(
            d.join(format!("{from}.{ext}")),
            d.join(format!("{to}.{ext}")),
        )
        .unwrap();
    }
}

#[test]
fn root_rotation_keeps_old_and_new_clients_working_until_the_overlap_ends() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init", "--cn", "Rotation Root"]).ok();
    mtls(
        d,
        &[
            "issue",
            "server",
            "--cn",
            "gw.example.com",
            "--san",
            "127.0.0.1",
            "--out",
            "gw",
        ],
    )
    .ok();
    for c in ["old-alice", "old-bob"] {
        mtls(d, &["issue", "client", "--cn", c, "--out", c]).ok();
    }
    // The rotation: new clients come from the new CA; the gateway keeps its old-CA certificate.
    mtls(d, &["ca", "rotate"]).ok();
    mtls(
        d,
        &["issue", "client", "--cn", "new-carol", "--out", "new-carol"],
    )
    .ok();
    mtls(d, &["revoke", "--cert", "old-bob.crt"]).ok();
    let made = mtls(d, &["--json", "crl"]).ok().json();
    assert_eq!(made["crls"].as_array().unwrap().len(), 2, "{made}");
    for c in made["crls"].as_array().unwrap() {
        pkilint_crl(d, &d.join(c["path"].as_str().unwrap()));
    }
    mtls(d, &["crl", "--check"]).ok();
    // verify trusts the whole overlap by default.
    for c in ["old-alice.crt", "new-carol.crt", "gw.crt"] {
        mtls(d, &["verify", c]).ok();
    }
    // ... and with --crl pki/crl.pem takes the retired CA's CRL next to it: old-bob is revoked.
    mtls(d, &["verify", "old-alice.crt", "--crl", "pki/crl.pem"]).ok();
    let v = mtls(
        d,
        &["--json", "verify", "old-bob.crt", "--crl", "pki/crl.pem"],
    )
    .expect_code(1);
    assert_eq!(v.json()["errors"][0]["code"], "revoked", "{}", v.stdout);
    // `serve` too: both CAs trusted by default, the retired CA's CRL taken along.
    {
        let port = free_port();
        // A link in the test dir, so the server's log lands there too.
        std::os::unix::fs::symlink(bin(), d.join("mtls-ca")).unwrap();
        let listen = format!("127.0.0.1:{port}");
        let srv = Server::start(
            d,
            "./mtls-ca",
            &[
                "serve",
                "--server",
                "gw",
                "--listen",
                &listen,
                "--crl",
                "pki/crl.pem",
            ],
            port,
        );
        let ca = d.join("pki/ca-bundle.crt").display().to_string();
        for c in ["old-alice", "new-carol"] {
            call(d, &srv.url(), &ca, &d.join(c).display().to_string())
                .unwrap_or_else(|e| panic!("serve: {c} must get 200: {e}"));
        }
        assert_refused(
            "serve",
            d,
            &srv.url(),
            &ca,
            &d.join("old-bob").display().to_string(),
        );
    }
    // A client who will not get the renewal keeps its old-CA certificate.
    copy_client(d, "old-alice", "kept-old");

    for target in ["nginx", "haproxy"] {
        let port = free_port();
        let out = format!("gw-{target}");
        let r = export(d, target, &out, port);
        assert!(
            r.stderr.contains("crl-"),
            "the retired CA's CRL is picked up: {}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("expires in 6 days"),
            "a fresh default CRL draws no warning: {}",
            r.stderr
        );
        let o = d.join(&out);
        let bundle = std::fs::read_to_string(o.join("ca-bundle.pem")).unwrap();
        assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 2);
        let crls = std::fs::read_to_string(o.join("crls.pem")).unwrap();
        assert_eq!(crls.matches("BEGIN X509 CRL").count(), 2);
        // A re-run that changes nothing writes nothing and keeps no .bak.
        export(d, target, &out, port);
        assert_eq!(baks(&o), Vec::<String>::new());

        let srv = start(d, target, &out, port);
        let url = srv.url();
        let ca = o.join("ca-bundle.pem").display().to_string();
        for c in ["old-alice", "new-carol"] {
            let body = call(d, &url, &ca, &d.join(c).display().to_string())
                .unwrap_or_else(|e| panic!("{target}: {c} must get 200 during the overlap: {e}"));
            assert!(body.contains(&format!("CN={c}")), "{target}: {body}");
        }
        assert_refused(
            target,
            d,
            &url,
            &ca,
            &d.join("old-bob").display().to_string(),
        );
        for c in ["old-alice", "new-carol"] {
            let got = requests(d, c, port, &format!("py-{target}-{c}"));
            assert!(
                got.starts_with("200") && got.contains(&format!("CN={c}")),
                "{target}: requests as {c}: {got}"
            );
        }
    }

    // Every unrevoked old leaf moves to the new CA (names kept, files renewed in place).
    let moved = mtls(d, &["--json", "renew", "--issuer", "retired"])
        .ok()
        .json();
    let moved = moved["renewed"].as_array().unwrap();
    assert_eq!(moved.len(), 2, "gw and old-alice, not the revoked old-bob");
    let left = mtls(
        d,
        &["--json", "list", "--issuer", "retired", "--status", "valid"],
    )
    .ok()
    .json();
    assert!(
        left["certificates"].as_array().unwrap().is_empty(),
        "{left}"
    );
    mtls(d, &["ca", "rotate", "--finish"]).ok();
    let bundle = std::fs::read_to_string(d.join("pki/ca-bundle.crt")).unwrap();
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 1);
    mtls(d, &["crl"]).ok();
    mtls(d, &["crl", "--check"]).ok();
    let v = mtls(d, &["verify", "kept-old.crt"]);
    assert_eq!(v.code, 1, "the old CA is no longer trusted: {}", v.stdout);
    mtls(d, &["verify", "old-alice.crt"]).ok();

    for target in ["nginx", "haproxy"] {
        let port = free_port();
        let out = format!("gw-{target}");
        export(d, target, &out, port);
        let o = d.join(&out);
        let b = baks(&o);
        assert!(
            b.contains(&"ca-bundle.pem.bak".to_string()),
            "the changed bundle is kept as .bak: {b:?}"
        );
        let bundle = std::fs::read_to_string(o.join("ca-bundle.pem")).unwrap();
        assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 1);
        let srv = start(d, target, &out, port);
        let url = srv.url();
        let ca = o.join("ca-bundle.pem").display().to_string();
        for c in ["old-alice", "new-carol"] {
            call(d, &url, &ca, &d.join(c).display().to_string())
                .unwrap_or_else(|e| panic!("{target}: {c} must get 200 after the overlap: {e}"));
            let got = requests(d, c, port, &format!("py-{target}-{c}"));
            assert!(got.starts_with("200"), "{target}: requests as {c}: {got}");
        }
        assert_refused(
            target,
            d,
            &url,
            &ca,
            &d.join("kept-old").display().to_string(),
        );
    }
}

#[test]
fn an_intermediate_rotates_under_its_parent_and_gateways_trust_both_during_the_overlap() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init", "--cn", "Rotation Root"]).ok();
    let int = |args: &[&str]| {
        let mut a = vec!["--dir", "pki/int"];
        a.extend_from_slice(args);
        mtls(d, &a)
    };
    mtls(
        d,
        &[
            "--dir",
            "pki/int",
            "init",
            "--parent",
            "pki",
            "--cn",
            "Rotation Issuing",
        ],
    )
    .ok();
    int(&[
        "issue",
        "server",
        "--cn",
        "gw.example.com",
        "--san",
        "127.0.0.1",
        "--out",
        "gw",
    ])
    .ok();
    int(&["issue", "client", "--cn", "old-alice", "--out", "old-alice"]).ok();
    let j = int(&["--json", "ca", "rotate", "--parent", "pki"])
        .ok()
        .json();
    assert_eq!(j["new_ca"]["profile"], "intermediate", "{j}");
    assert!(
        j["new_ca"]["subject"]
            .as_str()
            .unwrap()
            .contains("Rotation Issuing G2"),
        "{j}"
    );
    pkilint_chain(d, &d.join("pki/ca.crt"), &d.join("pki/int/ca.crt"));
    int(&["issue", "client", "--cn", "new-carol", "--out", "new-carol"]).ok();
    openssl(
        d,
        &[
            "verify",
            "-CAfile",
            "pki/ca.crt",
            "-untrusted",
            "pki/int/ca.crt",
            "new-carol.crt",
        ],
    )
    .ok();
    int(&["crl"]).ok();
    mtls(d, &["crl"]).ok();
    int(&["crl", "--check"]).ok();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    int(&[
        "export",
        "nginx",
        "--server",
        "gw",
        "--crl",
        "pki/int/crl.pem",
        "--crl",
        "pki/crl.pem",
        "--listen",
        &listen,
        "--out",
        "gw-nginx",
    ])
    .ok();
    let conf = std::fs::read_to_string(d.join("gw-nginx/nginx.conf")).unwrap();
    assert!(conf.contains("ssl_verify_depth 2;"), "{conf}");
    let srv = start(d, "nginx", "gw-nginx", port);
    let ca = d.join("gw-nginx/ca-bundle.pem").display().to_string();
    for c in ["old-alice", "new-carol"] {
        call(d, &srv.url(), &ca, &d.join(c).display().to_string())
            .unwrap_or_else(|e| panic!("{c} must get 200 during the overlap: {e}"));
    }
    drop(srv);
    // The parent no longer counts the old intermediate as in use; the child's overlap ends
    // once its leaves moved.
    let refused = int(&["ca", "rotate", "--finish"]).expect_code(2);
    assert!(
        refused.stderr.contains("old-alice") && refused.stderr.contains("hint: "),
        "{}",
        refused.stderr
    );
    int(&["renew", "--issuer", "retired"]).ok();
    int(&["ca", "rotate", "--finish"]).ok();
    int(&["crl"]).ok();
    int(&["crl", "--check"]).ok();
}

#[test]
fn bad_inputs_of_the_rotation_flags_exit_2_with_a_hint_and_change_nothing() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init", "--cn", "Rotation Root"]).ok();
    mtls(d, &["issue", "client", "--cn", "alice", "--out", "alice"]).ok();
    mtls(d, &["--dir", "other", "init", "--cn", "Other Root"]).ok();
    let before_rotation = snapshot(d);
    // Nothing to finish yet.
    let r = mtls(d, &["ca", "rotate", "--finish"]).expect_code(2);
    assert!(r.stderr.contains("no retired CA"), "{}", r.stderr);
    // --parent on a root; --parent naming a CA that did not sign this one.
    for (args, needle) in [
        (vec!["ca", "rotate", "--parent", "other"], "root CA"),
        (
            vec!["--dir", "pki/int", "ca", "rotate", "--parent", "pki"],
            "pki/int",
        ),
    ] {
        let r = mtls(d, &args).expect_code(2);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
    assert_eq!(
        snapshot(d),
        before_rotation,
        "refused rotations changed files"
    );

    mtls(d, &["ca", "rotate"]).ok();
    let before = snapshot(d);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["list", "--issuer", "zz"], "--issuer"),
        (vec!["list", "--issuer", "0"], "--issuer"),
        (
            vec!["list", "--issuer", "ffffffff"],
            "no CA of this directory",
        ),
        (vec!["renew", "--issuer", "older"], "--issuer"),
        (
            vec!["renew", "--issuer", "ffffffff"],
            "no CA of this directory",
        ),
        (vec!["renew", "--out-dir", "x"], "--out-dir"),
        (vec!["renew", "--issuer", "retired", "--out", "x"], "--out"),
        (vec!["ca", "rotate", "--force"], "--finish"),
        (vec!["ca", "rotate", "--finish", "--days", "30"], "--days"),
        // alice (old CA) is neither renewed nor revoked: the overlap may not end.
        (vec!["ca", "rotate", "--finish"], "alice"),
        (vec!["revoke", "1"], "serial"),
    ];
    for (args, needle) in &cases {
        let r = mtls(d, args).expect_code(2);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("error:")
                && (r.stderr.contains("hint:") || r.stderr.contains("Usage:")),
            "{args:?}: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("panicked"), "{args:?}: {}", r.stderr);
        assert_eq!(snapshot(d), before, "{args:?} changed files");
    }
    // The error of --finish names what to do and which certificates are left.
    let r = mtls(d, &["ca", "rotate", "--finish"]).expect_code(2);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains("1 unexpired"),
        "{}",
        r.stderr
    );
    assert!(lines[1].contains("renew --issuer retired"), "{}", r.stderr);
    // --force ends it anyway and says so.
    let r = mtls(d, &["ca", "rotate", "--finish", "--force"]).ok();
    assert!(r.stderr.contains("still valid"), "{}", r.stderr);
    assert!(d.join("pki/finished").is_dir());
}

#[test]
fn cron_re_runs_of_renew_crl_and_export_exit_0() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init", "--cn", "Cron Root"]).ok();
    mtls(
        d,
        &["issue", "server", "--cn", "gw.example.com", "--out", "gw"],
    )
    .ok();
    mtls(
        d,
        &[
            "issue", "client", "--cn", "short", "--out", "short", "--days", "1",
        ],
    )
    .ok();
    for _ in 0..2 {
        mtls(d, &["renew", "--expiring-within", "2d", "--out-dir", "D"]).ok();
        mtls(d, &["crl"]).ok();
        mtls(d, &["crl", "--check"]).ok();
        mtls(
            d,
            &[
                "export",
                "nginx",
                "--server",
                "gw",
                "--crl",
                "pki/crl.pem",
                "--out",
                "e",
                "--force",
            ],
        )
        .ok();
    }
    // The second renew replaced its own first successor in D (kept as .bak).
    assert!(d.join("D/short.crt").exists() && d.join("D/short.crt.bak").exists());
    // `revoke` with too short an ambiguous or unique prefix says so.
    let serial = mtls(d, &["--json", "list"]).ok().json()["certificates"][1]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    let r = mtls(d, &["revoke", &serial[..4]]).expect_code(2);
    assert!(r.stderr.contains("prefix too short"), "{}", r.stderr);
}
