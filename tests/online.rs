//! The online CA end to end (#11): `ca serve`, `token`, `agent` as real processes, checked with
//! curl, openssl (verify, ocsp, crl), pkilint and nginx (`ssl_ocsp on`).

use crate::common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// `ca serve` on two free ports (HTTPS and plain HTTP), with --public-url at the HTTP one.
struct Ca {
    server: Option<Server>,
    https: u16,
    http: u16,
    /// Extra arguments of `ca serve` (a passphrase source).
    args: Vec<String>,
}

impl Ca {
    fn start(d: &Path) -> Ca {
        Ca::start_env(d, &[])
    }

    /// With extra environment for the server (a failpoint).
    fn start_env(d: &Path, env: &[(&str, &str)]) -> Ca {
        Ca::start_with(d, &[], env)
    }

    /// With extra arguments of `ca serve` and environment for the server.
    fn start_with(d: &Path, args: &[&str], env: &[(&str, &str)]) -> Ca {
        let (https, http) = (free_port(), free_port());
        let mut ca = Ca {
            server: None,
            https,
            http,
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        ca.restart_env(d, env);
        ca
    }

    fn restart(&mut self, d: &Path) {
        self.restart_env(d, &[]);
    }

    fn restart_env(&mut self, d: &Path, env: &[(&str, &str)]) {
        let listen = format!("127.0.0.1:{}", self.https);
        let hl = format!("127.0.0.1:{}", self.http);
        let url = format!("http://127.0.0.1:{}", self.http);
        let mut args = vec![
            "--dir",
            "pki",
            "ca",
            "serve",
            "--listen",
            &listen,
            "--http-listen",
            &hl,
            "--public-url",
            &url,
            "--rate",
            "1000",
            "--log-requests",
        ];
        args.extend(self.args.iter().map(String::as_str));
        self.server = Some(Server::start_env(
            d,
            bin().to_str().unwrap(),
            &args,
            env,
            self.https,
        ));
        wait_until("the plain-HTTP listener", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", self.http)).is_ok()
        });
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.https)
    }

    fn log(&self) -> String {
        self.server.as_ref().map(|s| s.stderr()).unwrap_or_default()
    }
}

/// `curl` a JSON body (or a file) to PATH over HTTPS; returns the status and the body.
fn post(d: &Path, ca: &Ca, path: &str, body_file: &str, cert: Option<&str>) -> (u16, String) {
    post_with(d, ca, path, body_file, cert, &[])
}

/// [`post`] with extra request headers.
fn post_with(
    d: &Path,
    ca: &Ca,
    path: &str,
    body_file: &str,
    cert: Option<&str>,
    headers: &[&str],
) -> (u16, String) {
    let url = format!("{}{path}", ca.url());
    let data = format!("@{body_file}");
    let mut args = vec![
        "-sS",
        "--cacert",
        "pki/ca.crt",
        "-o",
        "resp.body",
        "-w",
        "%{http_code}",
        "-H",
        "content-type: application/json",
        "--data-binary",
        &data,
    ];
    for &h in headers {
        args.extend(["-H", h]);
    }
    let (c, k);
    if let Some(stem) = cert {
        c = format!("{stem}.fullchain.crt");
        k = format!("{stem}.key");
        args.extend(["--cert", &c, "--key", &k]);
    }
    args.push(&url);
    let r = tool(d, "curl", &args);
    let code = r.stdout.trim().parse().unwrap_or(0);
    (
        code,
        std::fs::read_to_string(d.join("resp.body")).unwrap_or_default(),
    )
}

fn error_code(body: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    v["error"]["code"].as_str().unwrap_or_default().to_string()
}

fn token(d: &Path, cn: &str, extra: &[&str]) -> String {
    let mut args = vec!["--dir", "pki", "--json", "token", "create", "--cn", cn];
    args.extend_from_slice(extra);
    let r = mtls(d, &args).ok();
    let v = r.json();
    assert!(v["expires_at"].is_string(), "{}", r.stdout);
    v["token"].as_str().unwrap().to_string()
}

fn csr_json(d: &Path, token: &str, cn: &str, sans: &[&str], file: &str) {
    let mut args = vec!["csr", "--cn", cn, "--out", file, "--force"];
    for s in sans {
        args.extend(["--san", s]);
    }
    mtls(d, &args).ok();
    let csr = std::fs::read_to_string(d.join(format!("{file}.csr"))).unwrap();
    std::fs::write(
        d.join(format!("{file}.json")),
        serde_json::json!({ "token": token, "csr": csr }).to_string(),
    )
    .unwrap();
}

/// Serials the store holds (issued, any status), from `list --json`.
fn serials(d: &Path) -> Vec<(String, String)> {
    let v = mtls(d, &["--dir", "pki", "--json", "list"]).ok().json();
    v["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["serial"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A CA in `pki` whose key is encrypted with the passphrase in the file `pass`.
fn init_encrypted(d: &Path) {
    std::fs::write(d.join("pass"), "correct horse battery staple\n").unwrap();
    mtls(
        d,
        &[
            "--dir",
            "pki",
            "init",
            "--encrypt-key",
            "--passphrase-file",
            "pass",
        ],
    )
    .ok();
}

fn agent(d: &Path, ca: &Ca, out: &str, extra: &[&str]) -> Run {
    agent_at(d, &ca.url(), out, extra)
}

#[test]
fn refusals_record_nothing_then_bootstrap_renew_and_revocation() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "pki", "init"]).ok();
    let ca = Ca::start(d);
    let tok = token(
        d,
        "web.example.com",
        &["--san", "127.0.0.1", "--ttl", "10m"],
    );
    assert!(tok.starts_with("mtca_"), "{tok}");
    let before = serials(d);
    let audit_before = std::fs::read_to_string(d.join("pki/audit.log")).unwrap_or_default();

    // An unknown token.
    csr_json(d, "mtca_00", "web.example.com", &[], "req");
    let (code, body) = post(d, &ca, "/v1/sign", "req.json", None);
    assert_eq!(
        (code, error_code(&body).as_str()),
        (401, "token_unknown"),
        "{body}"
    );
    // A CSR for names the token does not allow.
    csr_json(d, &tok, "web.example.com", &["evil.example.com"], "evil");
    let (code, body) = post(d, &ca, "/v1/sign", "evil.json", None);
    assert_eq!(
        (code, error_code(&body).as_str()),
        (403, "names_not_allowed"),
        "{body}"
    );
    csr_json(d, &tok, "admin", &[], "admin");
    let (code, body) = post(d, &ca, "/v1/sign", "admin.json", None);
    assert_eq!(
        (code, error_code(&body).as_str()),
        (403, "names_not_allowed"),
        "{body}"
    );
    // A garbage CSR.
    std::fs::write(
        d.join("garbage.json"),
        serde_json::json!({"token": tok, "csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}).to_string(),
    )
    .unwrap();
    let (code, body) = post(d, &ca, "/v1/sign", "garbage.json", None);
    assert_eq!(
        (code, error_code(&body).as_str()),
        (400, "bad_csr"),
        "{body}"
    );
    // Not JSON, and an oversized body.
    std::fs::write(d.join("notjson.json"), "token=x").unwrap();
    let (code, body) = post(d, &ca, "/v1/sign", "notjson.json", None);
    assert_eq!(
        (code, error_code(&body).as_str()),
        (400, "bad_json"),
        "{body}"
    );
    std::fs::write(d.join("big.json"), vec![b'x'; 200 * 1024]).unwrap();
    let (code, body) = post(d, &ca, "/v1/sign", "big.json", None);
    assert_eq!(
        (code, error_code(&body).as_str()),
        (413, "body_too_large"),
        "{body}"
    );
    // Renewal without a client certificate; sign over plain HTTP does not exist.
    let (code, body) = post(d, &ca, "/v1/renew", "req.json", None);
    assert_eq!(
        (code, error_code(&body).as_str()),
        (401, "client_certificate_required"),
        "{body}"
    );
    let r = tool(
        d,
        "curl",
        &[
            "-sS",
            "-o",
            "plain.body",
            "-w",
            "%{http_code}",
            "--data-binary",
            "@req.json",
            &format!("http://127.0.0.1:{}/v1/sign", ca.http),
        ],
    );
    assert_eq!(r.stdout.trim(), "404");
    let plain = std::fs::read_to_string(d.join("plain.body")).unwrap();
    assert_eq!(error_code(&plain), "https_only");
    // Nothing was recorded by any refusal: the store and the audit log are as before, and the
    // token still works.
    assert_eq!(serials(d), before);
    assert_eq!(
        std::fs::read_to_string(d.join("pki/audit.log")).unwrap_or_default(),
        audit_before
    );
    let list = mtls(d, &["--dir", "pki", "token", "list"]).ok();
    assert!(list.stdout.contains("unused"), "{}", list.stdout);
    assert!(
        !list.stdout.contains(&tok[5..]),
        "token list must not show the token"
    );

    // Bootstrap with the agent.
    let r = agent(
        d,
        &ca,
        "host/web",
        &[
            "--token",
            &tok,
            "--cn",
            "web.example.com",
            "--san",
            "127.0.0.1",
            "--once",
        ],
    )
    .ok();
    assert!(r.stderr.contains("bootstrapped"), "{}", r.stderr);
    let key_mode = std::fs::metadata(d.join("host/web.key")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(key_mode.permissions().mode() & 0o777, 0o600);
    openssl(d, &["verify", "-CAfile", "pki/ca.crt", "host/web.crt"]).ok();
    pkilint_cert(d, &d.join("host/web.crt"));
    pkilint_chain(d, &d.join("pki/ca.crt"), &d.join("host/web.crt"));
    let text = openssl(d, &["x509", "-in", "host/web.crt", "-noout", "-text"])
        .ok()
        .stdout;
    assert!(
        text.contains(&format!("URI:http://127.0.0.1:{}/v1/crl", ca.http)),
        "{text}"
    );
    assert!(
        text.contains(&format!("OCSP - URI:http://127.0.0.1:{}/v1/ocsp", ca.http)),
        "{text}"
    );
    assert!(text.contains("CA Issuers - URI:"), "{text}");
    let first = serial_of(d, "host/web.crt");

    // The token was used: a replay is refused, and the store did not change.
    let n = serials(d).len();
    csr_json(d, &tok, "web.example.com", &[], "replay");
    let (code, body) = post(d, &ca, "/v1/sign", "replay.json", None);
    assert_eq!(
        (code, error_code(&body).as_str()),
        (401, "token_used"),
        "{body}"
    );
    assert_eq!(serials(d).len(), n);

    // Not due yet: exit 0, nothing changes; --force renews with a new key.
    let key_before = std::fs::read(d.join("host/web.key")).unwrap();
    let r = agent(d, &ca, "host/web", &["--once"]).ok();
    assert!(r.stderr.contains("not due"), "{}", r.stderr);
    assert_eq!(serial_of(d, "host/web.crt"), first);
    let r = agent(
        d,
        &ca,
        "host/web",
        &["--once", "--force", "--exec", "touch reloaded"],
    )
    .ok();
    assert!(r.stderr.contains("renewed"), "{}", r.stderr);
    assert!(d.join("reloaded").exists(), "--exec ran");
    let second = serial_of(d, "host/web.crt");
    assert_ne!(second, first);
    assert_ne!(std::fs::read(d.join("host/web.key")).unwrap(), key_before);
    assert!(!d.join("host/web.key.pending").exists());
    openssl(d, &["verify", "-CAfile", "pki/ca.crt", "host/web.crt"]).ok();
    pkilint_cert(d, &d.join("host/web.crt"));
    let st = serials(d);
    assert!(st.contains(&(first.clone(), "superseded".into())), "{st:?}");
    assert!(st.contains(&(second.clone(), "valid".into())), "{st:?}");
    // The names stayed.
    let text = openssl(
        d,
        &[
            "x509",
            "-in",
            "host/web.crt",
            "-noout",
            "-ext",
            "subjectAltName",
        ],
    )
    .ok()
    .stdout;
    assert!(
        text.contains("DNS:web.example.com") && text.contains("IP Address:127.0.0.1"),
        "{text}"
    );

    // Audit: one line per issue and renewal, with who authorised it; no token in it.
    let audit = std::fs::read_to_string(d.join("pki/audit.log")).unwrap();
    let events: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(events.iter().any(|e| e["event"] == "issue"
        && e["serial"] == first.as_str()
        && e["authorised_by"].as_str().unwrap().starts_with("token:")));
    assert!(events.iter().any(|e| e["event"] == "renew"
        && e["serial"] == second.as_str()
        && e["renews"] == first.as_str()
        && e["authorised_by"] == format!("cert:{first}").as_str()));
    assert!(
        !audit.contains(&tok),
        "the audit log must not hold the token"
    );
    assert!(
        !ca.log().contains(&tok),
        "the server log must not hold the token"
    );

    // A revoked certificate cannot renew: exit 1 with --once, nothing recorded.
    mtls(d, &["--dir", "pki", "revoke", &second]).ok();
    let n = serials(d).len();
    let r = agent(d, &ca, "host/web", &["--once", "--force"]).expect_code(1);
    assert!(r.stderr.contains("certificate_revoked"), "{}", r.stderr);
    assert_eq!(serials(d).len(), n);
    assert_eq!(serial_of(d, "host/web.crt"), second);
    let audit = std::fs::read_to_string(d.join("pki/audit.log")).unwrap();
    assert!(
        audit.lines().last().unwrap().contains("\"revoke\""),
        "{audit}"
    );

    // With the CA down: a certificate that is not due is fine (0); one that needs renewal is
    // not (1).
    let tok2 = token(d, "api.example.com", &[]);
    agent(
        d,
        &ca,
        "host/api",
        &["--token", &tok2, "--cn", "api.example.com", "--once"],
    )
    .ok();
    let url = ca.url();
    drop(ca);
    mtls(
        d,
        &[
            "agent",
            "--server",
            &url,
            "--ca",
            "pki/ca.crt",
            "--out",
            "host/api",
            "--once",
        ],
    )
    .ok();
    let r = mtls(
        d,
        &[
            "agent",
            "--server",
            &url,
            "--ca",
            "pki/ca.crt",
            "--out",
            "host/api",
            "--once",
            "--force",
        ],
    )
    .expect_code(1);
    assert!(r.stderr.contains("could not be reached"), "{}", r.stderr);
}

/// A copy of the CA whose pool of reserved serials is low is refilled when its lease ends, by
/// the group commit's thread, before any issuance needs it (`online::pool::Lease`): the first
/// copy starts with an empty pool (the server's own certificate is issued before pooling), so
/// a CRL download — which issues nothing — leaves 256 serials reserved ahead; the next
/// issuance takes one of them and reserves nothing itself.
#[test]
fn a_copy_low_on_serials_is_refilled_ahead_by_the_group_commit() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "pki", "init"]).ok();
    let ca = Ca::start(d);
    let reserved = || -> u64 {
        let r = tool(
            d,
            "python3",
            &[
                "-c",
                "import sqlite3; print(sqlite3.connect('pki/store.db').execute(\"select count(*) from certificates where state = 'reserved'\").fetchone()[0])",
            ],
        );
        r.stdout.trim().parse().unwrap_or_else(|_| panic!("{r:?}"))
    };
    let before = reserved();
    let crl = tool(
        d,
        "curl",
        &[
            "-sS",
            "-o",
            "fetched.crl",
            &format!("http://127.0.0.1:{}/v1/crl", ca.http),
        ],
    );
    assert!(crl.code == 0, "{crl:?}");
    let ahead = poll_until(Duration::from_secs(10), || reserved() == before + 256);
    assert!(
        ahead,
        "256 serials reserved ahead after a lease that issued nothing: {} -> {}\n{}",
        before,
        reserved(),
        ca.log()
    );
    let tok = token(d, "svc.example.com", &["--profile", "server"]);
    agent(
        d,
        &ca,
        "svc",
        &["--once", "--token", &tok, "--cn", "svc.example.com"],
    )
    .ok();
    assert_eq!(
        reserved(),
        before + 255,
        "the issuance took a serial reserved ahead"
    );
}

/// A body over the limit is answered 413 with its JSON error, not a connection reset: the
/// server reads and discards it (up to a bound) before answering, so closing the connection
/// leaves no unread data for the kernel to answer with a reset. Declared (Content-Length) and
/// chunked; a body beyond the bound is cut off at once and the server goes on serving.
#[test]
fn an_oversized_body_gets_its_413_not_a_connection_reset() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "pki", "init"]).ok();
    let ca = Ca::start(d);
    std::fs::write(d.join("big.json"), vec![b'x'; 900 * 1024]).unwrap();
    for i in 0..3 {
        let (code, body) = post(d, &ca, "/v1/sign", "big.json", None);
        assert_eq!(
            (code, error_code_or_empty(&body).as_str()),
            (413, "body_too_large"),
            "attempt {i}: {body}"
        );
    }
    let url = format!("{}/v1/sign", ca.url());
    // Python requests sends the whole body before it reads any answer: it gets a broken pipe
    // or a reset when the server closes on unread data.
    let py = r#"
import sys, requests
r = requests.post(sys.argv[1], data=b"x" * (900 * 1024), verify="pki/ca.crt",
                  headers={"content-type": "application/json"}, timeout=30)
print(r.status_code, r.json()["error"]["code"])
"#;
    std::fs::write(d.join("big.py"), py).unwrap();
    for i in 0..3 {
        let r = tool(d, "python3", &["big.py", &url]);
        assert_eq!(
            r.stdout.trim(),
            "413 body_too_large",
            "attempt {i}: {}",
            r.stderr
        );
    }
    let (code, body) = post_with(
        d,
        &ca,
        "/v1/sign",
        "big.json",
        None,
        &["transfer-encoding: chunked"],
    );
    assert_eq!(
        (code, error_code_or_empty(&body).as_str()),
        (413, "body_too_large"),
        "chunked: {body}"
    );
    // Far beyond the bound: cut off (any answer or none), then the server serves as before.
    std::fs::write(d.join("huge.json"), vec![b'x'; 8 * 1024 * 1024]).unwrap();
    let _ = post(d, &ca, "/v1/sign", "huge.json", None);
    let health = tool(
        d,
        "curl",
        &[
            "-sS",
            "--cacert",
            "pki/ca.crt",
            &format!("{}/healthz", ca.url()),
        ],
    );
    assert_eq!(health.stdout.trim(), "ok");
}

fn error_code_or_empty(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The server's TLS choices for one request per connection (`tune_for_one_request`): openssl,
/// whose own order puts AES-256-GCM-SHA384 first, gets AES-128-GCM-SHA256 (SHA-256 runs in the
/// CPU's SHA extensions), and no session ticket arrives after the handshake (an agent never
/// resumes); renewal over that connection works.
#[test]
fn the_https_listener_picks_aes_128_and_sends_no_session_tickets() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "pki", "init"]).ok();
    let ca = Ca::start(d);
    let connect = format!("127.0.0.1:{}", ca.https);
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &connect,
            "-CAfile",
            "pki/ca.crt",
            "-tls1_3",
            "-msg",
            "-ign_eof",
        ])
        .current_dir(d)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl must be installed (scripts/test installs it)");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: ca\r\nConnection: close\r\n\r\n")
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("HTTP/1.1 200"), "no answer: {text}");
    assert!(
        text.contains("Cipher is TLS_AES_128_GCM_SHA256"),
        "the server must choose AES-128-GCM-SHA256 over openssl's preference: {text}"
    );
    assert!(
        !text.contains("NewSessionTicket"),
        "the server must send no session ticket: {text}"
    );
    // The agent (the same TLS choices on its side) renews over it.
    let tok = token(d, "svc.example.com", &["--profile", "server"]);
    agent(
        d,
        &ca,
        "svc",
        &["--once", "--token", &tok, "--cn", "svc.example.com"],
    )
    .ok();
    agent(d, &ca, "svc", &["--once", "--force"]).ok();
}

#[test]
fn one_token_two_racing_clients_exactly_one_wins() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "pki", "init"]).ok();
    let ca = Ca::start(d);
    for round in 0..3 {
        let tok = token(d, "race.example.com", &["--profile", "client"]);
        let before = serials(d).len();
        let url = ca.url();
        let children: Vec<_> = (0..2)
            .map(|i| {
                Command::new(bin())
                    .args([
                        "agent",
                        "--server",
                        &url,
                        "--ca",
                        "pki/ca.crt",
                        "--out",
                        &format!("r{round}/c{i}"),
                        "--token",
                        &tok,
                        "--cn",
                        "race.example.com",
                        "--once",
                    ])
                    .current_dir(d)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<_> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let ok = outs.iter().filter(|o| o.status.code() == Some(0)).count();
        let lost: Vec<_> = outs.iter().filter(|o| o.status.code() == Some(1)).collect();
        assert_eq!(ok, 1, "exactly one client wins: {outs:?}");
        assert_eq!(lost.len(), 1, "{outs:?}");
        assert!(
            String::from_utf8_lossy(&lost[0].stderr).contains("token_used"),
            "{outs:?}"
        );
        assert_eq!(serials(d).len(), before + 1, "one certificate issued");
    }
}

#[test]
fn ocsp_and_crl_agree_with_openssl() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "pki", "init"]).ok();
    let ca = Ca::start(d);
    let tok = token(d, "alice", &["--profile", "client", "--valid", "2h"]);
    agent(
        d,
        &ca,
        "alice",
        &["--token", &tok, "--cn", "alice", "--once"],
    )
    .ok();
    let ocsp_url = format!("http://127.0.0.1:{}/v1/ocsp", ca.http);
    let ask = |d: &Path| {
        openssl(
            d,
            &[
                "ocsp",
                "-issuer",
                "pki/ca.crt",
                "-cert",
                "alice.crt",
                "-url",
                &ocsp_url,
                "-CAfile",
                "pki/ca.crt",
            ],
        )
        .ok()
    };
    let r = ask(d);
    assert!(
        r.stdout.contains("alice.crt: good"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    assert!(r.stderr.contains("Response verify OK"), "{}", r.stderr);
    // The GET form (RFC 6960 appendix A) as well: openssl -req_text -reqout, then curl.
    openssl(
        d,
        &[
            "ocsp",
            "-issuer",
            "pki/ca.crt",
            "-cert",
            "alice.crt",
            "-no_nonce",
            "-reqout",
            "req.der",
        ],
    )
    .ok();
    use base64::Engine;
    let b64 =
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(d.join("req.der")).unwrap());
    let enc: String = b64
        .chars()
        .map(|c| match c {
            '+' => "%2B".to_string(),
            '/' => "%2F".to_string(),
            '=' => "%3D".to_string(),
            c => c.to_string(),
        })
        .collect();
    tool(
        d,
        "curl",
        &["-sS", "-o", "resp.der", &format!("{ocsp_url}/{enc}")],
    )
    .ok();
    let r = openssl(
        d,
        &[
            "ocsp",
            "-respin",
            "resp.der",
            "-issuer",
            "pki/ca.crt",
            "-cert",
            "alice.crt",
            "-CAfile",
            "pki/ca.crt",
        ],
    )
    .ok();
    assert!(
        r.stdout.contains("alice.crt: good"),
        "{}{}",
        r.stdout,
        r.stderr
    );

    // The CRL from /v1/crl (DER, and PEM on request) verifies and lists nothing yet.
    let crl_url = format!("http://127.0.0.1:{}/v1/crl", ca.http);
    tool(d, "curl", &["-sSf", "-o", "crl.der", &crl_url]).ok();
    openssl(
        d,
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "crl.der",
            "-CAfile",
            "pki/ca.crt",
            "-noout",
        ],
    )
    .ok();
    tool(
        d,
        "curl",
        &["-sSf", "-o", "crl.pem", &format!("{crl_url}?format=pem")],
    )
    .ok();
    assert!(std::fs::read_to_string(d.join("crl.pem"))
        .unwrap()
        .starts_with("-----BEGIN X509 CRL"));
    pkilint_crl(d, &d.join("crl.pem"));
    openssl(
        d,
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "pki/ca.crt",
            "-CRLfile",
            "crl.pem",
            "alice.crt",
        ],
    )
    .ok();

    // Revoked: OCSP says so at once, and the next CRL lists it.
    let serial = serial_of(d, "alice.crt");
    mtls(
        d,
        &[
            "--dir",
            "pki",
            "revoke",
            &serial,
            "--reason",
            "key-compromise",
        ],
    )
    .ok();
    let r = ask(d);
    assert!(
        r.stdout.contains("alice.crt: revoked"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    assert!(r.stdout.contains("keyCompromise"), "{}", r.stdout);
    tool(
        d,
        "curl",
        &[
            "-sSf",
            "-H",
            "Accept: application/x-pem-file",
            "-o",
            "crl2.pem",
            &crl_url,
        ],
    )
    .ok();
    pkilint_crl(d, &d.join("crl2.pem"));
    let r = openssl(
        d,
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "pki/ca.crt",
            "-CRLfile",
            "crl2.pem",
            "alice.crt",
        ],
    );
    assert_ne!(r.code, 0);
    assert!(
        r.stdout.contains("revoked") || r.stderr.contains("revoked"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    // A certificate of another CA: unauthorized.
    mtls(d, &["--dir", "other", "init"]).ok();
    mtls(
        d,
        &[
            "--dir", "other", "issue", "client", "--cn", "bob", "--out", "bob",
        ],
    )
    .ok();
    let r = openssl(
        d,
        &[
            "ocsp",
            "-issuer",
            "other/ca.crt",
            "-cert",
            "bob.crt",
            "-url",
            &ocsp_url,
            "-CAfile",
            "other/ca.crt",
        ],
    );
    assert!(
        format!("{}{}", r.stdout, r.stderr).contains("unauthorized"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    // The bundle.
    tool(
        d,
        "curl",
        &[
            "-sSf",
            "-o",
            "bundle.pem",
            &format!("http://127.0.0.1:{}/v1/ca", ca.http),
        ],
    )
    .ok();
    assert_eq!(
        std::fs::read_to_string(d.join("bundle.pem")).unwrap(),
        std::fs::read_to_string(d.join("pki/ca-chain.crt")).unwrap()
    );
}

#[test]
fn nginx_with_ssl_ocsp_refuses_a_revoked_client() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "pki", "init"]).ok();
    let ca = Ca::start(d);
    let g = d.join("gw");
    std::fs::create_dir_all(&g).unwrap();
    mtls(
        d,
        &[
            "--dir",
            "pki",
            "issue",
            "server",
            "--cn",
            "localhost",
            "--san",
            "127.0.0.1",
            "--out",
            "gw/server",
        ],
    )
    .ok();
    std::fs::copy(d.join("pki/ca.crt"), g.join("ca.crt")).unwrap();
    let tok = token(d, "carol", &["--profile", "client"]);
    agent(
        d,
        &ca,
        "carol",
        &["--token", &tok, "--cn", "carol", "--once"],
    )
    .ok();
    let port = free_port();
    let conf = nginx_conf(&g, port, "server.fullchain.crt", "server.key", "ca.crt", "");
    // ssl_ocsp on: the responder comes from the client certificate's AIA.
    let text = std::fs::read_to_string(&conf).unwrap().replace(
        "ssl_verify_client on;",
        "ssl_verify_client on;\n        ssl_ocsp on;",
    );
    std::fs::write(&conf, text).unwrap();
    let _nginx = start_nginx(&g, &conf, port);
    let call = |d: &Path| {
        tool(
            d,
            "curl",
            &[
                "-sS",
                "-o",
                "gw.body",
                "-w",
                "%{http_code}",
                "--cacert",
                "pki/ca.crt",
                "--cert",
                "carol.crt",
                "--key",
                "carol.key",
                &format!("https://127.0.0.1:{port}/"),
            ],
        )
    };
    let r = call(d);
    assert_eq!(
        r.stdout.trim(),
        "200",
        "{}{}",
        r.stderr,
        std::fs::read_to_string(g.join("error.log")).unwrap_or_default()
    );
    let serial = serial_of(d, "carol.crt");
    mtls(d, &["--dir", "pki", "revoke", &serial]).ok();
    wait_until(
        "nginx to refuse the revoked client",
        Duration::from_secs(30),
        || call(d).stdout.trim() == "400",
    );
    assert!(
        std::fs::read_to_string(g.join("error.log"))
            .unwrap_or_default()
            .contains("revoked"),
        "nginx says why"
    );
    assert!(
        ca.log().contains("/v1/ocsp"),
        "nginx asked the responder: {}",
        ca.log()
    );
}

/// Bootstraps `n` client agents, `STEMS-i` with CN `stems-i`'s file name, one token each;
/// returns their stems.
fn bootstrap_fleet(d: &Path, ca: &Ca, stems: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let stem = format!("{stems}-{i}");
            let cn = stem.rsplit('/').next().unwrap().to_string();
            let tok = token(d, &cn, &["--profile", "client"]);
            agent(d, ca, &stem, &["--token", &tok, "--cn", &cn, "--once"]).ok();
            stem
        })
        .collect()
}

/// `mtls-ca agent --once --force` for each stem at once, in the background (stderr piped).
fn renew_at_once(d: &Path, ca: &Ca, stems: &[String]) -> Vec<std::process::Child> {
    spawn_renewals(d, &ca.url(), stems)
}

/// [`renew_at_once`], then every agent must have succeeded.
fn renew_all(d: &Path, ca: &Ca, stems: &[String]) {
    all_succeed(renew_at_once(d, ca, stems), || ca.log());
}

/// A counter of `ca serve`'s /metrics.
fn metric(d: &Path, ca: &Ca, name: &str) -> u64 {
    let url = format!("{}/metrics", ca.url());
    let r = tool(d, "curl", &["-sS", "--cacert", "pki/ca.crt", &url]);
    r.stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{}", r.stdout))
}

#[test]
fn renewals_that_wait_together_are_recorded_in_one_group_commit() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "pki", "init"]).ok();
    // The first group commit pauses 3 s (a slow disk): the renewals arriving meanwhile queue
    // up and are recorded together in the next one.
    let mut ca = Ca::start_env(d, &[("MTLS_CA_FAILPOINT", "serve.commit@1:sleep-3000")]);
    let n = 12;
    let stems = bootstrap_fleet(d, &ca, "g/grp", n);
    let before: Vec<String> = (0..n)
        .map(|i| serial_of(d, &format!("g/grp-{i}.crt")))
        .collect();
    let audit_before = std::fs::read_to_string(d.join("pki/audit.log")).unwrap();
    renew_all(d, &ca, &stems);
    let (batches, records) = (
        metric(d, &ca, "mtls_ca_commit_batches_total"),
        metric(d, &ca, "mtls_ca_commit_records_total"),
    );
    assert_eq!(
        records, n as u64,
        "every renewal recorded by the group commit"
    );
    assert!(
        batches * 2 <= records,
        "{records} renewals took {batches} store transactions: not grouped"
    );
    // Each renewal is in the store (its predecessor superseded), answered with its own
    // certificate and key, and has its audit line.
    let all = serials(d);
    for (i, old) in before.iter().enumerate() {
        let new = serial_of(d, &format!("g/grp-{i}.crt"));
        assert_ne!(&new, old, "agent {i} renewed");
        assert!(all.contains(&(new, "valid".into())), "agent {i}: {all:?}");
        assert!(
            all.contains(&(old.clone(), "superseded".into())),
            "agent {i}"
        );
    }
    let audit = std::fs::read_to_string(d.join("pki/audit.log")).unwrap();
    let added = &audit[audit_before.len()..];
    assert_eq!(added.lines().filter(|l| l.contains("\"renew\"")).count(), n);
    assert!(added
        .lines()
        .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));

    // A group commit that fails (the store cannot be written): the renewal is refused, nothing
    // is recorded or audited, and the agent keeps its certificate.
    ca.server = None;
    ca.restart_env(d, &[("MTLS_CA_FAILPOINT", "serve.commit:error")]);
    let kept = serial_of(d, "g/grp-0.crt");
    let listed = serials(d);
    let r = agent(d, &ca, "g/grp-0", &["--once", "--force"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(serial_of(d, "g/grp-0.crt"), kept);
    assert_eq!(serials(d), listed, "nothing recorded");
    assert_eq!(
        std::fs::read_to_string(d.join("pki/audit.log")).unwrap(),
        audit
    );
    ca.server = None;
    mtls(d, &["--dir", "pki", "doctor"]).ok();
}

#[test]
fn an_encrypted_ca_renews_on_every_signer_and_store_db_catches_up_when_idle() {
    let t = tempdir();
    let d = t.path();
    init_encrypted(d);
    // `ca serve` opens the CA once per signer, every copy with the passphrase read once.
    let ca = Ca::start_with(d, &["--passphrase-file", "pass"], &[]);
    let n = 8;
    let stems = bootstrap_fleet(d, &ca, "p/par", n);
    let before: Vec<String> = (0..n)
        .map(|i| serial_of(d, &format!("p/par-{i}.crt")))
        .collect();
    renew_all(d, &ca, &stems);
    let after: Vec<String> = (0..n)
        .map(|i| serial_of(d, &format!("p/par-{i}.crt")))
        .collect();
    let mut uniq: Vec<&String> = before.iter().chain(&after).collect();
    uniq.sort();
    uniq.dedup();
    assert_eq!(
        uniq.len(),
        2 * n,
        "every renewal has a new serial, none twice"
    );
    for (i, stem) in stems.iter().enumerate() {
        openssl(
            d,
            &["verify", "-CAfile", "pki/ca.crt", &format!("{stem}.crt")],
        )
        .ok();
        assert_ne!(before[i], after[i], "agent {i} renewed");
    }
    // The group commit checkpoints when it falls idle: with the server still running (its
    // connections keep the WAL), store.db alone already holds every renewal.
    std::thread::sleep(Duration::from_millis(1500));
    let db = d.join("pki/store.db");
    let copy = d.join("store-copy.db");
    std::fs::copy(&db, &copy).unwrap();
    assert!(
        d.join("pki/store.db-wal").exists(),
        "the WAL is still there"
    );
    let conn = rusqlite::Connection::open(&copy).unwrap();
    for (i, s) in after.iter().enumerate() {
        let state: Option<String> = conn
            .query_row(
                "SELECT state FROM certificates WHERE serial = ?1 AND superseded_by IS NULL",
                [s],
                |r| r.get(0),
            )
            .ok();
        assert_eq!(
            state.as_deref(),
            Some("issued"),
            "agent {i}'s renewal {s} is in store.db without its WAL"
        );
    }
    drop(ca);
    mtls(d, &["--dir", "pki", "doctor"]).ok();
}

#[test]
fn connections_that_stall_slow_renewals_down_but_never_lock_them_out() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "pki", "init"]).ok();
    let ca = Ca::start_with(d, &["--threads", "2"], &[]);
    let stems = bootstrap_fleet(d, &ca, "s/svc", 1);
    // Three times the admission slots (12 per runtime thread, 2 threads) in TCP connections
    // that never send a byte, re-opened as the server drops them (its 10 s handshake timeout).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let port = ca.https;
    let flood = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut held: Vec<std::net::TcpStream> = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                held.retain(|c| {
                    let mut b = [0u8; 1];
                    c.set_nonblocking(true).ok();
                    // Closed by the server: read returns 0; still open: WouldBlock.
                    !matches!(std::io::Read::read(&mut &*c, &mut b), Ok(0))
                });
                while held.len() < 72 {
                    match std::net::TcpStream::connect(("127.0.0.1", port)) {
                        Ok(c) => held.push(c),
                        Err(_) => break,
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    for round in 0..3 {
        let before = serial_of(d, &format!("{}.crt", stems[0]));
        let r = agent(d, &ca, &stems[0], &["--once", "--force"]);
        assert_eq!(
            r.code,
            0,
            "round {round}: {}\nserver:\n{}",
            r.stderr,
            ca.log()
        );
        assert_ne!(serial_of(d, &format!("{}.crt", stems[0])), before);
    }
    assert!(
        metric(d, &ca, "mtls_ca_connections_unadmitted_total") >= 1,
        "the agent was served without a slot"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    flood.join().unwrap();
}

#[test]
fn agents_renewing_at_once_survive_a_kill_9_of_the_server() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "pki", "init"]).ok();
    let mut ca = Ca::start(d);
    let n = 100;
    let stems = bootstrap_fleet(d, &ca, "fleet/svc", n);
    let children = renew_at_once(d, &ca, &stems);
    // kill -9 in the middle of the burst: once a few renewals are recorded.
    let renewals = |d: &Path| {
        std::fs::read_to_string(d.join("pki/audit.log"))
            .unwrap_or_default()
            .matches("\"renew\"")
            .count()
    };
    let started = poll_until(Duration::from_secs(240), || renewals(d) >= 3);
    assert!(
        started,
        "no renewals within 4 minutes; server log:\n{}",
        ca.log()
    );
    let pid = ca.server.as_ref().map(|s| s.pid()).unwrap();
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    let codes: Vec<i32> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap().status.code().unwrap_or(-1))
        .collect();
    assert!(codes.iter().all(|c| *c == 0 || *c == 1), "{codes:?}");
    eprintln!("burst exit codes with the kill -9 in between: {codes:?}");
    assert!(
        codes.contains(&0),
        "some renewed before the kill: {codes:?}"
    );
    assert!(
        codes.contains(&1),
        "some were cut off by the kill: {codes:?}"
    );
    ca.server = None;
    ca.restart(d);
    // Every agent recovers: the ones that failed retry (a lost answer is asked again with the
    // same key and gets the successor already recorded).
    for i in 0..n {
        let stem = format!("fleet/svc-{i}");
        let ok = poll_until(Duration::from_secs(30), || {
            agent(d, &ca, &stem, &["--once", "--force"]).code == 0
        });
        assert!(ok, "agent {i} recovered");
    }
    // The store is consistent: no serial twice, every agent holds its store's valid certificate
    // with the key next to it, and each lineage has exactly one valid certificate.
    let all = serials(d);
    let mut uniq: Vec<_> = all.iter().map(|(s, _)| s.clone()).collect();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), all.len(), "no serial twice");
    mtls(d, &["--dir", "pki", "doctor"]).ok();
    let v = mtls(d, &["--dir", "pki", "--json", "list"]).ok().json();
    for i in 0..n {
        let stem = format!("fleet/svc-{i}");
        let s = serial_of(d, &format!("{stem}.crt"));
        assert!(
            all.contains(&(s.clone(), "valid".into())),
            "agent {i}'s certificate {s} is valid in the store"
        );
        let valid_for_cn = v["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["subject"] == format!("CN=svc-{i}").as_str() && c["status"] == "valid")
            .count();
        assert_eq!(valid_for_cn, 1, "one valid certificate for svc-{i}");
        let pubkey = |args: &[&str]| openssl(d, args).ok().stdout;
        assert_eq!(
            pubkey(&["x509", "-in", &format!("{stem}.crt"), "-noout", "-pubkey"]),
            pubkey(&["pkey", "-in", &format!("{stem}.key"), "-pubout"]),
            "key and certificate of svc-{i} match"
        );
    }
}

#[test]
fn agent_keeps_a_short_lived_nginx_certificate_fresh_under_load() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "pki", "init"]).ok();
    let ca = Ca::start(d);
    let g = d.join("gw");
    std::fs::create_dir_all(&g).unwrap();
    std::fs::copy(d.join("pki/ca.crt"), g.join("ca.crt")).unwrap();
    mtls(
        d,
        &[
            "--dir", "pki", "issue", "client", "--cn", "poller", "--out", "poller",
        ],
    )
    .ok();
    // A one-minute server certificate, renewed at half its life: a renewal every ~30 s.
    let tok = token(
        d,
        "gw.example.com",
        &["--san", "127.0.0.1", "--valid", "1m"],
    );
    agent(
        d,
        &ca,
        "gw/server",
        &[
            "--token",
            &tok,
            "--cn",
            "gw.example.com",
            "--san",
            "127.0.0.1",
            "--once",
        ],
    )
    .ok();
    let port = free_port();
    // The agent's combined file (key + chain, replaced in one rename) for both directives.
    let conf = nginx_conf(&g, port, "server.pem", "server.pem", "ca.crt", "");
    let _nginx = start_nginx(&g, &conf, port);
    let reload = format!("nginx -p {} -c {} -s reload", g.display(), conf.display());
    let url = ca.url();
    let mut agent_proc = Command::new(bin())
        .args([
            "agent",
            "--server",
            &url,
            "--ca",
            "pki/ca.crt",
            "--out",
            "gw/server",
            "--renew-at",
            "0.5",
            "--exec",
            &reload,
        ])
        .current_dir(d)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("agent.log")).unwrap())
        .spawn()
        .unwrap();
    let renewals = |d: &Path| {
        std::fs::read_to_string(d.join("pki/audit.log"))
            .unwrap_or_default()
            .matches("\"renew\"")
            .count()
    };
    let mut calls = 0;
    let mut failures = Vec::new();
    let done = poll_until(Duration::from_secs(240), || {
        let r = tool(
            d,
            "curl",
            &[
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--cacert",
                "pki/ca.crt",
                "--cert",
                "poller.crt",
                "--key",
                "poller.key",
                &format!("https://127.0.0.1:{port}/"),
            ],
        );
        calls += 1;
        if r.stdout.trim() != "200" {
            failures.push(format!("{} {}", r.stdout, r.stderr));
        }
        // Three renewals recorded, and nginx reloaded after each.
        renewals(d) >= 3
            && std::fs::read_to_string(d.join("agent.log"))
                .unwrap_or_default()
                .matches("ran: nginx")
                .count()
                >= 3
    });
    let _ = Command::new("kill")
        .args(["-TERM", &agent_proc.id().to_string()])
        .status();
    let _ = agent_proc.wait();
    let log = std::fs::read_to_string(d.join("agent.log")).unwrap_or_default();
    assert!(done, "three renewals within 4 minutes; agent log:\n{log}");
    assert!(
        failures.is_empty(),
        "{} of {calls} calls failed: {failures:?}\n{log}",
        failures.len()
    );
    assert!(calls > 50, "the loop ran all along ({calls} calls)");
    assert!(log.matches("ran: nginx").count() >= 3, "{log}");
    openssl(d, &["verify", "-CAfile", "pki/ca.crt", "gw/server.crt"]).ok();
    pkilint_cert(d, &d.join("gw/server.crt"));
}

/// A reader of `STEM.pem` never sees a key without its certificate: the agent replaces the
/// combined file in one rename, whatever moment the reader looks.
#[test]
fn a_reader_of_the_combined_file_never_sees_a_mismatched_pair() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "pki", "init"]).ok();
    let ca = Ca::start(d);
    let tok = token(d, "svc", &["--profile", "client"]);
    agent(d, &ca, "svc", &["--token", &tok, "--cn", "svc", "--once"]).ok();
    let pem = d.join("svc.pem");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (pem, stop) = (pem.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut seen = std::collections::BTreeSet::new();
            let mut reads = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let text = std::fs::read_to_string(&pem).expect("svc.pem is always there");
                reads += 1;
                seen.insert(text);
            }
            (seen, reads)
        })
    };
    for _ in 0..5 {
        agent(d, &ca, "svc", &["--once", "--force"]).ok();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (seen, reads) = reader.join().unwrap();
    assert!(seen.len() >= 5, "{} versions in {reads} reads", seen.len());
    for (i, text) in seen.iter().enumerate() {
        assert!(
            text.contains("PRIVATE KEY-----") && text.contains("BEGIN CERTIFICATE"),
            "a whole key and chain:\n{text}"
        );
        let f = format!("snap-{i}.pem");
        std::fs::write(d.join(&f), text).unwrap();
        let from_key = openssl(d, &["pkey", "-in", &f, "-pubout"]).ok().stdout;
        let from_cert = openssl(d, &["x509", "-in", &f, "-noout", "-pubkey"])
            .ok()
            .stdout;
        assert_eq!(
            from_key, from_cert,
            "version {i} pairs its key and certificate"
        );
    }
    // The combined file is private; the separate files agree with it.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&pem).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(
        serial_of(d, "svc.pem"),
        serial_of(d, "svc.crt"),
        "svc.pem and svc.crt hold one certificate"
    );
}

/// A token may name a profile of `profiles.toml`: its name policy is checked when the token is
/// made (an out-of-policy CN is refused, nothing stored), the certificate it buys carries the
/// profile's EKUs (a custom OID too), and a renewal over mutual TLS keeps the profile.
#[test]
fn a_token_with_a_profiles_toml_profile_issues_and_renews_with_it() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init"]).ok();
    std::fs::write(
        d.join("pki/profiles.toml"),
        "[profile.mesh]\nextended_key_usage = [\"serverAuth\", \"clientAuth\", \"1.3.6.1.4.1.55555.1.2\"]\nmax_validity = \"90d\"\n\n[profile.mesh.policy]\ndns = [\"*.mesh.example.com\"]\n",
    )
    .unwrap();
    let r = mtls(
        d,
        &[
            "--dir",
            "pki",
            "token",
            "create",
            "--cn",
            "evil.example.org",
            "--profile",
            "mesh",
        ],
    )
    .expect_code(2);
    assert!(r.stderr.contains("evil.example.org"), "{}", r.stderr);
    let listed = mtls(d, &["--dir", "pki", "--json", "token", "list"]).ok();
    assert!(
        !listed.stdout.contains("evil.example.org"),
        "{}",
        listed.stdout
    );
    let tok = token(d, "web.mesh.example.com", &["--profile", "mesh"]);
    let ca = Ca::start(d);
    let r = agent(
        d,
        &ca,
        "web",
        &["--token", &tok, "--cn", "web.mesh.example.com", "--once"],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, ca.log());
    let has_profile = |cert: &str| {
        let text = openssl(d, &["x509", "-in", cert, "-noout", "-text"])
            .ok()
            .stdout;
        text.contains("1.3.6.1.4.1.55555.1.2") && text.contains("TLS Web Client Authentication")
    };
    assert!(has_profile("web.crt"));
    pkilint_cert(d, &d.join("web.crt"));
    let first = serial_of(d, "web.crt");
    let r = agent(d, &ca, "web", &["--once", "--force"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, ca.log());
    assert_ne!(serial_of(d, "web.crt"), first);
    assert!(has_profile("web.crt"));
    openssl(
        d,
        &[
            "verify",
            "-CAfile",
            "pki/ca.crt",
            "-purpose",
            "sslserver",
            "web.crt",
        ],
    )
    .ok();
}

/// `ca rotate` and `ca rotate --finish` reach a running `ca serve` without a restart: on SIGHUP
/// (or within seconds on its own) it serves the overlap's bundle, issues renewals from the new
/// root, accepts client certificates of both roots during the overlap and only the new root's
/// after `--finish`. The CA key is encrypted, so the reload reopens it with the passphrase the
/// server was started with.
#[test]
fn a_rotation_reaches_a_running_server_without_a_restart() {
    let t = tempdir();
    let d = t.path();
    init_encrypted(d);
    std::fs::copy(d.join("pki/ca.crt"), d.join("old-root.crt")).unwrap();
    let ca = Ca::start_with(d, &["--passphrase-file", "pass"], &[]);
    let stems = bootstrap_fleet(d, &ca, "f/host", 3);
    let bundle_certs = || {
        let r = tool(
            d,
            "curl",
            &["-sS", &format!("http://127.0.0.1:{}/v1/ca", ca.http)],
        );
        r.stdout.matches("BEGIN CERTIFICATE").count()
    };
    assert_eq!(bundle_certs(), 1);
    let hup = || {
        let pid = ca.server.as_ref().unwrap().pid().to_string();
        assert!(Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success());
    };
    let issuer = |stem: &str| {
        openssl(
            d,
            &["x509", "-in", &format!("{stem}.crt"), "-noout", "-issuer"],
        )
        .ok()
        .stdout
        .trim()
        .to_string()
    };
    mtls(
        d,
        &["--dir", "pki", "ca", "rotate", "--passphrase-file", "pass"],
    )
    .ok();
    hup();
    wait_until(
        "the server to load the rotated CA",
        Duration::from_secs(20),
        || ca.log().contains("the CA was rotated: now issuing from CA"),
    );
    assert_eq!(bundle_certs(), 2, "the overlap's bundle: {}", ca.log());
    // OCSP answers for both roots during the overlap, each response signed by the root the
    // request names: an old-root certificate is good, a revoked one revoked.
    let ocsp_url = format!("http://127.0.0.1:{}/v1/ocsp", ca.http);
    let ocsp = |root: &str, stem: &str| {
        openssl(
            d,
            &[
                "ocsp",
                "-issuer",
                root,
                "-cert",
                &format!("{stem}.crt"),
                "-url",
                &ocsp_url,
                "-CAfile",
                root,
            ],
        )
        .ok()
        .stdout
    };
    let said = ocsp("old-root.crt", &stems[1]);
    assert!(said.contains(": good"), "{said}\n{}", ca.log());
    mtls(
        d,
        &[
            "--dir",
            "pki",
            "revoke",
            "--cert",
            &format!("{}.crt", stems[2]),
        ],
    )
    .ok();
    let said = ocsp("old-root.crt", &stems[2]);
    assert!(said.contains(": revoked"), "{said}");
    // /v1/crl in PEM holds the CRL of each root, so a gateway checking CRLs along the whole
    // chain accepts the old root's clients and refuses its revoked one; in DER, the new root's.
    let crl_url = format!("http://127.0.0.1:{}/v1/crl", ca.http);
    let pem_crls = tool(
        d,
        "curl",
        &[
            "-sS",
            "-o",
            "overlap-crls.pem",
            &format!("{crl_url}?format=pem"),
        ],
    );
    assert_eq!(pem_crls.code, 0, "{}", pem_crls.stderr);
    let crls = std::fs::read_to_string(d.join("overlap-crls.pem")).unwrap();
    assert_eq!(crls.matches("BEGIN X509 CRL").count(), 2, "{crls}");
    for (i, block) in crls.split_inclusive("-----END X509 CRL-----\n").enumerate() {
        let f = d.join(format!("overlap-crl-{i}.pem"));
        std::fs::write(&f, block).unwrap();
        pkilint_crl(d, &f);
    }
    tool(d, "curl", &["-sS", "-o", "current.crl", &crl_url]).ok();
    openssl(
        d,
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "current.crl",
            "-noout",
            "-CAfile",
            "pki/ca.crt",
        ],
    )
    .ok();
    let with_crls = |stem: &str| {
        crate::core_support::verify(
            d,
            "old-root.crt",
            None,
            "sslclient",
            &["-crl_check_all", "-CRLfile", "overlap-crls.pem"],
            &format!("{stem}.crt"),
        )
    };
    with_crls(&stems[1]).ok();
    let r = with_crls(&stems[2]);
    assert_ne!(r.code, 0);
    assert!(
        format!("{}{}", r.stdout, r.stderr).contains("revoked"),
        "{}",
        r.stdout
    );
    // The agents trust the bundle (the server's own certificate is still the old root's); they
    // renew with old-root certificates and get new-root ones.
    let url = ca.url();
    let renew = |stem: &str| {
        mtls(
            d,
            &[
                "agent",
                "--server",
                &url,
                "--ca",
                "pki/ca-bundle.crt",
                "--out",
                stem,
                "--once",
                "--force",
            ],
        )
    };
    renew(&stems[0]).ok();
    assert_eq!(
        issuer(&stems[0]),
        "issuer=CN = mtls-ca Root CA G2",
        "{}",
        ca.log()
    );
    openssl(
        d,
        &[
            "verify",
            "-CAfile",
            "pki/ca.crt",
            &format!("{}.crt", stems[0]),
        ],
    )
    .ok();
    pkilint_cert(d, &d.join(format!("{}.crt", stems[0])));
    // A new-root certificate renews too.
    renew(&stems[0]).ok();
    assert_eq!(issuer(&stems[0]), "issuer=CN = mtls-ca Root CA G2");
    let said = ocsp("pki/ca.crt", &stems[0]);
    assert!(said.contains(": good"), "{said}");
    // --finish is refused while host-1 still has its old-root certificate; once it renewed,
    // the overlap ends and the server follows: one root in the bundle.
    mtls(d, &["--dir", "pki", "ca", "rotate", "--finish"]).expect_code(2);
    for ext in ["crt", "key", "fullchain.crt"] {
        std::fs::copy(
            d.join(format!("{}.{ext}", stems[1])),
            d.join(format!("f/kept.{ext}")),
        )
        .unwrap();
    }
    renew(&stems[1]).ok();
    // The server's own certificate is the old root's too: `renew --issuer retired` moves it
    // over, and the server serves the renewed one on SIGHUP.
    let refused = mtls(d, &["--dir", "pki", "ca", "rotate", "--finish"]).expect_code(2);
    assert!(refused.stderr.contains("127.0.0.1"), "{}", refused.stderr);
    mtls(
        d,
        &[
            "--dir",
            "pki",
            "renew",
            "--issuer",
            "retired",
            "--passphrase-file",
            "pass",
        ],
    )
    .ok();
    hup();
    wait_until(
        "the server to serve its renewed certificate",
        Duration::from_secs(20),
        || ca.log().contains("server certificate loaded"),
    );
    let served = tool(
        d,
        "sh",
        &[
            "-c",
            &format!(
                "openssl s_client -connect 127.0.0.1:{} -CAfile pki/ca.crt </dev/null 2>/dev/null | openssl x509 -noout -issuer",
                ca.https
            ),
        ],
    );
    assert_eq!(
        served.stdout.trim(),
        "issuer=CN = mtls-ca Root CA G2",
        "{}",
        ca.log()
    );
    mtls(d, &["--dir", "pki", "ca", "rotate", "--finish"]).ok();
    hup();
    wait_until(
        "the server to load the bundle after --finish",
        Duration::from_secs(20),
        || ca.log().contains("the CA bundle changed"),
    );
    assert_eq!(bundle_certs(), 1);
    renew(&stems[1]).ok();
    assert_eq!(issuer(&stems[1]), "issuer=CN = mtls-ca Root CA G2");
    // An old-root client certificate (kept aside before its renewal) no longer passes the
    // handshake: the server's roots followed the bundle.
    let r = renew("f/kept");
    assert_ne!(r.code, 0);
    // Refused in the handshake (the agent sees the connection closed), not by the store, which
    // would have answered 409 certificate_superseded.
    let said = format!("{}{}", r.stdout, r.stderr);
    assert!(
        !said.contains("superseded"),
        "refused by the store, not the TLS roots: {said}"
    );
    assert!(
        said.contains("refused this host's certificate in the TLS handshake")
            && said.contains("bootstrap again"),
        "{said}"
    );
    // An agent given only the old root as --ca cannot trust the server's new certificate, and
    // says so (it is not "unreachable").
    let r = mtls(
        d,
        &[
            "agent",
            "--server",
            &url,
            "--ca",
            "old-root.crt",
            "--out",
            &stems[1],
            "--once",
            "--force",
        ],
    );
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("not trusted by --ca"), "{}", r.stderr);
    mtls(d, &["--dir", "pki", "doctor"]).ok();
    assert!(!ca.log().contains("panicked"), "{}", ca.log());
}
