//! `explain` on logs written by real nginx and HAProxy during the test, and on real curl errors.
use crate::common;
use common::*;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Root CA, a server cert, a good client, a client from another CA, an expired client.
fn setup(d: &Path) {
    root_server_client(d, "Explain Root");
    other_ca_client(d);
    expired_client(d, "old", 400);
}

/// curl to the server with the given client files; returns curl's result.
fn curl(d: &Path, port: u16, client: Option<&str>) -> Run {
    let url = format!("https://api.example.com:{port}/");
    let resolve = format!("api.example.com:{port}:127.0.0.1");
    let mut args = vec![
        "-sS",
        "--max-time",
        "5",
        "--resolve",
        resolve.as_str(),
        "--cacert",
        "pki/ca.crt",
    ];
    let (c, k);
    if let Some(stem) = client {
        c = format!("{stem}.crt");
        k = format!("{stem}.key");
        args.extend_from_slice(&["--cert", c.as_str(), "--key", k.as_str()]);
    }
    args.push(url.as_str());
    tool(d, "curl", &args)
}

fn explain_codes(d: &Path, file: &str) -> (Run, Vec<String>) {
    let r = mtls(d, &["--json", "explain", file]);
    let codes = r.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect();
    (r, codes)
}

#[test]
fn nginx_logs_are_explained() {
    let t = tempdir();
    let d = t.path();
    setup(d);
    let port = free_port();
    let conf = nginx_conf(d, port, "srv.fullchain.crt", "srv.key", "pki/ca.crt", "");
    let _srv = start_nginx(d, &conf, port);

    let ok = curl(d, port, Some("alice"));
    assert!(ok.stdout.contains("CN=alice"), "{ok:?}");
    let none = curl(d, port, None);
    assert!(
        none.stdout.contains("No required SSL certificate was sent"),
        "{none:?}"
    );
    let other = curl(d, port, Some("mallory"));
    assert!(
        other.stdout.contains("The SSL certificate error"),
        "{other:?}"
    );
    let old = curl(d, port, Some("old"));
    assert!(old.stdout.contains("The SSL certificate error"), "{old:?}");
    // nginx writes its error log after answering: wait until all three failures are in it.
    poll_until(Duration::from_secs(10), || {
        let (_, codes) = explain_codes(d, "error.log");
        ["no_client_cert", "unknown_issuer", "cert_expired"]
            .iter()
            .all(|want| codes.contains(&want.to_string()))
    });

    let (r, codes) = explain_codes(d, "error.log");
    assert_eq!(r.code, 1, "{}", r.stdout);
    for want in ["no_client_cert", "unknown_issuer", "cert_expired"] {
        assert!(
            codes.contains(&want.to_string()),
            "{want} missing from {codes:?}\n{}",
            std::fs::read_to_string(d.join("error.log")).unwrap()
        );
    }
    let j = r.json();
    assert!(
        j["unrecognised"].as_u64().unwrap() > 0,
        "nginx start-up notices are counted as unrecognised"
    );

    // The access log: FAILED:reason values and the one success.
    let (r, codes) = explain_codes(d, "access.log");
    assert_eq!(r.code, 1);
    assert!(codes.contains(&"unknown_issuer".to_string()), "{codes:?}");
    assert!(codes.contains(&"cert_expired".to_string()), "{codes:?}");
    assert_eq!(r.json()["ok"], 1, "{}", r.stdout);

    // Human output: cause and fix per finding, read from stdin.
    let log = std::fs::read(d.join("error.log")).unwrap();
    let mut child = Command::new(bin())
        .args(["explain", "-"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&log).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text.contains("fix:") && text.contains("mtls-ca renew"),
        "{text}"
    );
}

#[test]
fn haproxy_logs_are_explained() {
    let t = tempdir();
    let d = t.path();
    setup(d);
    let port = free_port();
    // HAProxy wants cert + chain + key in one file.
    let mut pem = std::fs::read(d.join("srv.fullchain.crt")).unwrap();
    pem.extend(std::fs::read(d.join("srv.key")).unwrap());
    std::fs::write(d.join("srv.pem"), pem).unwrap();
    let cfg = format!(
        "global\n    log stdout format raw local0 info\ndefaults\n    mode http\n    log global\n    option httplog\n    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:{port} ssl crt {d}/srv.pem ca-file {d}/pki/ca.crt verify required\n    http-request return status 200 content-type text/plain string ok\n",
        d = d.display()
    );
    std::fs::write(d.join("haproxy.cfg"), cfg).unwrap();
    let cfg = d.join("haproxy.cfg").display().to_string();
    let srv = Server::start(d, "haproxy", &["-db", "-f", &cfg], port);
    let ok = curl(d, port, Some("alice"));
    assert_eq!(ok.code, 0, "{ok:?}");
    let none = curl(d, port, None);
    assert_ne!(none.code, 0);
    let other = curl(d, port, Some("mallory"));
    assert_ne!(other.code, 0);
    // HAProxy logs to stdout, which Server collects: wait until the failure is in it.
    let log_file = srv.log_path().display().to_string();
    poll_until(Duration::from_secs(10), || {
        let (_, codes) = explain_codes(d, &log_file);
        codes.contains(&"handshake_failure".to_string())
    });
    let (r, codes) = explain_codes(d, &log_file);
    let log = srv.stderr();
    assert_eq!(r.code, 1, "{}\n{log}", r.stdout);
    assert!(
        codes.contains(&"handshake_failure".to_string()),
        "{codes:?}\n{log}"
    );
    assert!(
        codes.contains(&"unknown_issuer".to_string()),
        "{codes:?}\n{log}"
    );

    // curl's own error messages for the same failures.
    let mut curl_errs = String::new();
    curl_errs.push_str(&none.stderr);
    curl_errs.push_str(&other.stderr);
    std::fs::write(d.join("curl.txt"), &curl_errs).unwrap();
    let (r, codes) = explain_codes(d, "curl.txt");
    assert_eq!(r.code, 1, "{curl_errs}");
    assert!(
        codes
            .iter()
            .any(|c| c == "no_client_cert" || c == "handshake_failure"),
        "{codes:?}\n{curl_errs}"
    );
    assert!(
        codes
            .iter()
            .any(|c| c == "client_ca_not_trusted" || c == "client_cert_rejected"),
        "{codes:?}\n{curl_errs}"
    );
}

#[test]
fn nothing_to_explain_exits_0_and_bad_input_exits_2() {
    let t = tempdir();
    let d = t.path();
    std::fs::write(d.join("quiet.log"), "all good\nnothing here\n").unwrap();
    let r = mtls(d, &["--json", "explain", "quiet.log"]).ok();
    assert_eq!(r.json()["unrecognised"], 2);
    let r = mtls(d, &["explain", "missing.log"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.starts_with("error: missing.log"), "{}", r.stderr);
    // Binary data is not a log: refused, not "explained" as unrecognised lines.
    std::fs::write(
        d.join("core.bin"),
        b"\x7fELF\x02\x01\x00\x00garbage\n\x00\x01",
    )
    .unwrap();
    let r = mtls(d, &["explain", "core.bin"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with("error: core.bin: binary data"),
        "{}",
        r.stderr
    );
}
