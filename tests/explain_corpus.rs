//! `explain` on one real error text per client family and per gateway log, each asserted for its
//! code, the side that must act and a fix in that side's tool. Client texts are produced for
//! real by Python requests, curl, Java and Node against an `openssl s_server` whose CA they do
//! not trust; Go is not installed here, so its text is the one Go documents
//! (crypto/x509 `UnknownAuthorityError`, wrapped by crypto/tls). Gateway texts come from the
//! nginx that `mtls-ca export nginx` writes (error and access log), from `mtls-ca serve`, and,
//! for Envoy (not runnable here), the lines Envoy's ssl_socket/default_validator write. Every
//! fix command printed is run in a scratch copy.
use crate::common;

use common::*;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn explain(d: &Path, file: &str) -> Vec<serde_json::Value> {
    let r = mtls(d, &["--dir", "pki", "--json", "explain", file]);
    assert_eq!(r.code, 1, "{file}: {r:?}");
    r.json()["findings"].as_array().unwrap().clone()
}

/// The one finding from `source`, with every other finding of the file from the same side.
fn finding_of<'a>(f: &'a [serde_json::Value], source: &str) -> &'a serde_json::Value {
    f.iter()
        .find(|x| x["source"] == source)
        .unwrap_or_else(|| panic!("no finding from {source}: {f:#?}"))
}

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

// A TLS handshake with host-name checking, as an HTTPS client makes it (a full GET would wait
// forever on `openssl s_server -www`, which never closes its HTTP/1.0 answer).
const JAVA_GET: &str = r#"import java.net.URI;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;
public class Get {
    public static void main(String[] a) throws Exception {
        URI u = URI.create(a[0]);
        try (SSLSocket s = (SSLSocket) SSLSocketFactory.getDefault().createSocket(u.getHost(), u.getPort())) {
            SSLParameters p = s.getSSLParameters();
            p.setEndpointIdentificationAlgorithm("HTTPS");
            s.setSSLParameters(p);
            s.startHandshake();
            System.out.println("handshake ok");
        }
    }
}
"#;

#[test]
fn client_errors_are_fixed_on_the_client_in_its_own_tool() {
    let t = tempdir();
    let d = t.path();
    root_server_client(d, "Corpus Root");
    let port = free_port();
    let accept = port.to_string();
    let _srv = Server::start(
        d,
        "openssl",
        &[
            "s_server", "-accept", &accept, "-cert", "srv.crt", "-key", "srv.key", "-www", "-quiet",
        ],
        port,
    );
    let url = format!("https://127.0.0.1:{port}/");
    // Python requests, without the CA: CERTIFICATE_VERIFY_FAILED … unable to get local issuer.
    let py = tool(
        d,
        "python3",
        &[
            "-c",
            "import sys, requests\ntry:\n    requests.get(sys.argv[1], timeout=10)\nexcept Exception as e:\n    print(e)",
            &url,
        ],
    );
    assert!(py.stdout.contains("CERTIFICATE_VERIFY_FAILED"), "{py:?}");
    // The same with the CA but the wrong host name.
    let py_name = tool(
        d,
        "python3",
        &[
            "-c",
            "import sys, requests\ntry:\n    requests.get(sys.argv[1], verify='pki/ca.crt', timeout=10)\nexcept Exception as e:\n    print(e)",
            &format!("https://localhost:{port}/"),
        ],
    );
    assert!(py_name.stdout.contains("Hostname mismatch"), "{py_name:?}");
    let curl = tool(d, "curl", &["-sS", "--max-time", "10", &url]);
    assert_eq!(curl.code, 60, "{curl:?}");
    std::fs::write(d.join("Get.java"), JAVA_GET).unwrap();
    let java = tool(d, "java", &["Get.java", &url]);
    assert!(
        java.stderr.contains("PKIX path building failed"),
        "{java:?}"
    );
    let node = tool(
        d,
        "node",
        &[
            "-e",
            "require('https').get(process.argv[1], r => {}).on('error', e => { throw e })",
            &url,
        ],
    );
    assert!(
        node.stderr.contains("UNABLE_TO_VERIFY_LEAF_SIGNATURE"),
        "{node:?}"
    );
    let go = format!("Get \"{url}\": tls: failed to verify certificate: x509: certificate signed by unknown authority\n");
    let texts = [
        ("python", py.stdout.clone(), "verify='pki/ca.crt'"),
        ("curl", curl.stderr.clone(), "curl --cacert pki/ca.crt"),
        ("java", java.stderr.clone(), "keytool -importcert"),
        (
            "node",
            node.stderr.clone(),
            "NODE_EXTRA_CA_CERTS=pki/ca.crt",
        ),
        ("go", go, "RootCAs"),
    ];
    let mut commands = Vec::new();
    for (source, text, tool_fix) in texts {
        let file = format!("{source}.txt");
        std::fs::write(d.join(&file), &text).unwrap();
        let f = explain(d, &file);
        let x = finding_of(&f, source);
        assert_eq!(x["code"], "server_untrusted", "{source}: {x}");
        assert_eq!(x["side"], "client", "{source}: {x}");
        let fix = x["fix"].as_str().unwrap();
        assert!(fix.contains(tool_fix), "{source}: {fix}");
        assert!(!fix.contains("ssl_client_certificate"), "{source}: {fix}");
        for y in &f {
            assert_ne!(
                y["side"], "gateway",
                "{source}: a client error blamed on the gateway: {y}"
            );
        }
        if let Some(c) = x["command"].as_str() {
            commands.push(c.to_string());
        }
    }
    // Hostname mismatches are the client's too.
    {
        std::fs::write(d.join("name.txt"), &py_name.stdout).unwrap();
        let f = explain(d, "name.txt");
        let x = finding_of(&f, "python");
        assert_eq!(
            (x["code"].as_str(), x["side"].as_str()),
            (Some("name_mismatch"), Some("client")),
            "{x}"
        );
        assert!(x["fix"].as_str().unwrap().contains("requests.get("), "{x}");
    }
    // The Java fix is one command: run it in a scratch copy, then Java trusts the server.
    assert_eq!(commands.len(), 1, "{commands:?}");
    let scratch = tempdir();
    let s2 = scratch.path().join("copy");
    let r = tool(d, "cp", &["-a", ".", &s2.display().to_string()]);
    assert_eq!(r.code, 0, "{r:?}");
    let out = Command::new("sh")
        .args(["-c", &commands[0]])
        .current_dir(&s2)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}{}",
        commands[0],
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(s2.join("pki/ca.crt")).unwrap(),
        std::fs::read(d.join("pki/ca.crt")).unwrap(),
        "the root CA is untouched"
    );
    let ok = tool(
        &s2,
        "java",
        &[
            "-Djavax.net.ssl.trustStore=truststore.p12",
            "-Djavax.net.ssl.trustStorePassword=changeit",
            "Get.java",
            &url,
        ],
    );
    assert!(ok.stdout.contains("handshake ok"), "{ok:?}");
}

#[test]
fn gateway_logs_name_the_side_and_its_tool() {
    let t = tempdir();
    let d = t.path();
    root_server_client(d, "Gateway Log Root");
    other_ca_client(d);
    expired_client(d, "old", 400);
    // The nginx that `export nginx` writes: its error log and its access log format.
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    mtls(
        d,
        &[
            "--dir", "pki", "export", "nginx", "--server", "srv", "--listen", &listen, "--out",
            "gw",
        ],
    )
    .ok();
    let gw = d.join("gw").display().to_string();
    let main = d.join("gw/nginx-main.conf").display().to_string();
    let srv = Server::start(d, "nginx", &["-p", &gw, "-c", &main, "-e", "stderr"], port);
    let url = format!("https://api.example.com:{port}/");
    let resolve = format!("api.example.com:{port}:127.0.0.1");
    for client in [None, Some("mallory"), Some("old"), Some("alice")] {
        let mut args = vec![
            "-sS",
            "--max-time",
            "10",
            "--resolve",
            &resolve,
            "--cacert",
            "pki/ca.crt",
        ];
        let (c, k);
        if let Some(stem) = client {
            c = format!("{stem}.crt");
            k = format!("{stem}.key");
            args.extend_from_slice(&["--cert", &c, "--key", &k]);
        }
        args.push(&url);
        tool(d, "curl", &args);
    }
    let access = wait_for(&d.join("gw/access.log"), "SUCCESS");
    std::fs::copy(d.join("gw/access.log"), d.join("access.log")).unwrap();
    let f = explain(d, "access.log");
    let get = |code: &str| {
        f.iter()
            .find(|x| x["code"] == code)
            .unwrap_or_else(|| panic!("{code} not in {f:#?}\n{access}"))
            .clone()
    };
    let none = get("no_client_cert");
    assert_eq!(none["side"], "client");
    assert!(
        none["fix"].as_str().unwrap().contains("curl --cert"),
        "{none}"
    );
    let stranger = get("unknown_issuer");
    assert_eq!(stranger["side"], "gateway");
    assert!(
        stranger["fix"]
            .as_str()
            .unwrap()
            .contains("ssl_client_certificate"),
        "{stranger}"
    );
    assert!(
        stranger["fix"].as_str().unwrap().contains("fullchain"),
        "{stranger}"
    );
    let expired = get("cert_expired");
    assert_eq!(expired["side"], "client");
    // The access log has the serial: the fix renews exactly that certificate.
    let cmd = expired["command"]
        .as_str()
        .expect("renew SERIAL")
        .to_string();
    assert!(
        cmd.starts_with("mtls-ca renew ") && cmd.ends_with(" --dir pki"),
        "{cmd}"
    );
    let r = Command::new("sh")
        .args(["-c", &cmd])
        .current_dir(d)
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin().parent().unwrap().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .output()
        .unwrap();
    assert!(
        r.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert_eq!(
        mtls(
            d,
            &["--dir", "pki", "verify", "old.crt", "--purpose", "client"]
        )
        .code,
        0
    );
    drop(srv);
    let err = explain(d, "gw/error.log");
    assert!(
        err.iter()
            .any(|x| x["code"] == "cert_expired" && x["side"] == "client"),
        "{err:#?}"
    );

    // `mtls-ca serve`: its handshake-failure lines.
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let serve = Server::start(
        d,
        bin().to_str().unwrap(),
        &[
            "--dir", "pki", "serve", "--server", "srv", "--listen", &listen,
        ],
        port,
    );
    let url = format!("https://127.0.0.1:{port}/");
    for stem in ["mallory", "alice"] {
        let c = format!("{stem}.crt");
        let k = format!("{stem}.key");
        tool(
            d,
            "curl",
            &[
                "-sS",
                "--max-time",
                "10",
                "--cacert",
                "pki/ca.crt",
                "--cert",
                &c,
                "--key",
                &k,
                &url,
            ],
        );
    }
    tool(
        d,
        "curl",
        &["-sS", "--max-time", "10", "--cacert", "pki/ca.crt", &url],
    );
    let log = wait_for(serve.log_path(), "sent no certificate");
    let file = serve.log_path().display().to_string();
    let f = explain(d, &file);
    let serve_codes: Vec<(String, String)> = f
        .iter()
        .filter(|x| x["source"] == "serve")
        .map(|x| {
            (
                x["code"].as_str().unwrap().into(),
                x["side"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        serve_codes.contains(&("unknown_issuer".into(), "gateway".into())),
        "{serve_codes:?}\n{log}"
    );
    assert!(
        serve_codes.contains(&("no_client_cert".into(), "client".into())),
        "{serve_codes:?}\n{log}"
    );

    // Envoy: the lines its TLS socket and certificate validator write.
    let envoy = "[2026-12-01 10:00:00.001][15][debug][connection] [source/common/tls/cert_validator/default_validator.cc:321] verify cert failed: X509_verify_cert: certificate verification error at depth 0: certificate has expired\n\
[2026-12-01 10:00:00.001][15][debug][connection] [source/common/tls/ssl_socket.cc:269] [Tags: \"ConnectionId\":\"7\"] remote address:127.0.0.1:50218,TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:verify cert failed: X509_verify_cert: certificate verification error at depth 0: unable to get local issuer certificate:TLS_error_end\n\
[2026-12-01 10:00:01.002][15][debug][connection] [source/common/tls/ssl_socket.cc:269] [Tags: \"ConnectionId\":\"8\"] remote address:127.0.0.1:50220,TLS_error:|268435612:SSL routines:OPENSSL_internal:PEER_DID_NOT_RETURN_A_CERTIFICATE:TLS_error_end\n";
    std::fs::write(d.join("envoy.log"), envoy).unwrap();
    let f = explain(d, "envoy.log");
    let e: Vec<(String, String, String)> = f
        .iter()
        .filter(|x| x["source"] == "envoy")
        .map(|x| {
            (
                x["code"].as_str().unwrap().into(),
                x["side"].as_str().unwrap().into(),
                x["fix"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        e.iter().any(|x| x.0 == "unknown_issuer"
            && x.1 == "gateway"
            && x.2.contains("validation_context.trusted_ca")),
        "{e:?}"
    );
    assert!(
        e.iter().any(|x| x.0 == "no_client_cert" && x.1 == "client"),
        "{e:?}"
    );
}
