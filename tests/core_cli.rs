//! The command-line contract (docs/cli.md): JSON shapes of `issue` and
//! `list`, exactly one JSON document on stdout with status lines on stderr, SAN type detection,
//! what goes in the certificates (checked with openssl), `list --status`, and every command's
//! `--help` carrying EXAMPLES and EXIT CODES.
use crate::common;
use crate::core_support;

use common::*;
use core_support::*;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn rfc3339(v: &serde_json::Value) -> OffsetDateTime {
    OffsetDateTime::parse(v.as_str().expect("a string"), &Rfc3339)
        .unwrap_or_else(|e| panic!("not RFC 3339: {v} ({e})"))
}

#[test]
fn issue_json_shape() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init"]).ok();
    let before = OffsetDateTime::now_utc();
    let r = mtls(
        d,
        &[
            "--json",
            "issue",
            "server",
            "--cn",
            "API.Example.com",
            "--san",
            "127.0.0.1",
            "--san",
            "::1",
            "--san",
            "www.example.com",
            "--out",
            "certs/api",
        ],
    )
    .ok();
    let j = r.json();
    // Status lines went to stderr, stdout holds the document only.
    assert!(r.stderr.contains("certs/api.crt"), "{}", r.stderr);
    assert!(r.stdout.trim_start().starts_with('{') && r.stdout.trim_end().ends_with('}'));
    let serial = j["serial"].as_str().unwrap();
    assert!(serial
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_eq!(j["subject"], "CN=api.example.com");
    assert_eq!(j["profile"], "server");
    assert_eq!(
        j["sans"],
        serde_json::json!(["api.example.com", "127.0.0.1", "::1", "www.example.com"])
    );
    let nb = rfc3339(&j["not_before"]);
    let na = rfc3339(&j["not_after"]);
    assert!(
        nb <= before - time::Duration::minutes(4),
        "notBefore is backdated"
    );
    assert_eq!(
        na - nb,
        time::Duration::days(365) + time::Duration::minutes(5)
    );
    assert_eq!(j["files"]["cert"], "certs/api.crt");
    assert_eq!(j["files"]["key"], "certs/api.key");
    assert_eq!(j["files"]["fullchain"], "certs/api.fullchain.crt");
    // The JSON describes the file that was written.
    let der = pem_certs(&d.join("certs/api.crt")).pop().unwrap();
    assert_eq!(serial_hex(&der), serial);

    pkilint_cert(d, &d.join("certs/api.crt"));
    pkilint_chain(d, &d.join("pki/ca.crt"), &d.join("certs/api.crt"));
    // What openssl sees in it.
    let text = openssl(d, &["x509", "-in", "certs/api.crt", "-noout", "-text"])
        .ok()
        .stdout;
    for want in [
        "DNS:api.example.com",
        "IP Address:127.0.0.1",
        "IP Address:0:0:0:0:0:0:0:1",
        "DNS:www.example.com",
        "X509v3 Key Usage: critical",
        "X509v3 Basic Constraints: critical",
        "CA:FALSE",
        "TLS Web Server Authentication",
        "X509v3 Subject Key Identifier",
        "X509v3 Authority Key Identifier",
    ] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
    assert!(!text.contains("TLS Web Client Authentication"), "{text}");
    assert!(!text.contains("Key Encipherment"), "EC key: {text}");
    // The AKI is the CA's SKI.
    let ski = openssl(
        d,
        &[
            "x509",
            "-in",
            "pki/ca.crt",
            "-noout",
            "-ext",
            "subjectKeyIdentifier",
        ],
    )
    .ok()
    .stdout;
    let aki = openssl(
        d,
        &[
            "x509",
            "-in",
            "certs/api.crt",
            "-noout",
            "-ext",
            "authorityKeyIdentifier",
        ],
    )
    .ok()
    .stdout;
    let ski = ski.lines().nth(1).unwrap().trim();
    assert!(aki.contains(ski), "AKI {aki} != CA SKI {ski}");
}

#[test]
fn client_san_types_and_rsa_key_usage() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init"]).ok();
    let j = mtls(
        d,
        &[
            "--json",
            "issue",
            "client",
            "--cn",
            "alice",
            "--san",
            "alice@example.com",
            "--san",
            "spiffe://example.org/ns/prod/sa/alice",
            "--san",
            "alice.example.com",
            "--san",
            "10.1.2.3",
        ],
    )
    .ok()
    .json();
    assert_eq!(j["subject"], "CN=alice");
    assert_eq!(j["profile"], "client");
    assert_eq!(j["files"]["cert"], "alice.crt");
    let text = openssl(d, &["x509", "-in", "alice.crt", "-noout", "-text"])
        .ok()
        .stdout;
    for want in [
        "email:alice@example.com",
        "URI:spiffe://example.org/ns/prod/sa/alice",
        "DNS:alice.example.com",
        "IP Address:10.1.2.3",
        "TLS Web Client Authentication",
    ] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
    assert!(!text.contains("TLS Web Server Authentication"), "{text}");
    pkilint_allowing(
        d,
        &d.join("pki/ca.crt"),
        &d.join("alice.crt"),
        &[(
            "pkix.invalid_uri_syntax",
            "spiffe://example.org/ns/prod/sa/alice",
        )],
    );
    // RSA server keys get keyEncipherment, RSA client keys do not.
    mtls(
        d,
        &[
            "issue",
            "server",
            "--cn",
            "rsa.example.com",
            "--key-type",
            "rsa-2048",
        ],
    )
    .ok();
    let text = openssl(
        d,
        &["x509", "-in", "rsa.example.com.crt", "-noout", "-text"],
    )
    .ok()
    .stdout;
    assert!(
        text.contains("Digital Signature, Key Encipherment"),
        "{text}"
    );
    mtls(
        d,
        &[
            "issue",
            "client",
            "--cn",
            "rsa-client",
            "--key-type",
            "rsa-2048",
        ],
    )
    .ok();
    let text = openssl(d, &["x509", "-in", "rsa-client.crt", "-noout", "-text"])
        .ok()
        .stdout;
    assert!(!text.contains("Key Encipherment"), "{text}");
    for c in ["pki/ca.crt", "rsa.example.com.crt", "rsa-client.crt"] {
        pkilint_cert(d, &d.join(c));
    }
    pkilint_chain(d, &d.join("pki/ca.crt"), &d.join("rsa.example.com.crt"));
    pkilint_chain(d, &d.join("pki/ca.crt"), &d.join("rsa-client.crt"));
    // The root: CA:TRUE critical, keyCertSign + cRLSign critical, no pathlen by default.
    let text = openssl(d, &["x509", "-in", "pki/ca.crt", "-noout", "-text"])
        .ok()
        .stdout;
    assert!(
        text.contains("CA:TRUE") && !text.contains("pathlen"),
        "{text}"
    );
    assert!(text.contains("Certificate Sign, CRL Sign"), "{text}");
}

#[test]
fn list_json_shape_and_status() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init"]).ok();
    let s = mtls(
        d,
        &[
            "--json",
            "issue",
            "server",
            "--cn",
            "api.example.com",
            "--san",
            "10.0.0.5",
        ],
    )
    .ok()
    .json();
    let c = mtls(
        d,
        &["--json", "issue", "client", "--cn", "bob", "--days", "30"],
    )
    .ok()
    .json();
    let r = mtls(d, &["--json", "list"]).ok();
    assert!(
        r.stderr.is_empty() || !r.stderr.contains('{'),
        "{}",
        r.stderr
    );
    let j = r.json();
    let certs = j["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 3);
    for e in certs {
        for key in [
            "serial",
            "subject",
            "profile",
            "sans",
            "not_after",
            "status",
        ] {
            assert!(e.get(key).is_some(), "{key} missing in {e}");
        }
        assert!(e["sans"].is_array());
        rfc3339(&e["not_after"]);
        assert_eq!(e["status"], "valid");
    }
    assert_eq!(certs[0]["profile"], "root");
    assert_eq!(certs[1]["serial"], s["serial"]);
    assert_eq!(certs[1]["subject"], "CN=api.example.com");
    assert_eq!(
        certs[1]["sans"],
        serde_json::json!(["api.example.com", "10.0.0.5"])
    );
    assert_eq!(certs[1]["not_after"], s["not_after"]);
    assert_eq!(certs[2]["serial"], c["serial"]);
    assert_eq!(certs[2]["profile"], "client");

    let valid = mtls(d, &["--json", "list", "--status", "valid"])
        .ok()
        .json();
    assert_eq!(valid["certificates"].as_array().unwrap().len(), 3);
    for st in ["expired", "revoked"] {
        let j = mtls(d, &["--json", "list", "--status", st]).ok().json();
        assert_eq!(j["certificates"], serde_json::json!([]), "{st}");
    }
    expect_bad_input(d, &["list", "--status", "bogus"], "bogus");
    // Plain text: a header and one line per certificate, on stdout.
    let text = mtls(d, &["list"]).ok().stdout;
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(text.contains(s["serial"].as_str().unwrap()));
    // -q silences status lines.
    let q = mtls(d, &["-q", "issue", "client", "--cn", "quiet"]).ok();
    assert!(q.stderr.is_empty(), "{}", q.stderr);
}

#[test]
fn init_json_and_env_dir() {
    let t = tempdir();
    let d = t.path();
    let j = mtls(
        d,
        &[
            "--json",
            "--dir",
            "ca1",
            "init",
            "--cn",
            "Acme Root",
            "--org",
            "Acme",
            "--days",
            "100",
        ],
    )
    .ok()
    .json();
    assert_eq!(j["profile"], "root");
    assert!(j["subject"].as_str().unwrap().contains("CN=Acme Root"));
    assert!(j["subject"].as_str().unwrap().contains("O=Acme"));
    assert_eq!(j["files"]["cert"], "ca1/ca.crt");
    assert_eq!(j["files"]["key"], "ca1/ca.key");
    assert_eq!(j["files"]["fullchain"], "ca1/ca-chain.crt");
    assert_eq!(
        rfc3339(&j["not_after"]) - rfc3339(&j["not_before"]),
        time::Duration::days(100) + time::Duration::minutes(5)
    );
    // MTLS_CA_DIR selects the CA directory.
    let out = std::process::Command::new(bin())
        .args(["--json", "issue", "client", "--cn", "env-client"])
        .current_dir(d)
        .env("MTLS_CA_DIR", "ca1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    verify(d, "ca1/ca.crt", None, "sslclient", &[], "env-client.crt").ok();
    // The default leaf validity is capped by a short-lived CA, with a warning.
    let j = mtls(
        d,
        &[
            "--json", "--dir", "ca1", "issue", "client", "--cn", "capped",
        ],
    )
    .ok()
    .json();
    assert!(!j["warnings"].as_array().unwrap().is_empty(), "{j}");
    for c in ["ca1/ca.crt", "env-client.crt", "capped.crt"] {
        pkilint_cert(d, &d.join(c));
    }
    pkilint_chain(d, &d.join("ca1/ca.crt"), &d.join("capped.crt"));
    let ca = mtls(d, &["--json", "--dir", "ca1", "list"]).ok().json();
    assert_eq!(j["not_after"], ca["certificates"][0]["not_after"]);
}

#[test]
fn quickstart_json_and_next_steps() {
    let t = tempdir();
    let d = t.path();
    let r = mtls(d, &["--json", "quickstart", "--out", "qs"]).ok();
    let j = r.json();
    for part in ["ca", "server", "client"] {
        assert!(j[part]["serial"].is_string(), "{part}: {j}");
    }
    assert!(
        r.stderr.contains("openssl s_server") && r.stderr.contains("curl --cert"),
        "{}",
        r.stderr
    );
    assert!(j["next_steps"].as_array().unwrap().len() >= 2);
    assert_eq!(
        j["server"]["sans"],
        serde_json::json!(["localhost", "127.0.0.1", "::1"])
    );
    // Running it twice refuses to overwrite.
    expect_bad_input(d, &["quickstart", "--out", "qs"], "qs");
}

#[test]
fn every_help_has_examples_and_exit_codes() {
    let t = tempdir();
    let d = t.path();
    for cmd in [
        vec![],
        vec!["init"],
        vec!["ca"],
        vec!["ca", "init"],
        vec!["issue"],
        vec!["issue", "server"],
        vec!["issue", "client"],
        vec!["list"],
        vec!["quickstart"],
    ] {
        let mut args = cmd.clone();
        args.push("--help");
        let r = mtls(d, &args).ok();
        assert!(
            r.stdout.contains("EXAMPLES") && r.stdout.contains("EXIT CODES"),
            "mtls-ca {} --help:\n{}",
            cmd.join(" "),
            r.stdout
        );
    }
    // Usage errors exit 2 too.
    assert_eq!(mtls(d, &["issue", "server"]).code, 2);
    assert_eq!(mtls(d, &["no-such-command"]).code, 2);
    assert!(mtls(d, &["--version"]).ok().stdout.starts_with("mtls-ca "));
}

/// SKI = RFC 7093 method 1 (leftmost 160 bits of SHA-256 of the subjectPublicKey bits) on every
/// certificate; AKI = the issuer's SKI byte for byte.
#[test]
fn ski_is_rfc7093_method_1_and_aki_matches() {
    use x509_parser::extensions::ParsedExtension;
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "root", "init", "--key-type", "rsa-2048"]).ok();
    mtls(
        d,
        &[
            "--dir",
            "sub",
            "init",
            "--parent",
            "root",
            "--key-type",
            "ed25519",
        ],
    )
    .ok();
    mtls(
        d,
        &[
            "--dir",
            "sub",
            "issue",
            "server",
            "--cn",
            "api.example.com",
            "--key-type",
            "ecdsa-p384",
        ],
    )
    .ok();
    mtls(
        d,
        &[
            "--dir",
            "sub",
            "issue",
            "client",
            "--cn",
            "bob",
            "--key-type",
            "rsa-2048",
        ],
    )
    .ok();
    let ids = |file: &str| {
        let der = pem_certs(&d.join(file)).pop().unwrap();
        let (_, c) = x509_parser::parse_x509_certificate(&der).unwrap();
        let spk = c.public_key().subject_public_key.data.to_vec();
        let want = ring::digest::digest(&ring::digest::SHA256, &spk).as_ref()[..20].to_vec();
        let (mut ski, mut aki) = (None, None);
        for e in c.extensions() {
            match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(k) => ski = Some(k.0.to_vec()),
                ParsedExtension::AuthorityKeyIdentifier(a) => {
                    aki = a.key_identifier.as_ref().map(|k| k.0.to_vec())
                }
                _ => {}
            }
        }
        assert_eq!(
            ski.as_ref(),
            Some(&want),
            "{file}: SKI is not RFC 7093 method 1"
        );
        (ski.unwrap(), aki)
    };
    let (root_ski, _) = ids("root/ca.crt");
    let (sub_ski, sub_aki) = ids("sub/ca.crt");
    assert_eq!(sub_aki, Some(root_ski));
    for leaf in ["api.example.com.crt", "bob.crt"] {
        let (_, aki) = ids(leaf);
        assert_eq!(aki.as_ref(), Some(&sub_ski), "{leaf}");
        pkilint_cert(d, &d.join(leaf));
        pkilint_chain(d, &d.join("sub/ca.crt"), &d.join(leaf));
    }
    pkilint_cert(d, &d.join("root/ca.crt"));
    pkilint_cert(d, &d.join("sub/ca.crt"));
    pkilint_chain(d, &d.join("root/ca.crt"), &d.join("sub/ca.crt"));
    verify(
        d,
        "root/ca.crt",
        Some("sub/ca.crt"),
        "sslserver",
        &["-verify_hostname", "api.example.com"],
        "api.example.com.crt",
    )
    .ok();
}

/// Status lines (stderr) say what was written where, for which names, until when; stdout is empty.
#[test]
fn status_lines_say_what_where_until_when() {
    let t = tempdir();
    let d = t.path();
    let r = mtls(d, &["init"]).ok();
    assert!(
        r.stderr.contains("pki/ca.key") && r.stderr.contains("0600"),
        "{}",
        r.stderr
    );
    let r = mtls(
        d,
        &[
            "issue",
            "server",
            "--cn",
            "api.example.com",
            "--san",
            "10.0.0.5",
            "--days",
            "30",
        ],
    )
    .ok();
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    let until = OffsetDateTime::now_utc() + time::Duration::days(30);
    let date = format!(
        "{:04}-{:02}-{:02}",
        until.year(),
        u8::from(until.month()),
        until.day()
    );
    let yesterday = until - time::Duration::days(1);
    let date2 = format!(
        "{:04}-{:02}-{:02}",
        yesterday.year(),
        u8::from(yesterday.month()),
        yesterday.day()
    );
    for want in [
        "api.example.com, 10.0.0.5",
        "api.example.com.crt",
        "api.example.com.key (0600",
        "api.example.com.fullchain.crt",
    ] {
        assert!(r.stderr.contains(want), "{want} missing:\n{}", r.stderr);
    }
    assert!(
        r.stderr.contains(&date) || r.stderr.contains(&date2),
        "no expiry date:\n{}",
        r.stderr
    );
    pkilint_cert(d, &d.join("api.example.com.crt"));
}

/// Dates from 2050 are GeneralizedTime, earlier ones UTCTime; both lint clean.
#[test]
fn validity_encoding_around_2050() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init", "--days", "36500"]).ok();
    mtls(
        d,
        &["issue", "client", "--cn", "long-lived", "--days", "9500"],
    )
    .ok();
    for (file, want_gt) in [("pki/ca.crt", true), ("long-lived.crt", true)] {
        let der = pem_certs(&d.join(file)).pop().unwrap();
        let (_, c) = x509_parser::parse_x509_certificate(&der).unwrap();
        let v = c.validity();
        assert!(v.not_before.to_datetime().year() < 2050);
        assert_eq!(v.not_after.to_datetime().year() >= 2050, want_gt, "{file}");
        // Inspect the raw encoding: notBefore is UTCTime (tag 0x17), notAfter GeneralizedTime (0x18).
        let asn1 = openssl(d, &["asn1parse", "-in", file]).ok().stdout;
        assert!(
            asn1.contains(" UTCTIME ") && asn1.contains(" GENERALIZEDTIME "),
            "{file}:\n{asn1}"
        );
        pkilint_cert(d, &d.join(file));
    }
    pkilint_chain(d, &d.join("pki/ca.crt"), &d.join("long-lived.crt"));
}

/// `.ci/run` runs `scripts/test`, which installs the tools and runs fmt, clippy and every test.
#[test]
fn ci_runs_scripts_test() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    assert!(ci.contains("exec scripts/test"), "{ci}");
    let st = std::fs::read_to_string(root.join("scripts/test")).unwrap();
    for want in [
        "apt-get install",
        "openssl",
        "python3-venv",
        "pkilint",
        "requests",
        "cargo fmt --check",
        "cargo clippy --locked --all-targets --features interop -- -D warnings",
        "cargo test --locked --all-targets --features interop",
    ] {
        assert!(st.contains(want), "scripts/test lacks {want}");
    }
    for f in [".ci/run", "scripts/test"] {
        assert_eq!(mode(&root.join(f)) & 0o111, 0o111, "{f} is not executable");
    }
}
