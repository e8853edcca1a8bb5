//! The scripting contract on failure: with `--json`, every command that exits 2 prints exactly
//! one JSON document on stdout, `{"error": {"code", "message", "hint"}}`, with a stable code named
//! after the error (not its wording). Without `--json`, stdout stays empty. Only the binary runs
//! here (no external tools).

use crate::common;

use std::path::Path;

use common::{mtls, tempdir};

/// Runs `args` with `--json`, expects exit 2 and the one error document; returns it.
#[track_caller]
fn json_error(cwd: &Path, args: &[&str], code: &str) -> serde_json::Value {
    let mut with_json = vec!["--json"];
    with_json.extend_from_slice(args);
    let r = mtls(cwd, &with_json).expect_code(2);
    let doc = r.json();
    let obj = doc.as_object().expect("a JSON object");
    assert_eq!(obj.len(), 1, "only the error key: {doc}");
    let e = &doc["error"];
    assert_eq!(e["code"], code, "{args:?}: {doc}");
    let message = e["message"].as_str().expect("message is a string");
    assert!(!message.is_empty() && !message.contains('\n'), "{doc}");
    let hint = e["hint"].as_str().expect("hint is a string");
    assert!(!hint.is_empty(), "{doc}");
    // The human lines stay on stderr, the same text as without --json (clap's own for usage).
    if code != "usage" {
        assert!(
            r.stderr.contains(&format!("error: {message}")),
            "{}",
            r.stderr
        );
    }
    // And without --json, stdout stays empty.
    let plain = mtls(cwd, args).expect_code(2);
    assert!(plain.stdout.is_empty(), "{args:?}: {}", plain.stdout);
    doc
}

#[test]
fn every_command_family_prints_one_error_document() {
    let d = tempdir();
    let d = d.path();
    // No CA yet: the commands that need one say so, typed as no_ca.
    for args in [
        &["issue", "server", "--cn", "api.example.com"][..],
        &["issue", "client", "--cn", "alice"],
        &["list"],
        &["revoke", "00"],
        &["renew", "--expiring-within", "30d"],
        &["crl"],
        &["ca", "rotate"],
    ] {
        let doc = json_error(d, args, "no_ca");
        assert!(
            doc["error"]["hint"]
                .as_str()
                .unwrap()
                .contains("mtls-ca init"),
            "{doc}"
        );
    }
    json_error(d, &["init", "--days", "0"], "invalid_value");
    json_error(d, &["init", "--key-type", "dsa"], "invalid_value");
    mtls(d, &["init", "--cn", "JSON Test CA"]).ok();
    json_error(d, &["init"], "ca_exists");
    json_error(
        d,
        &["issue", "server", "--cn", "bad name!"],
        "invalid_value",
    );
    mtls(d, &["issue", "client", "--cn", "alice"]).ok();
    json_error(d, &["issue", "client", "--cn", "alice"], "file_exists");
    json_error(d, &["list", "--status", "nope"], "invalid_value");
    json_error(d, &["revoke", "ffffffffffff"], "unknown_serial");
    json_error(d, &["renew", "--expiring-within", "soon"], "invalid_value");
    json_error(d, &["crl", "--days", "0"], "invalid_value");
    json_error(d, &["ca", "rotate", "--days", "0"], "invalid_value");
    json_error(
        d,
        &["csr", "--cn", "bob", "--key-type", "dsa"],
        "invalid_value",
    );
    json_error(d, &["sign", "--profile", "client", "missing.csr"], "io");
    std::fs::write(d.join("junk.csr"), "not a CSR\n").unwrap();
    json_error(d, &["sign", "--profile", "client", "junk.csr"], "bad_file");
    json_error(d, &["export", "nginx", "--server", "nothere"], "bad_file");
    json_error(d, &["export", "nowhere"], "invalid_value");
    json_error(d, &["inspect", "missing.pem"], "io");
    json_error(d, &["verify", "missing.crt"], "io");
    json_error(
        d,
        &["probe", "127.0.0.1:1", "--timeout", "0"],
        "invalid_value",
    );
    json_error(d, &["explain", "missing.log"], "io");
    json_error(d, &["serve", "--listen", "nowhere"], "invalid_value");
    for (flag, value) in [("--threads", "0"), ("--threads", "1000"), ("--rate", "0")] {
        let doc = json_error(
            d,
            &["ca", "serve", "--listen", "127.0.0.1:0", flag, value],
            "invalid_value",
        );
        assert!(
            doc["error"]["message"].as_str().unwrap().contains(flag),
            "{doc}"
        );
    }
}

#[test]
fn usage_errors_are_documents_too_when_json_was_given() {
    let d = tempdir();
    let d = d.path();
    for args in [
        &["init", "--bogus"][..],
        &["issue", "server"],
        &["serve", "--listen"],
        &["nosuchcommand"],
        &["ca"],
    ] {
        json_error(d, args, "usage");
    }
    let doc = json_error(d, &["issue", "server"], "usage");
    assert!(
        doc["error"]["message"].as_str().unwrap().contains("--cn"),
        "{doc}"
    );
    let doc = json_error(d, &["ca"], "usage");
    assert_eq!(doc["error"]["message"], "a subcommand is required");
    // --json after the subcommand counts too; a typo gets clap's suggestion as the hint.
    let r = mtls(d, &["init", "--dayz", "3", "--json"]).expect_code(2);
    let doc = r.json();
    assert_eq!(doc["error"]["code"], "usage");
    assert!(
        doc["error"]["hint"].as_str().unwrap().contains("--days"),
        "{doc}"
    );
    // After `--`, "--json" is a value, not the flag.
    let r = mtls(d, &["inspect", "--bogus", "--", "--json"]).expect_code(2);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    // --help is not an error: exit 0, help on stdout, no error document.
    let r = mtls(d, &["--json", "init", "--help"]).ok();
    assert!(r.stdout.contains("EXAMPLES"), "{}", r.stdout);
}

#[test]
fn a_partly_failed_renewal_is_one_document_with_the_error_in_it() {
    let d = tempdir();
    let d = d.path();
    mtls(d, &["init"]).ok();
    mtls(d, &["issue", "client", "--cn", "alice", "--days", "5"]).ok();
    // The renewal's output file is in the way: that item fails, the command exits 2.
    std::fs::create_dir(d.join("out")).unwrap();
    std::fs::write(d.join("out/alice.crt"), "in the way").unwrap();
    let r = mtls(
        d,
        &[
            "--json",
            "renew",
            "--expiring-within",
            "30d",
            "--out-dir",
            "out",
        ],
    )
    .expect_code(2);
    let doc = r.json();
    assert_eq!(doc["error"]["code"], "renew_failed", "{doc}");
    assert_eq!(doc["renewed"].as_array().unwrap().len(), 1, "{doc}");
}
