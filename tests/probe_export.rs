//! `probe` and `explain` against the nginx that `mtls-ca export nginx` writes (root →
//! intermediate → leaf, CRLs for both CAs): every client case is diagnosed from the client side,
//! and the logs that nginx wrote meanwhile are explained.
use crate::common;
use crate::export_support;

use common::*;
use export_support::*;

fn codes(j: &serde_json::Value, key: &str) -> Vec<String> {
    j[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn probe_and_explain_the_exported_nginx() {
    let k = pki();
    let d = k.dir();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    k.int(&[
        "export",
        "nginx",
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
        "gw",
    ])
    .ok();
    let gw = k.s("gw");
    let main = k.s("gw/nginx-main.conf");
    let _srv = Server::start(d, "nginx", &["-p", &gw, "-c", &main, "-e", "stderr"], port);
    // api.example.com does not resolve here: connect to 127.0.0.1 with the name as SNI.
    let target = format!("127.0.0.1:{port}");
    let probe = |extra: &[&str]| {
        let mut args = vec![
            "--json",
            "probe",
            &target,
            "--servername",
            "api.example.com",
            "--ca",
            "pki/ca.crt",
            "--timeout",
            "5",
        ];
        args.extend_from_slice(extra);
        let r = mtls(d, &args);
        (r.code, r.json())
    };
    // Alice with her fullchain: accepted, the chain nginx serves is complete, resumption works.
    let (code, j) = probe(&["--cert", "alice.fullchain.crt", "--key", "alice.key"]);
    assert_eq!(code, 0, "{j}");
    assert_eq!(j["server_chain_valid"], true);
    assert_eq!(
        j["server_chain"].as_array().unwrap().len(),
        2,
        "leaf + intermediate"
    );
    assert_eq!(j["resumed"], true, "{j}");
    assert!(j["acceptable_client_cas"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c.as_str().unwrap().contains("Export Test Issuing CA")));
    // No certificate, another CA, revoked: nginx answers 400, probe says which.
    let (code, j) = probe(&[]);
    assert_eq!((code, j["http_status"].as_u64()), (1, Some(400)));
    assert_eq!(codes(&j, "diagnosis"), ["client_cert_required"]);
    let (code, j) = probe(&["--cert", "mallory.crt", "--key", "mallory.key"]);
    assert_eq!(code, 1);
    // nginx only says 400 "The SSL certificate error": probe checks the certificate itself.
    assert_eq!(codes(&j, "diagnosis"), ["client_cert_unknown_issuer"]);
    let (code, j) = probe(&["--cert", "bob.fullchain.crt", "--key", "bob.key"]);
    assert_eq!(code, 1);
    assert_eq!(codes(&j, "diagnosis"), ["client_cert_rejected"]);

    // What nginx wrote meanwhile, explained (once it has written all three failures).
    poll_until(std::time::Duration::from_secs(10), || {
        let r = mtls(d, &["--json", "explain", "gw/error.log"]);
        let found = codes(&r.json(), "findings");
        ["no_client_cert", "unknown_issuer", "cert_revoked"]
            .iter()
            .all(|want| found.iter().any(|c| c == want))
    });
    let r = mtls(d, &["--json", "explain", "gw/error.log"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let found = codes(&r.json(), "findings");
    for want in ["no_client_cert", "unknown_issuer", "cert_revoked"] {
        assert!(found.iter().any(|c| c == want), "{want} not in {found:?}");
    }
    let r = mtls(d, &["--json", "explain", "gw/access.log"]);
    let found = codes(&r.json(), "findings");
    assert!(found.iter().any(|c| c == "cert_revoked"), "{found:?}");
    assert!(
        r.json()["ok"].as_u64().unwrap() >= 1,
        "alice's requests were successes"
    );
}
