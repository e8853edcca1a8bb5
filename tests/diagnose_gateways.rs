//! `probe` and `explain` against real nginx, HAProxy and Caddy that trust only the root CA of a
//! root → issuing CA set-up: an expired, a wrong-purpose (a server certificate), a leaf-only and
//! a stranger-CA client certificate are each named with `verify`'s code, and the gateway's log
//! lines about them say who must act. Every fix command printed is run in a scratch copy of the
//! directory: it must succeed, leave the root CA untouched, and do what it says (the certificate
//! it writes is then accepted by the same server).
use crate::common;

use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Root CA in `pki`, issuing CA in `pki/int`; from it a server `api` (api.example.com,
/// 127.0.0.1), a client `alice` and an expired client `old`; a stranger CA `other` with client
/// `mallory`.
fn setup(d: &Path) {
    mtls(d, &["init", "--cn", "Gateway Root CA"]).ok();
    mtls(
        d,
        &[
            "--dir",
            "pki/int",
            "init",
            "--parent",
            "pki",
            "--cn",
            "Gateway Issuing CA",
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
    int(&["issue", "client", "--cn", "alice", "--out", "alice"]);
    let mut ca = mtls_ca::ca::Ca::open(&d.join("pki/int")).unwrap();
    ca.issue(
        &mtls_ca::ca::IssueOptions {
            profile: mtls_ca::profile::Profile::Client,
            cn: "old".into(),
            sans: vec![],
            days: Some(30),
            valid: None,
            key_type: mtls_ca::keys::KeyType::EcdsaP256,
            stem: d.join("old"),
            force: false,
            allow_long_validity: false,
            subject: Default::default(),
        },
        time::OffsetDateTime::now_utc() - time::Duration::days(400),
    )
    .unwrap();
    mtls(d, &["--dir", "other", "init", "--cn", "Stranger Root CA"]).ok();
    mtls(
        d,
        &[
            "--dir", "other", "issue", "client", "--cn", "mallory", "--out", "mallory",
        ],
    )
    .ok();
    for c in ["api.crt", "alice.crt", "old.crt", "mallory.crt"] {
        pkilint_cert(d, &d.join(c));
    }
    pkilint_chain(d, &d.join("pki/ca.crt"), &d.join("pki/int/ca.crt"));
    pkilint_chain(d, &d.join("pki/int/ca.crt"), &d.join("alice.crt"));
}

/// The four refused cases: (what, --cert file, --key file, the code probe must give).
const CASES: &[(&str, &str, &str, &str)] = &[
    (
        "expired",
        "old.fullchain.crt",
        "old.key",
        "client_cert_expired",
    ),
    (
        "wrong purpose",
        "api.fullchain.crt",
        "api.key",
        "client_cert_wrong_purpose",
    ),
    (
        "leaf only",
        "alice.crt",
        "alice.key",
        "client_cert_missing_intermediate",
    ),
    (
        "stranger CA",
        "mallory.crt",
        "mallory.key",
        "client_cert_unknown_issuer",
    ),
];

fn probe(d: &Path, port: u16, cert: Option<(&str, &str)>) -> (i32, serde_json::Value) {
    let target = format!("https://api.example.com:{port}/");
    let resolve = format!("api.example.com:{port}:127.0.0.1");
    let mut args = vec![
        "--dir",
        "pki",
        "--json",
        "probe",
        target.as_str(),
        "--resolve",
        resolve.as_str(),
        "--timeout",
        "10",
        "--no-resumption",
    ];
    if let Some((c, k)) = cert {
        args.extend_from_slice(&["--cert", c, "--key", k]);
    }
    let r = mtls(d, &args);
    let j = r.json();
    (r.code, j)
}

/// Probes every case: the good fullchain is accepted, each bad one is named with verify's code
/// and refused by the client side. Returns every fix command printed.
fn probe_cases(d: &Path, port: u16, gateway: &str) -> Vec<String> {
    let (code, j) = probe(d, port, Some(("alice.fullchain.crt", "alice.key")));
    assert_eq!(code, 0, "{gateway}: alice's fullchain is accepted: {j}");
    let mut commands = Vec::new();
    for (what, cert, key, want) in CASES {
        let (code, j) = probe(d, port, Some((cert, key)));
        assert_eq!(code, 1, "{gateway} {what}: {j}");
        let diag = j["diagnosis"].as_array().unwrap();
        let codes: Vec<&str> = diag.iter().map(|f| f["code"].as_str().unwrap()).collect();
        assert_eq!(codes, [*want], "{gateway} {what}: {j}");
        assert_eq!(diag[0]["side"], "client", "{gateway} {what}: {j}");
        assert_eq!(j["client_cert_accepted"], false, "{gateway} {what}: {j}");
        let hint = diag[0]["hint"].as_str().unwrap();
        assert!(
            !hint.contains("does not trust the issuer") || *want == "client_cert_unknown_issuer",
            "{gateway} {what}: {hint}"
        );
        if let Some(c) = diag[0]["command"].as_str() {
            commands.push(c.to_string());
        }
    }
    commands
}

/// Copies `d` to a fresh scratch directory (cp -a keeps modes).
fn scratch_copy(d: &Path, name: &str) -> PathBuf {
    let to = d.with_file_name(format!(
        "{}-{name}",
        d.file_name().unwrap().to_string_lossy()
    ));
    let _ = std::fs::remove_dir_all(&to);
    let r = tool(
        d.parent().unwrap(),
        "cp",
        &["-a", &d.display().to_string(), &to.display().to_string()],
    );
    assert_eq!(r.code, 0, "{r:?}");
    to
}

/// Runs a printed fix command with `sh -c` in a scratch copy of `d`, with this build's mtls-ca
/// first on PATH. It must succeed and leave the root CA as it was. Returns the scratch dir.
fn run_fix(d: &Path, command: &str, n: usize) -> PathBuf {
    assert!(
        command.starts_with("mtls-ca ") || command.starts_with("keytool "),
        "unexpected fix command {command}"
    );
    assert!(
        !command.contains(" --dir pki ") && !command.ends_with(" --dir pki")
            || !command.contains(" issue "),
        "a leaf issued straight from the root: {command}"
    );
    let s = scratch_copy(d, &format!("fix{n}"));
    let root_before = (
        std::fs::read(s.join("pki/ca.crt")).unwrap(),
        std::fs::read(s.join("pki/ca.key")).unwrap(),
    );
    let bin_dir = bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .args(["-c", command])
        .current_dir(&s)
        .env("PATH", path)
        .env_remove("MTLS_CA_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "fix command failed: {command}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root_after = (
        std::fs::read(s.join("pki/ca.crt")).unwrap(),
        std::fs::read(s.join("pki/ca.key")).unwrap(),
    );
    assert!(root_before == root_after, "{command} touched the root CA");
    s
}

/// The stem a fix command writes (`--out STEM`) and the stem of the key that goes with it
/// (`renew` makes a new key unless `--reuse-key`, which keeps the key of `--cert STEM.crt`).
fn written_stems(command: &str) -> (String, String) {
    let w: Vec<&str> = command.split_whitespace().collect();
    let after = |flag: &str| {
        w.iter()
            .position(|x| *x == flag)
            .map(|i| w[i + 1].to_string())
    };
    let out = after("--out").unwrap_or_else(|| panic!("no --out in {command}"));
    let key = match after("--cert") {
        Some(c) if w.contains(&"renew") && w.contains(&"--reuse-key") => {
            c.trim_end_matches(".crt").to_string()
        }
        _ => out.clone(),
    };
    (out, key)
}

/// Runs every printed mtls-ca fix and shows the server accepts what it wrote.
fn fixes_work(d: &Path, port: u16, commands: &[String], gateway: &str) {
    assert!(
        commands.len() >= 3,
        "{gateway}: expected fix commands for expired, wrong purpose and stranger CA: {commands:?}"
    );
    for (n, c) in commands.iter().enumerate() {
        let s = run_fix(d, c, n);
        let (stem, key_stem) = written_stems(c);
        let full = format!("{stem}.fullchain.crt");
        let key = format!("{key_stem}.key");
        let v = mtls(
            &s,
            &["--dir", "pki", "verify", &full, "--purpose", "client"],
        );
        assert_eq!(v.code, 0, "{c}: {}{}", v.stdout, v.stderr);
        pkilint_cert(&s, &s.join(format!("{stem}.crt")));
        let (code, j) = probe(&s, port, Some((&full, &key)));
        assert_eq!(
            code, 0,
            "{gateway}: after `{c}` the server accepts {full}: {j}"
        );
        let _ = std::fs::remove_dir_all(&s);
    }
}

fn explain_file(d: &Path, file: &Path) -> serde_json::Value {
    let f = file.display().to_string();
    let r = mtls(d, &["--dir", "pki", "--json", "explain", &f]);
    assert!(r.code == 1 || r.code == 0, "{r:?}");
    r.json()
}

/// The findings of `j` as (code, side, fix, command).
fn findings(j: &serde_json::Value) -> Vec<(String, String, String, Option<String>)> {
    j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["side"].as_str().unwrap().to_string(),
                f["fix"].as_str().unwrap().to_string(),
                f["command"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// Waits until `file` contains `needle` (servers write logs asynchronously).
fn wait_for(file: &Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = std::fs::read_to_string(file).unwrap_or_default();
        if s.contains(needle) || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn nginx_probe_explain_and_fixes() {
    let t = tempdir();
    let d = t.path();
    setup(d);
    let port = free_port();
    let conf = nginx_conf(
        d,
        port,
        "api.fullchain.crt",
        "api.key",
        "pki/ca.crt",
        "ssl_verify_depth 2;",
    );
    let _srv = start_nginx(d, &conf, port);
    let commands = probe_cases(d, port, "nginx");

    // nginx's error log about the same four clients: each names the side that must act.
    let log = wait_for(&d.join("error.log"), "certificate has expired");
    let j = explain_file(d, &d.join("error.log"));
    let f = findings(&j);
    let has = |code: &str, side: &str| f.iter().any(|x| x.0 == code && x.1 == side);
    assert!(has("cert_expired", "client"), "{f:?}\n{log}");
    assert!(has("wrong_purpose", "client"), "{f:?}\n{log}");
    // The leaf without its intermediate and the stranger CA: OpenSSL's 20/21, which names the
    // fullchain possibility.
    let leaf_only = f
        .iter()
        .find(|x| x.0 == "unknown_issuer")
        .unwrap_or_else(|| panic!("{f:?}\n{log}"));
    assert!(leaf_only.2.contains("fullchain"), "{leaf_only:?}");
    fixes_work(d, port, &commands, "nginx");
}

#[test]
fn haproxy_probe_explain_and_fixes() {
    let t = tempdir();
    let d = t.path();
    setup(d);
    let port = free_port();
    let mut pem = std::fs::read(d.join("api.fullchain.crt")).unwrap();
    pem.extend(std::fs::read(d.join("api.key")).unwrap());
    std::fs::write(d.join("api.pem"), pem).unwrap();
    let cfg = format!(
        "global\n    log stdout format raw local0 info\ndefaults\n    mode http\n    log global\n    option httplog\n    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:{port} ssl crt {d}/api.pem ca-file {d}/pki/ca.crt verify required\n    http-request return status 200 content-type text/plain string ok\n",
        d = d.display()
    );
    std::fs::write(d.join("haproxy.cfg"), cfg).unwrap();
    let cfg = d.join("haproxy.cfg").display().to_string();
    let srv = Server::start(d, "haproxy", &["-db", "-f", &cfg], port);
    let commands = probe_cases(d, port, "haproxy");
    let log = wait_for(srv.log_path(), "SSL");
    let j = explain_file(d, srv.log_path());
    let f = findings(&j);
    assert!(!f.is_empty(), "{log}");
    for x in &f {
        assert!(
            x.1 == "gateway" || x.1 == "client",
            "haproxy lines are about the gateway or its clients: {x:?}"
        );
    }
    fixes_work(d, port, &commands, "haproxy");
}

#[test]
fn caddy_probe_explain_and_fixes() {
    let t = tempdir();
    let d = t.path();
    setup(d);
    let port = free_port();
    let dd = d.display();
    let caddyfile = format!(
        "{{\n\tadmin off\n\tauto_https disable_redirects\n\tstorage file_system {{\n\t\troot {dd}/caddy-data\n\t}}\n\tservers {{\n\t\tstrict_sni_host insecure_off\n\t}}\n\tlog {{\n\t\toutput file {dd}/caddy.log\n\t\tlevel DEBUG\n\t}}\n}}\n\nhttps://:{port} {{\n\tbind 127.0.0.1\n\ttls {dd}/api.fullchain.crt {dd}/api.key {{\n\t\tclient_auth {{\n\t\t\tmode require_and_verify\n\t\t\ttrusted_ca_cert_file {dd}/pki/ca.crt\n\t\t}}\n\t}}\n\trespond \"ok\" 200\n}}\n"
    );
    std::fs::write(d.join("Caddyfile"), caddyfile).unwrap();
    let cf = d.join("Caddyfile").display().to_string();
    let _srv = Server::start(
        d,
        "caddy",
        &["run", "--config", &cf, "--adapter", "caddyfile"],
        port,
    );
    let commands = probe_cases(d, port, "caddy");
    let log = wait_for(&d.join("caddy.log"), "TLS handshake error");
    let j = explain_file(d, &d.join("caddy.log"));
    let f = findings(&j);
    let has = |code: &str, side: &str| f.iter().any(|x| x.0 == code && x.1 == side);
    assert!(has("cert_expired", "client"), "{f:?}\n{log}");
    assert!(has("unknown_issuer", "gateway"), "{f:?}\n{log}");
    fixes_work(d, port, &commands, "caddy");
}
