//! Safe files and bad input: keys 0600 even under `umask 000`, CA directory 0700, no
//! overwrite without --force, --force keeps NAME.bak; every bad input exits 2 with
//! one `error:` line naming the input and a `hint:`, never panics, and changes no file.
use crate::common;
use crate::core_support;

use common::*;
use core_support::*;

#[test]
fn modes_under_umask_000() {
    let t = tempdir();
    let d = t.path();
    mtls_umask000(d, &["init"]).ok();
    mtls_umask000(d, &["--dir", "pki/sub", "init", "--parent", "pki"]).ok();
    mtls_umask000(
        d,
        &[
            "issue",
            "server",
            "--cn",
            "api.example.com",
            "--out",
            "out/srv",
        ],
    )
    .ok();
    mtls_umask000(
        d,
        &[
            "--dir", "pki/sub", "issue", "client", "--cn", "alice", "--out", "cli",
        ],
    )
    .ok();
    mtls_umask000(d, &["quickstart", "--out", "qs"]).ok();
    for dir in ["pki", "pki/sub", "qs/pki"] {
        assert_eq!(mode(&d.join(dir)), 0o700, "{dir}");
        assert_eq!(mode(&d.join(dir).join("ca.key")), 0o600, "{dir}/ca.key");
        assert_eq!(mode(&d.join(dir).join("store.db")), 0o600, "{dir}/store.db");
        assert_eq!(mode(&d.join(dir).join("ca.crt")), 0o644, "{dir}/ca.crt");
        assert_eq!(
            mode(&d.join(dir).join("ca-chain.crt")),
            0o644,
            "{dir}/ca-chain.crt"
        );
    }
    for key in ["out/srv.key", "cli.key", "qs/server.key", "qs/client.key"] {
        assert_eq!(mode(&d.join(key)), 0o600, "{key}");
    }
    for crt in [
        "out/srv.crt",
        "out/srv.fullchain.crt",
        "cli.crt",
        "qs/server.crt",
    ] {
        assert_eq!(mode(&d.join(crt)), 0o644, "{crt}");
    }
    pkilint_cert(d, &d.join("pki/sub/ca.crt"));
    pkilint_chain(d, &d.join("pki/ca.crt"), &d.join("pki/sub/ca.crt"));
    pkilint_chain(d, &d.join("pki/ca.crt"), &d.join("out/srv.crt"));
    pkilint_chain(d, &d.join("pki/sub/ca.crt"), &d.join("cli.crt"));
    // An existing CA directory others may write to is refused, untouched (issue 16); one that
    // is only readable by others is tightened to 0700 by init.
    std::fs::create_dir(d.join("existing")).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.join("existing"), std::fs::Permissions::from_mode(0o777))
            .unwrap();
        let r = mtls_umask000(d, &["--dir", "existing", "init"]).expect_code(2);
        assert!(r.stderr.contains("chmod 700"), "{}", r.stderr);
        assert_eq!(mode(&d.join("existing")), 0o777);
        std::fs::set_permissions(d.join("existing"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
    }
    mtls_umask000(d, &["--dir", "existing", "init"]).ok();
    assert_eq!(mode(&d.join("existing")), 0o700);
    // No stray temporary files were left next to the outputs.
    assert!(
        files_ending(d, ".tmp").is_empty(),
        "{:?}",
        files_ending(d, ".tmp")
    );
    // The CA still opens (its key passed the permission check) and issues.
    mtls_umask000(d, &["--dir", "pki/sub", "issue", "client", "--cn", "bob"]).ok();
    assert_eq!(mode(&d.join("bob.key")), 0o600);
}

#[test]
fn no_overwrite_without_force_and_bak_with_force() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init"]).ok();
    let first = mtls(
        d,
        &[
            "--json",
            "issue",
            "server",
            "--cn",
            "api.example.com",
            "--out",
            "srv",
        ],
    )
    .ok()
    .json();
    let old: Vec<Vec<u8>> = ["srv.crt", "srv.key", "srv.fullchain.crt"]
        .iter()
        .map(|f| std::fs::read(d.join(f)).unwrap())
        .collect();
    // Same stem again: refused, nothing changes (the store neither).
    expect_bad_input(
        d,
        &["issue", "server", "--cn", "api.example.com", "--out", "srv"],
        "srv.",
    );
    // Even when only one of the three files is in the way.
    std::fs::write(d.join("other.key"), b"precious").unwrap();
    expect_bad_input(
        d,
        &["issue", "client", "--cn", "other", "--out", "other"],
        "other.key",
    );
    assert_eq!(std::fs::read(d.join("other.key")).unwrap(), b"precious");
    let n = mtls(d, &["--json", "list"]).ok().json()["certificates"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(n, 2, "root + one server certificate");

    // --force: new files, the old ones kept as NAME.bak, byte for byte, key still 0600.
    let second = mtls(
        d,
        &[
            "--json",
            "issue",
            "server",
            "--cn",
            "api.example.com",
            "--out",
            "srv",
            "--force",
        ],
    )
    .ok()
    .json();
    assert_ne!(first["serial"], second["serial"]);
    for (f, old) in ["srv.crt", "srv.key", "srv.fullchain.crt"].iter().zip(&old) {
        let bak = d.join(format!("{f}.bak"));
        assert_eq!(&std::fs::read(&bak).unwrap(), old, "{f}.bak");
        assert_ne!(
            &std::fs::read(d.join(f)).unwrap(),
            old,
            "{f} was not replaced"
        );
    }
    assert_eq!(mode(&d.join("srv.key")), 0o600);
    assert_eq!(mode(&d.join("srv.key.bak")), 0o600);
    openssl(d, &["verify", "-CAfile", "pki/ca.crt", "srv.crt"]).ok();
    openssl(d, &["verify", "-CAfile", "pki/ca.crt", "srv.crt.bak"]).ok();

    // init refuses an existing CA; init --force keeps the old CA files as .bak.
    let old_key = std::fs::read(d.join("pki/ca.key")).unwrap();
    let old_crt = std::fs::read(d.join("pki/ca.crt")).unwrap();
    expect_bad_input(d, &["init"], "pki");
    mtls(d, &["init", "--force"]).ok();
    assert_eq!(std::fs::read(d.join("pki/ca.key.bak")).unwrap(), old_key);
    assert_eq!(std::fs::read(d.join("pki/ca.crt.bak")).unwrap(), old_crt);
    assert_eq!(mode(&d.join("pki/ca.key.bak")), 0o600);
    assert_ne!(std::fs::read(d.join("pki/ca.key")).unwrap(), old_key);
    mtls(d, &["issue", "client", "--cn", "after-force"]).ok();
    openssl(d, &["verify", "-CAfile", "pki/ca.crt", "after-force.crt"]).ok();
}

#[test]
fn init_refuses_any_ca_file() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "full", "init"]).ok();
    expect_bad_input(d, &["--dir", "full", "init"], "full");
    expect_bad_input(
        d,
        &["--dir", "full", "init", "--key-type", "rsa-2048"],
        "full",
    );
    // A half-present CA: any one of its files is enough to refuse.
    for f in ["ca.crt", "ca.key", "store.db", "ca-chain.crt"] {
        let half = d.join(format!("half-{f}"));
        std::fs::create_dir(&half).unwrap();
        std::fs::copy(d.join("full").join(f), half.join(f)).unwrap();
        let dir = format!("half-{f}");
        let r = expect_bad_input(d, &["--dir", &dir, "init"], &dir);
        assert!(r.stderr.contains(f), "the error names {f}:\n{}", r.stderr);
        // --parent makes no difference.
        expect_bad_input(d, &["--dir", &dir, "init", "--parent", "full"], &dir);
    }
}

/// Every kind of bad input on the command line, against a working CA.
#[test]
fn bad_input_is_refused_cleanly() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init"]).ok();
    mtls(d, &["issue", "client", "--cn", "existing"]).ok();
    let issue = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["issue", "server", "--cn", "api.example.com", "--out", "x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (issue(&["--san", "exa mple..com"]), "exa mple..com"),
        (issue(&["--san", "*"]), "\"*\""),
        (issue(&["--san", "10.0.0.1x"]), "10.0.0.1x"),
        (issue(&["--san", "api..example.com"]), "api..example.com"),
        (issue(&["--san", "*.*.example.com"]), "*.*.example.com"),
        (issue(&["--key-type", "dsa"]), "dsa"),
        (issue(&["--key-type", "rsa-1024"]), "rsa-1024"),
        (issue(&["--days", "0"]), "--days"),
        (issue(&["--days", "5000"]), "--days"),
        // A leaf outliving its CA (3650 days).
        (
            issue(&["--days", "5000", "--allow-long-validity"]),
            "--days 5000",
        ),
        (
            ["issue", "client", "--cn", "c", "--days", "5000"]
                .map(String::from)
                .to_vec(),
            "--days 5000",
        ),
        (
            ["issue", "client", "--cn", "c", "--days", "0"]
                .map(String::from)
                .to_vec(),
            "--days",
        ),
        (
            ["--dir", "other", "init", "--key-type", "rsa-1024"]
                .map(String::from)
                .to_vec(),
            "rsa-1024",
        ),
        (
            ["--dir", "other", "init", "--key-type", "nope"]
                .map(String::from)
                .to_vec(),
            "nope",
        ),
        (
            ["--dir", "other", "init", "--days", "0"]
                .map(String::from)
                .to_vec(),
            "--days",
        ),
        (
            [
                "--dir", "other", "init", "--parent", "pki", "--days", "5000",
            ]
            .map(String::from)
            .to_vec(),
            "--days 5000",
        ),
    ];
    for (args, names) in &cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        expect_bad_input(d, &a, names);
    }
    assert!(
        !d.join("other").exists(),
        "a failed init left its directory"
    );

    // A missing CA directory: the hint says how to make one.
    let r = expect_bad_input(
        d,
        &["--dir", "missing", "issue", "client", "--cn", "c"],
        "missing",
    );
    assert!(
        r.stderr.contains("hint:") && r.stderr.contains("mtls-ca init"),
        "{}",
        r.stderr
    );
    let r = expect_bad_input(d, &["--dir", "missing", "list"], "missing");
    assert!(r.stderr.contains("mtls-ca init"), "{}", r.stderr);

    // Broken CA keys, each in its own copy of the CA.
    mtls(d, &["--dir", "foreign", "init"]).ok();
    let copy = |name: &str| {
        let dst = d.join(name);
        std::fs::create_dir(&dst).unwrap();
        for f in ["ca.crt", "ca.key", "store.db", "ca-chain.crt"] {
            std::fs::copy(d.join("pki").join(f), dst.join(f)).unwrap();
        }
        dst
    };
    let corrupt = copy("corrupt");
    std::fs::write(
        corrupt.join("ca.key"),
        b"-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let truncated = copy("truncated");
    let key = std::fs::read(d.join("pki/ca.key")).unwrap();
    std::fs::write(truncated.join("ca.key"), &key[..key.len() / 2]).unwrap();
    let garbage = copy("garbage");
    std::fs::write(garbage.join("ca.key"), b"garbage\n").unwrap();
    let foreign = copy("foreignkey");
    std::fs::copy(d.join("foreign/ca.key"), foreign.join("ca.key")).unwrap();
    let readable = copy("readable");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            readable.join("ca.key"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
    }
    for dir in ["corrupt", "truncated", "garbage", "foreignkey", "readable"] {
        for args in [
            vec![
                "--dir",
                dir,
                "issue",
                "server",
                "--cn",
                "api.example.com",
                "--out",
                "y",
            ],
            vec!["--dir", dir, "issue", "client", "--cn", "c", "--out", "y"],
            vec!["--dir", "child", "init", "--parent", dir],
        ] {
            let r = expect_bad_input(d, &args, &format!("{dir}/ca.key"));
            if dir == "readable" {
                assert!(r.stderr.contains("chmod 600"), "{}", r.stderr);
            }
        }
    }
    assert!(!d.join("child").exists());
    // The good CA is untouched by all of this and still works.
    mtls(d, &["issue", "client", "--cn", "still-works"]).ok();
}
