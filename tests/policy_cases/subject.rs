//! `--subject`: O/OU/C for leaves and CAs, RFC 4514 in and out; nginx's `$ssl_client_s_dn`
//! shows exactly what was issued; names that could mislead are refused or printed escaped.
use crate::common::*;
use crate::core_support::*;

#[test]
fn subject_attributes_reach_nginx_exactly_as_issued() {
    let t = tempdir();
    let d = t.path();
    mtls(
        d,
        &[
            "init",
            "--cn",
            "Acme Root",
            "--subject",
            "OU=Security,O=Acme\\, Inc.,C=US",
        ],
    )
    .ok();
    mtls(d, &["issue", "server", "--cn", "localhost", "--out", "api"]).ok();
    let subject = "OU=Payments,O=Acme\\, Inc.,C=US";
    let j = mtls(
        d,
        &[
            "--json",
            "issue",
            "client",
            "--cn",
            "alice",
            "--subject",
            subject,
            "--out",
            "alice",
        ],
    )
    .ok()
    .json();
    // JSON and list print the name in certificate order with RFC 4514 escaping.
    assert_eq!(j["subject"], "C=US, O=Acme\\, Inc., OU=Payments, CN=alice");
    let l = mtls(d, &["--json", "list"]).ok().json();
    assert!(
        l["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["subject"] == "C=US, O=Acme\\, Inc., OU=Payments, CN=alice"),
        "{l}"
    );
    let rfc2253 = openssl(
        d,
        &[
            "x509",
            "-in",
            "alice.crt",
            "-noout",
            "-subject",
            "-nameopt",
            "RFC2253",
        ],
    )
    .ok()
    .stdout;
    let expected = format!("CN=alice,{subject}");
    assert_eq!(rfc2253.trim(), format!("subject={expected}"));
    pkilint_cert(d, &d.join("pki/ca.crt"));
    // pkilint refuses the single-label "localhost" (see pkilint_allowing).
    for c in ["alice.crt", "api.crt"] {
        pkilint_allowing(
            d,
            &d.join("pki/ca.crt"),
            &d.join(c),
            &[("pkix.invalid_domain_name_syntax", "localhost")],
        );
    }
    verify(d, "pki/ca.crt", None, "sslclient", &[], "alice.crt").ok();
    // A real nginx answers with $ssl_client_s_dn.
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    mtls(
        d,
        &[
            "export", "nginx", "--server", "api", "--client", "alice", "--listen", &listen,
            "--out", "gw",
        ],
    )
    .ok();
    let gw = d.join("gw").display().to_string();
    let main = d.join("gw/nginx-main.conf").display().to_string();
    let _srv = Server::start(d, "nginx", &["-p", &gw, "-c", &main, "-e", "stderr"], port);
    let out = tool(
        d,
        "curl",
        &[
            "-sS",
            "--max-time",
            "20",
            "--cacert",
            "pki/ca.crt",
            "--cert",
            "alice.fullchain.crt",
            "--key",
            "alice.key",
            &format!("https://localhost:{port}/"),
        ],
    )
    .ok();
    assert_eq!(out.stdout.trim(), format!("hello {expected}"));
}

#[test]
fn misleading_names_are_refused_or_escaped() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init", "--cn", "Root"]).ok();
    for (flag, value, says) in [
        ("--cn", "adm\u{202E}nimda", "bidirectional"),
        ("--cn", "ad\u{200B}min", "zero-width"),
        ("--subject", "O=Ac\u{2066}me", "bidirectional"),
        ("--subject", "CN=admin", "--cn"),
        ("--subject", "O=Acme+OU=x", "multi-valued"),
        ("--subject", "C=USA", "country"),
        ("--subject", "Organisation", "TYPE=VALUE"),
    ] {
        let mut args = vec!["issue", "client", flag, value];
        if flag != "--cn" {
            args.extend(["--cn", "alice"]);
        }
        let r = expect_bad_input(d, &args, flag);
        assert!(r.stderr.contains(says), "{value:?}: {}", r.stderr);
    }
    // A CN holding ", CN=admin" stays one attribute, in the certificate and in every output.
    let j = mtls(
        d,
        &[
            "--json",
            "issue",
            "client",
            "--cn",
            "bob, CN=admin",
            "--out",
            "bob",
        ],
    )
    .ok()
    .json();
    assert_eq!(j["subject"], "CN=bob\\, CN\\=admin");
    let i = mtls(d, &["--json", "inspect", "bob.crt"]).ok().json();
    assert!(i.to_string().contains("CN=bob\\\\, CN\\\\=admin"), "{i}");
    let text = mtls(d, &["list"]).ok().stdout;
    assert!(text.contains("CN=bob\\, CN\\=admin"), "{text}");
    let cns = openssl(
        d,
        &[
            "x509", "-in", "bob.crt", "-noout", "-subject", "-nameopt", "RFC2253",
        ],
    )
    .ok()
    .stdout;
    // openssl escapes the comma only; still one attribute.
    assert_eq!(cns.trim(), "subject=CN=bob\\, CN=admin");
    pkilint_cert(d, &d.join("bob.crt"));
}
