//! Helpers for the export tests: a root → intermediate → leaf PKI made with the real binary,
//! CRLs made with `openssl ca -gencrl` against the CA keys, and real servers (nginx, HAProxy,
//! Caddy) run as foreground children on free ports and stopped when dropped.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use crate::common::*;

/// The PKI every export test uses, in a temp dir.
pub struct Pki {
    pub tmp: tempfile::TempDir,
}

impl Pki {
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    pub fn p(&self, rel: &str) -> PathBuf {
        self.dir().join(rel)
    }

    pub fn s(&self, rel: &str) -> String {
        self.p(rel).display().to_string()
    }

    /// `mtls-ca --dir pki/int ARGS` in the PKI dir.
    pub fn int(&self, args: &[&str]) -> Run {
        let mut a = vec!["--dir", "pki/int"];
        a.extend_from_slice(args);
        mtls(self.dir(), &a)
    }
}

/// root (pki) → intermediate (pki/int) → server `api` (api.example.com, 127.0.0.1), clients
/// `alice` (SAN alice@example.com) and `bob` (revoked by pki/int/crl.pem); another CA (`other`)
/// with client `mallory`. CRLs: pki/crl.pem and pki/int/crl.pem. Everything passes pkilint and
/// openssl verify.
pub fn pki() -> Pki {
    let tmp = tempdir();
    let d = tmp.path();
    mtls(d, &["init", "--cn", "Export Test Root CA"]).ok();
    mtls(
        d,
        &[
            "--dir",
            "pki/int",
            "init",
            "--parent",
            "pki",
            "--cn",
            "Export Test Issuing CA",
        ],
    )
    .ok();
    let int = |args: &[&str]| {
        let mut a = vec!["--dir", "pki/int"];
        a.extend_from_slice(args);
        mtls(d, &a).ok();
    };
    int(&[
        "issue",
        "server",
        "--cn",
        "api.example.com",
        "--san",
        "127.0.0.1",
        "--out",
        "api",
    ]);
    int(&[
        "issue",
        "client",
        "--cn",
        "alice",
        "--san",
        "alice@example.com",
        "--out",
        "alice",
    ]);
    int(&[
        "issue",
        "client",
        "--cn",
        "bob",
        "--san",
        "bob@example.com",
        "--out",
        "bob",
    ]);
    mtls(d, &["--dir", "other", "init", "--cn", "Other Root CA"]).ok();
    mtls(
        d,
        &[
            "--dir", "other", "issue", "client", "--cn", "mallory", "--out", "mallory",
        ],
    )
    .ok();
    gencrl(d, &d.join("pki"), &[]);
    gencrl(d, &d.join("pki/int"), &[&d.join("bob.crt")]);
    for c in ["api.crt", "alice.crt", "bob.crt"] {
        pkilint_cert(d, &d.join(c));
        pkilint_chain(d, &d.join("pki/int/ca.crt"), &d.join(c));
        openssl(
            d,
            &[
                "verify",
                "-CAfile",
                "pki/ca.crt",
                "-untrusted",
                "pki/int/ca.crt",
                c,
            ],
        )
        .ok();
    }
    pkilint_chain(d, &d.join("pki/ca.crt"), &d.join("pki/int/ca.crt"));
    pkilint_cert(d, &d.join("mallory.crt"));
    pkilint_crl(d, &d.join("pki/crl.pem"));
    pkilint_crl(d, &d.join("pki/int/crl.pem"));
    Pki { tmp }
}

/// Revokes `revoke` and writes CA_DIR/crl.pem with `openssl ca -gencrl` (30 days).
pub fn gencrl(cwd: &Path, ca_dir: &Path, revoke: &[&Path]) {
    let o = ca_dir.join("ossl");
    std::fs::create_dir_all(&o).unwrap();
    let index = o.join("index.txt");
    if !index.exists() {
        std::fs::write(&index, "").unwrap();
        std::fs::write(o.join("crlnumber"), "1000\n").unwrap();
    }
    let cnf = o.join("ca.cnf");
    std::fs::write(
        &cnf,
        format!(
            "[ ca ]\ndefault_ca = mtls\n[ mtls ]\ndatabase = {db}\ncrlnumber = {num}\ncertificate = {cert}\n\
             private_key = {key}\ndefault_md = sha256\ndefault_crl_days = 30\ncrl_extensions = crl_ext\n\
             [ crl_ext ]\nauthorityKeyIdentifier = keyid:always\n",
            db = index.display(),
            num = o.join("crlnumber").display(),
            cert = ca_dir.join("ca.crt").display(),
            key = ca_dir.join("ca.key").display(),
        ),
    )
    .unwrap();
    let cnf = cnf.display().to_string();
    for r in revoke {
        openssl(
            cwd,
            &[
                "ca",
                "-config",
                &cnf,
                "-revoke",
                r.to_str().unwrap(),
                "-crl_reason",
                "keyCompromise",
            ],
        )
        .ok();
    }
    let out = ca_dir.join("crl.pem").display().to_string();
    openssl(cwd, &["ca", "-config", &cnf, "-gencrl", "-out", &out]).ok();
}

/// curl with a client certificate (or none); returns (exit code, http code, body).
pub fn curl(cwd: &Path, url: &str, ca: &str, client: Option<&str>) -> (i32, String, String) {
    let body = cwd.join(format!("curl-body-{}", std::process::id()));
    let body = body.with_extension(format!("{}", rand_suffix()));
    let body_s = body.display().to_string();
    let mut args: Vec<String> = vec![
        "-sS".into(),
        "--max-time".into(),
        "20".into(),
        "--cacert".into(),
        ca.into(),
        "-o".into(),
        body_s.clone(),
        "-w".into(),
        "%{http_code}".into(),
    ];
    if let Some(stem) = client {
        args.extend([
            "--cert".into(),
            format!("{stem}.fullchain.crt"),
            "--key".into(),
            format!("{stem}.key"),
        ]);
    }
    args.push(url.into());
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = tool(cwd, "curl", &a);
    let b = std::fs::read_to_string(&body).unwrap_or_default();
    let _ = std::fs::remove_file(&body);
    (r.code, r.stdout, b)
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

/// Python from PATH (the scripts/test venv first: it has requests and yaml).
pub fn python(cwd: &Path, args: &[&str]) -> Run {
    tool(cwd, "python3", args)
}
