//! quickstart's full output: client.p12 and an nginx config that runs.
use crate::common;

use common::*;

#[test]
fn quickstart_writes_a_p12_and_an_nginx_config_that_serves_the_client() {
    let t = tempdir();
    let d = t.path();
    let r = mtls(d, &["quickstart", "--out", "qs"]).ok();
    for needle in ["curl --cert", "python3 -c", "nginx -p", "client.p12"] {
        assert!(r.stderr.contains(needle), "prints {needle}:\n{}", r.stderr);
    }
    use std::os::unix::fs::PermissionsExt;
    for f in ["qs/client.p12", "qs/client.p12.pass"] {
        let mode = std::fs::metadata(d.join(f)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    let info = openssl(
        d,
        &[
            "pkcs12",
            "-info",
            "-noout",
            "-in",
            "qs/client.p12",
            "-passin",
            "file:qs/client.p12.pass",
        ],
    )
    .ok();
    assert!(info.stderr.contains("AES-256-CBC"), "{}", info.stderr);
    let gw = d.join("qs/nginx").display().to_string();
    let main = d.join("qs/nginx/nginx-main.conf").display().to_string();
    tool(d, "nginx", &["-t", "-p", &gw, "-c", &main, "-e", "stderr"]).ok();
    // The quickstart config listens on 8443; to run it on a free port, export the same
    // certificates again with --listen and call it with the PKCS#12 file.
    let port = free_port();
    mtls(
        d,
        &[
            "--dir",
            "qs/pki",
            "export",
            "nginx",
            "--server",
            "qs/server",
            "--client",
            "qs/client",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--out",
            "gw",
        ],
    )
    .ok();
    let gw = d.join("gw").display().to_string();
    let main = d.join("gw/nginx-main.conf").display().to_string();
    let srv = Server::start(d, "nginx", &["-p", &gw, "-c", &main, "-e", "stderr"], port);
    let pass = std::fs::read_to_string(d.join("qs/client.p12.pass")).unwrap();
    let r = tool(
        d,
        "curl",
        &[
            "-sS",
            "--cert-type",
            "P12",
            "--cert",
            &format!("qs/client.p12:{}", pass.trim()),
            "--cacert",
            "qs/pki/ca.crt",
            &srv.url(),
        ],
    )
    .ok();
    assert!(r.stdout.contains("CN=client"), "{}", r.stdout);
}
