//! `export nginx|haproxy|caddy` proven with the real servers (foreground children on free
//! ports), a root → intermediate → leaf chain, curl, Python requests, Node and Java clients.
use crate::common;
use crate::export_support;

use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use export_support::*;

const PASS: &str = "correct horse battery staple";

/// Runs a program with extra environment variables.
fn run_env(cwd: &Path, program: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}): run scripts/test, which installs it")
        });
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every absolute path the config names lies inside the export dir and exists (or is a log,
/// pid or state path the server creates).
fn assert_self_contained(config: &Path, out: &Path) {
    let text = std::fs::read_to_string(config).unwrap();
    let out_s = out.display().to_string();
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        for (n, piece) in line.split('"').enumerate() {
            if n % 2 == 1 && piece.starts_with('/') {
                assert!(
                    piece.starts_with(&out_s),
                    "{} names {piece}, outside {out_s}",
                    config.display()
                );
                let created_by_server = [".log", ".pid", "nginx-temp", "caddy-data"]
                    .iter()
                    .any(|s| piece.ends_with(s));
                assert!(
                    created_by_server || Path::new(piece).exists(),
                    "{} names {piece}, which was not written",
                    config.display()
                );
            }
        }
    }
}

/// The four verdicts every gateway must give. `refused` decides what "refused" looks like.
fn check_verdicts(k: &Pki, url: &str, ca: &str, refused: impl Fn(&str, (i32, String, String))) {
    let d = k.dir();
    let (code, http, body) = curl(d, url, ca, Some(&k.s("alice")));
    assert_eq!(
        (code, http.as_str()),
        (0, "200"),
        "alice must get 200 (body {body:?})"
    );
    assert!(
        body.contains("CN=alice"),
        "the body names the client: {body:?}"
    );
    refused("no certificate", curl(d, url, ca, None));
    refused(
        "certificate from another CA",
        curl(d, url, ca, Some(&k.s("mallory"))),
    );
    refused("revoked certificate", curl(d, url, ca, Some(&k.s("bob"))));
}

fn export(k: &Pki, target: &str, out: &str, port: u16, extra: &[&str]) -> Run {
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec![
        "export",
        target,
        "--server",
        "api",
        "--client",
        "alice",
        "--crl",
        "pki/crl.pem",
        "--crl",
        "pki/int/crl.pem",
        "--listen",
        &listen,
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    k.int(&args).ok()
}

#[test]
fn nginx_accepts_the_client_and_refuses_the_rest_with_http_400() {
    let k = pki();
    let d = k.dir();
    let port = free_port();
    let r = export(&k, "nginx", "gw", port, &[]);
    assert!(
        r.stderr.contains("nginx -p"),
        "prints how to start: {}",
        r.stderr
    );
    let gw = k.p("gw");
    let conf = std::fs::read_to_string(gw.join("nginx.conf")).unwrap();
    for needle in [
        "ssl_verify_client on;",
        "ssl_verify_depth 2;",
        "ssl_crl ",
        "ssl_client_certificate ",
        "ssl_session_cache shared:",
        "ssl_session_tickets on;",
        "ssl_protocols TLSv1.2 TLSv1.3;",
        "$ssl_client_verify",
    ] {
        assert!(conf.contains(needle), "nginx.conf lacks {needle}:\n{conf}");
    }
    assert_self_contained(&gw.join("nginx.conf"), &gw);
    assert_self_contained(&gw.join("nginx-main.conf"), &gw);
    // crls.pem holds one CRL per CA of the chain.
    let crls = std::fs::read_to_string(gw.join("crls.pem")).unwrap();
    assert_eq!(crls.matches("BEGIN X509 CRL").count(), 2);
    let main = k.s("gw/nginx-main.conf");
    let gws = k.s("gw");
    tool(d, "nginx", &["-t", "-p", &gws, "-c", &main, "-e", "stderr"]).ok();
    let srv = Server::start(d, "nginx", &["-p", &gws, "-c", &main, "-e", "stderr"], port);
    let ca = k.s("gw/ca-bundle.pem");
    check_verdicts(&k, &srv.url(), &ca, |what, (code, http, body)| {
        assert_eq!(
            (code, http.as_str()),
            (0, "400"),
            "{what}: nginx answers HTTP 400 ({body})"
        );
    });
    // nginx writes the log line after the answer: wait for the last one.
    let mut log = String::new();
    poll_until(std::time::Duration::from_secs(10), || {
        log = std::fs::read_to_string(gw.join("access.log")).unwrap();
        log.lines().count() >= 4
    });
    assert!(log.contains("ssl_client_verify=SUCCESS"), "{log}");
    assert!(
        log.contains("ssl_client_verify=FAILED:certificate revoked"),
        "{log}"
    );
    assert!(log.contains("ssl_client_verify=NONE"), "{log}");

    // Python requests with the exported snippet.
    let url = srv.url();
    k.int(&[
        "export",
        "requests",
        "--client",
        "alice",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--out",
        "py",
    ])
    .ok();
    let r = tool(d, "python3", &[&k.s("py/client_requests.py"), &url]).ok();
    assert!(
        r.stdout.starts_with("200") && r.stdout.contains("CN=alice"),
        "{}",
        r.stdout
    );
    // Without the URL argument, the snippet's default URL (the --listen address) works too.
    let r = tool(d, "python3", &[&k.s("py/client_requests.py")]).ok();
    assert!(r.stdout.starts_with("200"), "{}", r.stdout);

    // curl and Node snippets.
    k.int(&["export", "curl", "--client", "alice", "--out", "sh"])
        .ok();
    let r = tool(d, "sh", &[&k.s("sh/curl.sh"), &url]).ok();
    assert!(r.stdout.contains("CN=alice"), "{}", r.stdout);
    k.int(&["export", "node", "--client", "alice", "--out", "js"])
        .ok();
    let r = tool(d, "node", &[&k.s("js/client.mjs"), &url]).ok();
    assert!(
        r.stdout.starts_with("200") && r.stdout.contains("CN=alice"),
        "{}",
        r.stdout
    );

    // Java with the PKCS#12 keystore, modern and legacy.
    std::fs::write(d.join("pass.txt"), format!("{PASS}\n")).unwrap();
    for (out, extra) in [("java-modern", None), ("java-legacy", Some("--p12-legacy"))] {
        let mut args = vec![
            "export",
            "java",
            "--client",
            "alice",
            "--passphrase-file",
            "pass.txt",
            "--out",
            out,
        ];
        args.extend(extra);
        k.int(&args).ok();
        let ks = k.s(&format!("{out}/alice.p12"));
        let env = [("MTLS_CA_P12_PASSWORD", PASS)];
        let l = run_env(
            d,
            "keytool",
            &[
                "-list",
                "-storetype",
                "PKCS12",
                "-keystore",
                &ks,
                "-storepass:env",
                "MTLS_CA_P12_PASSWORD",
            ],
            &env,
        )
        .ok();
        assert!(l.stdout.contains("PrivateKeyEntry"), "{}", l.stdout);
        let ts = k.s(&format!("{out}/truststore.p12"));
        let l = run_env(
            d,
            "keytool",
            &[
                "-list",
                "-storetype",
                "PKCS12",
                "-keystore",
                &ts,
                "-storepass:env",
                "MTLS_CA_P12_PASSWORD",
            ],
            &env,
        )
        .ok();
        assert_eq!(
            l.stdout.matches("trustedCertEntry").count(),
            2,
            "{}",
            l.stdout
        );
        let r = run_env(
            d,
            "java",
            &[&k.s(&format!("{out}/MtlsClient.java")), &url],
            &env,
        )
        .ok();
        assert!(
            r.stdout.starts_with("200") && r.stdout.contains("CN=alice"),
            "{out}: {}",
            r.stdout
        );
    }
    drop(srv);
}

#[test]
fn nginx_with_upstream_passes_the_client_identity() {
    let k = pki();
    let d = k.dir();
    let up_port = free_port();
    std::fs::write(
        d.join("echo.py"),
        "import http.server, sys\n\
         class H(http.server.BaseHTTPRequestHandler):\n\
         \x20   def do_GET(self):\n\
         \x20       body = ''.join(f'{k}: {v}\\n' for k, v in self.headers.items() if k.lower().startswith('x-ssl-client')).encode()\n\
         \x20       self.send_response(200); self.end_headers(); self.wfile.write(body)\n\
         \x20   def log_message(self, *a): pass\n\
         http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n",
    )
    .unwrap();
    let _up = Server::start(d, "python3", &["echo.py", &up_port.to_string()], up_port);
    for (target, out) in [("nginx", "gw-nginx"), ("haproxy", "gw-haproxy")] {
        let port = free_port();
        let upstream = format!("http://127.0.0.1:{up_port}");
        export(&k, target, out, port, &["--upstream", &upstream]);
        let gw = k.s(out);
        let srv = match target {
            "nginx" => {
                let main = k.s(&format!("{out}/nginx-main.conf"));
                Server::start(d, "nginx", &["-p", &gw, "-c", &main, "-e", "stderr"], port)
            }
            _ => {
                let cfg = k.s(&format!("{out}/haproxy.cfg"));
                Server::start(d, "haproxy", &["-db", "-f", &cfg], port)
            }
        };
        let ca = k.s(&format!("{out}/ca-bundle.pem"));
        let (code, http, body) = curl(d, &srv.url(), &ca, Some(&k.s("alice")));
        assert_eq!((code, http.as_str()), (0, "200"), "{target}: {body}");
        let lower = body.to_ascii_lowercase();
        for h in [
            "x-ssl-client-verify: success",
            "x-ssl-client-subject:",
            "x-ssl-client-serial:",
            "x-ssl-client-fingerprint:",
        ] {
            assert!(lower.contains(h), "{target} passes {h}:\n{body}");
        }
        assert!(body.contains("CN=alice"), "{target}: {body}");
    }
}

#[test]
fn haproxy_accepts_the_client_and_fails_the_handshake_for_the_rest() {
    let k = pki();
    let d = k.dir();
    let port = free_port();
    export(&k, "haproxy", "hp", port, &[]);
    let cfg = k.s("hp/haproxy.cfg");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        text.contains("verify required") && text.contains("crl-file") && text.contains("ca-file"),
        "{text}"
    );
    assert_self_contained(Path::new(&cfg), &k.p("hp"));
    // crt = leaf + intermediate + key, 0600.
    let pem = std::fs::read_to_string(k.p("hp/server.pem")).unwrap();
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 2);
    assert!(pem.contains("BEGIN PRIVATE KEY"));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(k.p("hp/server.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    tool(d, "haproxy", &["-c", "-f", &cfg]).ok();
    let srv = Server::start(d, "haproxy", &["-db", "-f", &cfg], port);
    check_verdicts(
        &k,
        &srv.url(),
        &k.s("hp/ca-bundle.pem"),
        |what, (code, http, _)| {
            assert!(
                code != 0 && http == "000",
                "{what}: HAProxy fails the handshake (curl exit {code}, http {http})"
            );
        },
    );
}

#[test]
fn caddy_accepts_the_client_and_refuses_the_rest() {
    let k = pki();
    let d = k.dir();
    let port = free_port();
    let r = export(&k, "caddy", "cd", port, &[]);
    assert!(
        r.stderr.contains("Caddy 2.6 reads no CRL"),
        "warns about CRLs: {}",
        r.stderr
    );
    let cfg = k.s("cd/Caddyfile");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        text.contains("admin off") && text.contains("require_and_verify"),
        "{text}"
    );
    assert_self_contained(Path::new(&cfg), &k.p("cd"));
    tool(
        d,
        "caddy",
        &["validate", "--config", &cfg, "--adapter", "caddyfile"],
    )
    .ok();
    let srv = Server::start(
        d,
        "caddy",
        &["run", "--config", &cfg, "--adapter", "caddyfile"],
        port,
    );
    check_verdicts(
        &k,
        &srv.url(),
        &k.s("cd/ca-bundle.pem"),
        |what, (code, http, body)| {
            let refused_in_handshake = code != 0 && http == "000";
            // Caddy 2.6 has no CRL support: the exported Caddyfile refuses revoked serials with 403.
            let refused_by_http = what == "revoked certificate" && http == "403";
            assert!(
                refused_in_handshake || refused_by_http,
                "{what}: refused (curl exit {code}, http {http}, {body})"
            );
        },
    );
}
