//! Profiles as data: `DIR/profiles.toml` profiles issue with their EKUs (custom OIDs too),
//! validity and key types, and their name policy refuses out-of-policy names in issue, batch,
//! sign and renew; a bad file is refused naming the value; `profile list|show`.
use std::path::Path;

use crate::common::*;
use crate::core_support::*;

const SPIFFE: &str = "spiffe://example.org/ns/prod/sa/web";

const PROFILES: &str = r#"
[profile.mesh]
description = "services in the mesh"
extended_key_usage = ["serverAuth", "clientAuth", "1.3.6.1.4.1.55555.1.2"]
default_validity = "30d"
max_validity = "90d"
key_types = ["ecdsa-p256", "rsa-2048"]

[profile.mesh.policy]
dns = ["*.mesh.example.com"]
ip = ["10.0.0.0/8"]
uri = ["spiffe://example.org/ns/*"]

[profile.ci]
description = "CI jobs: client certificates for their own identities"
extended_key_usage = ["clientAuth"]
max_validity = "7d"

[profile.ci.policy]
cn = ["ci-*"]
email = ["ci.example.com"]
"#;

fn setup(d: &Path) {
    mtls(d, &["init", "--cn", "Policy Root"]).ok();
    std::fs::write(d.join("pki/profiles.toml"), PROFILES).unwrap();
}

#[track_caller]
fn lint(d: &Path, cert: &str) {
    verify(d, "pki/ca.crt", None, "any", &[], cert).ok();
    pkilint_allowing(
        d,
        &d.join("pki/ca.crt"),
        &d.join(cert),
        &[("pkix.invalid_uri_syntax", SPIFFE)],
    );
}

/// `error:` line of a refused run, checked to name `value` and to contain `rule`.
#[track_caller]
fn refused(d: &Path, args: &[&str], value: &str, rule: &str) {
    let r = expect_bad_input(d, args, value);
    let line = r.stderr.lines().find(|l| l.starts_with("error:")).unwrap();
    assert!(line.contains(rule), "{args:?}: {line}");
}

#[test]
fn a_file_profile_issues_with_its_custom_eku_validity_and_key_types() {
    let t = tempdir();
    let d = t.path();
    setup(d);
    let r = mtls(
        d,
        &[
            "--json",
            "issue",
            "--profile",
            "mesh",
            "--cn",
            "web.mesh.example.com",
            "--san",
            SPIFFE,
            "--san",
            "10.1.2.3",
            "--out",
            "web",
        ],
    )
    .ok();
    let j = r.json();
    assert_eq!(j["file_profile"], "mesh", "{}", r.stdout);
    assert_eq!(j["profile"], "server-client", "{}", r.stdout);
    let text = openssl(d, &["x509", "-in", "web.crt", "-noout", "-text"])
        .ok()
        .stdout;
    assert!(
        text.contains(
            "TLS Web Server Authentication, TLS Web Client Authentication, 1.3.6.1.4.1.55555.1.2"
        ),
        "{text}"
    );
    assert!(!text.contains("Key Encipherment"), "EC key: {text}");
    // default_validity = 30d (+ the 5-minute backdate).
    let days = openssl(
        d,
        &["x509", "-in", "web.crt", "-noout", "-checkend", "2592000"],
    );
    assert_eq!(days.code, 1, "expires within 30 days: {}", days.stdout);
    openssl(
        d,
        &["x509", "-in", "web.crt", "-noout", "-checkend", "2580000"],
    )
    .ok();
    for purpose in ["sslserver", "sslclient"] {
        verify(d, "pki/ca.crt", None, purpose, &[], "web.crt").ok();
    }
    lint(d, "web.crt");
    // An RSA key (allowed) gets keyEncipherment by the server-like default.
    mtls(
        d,
        &[
            "issue",
            "--profile",
            "mesh",
            "--cn",
            "db.mesh.example.com",
            "--key-type",
            "rsa-2048",
            "--days",
            "90",
            "--out",
            "db",
        ],
    )
    .ok();
    let ku = openssl(d, &["x509", "-in", "db.crt", "-noout", "-ext", "keyUsage"])
        .ok()
        .stdout;
    assert!(ku.contains("Key Encipherment"), "{ku}");
    lint(d, "db.crt");
    // A client-like profile: CN by glob, no SAN needed.
    mtls(
        d,
        &[
            "issue",
            "--profile",
            "ci",
            "--cn",
            "ci-build-42",
            "--san",
            "job42@ci.example.com",
            "--out",
            "ci",
        ],
    )
    .ok();
    let eku = openssl(
        d,
        &[
            "x509",
            "-in",
            "ci.crt",
            "-noout",
            "-ext",
            "extendedKeyUsage",
        ],
    )
    .ok()
    .stdout;
    assert!(
        eku.contains("TLS Web Client Authentication") && !eku.contains("Server"),
        "{eku}"
    );
    lint(d, "ci.crt");
    // The store records the profile's name.
    let list = mtls(d, &["--json", "list"]).ok().json();
    let profiles: Vec<&str> = list["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["profile"].as_str().unwrap())
        .collect();
    assert_eq!(profiles, ["root", "mesh", "mesh", "ci"], "{list}");
}

#[test]
fn the_policy_refuses_out_of_policy_names_in_issue_batch_sign_and_renew() {
    let t = tempdir();
    let d = t.path();
    setup(d);
    let mesh = |rest: &[&'static str]| {
        let mut v = vec!["issue", "--profile", "mesh"];
        v.extend_from_slice(rest);
        v
    };
    // issue: CN, DNS, IP and URI names outside the policy, each named with its rule.
    refused(
        d,
        &mesh(&["--cn", "evil.com"]),
        "evil.com",
        r#"dns = ["*.mesh.example.com"]"#,
    );
    refused(
        d,
        &mesh(&["--cn", "a.b.mesh.example.com"]),
        "a.b.mesh.example.com",
        r#"dns = ["*.mesh.example.com"]"#,
    );
    refused(
        d,
        &mesh(&["--cn", "web.mesh.example.com", "--san", "192.168.1.1"]),
        "192.168.1.1",
        r#"ip = ["10.0.0.0/8"]"#,
    );
    refused(
        d,
        &mesh(&[
            "--cn",
            "web.mesh.example.com",
            "--san",
            "spiffe://evil.org/ns/x",
        ]),
        "spiffe://evil.org/ns/x",
        r#"uri = ["spiffe://example.org/ns/*"]"#,
    );
    refused(
        d,
        &mesh(&["--cn", "web.mesh.example.com", "--san", "a@example.com"]),
        "a@example.com",
        "allows no email names",
    );
    refused(
        d,
        &["issue", "--profile", "ci", "--cn", "admin"],
        "admin",
        r#"cn = ["ci-*"]"#,
    );
    // Validity above the maximum, a key type the profile does not allow.
    refused(
        d,
        &mesh(&["--cn", "web.mesh.example.com", "--days", "91"]),
        "91",
        "max_validity of profile \"mesh\" (90 days)",
    );
    refused(
        d,
        &mesh(&["--cn", "web.mesh.example.com", "--key-type", "ed25519"]),
        "ed25519",
        r#"key_types = ["ecdsa-p256", "rsa-2048"]"#,
    );
    // batch: one bad line refuses the chunk, naming the line and the name.
    std::fs::write(
        d.join("hosts.csv"),
        "a.mesh.example.com,10.0.0.1,a\nb.mesh.example.com,192.168.0.9,b\n",
    )
    .unwrap();
    let r = expect_bad_input(
        d,
        &["issue", "--profile", "mesh", "--batch", "hosts.csv"],
        "192.168.0.9",
    );
    assert!(r.stderr.contains("hosts.csv:2:"), "{}", r.stderr);
    // sign: the CSR's CN and SANs are covered.
    mtls(d, &["csr", "--cn", "evil.example.net", "--out", "evil"]).ok();
    mtls(
        d,
        &[
            "csr",
            "--cn",
            "api.mesh.example.com",
            "--san",
            "10.9.9.9",
            "--out",
            "api",
        ],
    )
    .ok();
    refused(
        d,
        &["sign", "evil.csr", "--profile", "mesh"],
        "evil.example.net",
        "outside the policy of profile \"mesh\"",
    );
    let j = mtls(d, &["--json", "sign", "api.csr", "--profile", "mesh"])
        .ok()
        .json();
    assert_eq!(j["file_profile"], "mesh");
    lint(d, "api.crt");
    // renew: the profile as the file says now. Tighten the policy: the renewal is refused.
    let issued = mtls(
        d,
        &mesh(&["--json", "--cn", "old.mesh.example.com", "--out", "old"]),
    );
    let issued = issued.ok().json();
    let serial = issued["serial"].as_str().unwrap().to_string();
    std::fs::write(
        d.join("pki/profiles.toml"),
        PROFILES.replace(
            r#"dns = ["*.mesh.example.com"]"#,
            r#"dns = ["*.new.example.com"]"#,
        ),
    )
    .unwrap();
    refused(
        d,
        &["renew", &serial],
        "old.mesh.example.com",
        r#"dns = ["*.new.example.com"]"#,
    );
    // Put the policy back: the same renewal works and keeps the profile.
    std::fs::write(d.join("pki/profiles.toml"), PROFILES).unwrap();
    let j = mtls(d, &["--json", "renew", &serial]).ok().json();
    assert_eq!(j["file_profile"], "mesh", "{j}");
    lint(d, "old.crt");
}

#[test]
fn bad_profile_files_are_refused_naming_the_value_and_nothing_is_written() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init", "--cn", "Policy Root"]).ok();
    let base = "[profile.p]\nextended_key_usage = [\"clientAuth\"]\n";
    for (file, value) in [
        (
            format!("{base}colour = \"red\"\n"),
            "unknown field `colour`",
        ),
        (
            format!("{base}[profile.p.policy]\nhosts = [\"x\"]\n"),
            "unknown field `hosts`",
        ),
        (
            "[profile.p]\nextended_key_usage = [\"1.3.6.x\"]\n".to_string(),
            "\"1.3.6.x\": not an OID",
        ),
        (
            "[profile.p]\nextended_key_usage = [\"webAuth\"]\n".to_string(),
            "\"webAuth\"",
        ),
        (
            format!("{base}[profile.p.policy]\ndns = [\"*.*.example.com\"]\n"),
            "policy.dns \"*.*.example.com\"",
        ),
        (
            format!("{base}[profile.p.policy]\nip = [\"10.0.0.0/33\"]\n"),
            "policy.ip \"10.0.0.0/33\"",
        ),
        (
            format!("{base}[profile.p.policy]\nuri = [\"example.org/ns/*\"]\n"),
            "policy.uri \"example.org/ns/*\"",
        ),
        (
            format!("{base}[profile.p.policy]\nemail = [\"*@example.com\"]\n"),
            "policy.email \"*@example.com\"",
        ),
        (
            format!("{base}max_validity = \"forever\"\n"),
            "max_validity \"forever\"",
        ),
        (
            format!("{base}key_types = [\"rsa-1024\"]\n"),
            "key_types \"rsa-1024\"",
        ),
        (
            "[profile.server]\nextended_key_usage = [\"clientAuth\"]\n".to_string(),
            "built-in profile cannot be redefined",
        ),
        ("[profile.p\n".to_string(), "profiles.toml: line 1"),
    ] {
        std::fs::write(d.join("pki/profiles.toml"), &file).unwrap();
        for args in [
            vec!["issue", "--profile", "p", "--cn", "alice"],
            vec!["profile", "list"],
        ] {
            let r = expect_bad_input(d, &args, value);
            assert!(r.stderr.contains("pki/profiles.toml"), "{}", r.stderr);
        }
    }
    // A profiles file another user could change is refused, with the chmod to run.
    std::fs::write(d.join("pki/profiles.toml"), base).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let p = d.join("pki/profiles.toml");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
    let r = expect_bad_input(
        d,
        &["issue", "--profile", "p", "--cn", "alice"],
        "profiles.toml",
    );
    assert!(r.stderr.contains("chmod 644"), "{}", r.stderr);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    // An unknown profile names itself and lists the known ones; built-ins still work.
    let r = expect_bad_input(d, &["issue", "--profile", "nope", "--cn", "alice"], "nope");
    assert!(
        r.stderr.contains("server, client, server-client, p"),
        "{}",
        r.stderr
    );
    mtls(d, &["issue", "client", "--cn", "alice"]).ok();
    lint(d, "alice.crt");
}

#[test]
fn profile_list_and_show() {
    let t = tempdir();
    let d = t.path();
    setup(d);
    let text = mtls(d, &["profile", "list"]).ok().stdout;
    for (name, source) in [
        ("server", "built-in"),
        ("client", "built-in"),
        ("server-client", "built-in"),
        ("ci", "file"),
        ("mesh", "file"),
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(name) && l.split_whitespace().nth(1) == Some(source)),
            "{name}: {text}"
        );
    }
    let j = mtls(d, &["--json", "profile", "list"]).ok().json();
    let names: Vec<&str> = j["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["server", "client", "server-client", "ci", "mesh"]);
    let show = mtls(d, &["profile", "show", "mesh"]).ok().stdout;
    for want in [
        "1.3.6.1.4.1.55555.1.2",
        "serverAuth (1.3.6.1.5.5.7.3.1)",
        "30 days",
        "90 days",
        "ecdsa-p256, rsa-2048",
        "*.mesh.example.com",
        "spiffe://example.org/ns/*",
        "10.0.0.0/8",
    ] {
        assert!(show.contains(want), "{want}: {show}");
    }
    let j = mtls(d, &["--json", "profile", "show", "mesh"]).ok().json();
    assert_eq!(j["kind"], "server-client");
    assert_eq!(j["max_days"], 90);
    assert_eq!(j["extended_key_usage"][2]["oid"], "1.3.6.1.4.1.55555.1.2");
    assert_eq!(j["policy"]["uri"][0], "spiffe://example.org/ns/*");
    let j = mtls(d, &["--json", "profile", "show", "server"])
        .ok()
        .json();
    assert_eq!(j["builtin"], true);
    assert_eq!(j["extended_key_usage"][0]["name"], "serverAuth");
    expect_bad_input(d, &["profile", "show", "nope"], "nope");
}

#[test]
fn batch_takes_subject_for_every_line() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init", "--cn", "Batch Root"]).ok();
    std::fs::write(d.join("clients.csv"), "alice,,alice\nbob,,bob\n").unwrap();
    mtls(
        d,
        &[
            "issue",
            "client",
            "--batch",
            "clients.csv",
            "--subject",
            "OU=Payments,O=Acme\\, Inc.,C=US",
        ],
    )
    .ok();
    for (c, cn) in [("alice.crt", "alice"), ("bob.crt", "bob")] {
        let subject = openssl(
            d,
            &[
                "x509", "-in", c, "-noout", "-subject", "-nameopt", "RFC2253",
            ],
        )
        .ok()
        .stdout;
        assert_eq!(
            subject.trim(),
            format!("subject=CN={cn},OU=Payments,O=Acme\\, Inc.,C=US"),
        );
        lint(d, c);
    }
    // A subject that does not parse is refused before anything is issued.
    expect_bad_input(
        d,
        &[
            "issue",
            "client",
            "--batch",
            "clients.csv",
            "--subject",
            "XX=1",
            "--force",
        ],
        "XX=1",
    );
}
