//! Name constraints at issuance: a CA refuses leaves whose SANs or CN fall outside its own
//! constraints or a parent's (DNS, IP, e-mail, URI), on every path that makes a leaf.
use crate::common::*;
use crate::core_support::*;

#[track_caller]
fn refused(d: &std::path::Path, args: &[&str], name: &str, constraint: &str) {
    let r = expect_bad_input(d, args, name);
    let line = r.stderr.lines().find(|l| l.starts_with("error:")).unwrap();
    assert!(line.contains(constraint), "{line}");
}

#[test]
fn own_constraints_refuse_dns_ip_email_and_cn() {
    let t = tempdir();
    let d = t.path();
    mtls(
        d,
        &[
            "init",
            "--cn",
            "Constrained Root",
            "--permit-dns",
            "example.com",
            "--permit-ip",
            "10.0.0.0/8",
            "--permit-email",
            "example.com",
            "--exclude-dns",
            "secret.example.com",
            "--exclude-ip",
            "10.66.0.0/16",
        ],
    )
    .ok();
    pkilint_cert(d, &d.join("pki/ca.crt"));
    // The issue's own example: evil.com and 192.168.1.1 used to be issued with exit 0.
    refused(
        d,
        &["issue", "server", "--cn", "evil.com"],
        "evil.com",
        "DNS:example.com",
    );
    refused(
        d,
        &[
            "issue",
            "server",
            "--cn",
            "api.example.com",
            "--san",
            "192.168.1.1",
        ],
        "192.168.1.1",
        "IP:10.0.0.0/8",
    );
    refused(
        d,
        &["issue", "server", "--cn", "db.secret.example.com"],
        "db.secret.example.com",
        "excluded subtree DNS:secret.example.com",
    );
    refused(
        d,
        &[
            "issue",
            "server",
            "--cn",
            "api.example.com",
            "--san",
            "10.66.1.1",
        ],
        "10.66.1.1",
        "excluded subtree IP:10.66.0.0/16",
    );
    refused(
        d,
        &[
            "issue",
            "client",
            "--cn",
            "alice",
            "--san",
            "alice@evil.com",
        ],
        "alice@evil.com",
        "email:example.com",
    );
    // A client CN that reads as a host name or e-mail address is checked too.
    refused(
        d,
        &["issue", "client", "--cn", "admin.evil.com"],
        "admin.evil.com",
        "DNS:example.com",
    );
    refused(
        d,
        &["issue", "client", "--cn", "eve@evil.com"],
        "eve@evil.com",
        "email:example.com",
    );
    // sign: the CSR's names are checked the same way.
    mtls(
        d,
        &[
            "csr",
            "--cn",
            "api.example.com",
            "--san",
            "evil.com",
            "--out",
            "bad",
        ],
    )
    .ok();
    refused(
        d,
        &["sign", "bad.csr", "--profile", "server"],
        "evil.com",
        "DNS:example.com",
    );
    // batch: the line is named, nothing of the chunk is written.
    std::fs::write(d.join("hosts.csv"), "a.example.com,,a\nevil.com,,b\n").unwrap();
    let r = expect_bad_input(d, &["issue", "server", "--batch", "hosts.csv"], "hosts.csv");
    assert!(
        r.stderr.contains("hosts.csv:2") && r.stderr.contains("evil.com"),
        "{}",
        r.stderr
    );
    // Names inside are issued and verify with openssl (which enforces the constraints too).
    mtls(
        d,
        &[
            "issue",
            "server",
            "--cn",
            "api.example.com",
            "--san",
            "10.1.2.3",
            "--out",
            "api",
        ],
    )
    .ok();
    mtls(
        d,
        &[
            "issue",
            "client",
            "--cn",
            "alice",
            "--san",
            "alice@example.com",
            "--out",
            "alice",
        ],
    )
    .ok();
    verify(d, "pki/ca.crt", None, "sslserver", &[], "api.crt").ok();
    verify(d, "pki/ca.crt", None, "sslclient", &[], "alice.crt").ok();
    for c in ["api.crt", "alice.crt"] {
        pkilint_cert(d, &d.join(c));
        pkilint_chain(d, &d.join("pki/ca.crt"), &d.join(c));
    }
}

#[test]
fn a_parents_uri_and_dns_constraints_bind_the_intermediate() {
    let t = tempdir();
    let d = t.path();
    // A root made elsewhere (openssl) with URI and DNS constraints, adopted by mtls-ca.
    openssl_p256_key(d, "root.key");
    std::fs::write(
        d.join("root.cnf"),
        "[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = v3\n[dn]\nCN = URI Constrained Root\n[v3]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash\nnameConstraints = critical, permitted;URI:example.org, permitted;DNS:example.org\n",
    )
    .unwrap();
    openssl(
        d,
        &[
            "req", "-x509", "-new", "-key", "root.key", "-config", "root.cnf", "-days", "3650",
            "-out", "root.crt",
        ],
    )
    .ok();
    pkilint_cert(d, &d.join("root.crt"));
    mtls(
        d,
        &[
            "--dir",
            "root",
            "init",
            "--import-cert",
            "root.crt",
            "--import-key",
            "root.key",
        ],
    )
    .ok();
    mtls(
        d,
        &[
            "--dir",
            "int",
            "init",
            "--parent",
            "root",
            "--cn",
            "Mesh Issuing CA",
        ],
    )
    .ok();
    refused(
        d,
        &[
            "--dir",
            "int",
            "issue",
            "client",
            "--cn",
            "orders",
            "--san",
            "spiffe://evil.org/ns/prod/sa/orders",
        ],
        "spiffe://evil.org/ns/prod/sa/orders",
        "URI:example.org",
    );
    refused(
        d,
        &["--dir", "int", "issue", "server", "--cn", "api.example.com"],
        "api.example.com",
        "CN=URI Constrained Root",
    );
    mtls(
        d,
        &[
            "--dir",
            "int",
            "issue",
            "client",
            "--cn",
            "orders",
            "--san",
            "spiffe://example.org/ns/prod/sa/orders",
            "--out",
            "orders",
        ],
    )
    .ok();
    verify(
        d,
        "root/ca.crt",
        Some("int/ca.crt"),
        "sslclient",
        &[],
        "orders.crt",
    )
    .ok();
    pkilint_cert(d, &d.join("int/ca.crt"));
    pkilint_chain(d, &d.join("root/ca.crt"), &d.join("int/ca.crt"));
    pkilint_allowing(
        d,
        &d.join("int/ca.crt"),
        &d.join("orders.crt"),
        &[(
            "pkix.invalid_uri_syntax",
            "spiffe://example.org/ns/prod/sa/orders",
        )],
    );
}
