//! `export kong` and `export aws`, checked structurally: Kong and AWS are not available here.
//! The generated decK file and JSON parse (Python yaml/json), the shell scripts pass `bash -n`,
//! and `aws-commands.sh` is run with a fake `aws` first on PATH that records its calls and
//! prints made-up ARNs. That fake is a test double for an external paid service, the one
//! exception to "real components" this suite allows: it proves the script refuses to run with a
//! value missing (naming it) and, with the values given, calls AWS in the documented order
//! (truststore, ACM import, ownership certificate, domain, API mapping, execute-api off) — not
//! that AWS accepts the calls.
use crate::common;

use common::*;

use std::path::Path;
use std::process::Command;

fn setup(d: &Path) {
    mtls(d, &["init", "--cn", "Cloud Root CA"]).ok();
    mtls(
        d,
        &[
            "--dir",
            "pki/int",
            "init",
            "--parent",
            "pki",
            "--cn",
            "Cloud Issuing CA",
        ],
    )
    .ok();
    mtls(
        d,
        &[
            "--dir",
            "pki/int",
            "issue",
            "server",
            "--cn",
            "api.example.com",
            "--san",
            "www.example.com",
            "--out",
            "api",
        ],
    )
    .ok();
    pkilint_cert(d, &d.join("api.crt"));
}

fn py(d: &Path, script: &str) {
    let r = tool(d, "python3", &["-c", script]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn kong_exports_the_server_certificate_with_its_snis_and_upserts() {
    let t = tempdir();
    let d = t.path();
    setup(d);
    mtls(
        d,
        &[
            "--dir", "pki/int", "export", "kong", "--server", "api", "--out", "kong",
        ],
    )
    .ok();
    py(
        d,
        "import yaml\n\
y = yaml.safe_load(open('kong/kong.yaml'))\n\
assert y['_format_version'] == '3.0'\n\
c = y['certificates'][0]\n\
assert sorted(s['name'] for s in c['snis']) == ['api.example.com', 'www.example.com'], c['snis']\n\
assert c['cert'].count('BEGIN CERTIFICATE') == 2 and 'PRIVATE KEY' in c['key']\n\
p = y['services'][0]['plugins'][0]\n\
assert p['name'] == 'mtls-auth' and len(p['config']['ca_certificates']) == 2 and p['id']\n",
    );
    let r = tool(d, "bash", &["-n", "kong/kong-admin.sh"]);
    assert_eq!(r.code, 0, "{r:?}");
    let script = std::fs::read_to_string(d.join("kong/kong-admin.sh")).unwrap();
    // Upserts only: a second run gets no 409.
    assert!(!script.contains("-X POST"), "{script}");
    assert!(script.contains("/certificates/") && script.contains("snis[]=www.example.com"));
    // The key is in kong.yaml: 0600.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.join("kong/kong.yaml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The same export twice: the same ids (idempotent).
    mtls(
        d,
        &[
            "--dir", "pki/int", "export", "kong", "--server", "api", "--out", "kong2",
        ],
    )
    .ok();
    let a = std::fs::read_to_string(d.join("kong/kong-admin.sh")).unwrap();
    let b = std::fs::read_to_string(d.join("kong2/kong-admin.sh")).unwrap();
    assert_eq!(a.replace("/kong/", "/X/"), b.replace("/kong2/", "/X/"));
}

/// `--upstream-client STEM`: Kong presents a client certificate to an https upstream (the
/// service's `client_certificate`, with `tls_verify` against the CA chain). The exported files
/// are what Kong would present: curl with them gets through a real mutual-TLS upstream
/// (`mtls-ca serve`). Refused for an http upstream, a server-only certificate and other targets.
#[test]
fn kong_presents_a_client_certificate_to_an_https_upstream() {
    let t = tempdir();
    let d = t.path();
    setup(d);
    let int = |args: &[&str]| {
        let mut v = vec!["--dir", "pki/int"];
        v.extend_from_slice(args);
        mtls(d, &v)
    };
    int(&[
        "issue",
        "client",
        "--cn",
        "kong-gw",
        "--san",
        "kong.example.com",
        "--out",
        "gw",
    ])
    .ok();
    int(&[
        "issue",
        "server",
        "--cn",
        "localhost",
        "--san",
        "127.0.0.1",
        "--out",
        "up",
    ])
    .ok();
    pkilint_cert(d, &d.join("gw.crt"));
    let port = free_port();
    let up = format!("https://127.0.0.1:{port}/");
    int(&[
        "export",
        "kong",
        "--server",
        "api",
        "--upstream",
        &up,
        "--upstream-client",
        "gw",
        "--out",
        "kong",
    ])
    .ok();
    py(
        d,
        "import yaml\n\
y = yaml.safe_load(open('kong/kong.yaml'))\n\
certs = {c['id']: c for c in y['certificates']}\n\
s = y['services'][0]\n\
uc = certs[s['client_certificate']['id']]\n\
assert 'snis' not in uc and 'PRIVATE KEY' in uc['key'], uc\n\
assert uc['cert'] == open('kong/upstream-client.fullchain.crt').read(), 'fullchain'\n\
assert s['tls_verify'] is True and len(s['ca_certificates']) == 2, s\n\
assert set(s['ca_certificates']) == {c['id'] for c in y['ca_certificates']}\n\
assert len([c for c in y['certificates'] if 'snis' in c]) == 1\n",
    );
    let script = std::fs::read_to_string(d.join("kong/kong-admin.sh")).unwrap();
    assert!(script.contains("client_certificate.id=") && script.contains("tls_verify=true"));
    let at = |s: &str| script.find(s).unwrap();
    assert!(
        at("upstream-client.key") < at("/services/mtls-ca-upstream\""),
        "{script}"
    );
    assert_eq!(tool(d, "bash", &["-n", "kong/kong-admin.sh"]).code, 0);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.join("kong/upstream-client.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // What Kong presents gets through an upstream that demands a client certificate.
    let listen = format!("127.0.0.1:{port}");
    let mut srv = Command::new(bin())
        .current_dir(d)
        .args([
            "--dir", "pki/int", "serve", "--server", "up", "--listen", &listen,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let get = |extra: &[&str]| {
        let mut a = vec!["-sS", "--max-time", "5", "--cacert", "kong/ca-bundle.pem"];
        a.extend_from_slice(extra);
        a.push(&up);
        tool(d, "curl", &a)
    };
    wait_until("serve", std::time::Duration::from_secs(20), || {
        std::net::TcpStream::connect(&listen).is_ok()
    });
    let ok = get(&[
        "--cert",
        "kong/upstream-client.fullchain.crt",
        "--key",
        "kong/upstream-client.key",
    ]);
    let without = get(&[]);
    let _ = srv.kill();
    let _ = srv.wait();
    assert_eq!(ok.code, 0, "{ok:?}");
    assert!(ok.stdout.contains("kong-gw"), "{}", ok.stdout);
    assert!(!without.stdout.contains("kong-gw"), "{without:?}");
    // Bad input: exit 2, nothing written.
    for (args, what) in [
        (
            vec![
                "--upstream",
                "http://127.0.0.1:9/",
                "--upstream-client",
                "gw",
            ],
            "not https",
        ),
        (
            vec!["--upstream", up.as_str(), "--upstream-client", "api"],
            "clientAuth",
        ),
    ] {
        let mut a = vec!["--dir", "pki/int", "export", "kong", "--out", "bad"];
        a.extend(args);
        let r = mtls(d, &a).expect_code(2);
        assert!(r.stderr.contains(what), "{what}: {}", r.stderr);
        assert!(!d.join("bad").exists());
    }
    let r = int(&[
        "export",
        "nginx",
        "--server",
        "api",
        "--upstream",
        &up,
        "--upstream-client",
        "gw",
        "--out",
        "bad",
    ])
    .expect_code(2);
    assert!(r.stderr.contains("--upstream-client"), "{}", r.stderr);
    assert!(!d.join("bad").exists());
}

/// A fake `aws` that appends its arguments to $AWS_LOG and prints an ARN when asked for one.
const FAKE_AWS: &str = "#!/bin/sh\necho \"$*\" >> \"$AWS_LOG\"\ncase \"$*\" in\n  *import-certificate*) echo arn:aws:acm:eu-west-1:111122223333:certificate/imported;;\n  *request-certificate*) echo arn:aws:acm:eu-west-1:111122223333:certificate/ownership;;\nesac\n";

#[test]
fn aws_script_imports_verifies_maps_and_closes_execute_api() {
    let t = tempdir();
    let d = t.path();
    setup(d);
    // No --server: no silent api.example.com, the domain is asked for.
    let before = snapshot(d);
    let r = mtls(d, &["--dir", "pki/int", "export", "aws", "--out", "aws0"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("--server") && r.stderr.contains("hint:"),
        "{}",
        r.stderr
    );
    assert_eq!(before, snapshot(d), "nothing written");

    mtls(
        d,
        &[
            "--dir", "pki/int", "export", "aws", "--server", "api", "--out", "aws",
        ],
    )
    .ok();
    py(
        d,
        "import json\n\
j = json.load(open('aws/aws-domain.json'))\n\
assert j['DomainName'] == 'api.example.com'\n\
c = j['DomainNameConfigurations'][0]\n\
assert c['EndpointType'] == 'REGIONAL' and 'OwnershipVerificationCertificateArn' in c\n",
    );
    let r = tool(d, "bash", &["-n", "aws/aws-commands.sh"]);
    assert_eq!(r.code, 0, "{r:?}");
    let bin_dir = d.join("fakebin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::fs::write(bin_dir.join("aws"), FAKE_AWS).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin_dir.join("aws"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |env: &[(&str, &str)]| {
        let log = d.join("aws.log");
        let _ = std::fs::remove_file(&log);
        let mut c = Command::new("sh");
        c.arg("aws/aws-commands.sh")
            .current_dir(d)
            .env("PATH", &path)
            .env("AWS_LOG", &log)
            .env_remove("BUCKET")
            .env_remove("API_ID");
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            std::fs::read_to_string(&log).unwrap_or_default(),
        )
    };
    // A value missing: refused before any AWS call, naming it.
    let (code, err, calls) = run(&[("BUCKET", "my-bucket")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("API_ID") && !err.contains("BUCKET ("), "{err}");
    assert!(calls.is_empty(), "{calls}");
    // A placeholder left in: refused too.
    let (code, err, calls) = run(&[("BUCKET", "BUCKET"), ("API_ID", "a1b2c3")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("placeholder"), "{err}");
    assert!(calls.is_empty(), "{calls}");
    // Everything given: the calls in order, the execute-api endpoint closed.
    let (code, err, calls) = run(&[("BUCKET", "my-bucket"), ("API_ID", "a1b2c3")]);
    assert_eq!(code, 0, "{err}");
    let order = [
        "s3 cp",
        "acm import-certificate",
        "acm request-certificate --domain-name api.example.com",
        "acm wait certificate-validated",
        "apigatewayv2 create-domain-name --domain-name api.example.com",
        "apigatewayv2 create-api-mapping --domain-name api.example.com --api-id a1b2c3",
        "apigatewayv2 update-api --api-id a1b2c3 --disable-execute-api-endpoint",
    ];
    let lines: Vec<&str> = calls.lines().collect();
    assert_eq!(lines.len(), order.len(), "{calls}");
    for (l, want) in lines.iter().zip(order) {
        assert!(l.starts_with(want), "{l} is not {want}\n{calls}");
    }
    assert!(lines[4].contains("OwnershipVerificationCertificateArn=arn:aws:acm:eu-west-1:111122223333:certificate/ownership"));
    assert!(
        lines[4].contains("CertificateArn=arn:aws:acm:eu-west-1:111122223333:certificate/imported")
    );
    // The option that keeps the default endpoint, and a given ownership certificate.
    let (code, err, calls) = run(&[
        ("BUCKET", "my-bucket"),
        ("API_ID", "a1b2c3"),
        ("KEEP_EXECUTE_API_ENDPOINT", "1"),
        (
            "OWNERSHIP_VERIFICATION_CERTIFICATE_ARN",
            "arn:aws:acm:eu-west-1:111122223333:certificate/given",
        ),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(!calls.contains("disable-execute-api-endpoint"), "{calls}");
    assert!(!calls.contains("request-certificate"), "{calls}");
    assert!(calls.contains("certificate/given"), "{calls}");
}
