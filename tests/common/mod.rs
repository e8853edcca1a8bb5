//! Shared helpers for the integration tests: run the real `mtls-ca` binary in a temp dir, run
//! real openssl and pkilint on what it writes.
//!
//! External tools come from PATH (scripts/test installs them and puts the pkilint venv first).
//! A missing tool is a test failure with a message that says to run scripts/test: never a skip.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mtls-ca"))
}

/// A fresh temporary directory, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("mtls-ca-test-")
        .tempdir()
        .expect("create temp dir")
}

/// The result of a command.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics with the whole output unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}, got {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// Panics unless the command succeeded.
    #[track_caller]
    pub fn ok(self) -> Run {
        self.expect_code(0)
    }

    /// The stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Runs `mtls-ca ARGS` in `cwd` (no MTLS_CA_DIR from the environment).
pub fn mtls(cwd: &Path, args: &[&str]) -> Run {
    let out = Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("MTLS_CA_DIR")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run mtls-ca");
    Run::from(out)
}

/// Runs an external tool; a missing tool fails the test with a clear message.
pub fn tool(cwd: &Path, program: &str, args: &[&str]) -> Run {
    let out = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}): run scripts/test, which installs it")
        });
    Run::from(out)
}

/// `openssl ARGS`.
pub fn openssl(cwd: &Path, args: &[&str]) -> Run {
    tool(cwd, "openssl", args)
}

/// pkilint `lint_pkix_cert -s WARNING` must report nothing for `cert`.
#[track_caller]
pub fn pkilint_cert(cwd: &Path, cert: &Path) {
    let r = tool(
        cwd,
        "lint_pkix_cert",
        &["lint", "-s", "WARNING", cert.to_str().unwrap()],
    );
    assert!(
        r.code == 0 && r.stdout.trim().is_empty(),
        "pkilint lint_pkix_cert on {}:\n{}{}",
        cert.display(),
        r.stdout,
        r.stderr
    );
}

/// pkilint `lint_pkix_signer_signee_cert_chain -s WARNING` must report nothing for the pair.
#[track_caller]
pub fn pkilint_chain(cwd: &Path, issuer: &Path, subject: &Path) {
    let r = tool(
        cwd,
        "lint_pkix_signer_signee_cert_chain",
        &[
            "lint",
            "-s",
            "WARNING",
            issuer.to_str().unwrap(),
            subject.to_str().unwrap(),
        ],
    );
    assert!(
        r.code == 0 && r.stdout.trim().is_empty(),
        "pkilint chain {} -> {}:\n{}{}",
        issuer.display(),
        subject.display(),
        r.stdout,
        r.stderr
    );
}

/// pkilint `lint_crl -t CRL -p PKIX -s WARNING` must report nothing for `crl`.
#[track_caller]
pub fn pkilint_crl(cwd: &Path, crl: &Path) {
    let r = tool(
        cwd,
        "lint_crl",
        &[
            "lint",
            "-t",
            "CRL",
            "-p",
            "PKIX",
            "-s",
            "WARNING",
            crl.to_str().unwrap(),
        ],
    );
    assert!(
        r.code == 0 && r.stdout.trim().is_empty(),
        "pkilint lint_crl on {}:\n{}{}",
        crl.display(),
        r.stdout,
        r.stderr
    );
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .unwrap()
        .port()
}

/// Every regular file under `dir` with its bytes, for "nothing changed" assertions.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}
