//! `probe` and `serve` against real servers on 127.0.0.1: openssl s_server (demanding,
//! optional, TLS 1.2, leaf-only), `mtls-ca serve`, a closed port and a server that never answers.
use crate::common;
use common::*;

use std::path::Path;
use std::time::{Duration, Instant};

fn s_server(cwd: &Path, extra: &[&str]) -> Server {
    let port = free_port();
    let accept = port.to_string();
    let mut args = vec!["s_server", "-accept", accept.as_str(), "-www", "-quiet"];
    args.extend_from_slice(extra);
    Server::start(cwd, "openssl", &args, port)
}

fn probe(d: &Path, port: u16, extra: &[&str]) -> (Run, serde_json::Value) {
    let target = format!("127.0.0.1:{port}");
    let mut args = vec![
        "--dir",
        "pki",
        "--json",
        "probe",
        target.as_str(),
        "--servername",
        "api.example.com",
        "--timeout",
        "5",
    ];
    args.extend_from_slice(extra);
    let r = mtls(d, &args);
    let j = r.json();
    (r, j)
}

fn codes(j: &serde_json::Value) -> Vec<String> {
    j["diagnosis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn demanding_openssl_server_all_client_cases() {
    let t = tempdir();
    let d = t.path();
    root_server_client(d, "Probe Root");
    let srv = s_server(
        d,
        &[
            "-cert",
            "srv.crt",
            "-key",
            "srv.key",
            "-CAfile",
            "pki/ca.crt",
            "-Verify",
            "1",
            "-verify_return_error",
        ],
    );

    // Good certificate: exit 0, accepted, the server named our CA, resumption works.
    let (r, j) = probe(d, srv.port, &["--cert", "alice.crt", "--key", "alice.key"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(j["connected"], true);
    assert_eq!(j["client_cert_requested"], true);
    assert_eq!(j["client_cert_accepted"], true);
    assert_eq!(j["server_chain_valid"], true);
    assert_eq!(j["tls_version"], "TLSv1.3");
    assert_eq!(j["resumed"], true, "openssl s_server issues tickets: {j}");
    assert!(j["resumption_saved_ms"].is_f64(), "{j}");
    assert_eq!(j["acceptable_client_cas"][0], "CN=Probe Root");
    assert_eq!(j["http_status"], 200);

    // The same identity from a PKCS#12 file (modern and legacy profiles).
    std::fs::write(d.join("p12.pass"), "correct horse battery staple\n").unwrap();
    for (stem, extra) in [("carol", None), ("dave", Some("--p12-legacy"))] {
        let mut args = vec![
            "--dir",
            "pki",
            "issue",
            "client",
            "--cn",
            stem,
            "--out",
            stem,
            "--p12",
            "--p12-passphrase-file",
            "p12.pass",
        ];
        args.extend(extra);
        mtls(d, &args).ok();
        let p12 = format!("{stem}.p12");
        let (r, j) = probe(
            d,
            srv.port,
            &["--p12", &p12, "--passphrase-file", "p12.pass"],
        );
        assert_eq!(r.code, 0, "{p12}: {j}");
        assert_eq!(j["client_cert_accepted"], true);
    }
    // A wrong PKCS#12 passphrase is unusable input: exit 2, one error line naming the file.
    std::fs::write(d.join("wrong.pass"), "nope\n").unwrap();
    let target = format!("127.0.0.1:{}", srv.port);
    let r = mtls(
        d,
        &[
            "probe",
            &target,
            "--p12",
            "carol.p12",
            "--passphrase-file",
            "wrong.pass",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with("error: carol.p12: wrong PKCS#12 password"),
        "{}",
        r.stderr
    );

    // No certificate: certificate_required.
    let (r, j) = probe(d, srv.port, &[]);
    assert_eq!(r.code, 1);
    assert_eq!(codes(&j), ["client_cert_required"]);
    assert_eq!(j["alert"], "certificate_required");

    // A certificate from another CA: unknown_ca, and the hint names the CA the server accepts.
    other_ca_client(d);
    let (r, j) = probe(
        d,
        srv.port,
        &["--cert", "mallory.crt", "--key", "mallory.key"],
    );
    assert_eq!(r.code, 1);
    assert_eq!(codes(&j), ["client_cert_unknown_issuer"]);
    assert!(j["diagnosis"][0]["message"]
        .as_str()
        .unwrap()
        .contains("CN=Probe Root"));
    assert_eq!(j["client_cert_accepted"], false);

    // A server certificate used as a client certificate: wrong purpose.
    let (r, j) = probe(d, srv.port, &["--cert", "srv.crt", "--key", "srv.key"]);
    assert_eq!(r.code, 1);
    assert_eq!(codes(&j), ["client_cert_wrong_purpose"]);

    // An expired client certificate, issued by the library with a clock two years back.
    expired_client(d, "old", 730);
    let (r, j) = probe(d, srv.port, &["--cert", "old.crt", "--key", "old.key"]);
    assert_eq!(r.code, 1);
    assert_eq!(codes(&j), ["client_cert_expired"]);

    // Wrong server name: the server chain is judged like verify would.
    let target = format!("127.0.0.1:{}", srv.port);
    let r = mtls(
        d,
        &[
            "--dir",
            "pki",
            "--json",
            "probe",
            &target,
            "--servername",
            "www.example.com",
            "--cert",
            "alice.crt",
            "--key",
            "alice.key",
        ],
    );
    assert_eq!(r.code, 1);
    let j = r.json();
    assert_eq!(codes(&j), ["server_name_mismatch"]);
    assert!(j["diagnosis"][0]["hint"]
        .as_str()
        .unwrap()
        .contains("--san www.example.com"));

    // Human output carries the verdict and the fix.
    let r = mtls(
        d,
        &[
            "--dir",
            "pki",
            "probe",
            &target,
            "--servername",
            "api.example.com",
        ],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("client_cert_required") && r.stdout.contains("fix: pass --cert"),
        "{}",
        r.stdout
    );
}

#[test]
fn tls12_and_optional_servers() {
    let t = tempdir();
    let d = t.path();
    root_server_client(d, "Probe Root");
    // TLS 1.2: the missing certificate shows as handshake_failure, still diagnosed as required.
    let srv = s_server(
        d,
        &[
            "-tls1_2",
            "-cert",
            "srv.crt",
            "-key",
            "srv.key",
            "-CAfile",
            "pki/ca.crt",
            "-Verify",
            "1",
            "-verify_return_error",
        ],
    );
    let (r, j) = probe(d, srv.port, &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(j["tls_version"], "TLSv1.2");
    assert_eq!(codes(&j), ["client_cert_required"]);
    let (r, j) = probe(d, srv.port, &["--cert", "alice.crt", "--key", "alice.key"]);
    assert_eq!(r.code, 0, "{j}");
    assert_eq!(j["tls_version"], "TLSv1.2");
    drop(srv);

    // Optional: the server asks, lets us in without a certificate; probe says mTLS is not proven.
    let srv = s_server(
        d,
        &[
            "-cert",
            "srv.crt",
            "-key",
            "srv.key",
            "-CAfile",
            "pki/ca.crt",
            "-verify",
            "1",
        ],
    );
    let (r, j) = probe(d, srv.port, &[]);
    assert_eq!(r.code, 1);
    assert_eq!(codes(&j), ["no_client_cert_given"]);
    let (r, _) = probe(d, srv.port, &["--cert", "alice.crt", "--key", "alice.key"]);
    assert_eq!(r.code, 0);
    drop(srv);

    // No client authentication at all.
    let srv = s_server(d, &["-cert", "srv.crt", "-key", "srv.key"]);
    let (r, j) = probe(d, srv.port, &["--cert", "alice.crt", "--key", "alice.key"]);
    assert_eq!(r.code, 1);
    assert_eq!(codes(&j), ["client_cert_not_requested"]);
}

#[test]
fn server_without_its_intermediate() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "root", "init", "--cn", "Chain Root"]).ok();
    mtls(
        d,
        &[
            "--dir",
            "int",
            "init",
            "--parent",
            "root",
            "--cn",
            "Chain Issuing CA",
        ],
    )
    .ok();
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
            "srv",
        ],
    )
    .ok();
    mtls(
        d,
        &[
            "--dir", "int", "issue", "client", "--cn", "bob", "--out", "bob",
        ],
    )
    .ok();
    pkilint_chain(d, &d.join("root/ca.crt"), &d.join("int/ca.crt"));
    pkilint_chain(d, &d.join("int/ca.crt"), &d.join("srv.crt"));
    let probe_bob = |port: u16| {
        let target = format!("127.0.0.1:{port}");
        mtls(
            d,
            &[
                "--json",
                "probe",
                &target,
                "--servername",
                "api.example.com",
                "--ca",
                "root/ca.crt",
                "--cert",
                "bob.fullchain.crt",
                "--key",
                "bob.key",
            ],
        )
    };
    // Leaf only; client verification store given with -verifyCAfile so openssl cannot
    // auto-complete the server chain from it.
    let srv = s_server(
        d,
        &[
            "-cert",
            "srv.crt",
            "-key",
            "srv.key",
            "-verifyCAfile",
            "int/ca-chain.crt",
            "-Verify",
            "2",
        ],
    );
    let r = probe_bob(srv.port);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(codes(&j), ["server_missing_intermediate"]);
    assert!(j["diagnosis"][0]["hint"]
        .as_str()
        .unwrap()
        .contains("fullchain"));
    assert_eq!(j["server_chain"].as_array().unwrap().len(), 1);
    drop(srv);
    // The fixed variant: serve the fullchain.
    let srv = s_server(
        d,
        &[
            "-cert",
            "srv.crt",
            "-cert_chain",
            "int/ca.crt",
            "-key",
            "srv.key",
            "-verifyCAfile",
            "int/ca-chain.crt",
            "-Verify",
            "2",
        ],
    );
    let r = probe_bob(srv.port);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.json()["server_chain"].as_array().unwrap().len(), 2);
}

#[test]
fn closed_port_and_silent_server_exit_2_within_the_timeout() {
    let t = tempdir();
    let d = t.path();
    let port = free_port();
    let r = mtls(
        d,
        &["probe", &format!("127.0.0.1:{port}"), "--timeout", "2"],
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("connection refused"), "{}", r.stderr);

    // Accepts TCP connections, never says a word.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _keep = std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            held.push(s);
        }
    });
    let start = Instant::now();
    let r = mtls(
        d,
        &["probe", &format!("127.0.0.1:{port}"), "--timeout", "2"],
    );
    let took = start.elapsed();
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("timed out"), "{}", r.stderr);
    assert!(
        took < Duration::from_secs(3),
        "probe must respect --timeout (+1 s), took {took:?}"
    );
    assert_eq!(
        r.stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1
    );
}

#[test]
fn serve_demands_and_reports_clients() {
    let t = tempdir();
    let d = t.path();
    root_server_client(d, "Probe Root");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let me = bin().display().to_string();
    let srv = Server::start(
        d,
        &me,
        &[
            "--dir", "pki", "serve", "--server", "srv", "--listen", &listen,
        ],
        port,
    );
    // curl with the client certificate gets the subject back.
    let url = format!("https://api.example.com:{port}/");
    let resolve = format!("api.example.com:{port}:127.0.0.1");
    let r = tool(
        d,
        "curl",
        &[
            "-sS",
            "--resolve",
            &resolve,
            "--cacert",
            "pki/ca.crt",
            "--cert",
            "alice.crt",
            "--key",
            "alice.key",
            &url,
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("subject: CN=alice") && r.stdout.contains("verify: SUCCESS"),
        "{}",
        r.stdout
    );
    // Without one, curl fails and the probe says why.
    let r = tool(
        d,
        "curl",
        &["-sS", "--resolve", &resolve, "--cacert", "pki/ca.crt", &url],
    );
    assert_ne!(r.code, 0);
    let (r, j) = probe(d, port, &["--cert", "alice.crt", "--key", "alice.key"]);
    assert_eq!(r.code, 0, "{j}");
    assert_eq!(j["resumed"], true);
    let (_, j) = probe(d, port, &[]);
    assert_eq!(codes(&j), ["client_cert_required"]);
    // serve logged the failures with a reason (once it has written them).
    poll_until(Duration::from_secs(10), || {
        let out = srv.stderr();
        out.contains("handshake failed: the client sent no certificate")
            && out.contains("client CN=alice")
    });
    let out = srv.stderr();
    assert!(
        out.contains("handshake failed: the client sent no certificate"),
        "{out}"
    );
    assert!(out.contains("client CN=alice"), "{out}");
}

#[test]
fn nginx_answers_in_http_and_resumes_sessions() {
    let t = tempdir();
    let d = t.path();
    root_server_client(d, "Probe Root");
    other_ca_client(d);
    let port = free_port();
    let conf = nginx_conf(
        d,
        port,
        "srv.fullchain.crt",
        "srv.key",
        "pki/ca.crt",
        "ssl_session_cache shared:MTLS:1m; ssl_session_tickets on;",
    );
    let _srv = start_nginx(d, &conf, port);

    // Good certificate: accepted, resumed through nginx's session cache / tickets.
    let (r, j) = probe(d, port, &["--cert", "alice.crt", "--key", "alice.key"]);
    assert_eq!(r.code, 0, "{j}");
    assert_eq!(j["resumed"], true, "{j}");
    // nginx finishes the handshake and answers 400: told apart by the page.
    let (r, j) = probe(d, port, &[]);
    assert_eq!(r.code, 1);
    assert_eq!(j["http_status"], 400);
    assert_eq!(codes(&j), ["client_cert_required"]);
    let (r, j) = probe(d, port, &["--cert", "mallory.crt", "--key", "mallory.key"]);
    assert_eq!(r.code, 1);
    assert_eq!(j["http_status"], 400);
    // nginx's page does not say why; probe holds the certificate and checks it itself.
    assert_eq!(codes(&j), ["client_cert_unknown_issuer"]);
    assert_eq!(j["client_cert_accepted"], false);
}

#[test]
fn a_server_that_hangs_up_after_the_handshake_is_not_called_a_success() {
    let t = tempdir();
    let d = t.path();
    root_server_client(d, "Probe Root");
    let port = free_port();
    // Python's ssl module: demands a client certificate, completes the handshake, then closes
    // without a word (what some servers do with a client they reject after the handshake).
    let script = r#"import socket, ssl
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain('srv.fullchain.crt', 'srv.key')
ctx.load_verify_locations('pki/ca.crt')
ctx.verify_mode = ssl.CERT_REQUIRED
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', PORT))
s.listen(8)
while True:
    c, _ = s.accept()
    try:
        t = ctx.wrap_socket(c, server_side=True)
        t.unwrap()
    except Exception:
        pass
    c.close()
"#
    .replace("PORT", &port.to_string());
    std::fs::write(d.join("hangup.py"), script).unwrap();
    let _srv = Server::start(d, "python3", &["hangup.py"], port);
    let (r, j) = probe(
        d,
        port,
        &[
            "--cert",
            "alice.crt",
            "--key",
            "alice.key",
            "--no-resumption",
        ],
    );
    assert_eq!(r.code, 1, "{j}");
    assert_eq!(codes(&j), ["no_answer"]);
    assert_eq!(j["client_cert_accepted"], serde_json::Value::Null);
    assert_eq!(j["client_cert_requested"], true);
}
