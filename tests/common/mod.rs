//! Shared helpers for the integration tests: run the real `mtls-ca` binary in a temp dir, run
//! real openssl and pkilint on what it writes.
//!
//! External tools come from PATH (scripts/test installs them and puts the pkilint venv first).
//! A missing tool is a test failure with a message that says to run scripts/test: never a skip.
#![allow(dead_code)]

use std::collections::HashSet;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mtls-ca"))
}

/// Polls `ready` every 50 ms until it returns true or `timeout` has passed; returns whether it
/// became true. Tests wait for logs, servers and clocks this way, never with a fixed sleep: the
/// loop takes only as long as the thing waited for (and a deadline is a failure, not a timing
/// assertion).
pub fn poll_until(timeout: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// [`poll_until`], failing the test with "timed out waiting for `what`" at the deadline.
#[track_caller]
pub fn wait_until(what: &str, timeout: Duration, ready: impl FnMut() -> bool) {
    assert!(
        poll_until(timeout, ready),
        "timed out after {timeout:?} waiting for {what}"
    );
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

/// Runs `mtls-ca ARGS` in `cwd` with `env` set, and none of the store's variables
/// (`MTLS_CA_STORE`, `MTLS_CA_STORE_PASSWORD`, `PGPASSWORD`) inherited.
pub fn mtls_env(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = Command::new(bin());
    c.args(args)
        .current_dir(cwd)
        .env_remove("MTLS_CA_DIR")
        .env_remove("MTLS_CA_STORE")
        .env_remove("MTLS_CA_STORE_PASSWORD")
        .env_remove("PGPASSWORD")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    Run::from(c.output().expect("run mtls-ca"))
}

/// `mtls-ca ARGS` in `cwd` with the debug build's failpoint `fp` set (`MTLS_CA_FAILPOINT`:
/// `NAME[@N][:error|exit|kill|sleep-MS]`).
pub fn mtls_fp(cwd: &Path, fp: &str, args: &[&str]) -> Run {
    let out = Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("MTLS_CA_DIR")
        .env("NO_COLOR", "1")
        .env("MTLS_CA_FAILPOINT", fp)
        .stdin(Stdio::null())
        .output()
        .expect("run mtls-ca");
    Run::from(out)
}

/// The serial of certificate file `cert` as openssl prints it, lowercase hex.
pub fn serial_of(d: &Path, cert: &str) -> String {
    let r = openssl(d, &["x509", "-in", cert, "-noout", "-serial"]).ok();
    r.stdout
        .trim()
        .trim_start_matches("serial=")
        .to_ascii_lowercase()
}

/// The CRL number of CRL file `crl` (openssl's reading).
pub fn crl_number(d: &Path, crl: &str) -> u64 {
    let out = openssl(d, &["crl", "-in", crl, "-noout", "-crlnumber"])
        .ok()
        .stdout;
    let hex = out
        .trim()
        .trim_start_matches("crlNumber=")
        .trim_start_matches("0x");
    u64::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("crl number of {crl}: {out}"))
}

/// The serials CRL file `crl` lists (openssl's reading), lowercase hex.
pub fn crl_serials(d: &Path, crl: &str) -> HashSet<String> {
    openssl(d, &["crl", "-in", crl, "-noout", "-text"])
        .ok()
        .stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Serial Number: "))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect()
}

/// `mtls-ca agent` against the online CA at `url`, trusting `pki/ca.crt`, writing `out`.
pub fn agent_at(d: &Path, url: &str, out: &str, extra: &[&str]) -> Run {
    let mut args = vec!["agent", "--server", url, "--ca", "pki/ca.crt", "--out", out];
    args.extend_from_slice(extra);
    mtls(d, &args)
}

/// `mtls-ca agent --once --force` for each stem against `url`, all at once in the background
/// (stderr piped).
pub fn spawn_renewals(d: &Path, url: &str, stems: &[String]) -> Vec<Child> {
    stems
        .iter()
        .map(|stem| {
            Command::new(bin())
                .args(["agent", "--server", url, "--ca", "pki/ca.crt"])
                .args(["--out", stem, "--once", "--force"])
                .current_dir(d)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run mtls-ca agent")
        })
        .collect()
}

/// Waits for every agent of [`spawn_renewals`]; each must have succeeded (`log`: the server's
/// output, shown when one did not).
#[track_caller]
pub fn all_succeed(children: Vec<Child>, log: impl Fn() -> String) {
    for (i, c) in children.into_iter().enumerate() {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "agent {i}: {}\nserver:\n{}",
            String::from_utf8_lossy(&out.stderr),
            log()
        );
    }
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

/// `openssl genpkey` of an ECDSA P-256 key into `out` (what the seed recipe's openssl users run).
pub fn openssl_p256_key(cwd: &Path, out: &str) {
    openssl(
        cwd,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            out,
        ],
    )
    .ok();
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

/// A server process, stopped (SIGTERM, then waited for) when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Server {
    /// Starts `program args` in `cwd` and waits until 127.0.0.1:port accepts connections.
    pub fn start(cwd: &Path, program: &str, args: &[&str], port: u16) -> Server {
        Server::start_env(cwd, program, args, &[], port)
    }

    /// [`Server::start`] with extra environment variables (e.g. `MTLS_CA_FAILPOINT`).
    pub fn start_env(
        cwd: &Path,
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
        port: u16,
    ) -> Server {
        let log = cwd.join(format!("{program}-{port}.stderr"));
        let f = std::fs::File::create(&log).unwrap();
        let child = Command::new(program)
            .args(args)
            .current_dir(cwd)
            .env("HOME", cwd)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {program} ({e}): run scripts/test, which installs it")
            });
        let mut s = Server { child, port, log };
        let up = poll_until(Duration::from_secs(30), || {
            if let Ok(Some(status)) = s.child.try_wait() {
                panic!(
                    "{program} exited ({status}) before listening:\n{}",
                    std::fs::read_to_string(&s.log).unwrap_or_default()
                );
            }
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "{program} did not listen on {port}:\n{}", s.stderr());
        s
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The file that collects the server's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() > deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}

/// A minimal complete nginx config in `dir` (logs and temp files inside it) around one TLS
/// `server {}` on 127.0.0.1:`port` that demands a client certificate from `ca`; `extra` goes
/// into the http block. Run it with `nginx -p DIR -c DIR/nginx.conf -e stderr`.
pub fn nginx_conf(dir: &Path, port: u16, cert: &str, key: &str, ca: &str, extra: &str) -> PathBuf {
    let d = dir.display();
    let conf = format!(
        r#"daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    log_format mtls '$remote_addr "$request" $status verify=$ssl_client_verify';
    client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
    uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
    {extra}
    server {{
        listen 127.0.0.1:{port} ssl;
        access_log {d}/access.log mtls;
        ssl_certificate {d}/{cert};
        ssl_certificate_key {d}/{key};
        ssl_client_certificate {d}/{ca};
        ssl_verify_client on;
        location / {{ return 200 "hello $ssl_client_s_dn\n"; }}
    }}
}}
"#
    );
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    path
}

/// Starts nginx with a config from [`nginx_conf`].
pub fn start_nginx(dir: &Path, conf: &Path, port: u16) -> Server {
    let p = dir.display().to_string();
    let c = conf.display().to_string();
    Server::start(dir, "nginx", &["-p", &p, "-c", &c, "-e", "stderr"], port)
}

/// The PKI many tests start from: a root CA in `pki` ("Example Root CA"), an issuing CA in
/// `pki/issuing` ("Example Issuing CA") and a server certificate `api.example.com.crt` for
/// api.example.com and 10.0.0.5 issued by it, all checked with pkilint.
pub fn root_issuing_server(d: &Path) {
    mtls(d, &["init", "--cn", "Example Root CA"]).ok();
    let issuing = [
        "--dir",
        "pki/issuing",
        "init",
        "--parent",
        "pki",
        "--cn",
        "Example Issuing CA",
    ];
    mtls(d, &issuing).ok();
    let server = [
        "--dir",
        "pki/issuing",
        "issue",
        "server",
        "--cn",
        "api.example.com",
        "--san",
        "10.0.0.5",
    ];
    mtls(d, &server).ok();
    pkilint_cert(d, &d.join("pki/ca.crt"));
    pkilint_cert(d, &d.join("pki/issuing/ca.crt"));
    pkilint_chain(d, &d.join("pki/ca.crt"), &d.join("pki/issuing/ca.crt"));
    pkilint_cert(d, &d.join("api.example.com.crt"));
    pkilint_chain(
        d,
        &d.join("pki/issuing/ca.crt"),
        &d.join("api.example.com.crt"),
    );
}

/// A root CA in `pki` named `root_cn`, a server certificate `srv` (api.example.com, 127.0.0.1)
/// and a client certificate `alice` from it, all checked with pkilint.
pub fn root_server_client(d: &Path, root_cn: &str) {
    mtls(d, &["--dir", "pki", "init", "--cn", root_cn]).ok();
    let server = [
        "--dir",
        "pki",
        "issue",
        "server",
        "--cn",
        "api.example.com",
        "--san",
        "127.0.0.1",
        "--out",
        "srv",
    ];
    mtls(d, &server).ok();
    let client = [
        "--dir", "pki", "issue", "client", "--cn", "alice", "--out", "alice",
    ];
    mtls(d, &client).ok();
    for c in ["pki/ca.crt", "srv.crt", "alice.crt"] {
        pkilint_cert(d, &d.join(c));
    }
}

/// A second, unrelated CA in `other` ("Other Root") and its client certificate `mallory`.
pub fn other_ca_client(d: &Path) {
    mtls(d, &["--dir", "other", "init", "--cn", "Other Root"]).ok();
    let client = [
        "--dir", "other", "issue", "client", "--cn", "mallory", "--out", "mallory",
    ];
    mtls(d, &client).ok();
    pkilint_cert(d, &d.join("mallory.crt"));
}

/// A client certificate `stem` from the CA in `d/pki`, already expired: issued through the
/// library with a clock `days_ago` days back, valid for 30 days.
pub fn expired_client(d: &Path, stem: &str, days_ago: i64) {
    let mut ca = mtls_ca::ca::Ca::open(&d.join("pki")).unwrap();
    ca.issue(
        &mtls_ca::ca::IssueOptions {
            subject: Default::default(),
            profile: mtls_ca::profile::Profile::Client,
            cn: stem.into(),
            sans: vec![],
            days: Some(30),
            valid: None,
            key_type: mtls_ca::keys::KeyType::EcdsaP256,
            stem: d.join(stem),
            force: false,
            allow_long_validity: false,
        },
        time::OffsetDateTime::now_utc() - time::Duration::days(days_ago),
    )
    .unwrap();
    pkilint_cert(d, &d.join(format!("{stem}.crt")));
}
