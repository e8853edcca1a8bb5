//! Helpers for the issue-2 acceptance tests (tests/core_*.rs), on top of tests/common: bad-input
//! checks, openssl verify and a real mTLS handshake, reading certificates back from disk.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{bin, mtls, openssl, snapshot, Run};

/// Runs `mtls-ca ARGS` through `sh -c 'umask 000; exec ...'`.
pub fn mtls_umask000(cwd: &Path, args: &[&str]) -> Run {
    let out = Command::new("sh")
        .arg("-c")
        .arg("umask 000; exec \"$0\" \"$@\"")
        .arg(bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("MTLS_CA_DIR")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run sh");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `mtls-ca ARGS` expecting a bad-input failure: exit 2, exactly one `error:` line that
/// mentions `names`, a `hint:` line, no panic, and not a byte changed under `cwd`.
#[track_caller]
pub fn expect_bad_input(cwd: &Path, args: &[&str], names: &str) -> Run {
    let before = snapshot(cwd);
    let r = mtls(cwd, args);
    let after = snapshot(cwd);
    let ctx = format!(
        "mtls-ca {args:?}\n--- stdout\n{}\n--- stderr\n{}",
        r.stdout, r.stderr
    );
    assert_eq!(r.code, 2, "expected exit 2: {ctx}");
    assert!(!r.stderr.contains("panicked"), "panic: {ctx}");
    let errors: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "exactly one error line: {ctx}");
    assert!(
        errors[0].contains(names),
        "the error line must name {names:?}: {ctx}"
    );
    let hints = r.stderr.lines().filter(|l| l.starts_with("hint:")).count();
    assert_eq!(hints, 1, "exactly one hint line: {ctx}");
    assert!(r.stdout.is_empty(), "nothing on stdout: {ctx}");
    assert!(before == after, "files changed: {ctx}");
    r
}

/// `openssl verify -CAfile CA [-untrusted U] -purpose P EXTRA... CERT`.
pub fn verify(
    cwd: &Path,
    ca: &str,
    untrusted: Option<&str>,
    purpose: &str,
    extra: &[&str],
    cert: &str,
) -> Run {
    let mut a = vec!["verify", "-CAfile", ca, "-purpose", purpose];
    if let Some(u) = untrusted {
        a.extend(["-untrusted", u]);
    }
    a.extend(extra);
    a.push(cert);
    openssl(cwd, &a)
}

/// A child process killed (SIGKILL) and reaped on drop.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Paths of the PEM files of an mTLS handshake. The certificate files may be full chains (leaf
/// first): each side sends the whole file (`-cert` + `-cert_chain`).
pub struct Handshake<'a> {
    pub ca: &'a str,
    pub server_cert: &'a str,
    pub server_key: &'a str,
    pub client_cert: &'a str,
    pub client_key: &'a str,
    pub host: &'a str,
    pub client_cn: &'a str,
}

/// Runs `openssl s_server -Verify 1 -verify_return_error -www` on a free 127.0.0.1 port and
/// `openssl s_client -cert -key -CAfile -verify_return_error` against it; asserts that both sides
/// verified each other and that the server saw the client certificate.
#[track_caller]
pub fn mtls_handshake(cwd: &Path, h: &Handshake) {
    // free_port() releases the port before s_server binds it: another process may take it in
    // between, so a server that exits at once is retried on a new port.
    for attempt in 1..=5 {
        if handshake_once(cwd, h, attempt == 5) {
            return;
        }
    }
}

/// One attempt; false when s_server exited before listening (and `last` is false).
#[track_caller]
fn handshake_once(cwd: &Path, h: &Handshake, last: bool) -> bool {
    let port = crate::common::free_port();
    let accept = port.to_string();
    let server = Command::new("openssl")
        .args([
            "s_server",
            "-accept",
            &accept,
            "-naccept",
            "20",
            "-cert",
            h.server_cert,
            "-cert_chain",
            h.server_cert,
            "-key",
            h.server_key,
            "-CAfile",
            h.ca,
            "-Verify",
            "1",
            "-verify_return_error",
            "-www",
        ])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run openssl: run scripts/test, which installs it");
    let mut server = Killed(server);
    // Wait until it listens (a probe connection is just a failed handshake for s_server).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        if let Ok(Some(st)) = server.0.try_wait() {
            if !last {
                return false;
            }
            let mut err = String::new();
            let _ = server.0.stderr.take().unwrap().read_to_string(&mut err);
            panic!("s_server exited early ({st}): {err}");
        }
        assert!(
            Instant::now() < deadline,
            "s_server did not start listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let connect = format!("127.0.0.1:{port}");
    let mut client = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &connect,
            "-servername",
            h.host,
            "-verify_hostname",
            h.host,
            "-cert",
            h.client_cert,
            "-cert_chain",
            h.client_cert,
            "-key",
            h.client_key,
            "-CAfile",
            h.ca,
            "-verify_return_error",
            "-ign_eof",
        ])
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl s_client");
    client
        .stdin
        .take()
        .unwrap()
        .write_all(b"GET / HTTP/1.0\r\n\r\n")
        .unwrap();
    let out = client.wait_with_output().unwrap();
    let _ = server.0.kill();
    let _ = server.0.wait();
    let mut s_out = String::new();
    let _ = server.0.stdout.take().unwrap().read_to_string(&mut s_out);
    let _ = server.0.stderr.take().unwrap().read_to_string(&mut s_out);
    let c_out = String::from_utf8_lossy(&out.stdout);
    let c_err = String::from_utf8_lossy(&out.stderr);
    let ctx = format!(
        "--- s_client stdout\n{c_out}\n--- s_client stderr\n{c_err}\n--- s_server stdout+stderr\n{s_out}"
    );
    assert_eq!(out.status.code(), Some(0), "s_client failed\n{ctx}");
    assert!(
        c_out.contains("Verify return code: 0 (ok)"),
        "client did not verify the server\n{ctx}"
    );
    // s_server -www echoes the verified client certificate in its page.
    assert!(
        c_out.contains("Client certificate") && c_out.contains(h.client_cn),
        "the server did not receive a client certificate\n{ctx}"
    );
    assert!(
        !c_out.contains("no client certificate available"),
        "no client certificate\n{ctx}"
    );
    // s_server logs the verification of the client chain: depth 0 is the client, return 1.
    assert!(
        s_out.contains(&format!("depth=0 CN = {}", h.client_cn))
            && s_out.contains("verify return:1"),
        "s_server did not verify the client certificate\n{ctx}"
    );
    true
}

/// DER certificates of a PEM file, in order.
pub fn pem_certs(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    pem::parse_many(&bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .filter(|p| p.tag() == "CERTIFICATE")
        .map(|p| p.into_contents())
        .collect()
}

/// The raw serial bytes (DER INTEGER content, sign octet included) of a certificate.
pub fn raw_serial(der: &[u8]) -> Vec<u8> {
    let (_, c) = x509_parser::parse_x509_certificate(der).expect("parse certificate");
    c.tbs_certificate.raw_serial().to_vec()
}

/// Serial as lowercase hex without leading zero octets (the form the store and JSON use).
pub fn serial_hex(der: &[u8]) -> String {
    let raw = raw_serial(der);
    let start = raw.iter().position(|b| *b != 0).unwrap_or(raw.len());
    raw[start..].iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks the serial rules: positive, minimally encoded, at most 20 octets, at least 64 bits.
#[track_caller]
pub fn check_serial_rules(raw: &[u8]) {
    assert!(
        !raw.is_empty() && raw.len() <= 20,
        "serial length {}",
        raw.len()
    );
    assert!(raw[0] & 0x80 == 0, "serial is negative: {raw:02x?}");
    if raw.len() > 1 {
        assert!(
            !(raw[0] == 0 && raw[1] & 0x80 == 0),
            "serial not minimally encoded: {raw:02x?}"
        );
    }
    let start = raw.iter().position(|b| *b != 0).expect("serial is zero");
    let bits = (raw.len() - start) * 8 - raw[start].leading_zeros() as usize;
    assert!(bits >= 64, "serial has only {bits} bits");
}

/// Every file under `dir` whose name ends with `suffix`.
pub fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = snapshot(dir)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    v.sort();
    v
}

/// Permission bits of a path.
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Runs a pkilint command and returns its findings, one string per finding ("Validator @ path"
/// joined with its indented detail lines).
pub fn pkilint_findings(cwd: &Path, args: &[&str]) -> Vec<String> {
    let r = crate::common::tool(cwd, args[0], &args[1..]);
    assert!(
        r.code <= 1,
        "{args:?} failed to run:\n{}{}",
        r.stdout,
        r.stderr
    );
    let mut findings: Vec<String> = Vec::new();
    for line in r.stdout.lines().filter(|l| !l.trim().is_empty()) {
        if line.starts_with(char::is_whitespace) {
            if let Some(last) = findings.last_mut() {
                last.push_str(line);
            }
        } else {
            findings.push(line.to_string());
        }
    }
    assert!(
        r.code == 0 || !findings.is_empty(),
        "{args:?}: exit {} without findings",
        r.code
    );
    findings
}

/// Like `pkilint_cert` + `pkilint_chain`, tolerating only findings of pkilint's own limitations:
/// each `(code, value)` allows a finding with that code about exactly that quoted value (pkilint
/// refuses single-label DNS names such as "localhost", and URIs whose scheme its `validators.url`
/// does not know, such as spiffe://).
#[track_caller]
pub fn pkilint_allowing(cwd: &Path, issuer: &Path, cert: &Path, allowed: &[(&str, &str)]) {
    let (i, c) = (issuer.to_str().unwrap(), cert.to_str().unwrap());
    for args in [
        vec!["lint_pkix_cert", "lint", "-s", "WARNING", c],
        vec![
            "lint_pkix_signer_signee_cert_chain",
            "lint",
            "-s",
            "WARNING",
            i,
            c,
        ],
    ] {
        let left: Vec<String> = pkilint_findings(cwd, &args)
            .into_iter()
            .filter(|f| {
                !allowed
                    .iter()
                    .any(|(code, value)| f.contains(code) && f.contains(&format!("\"{value}\"")))
            })
            .collect();
        assert!(left.is_empty(), "{args:?}:\n{}", left.join("\n"));
    }
}
