//! PKCS#12 from `issue client --p12` and `export p12`: modern (PBES2/AES-256, HMAC-SHA256)
//! and legacy (3DES, SHA-1 MAC) profiles read by `openssl pkcs12 -info` and `keytool -list`,
//! chain included, friendlyName + localKeyID, 0600, passphrase required, never RC2-40.
use crate::common;
use crate::export_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use export_support::*;

const PASS: &str = "p12 pass phrase";

fn info(cwd: &Path, file: &str) -> String {
    let r = openssl(
        cwd,
        &[
            "pkcs12",
            "-info",
            "-nokeys",
            "-in",
            file,
            "-passin",
            "file:pass.txt",
        ],
    )
    .ok();
    format!("{}{}", r.stdout, r.stderr)
}

fn keytool_list(cwd: &Path, file: &str) -> String {
    let r = tool(
        cwd,
        "keytool",
        &[
            "-list",
            "-v",
            "-storetype",
            "PKCS12",
            "-keystore",
            file,
            "-storepass",
            PASS,
        ],
    )
    .ok();
    r.stdout
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn issue_client_p12_modern_and_legacy_read_back_with_openssl_and_keytool() {
    let k = pki();
    let d = k.dir();
    std::fs::write(d.join("pass.txt"), format!("{PASS}\n")).unwrap();
    k.int(&[
        "issue",
        "client",
        "--cn",
        "carol",
        "--san",
        "carol@example.com",
        "--out",
        "carol",
        "--p12",
        "--p12-passphrase-file",
        "pass.txt",
    ])
    .ok();
    k.int(&[
        "issue",
        "client",
        "--cn",
        "dave",
        "--out",
        "dave",
        "--p12",
        "--p12-legacy",
        "--p12-passphrase-file",
        "pass.txt",
    ])
    .ok();
    pkilint_cert(d, &d.join("carol.crt"));
    pkilint_cert(d, &d.join("dave.crt"));
    for (file, cn, want) in [
        (
            "carol.p12",
            "carol",
            [
                "PBES2, PBKDF2, AES-256-CBC",
                "MAC: sha256",
                "PRF hmacWithSHA256",
            ],
        ),
        (
            "dave.p12",
            "dave",
            [
                "pbeWithSHA1And3-KeyTripleDES-CBC",
                "MAC: sha1",
                "pbeWithSHA1And3-KeyTripleDES-CBC",
            ],
        ),
    ] {
        assert_eq!(mode(&d.join(file)), 0o600, "{file} is 0600");
        let text = info(d, file);
        for w in want {
            assert!(text.contains(w), "{file}: {w} missing:\n{text}");
        }
        assert!(!text.contains("RC2"), "{file}: never RC2:\n{text}");
        // Leaf + intermediate + root, the leaf with friendlyName and localKeyID.
        assert_eq!(
            text.matches("BEGIN CERTIFICATE").count(),
            3,
            "{file}:\n{text}"
        );
        assert!(text.contains(&format!("friendlyName: CN={cn}")), "{text}");
        assert!(text.contains("localKeyID:"), "{text}");
        // The key decrypts and matches the certificate.
        let key = openssl(
            d,
            &[
                "pkcs12",
                "-in",
                file,
                "-nocerts",
                "-nodes",
                "-passin",
                "file:pass.txt",
            ],
        )
        .ok()
        .stdout;
        assert!(key.contains("BEGIN PRIVATE KEY"));
        let kt = keytool_list(d, file);
        assert!(
            kt.contains("PrivateKeyEntry") && kt.contains("Certificate chain length: 3"),
            "{file}:\n{kt}"
        );
    }
}

#[test]
fn export_p12_writes_next_to_the_stem_or_into_out() {
    let k = pki();
    let d = k.dir();
    std::fs::write(d.join("pass.txt"), format!("{PASS}\n")).unwrap();
    let r = mtls_env(
        d,
        &[
            "--dir",
            "pki/int",
            "export",
            "p12",
            "--client",
            "alice",
            "--passphrase-env",
            "ALICE_P12",
        ],
        &[("ALICE_P12", PASS)],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(mode(&d.join("alice.p12")), 0o600);
    assert!(info(d, "alice.p12").contains("friendlyName: CN=alice"));
    k.int(&[
        "export",
        "p12",
        "--client",
        "alice",
        "--p12-legacy",
        "--passphrase-file",
        "pass.txt",
        "--out",
        "legacy",
    ])
    .ok();
    let text = info(d, "legacy/alice.p12");
    assert!(text.contains("MAC: sha1"), "{text}");
    // In the way: refused without --force, kept as .bak with it.
    let before = snapshot(d);
    k.int(&[
        "export",
        "p12",
        "--client",
        "alice",
        "--passphrase-file",
        "pass.txt",
    ])
    .expect_code(2);
    assert_eq!(before, snapshot(d));
    k.int(&[
        "export",
        "p12",
        "--client",
        "alice",
        "--passphrase-file",
        "pass.txt",
        "--force",
    ])
    .ok();
    assert!(d.join("alice.p12.bak").exists());
}

#[test]
fn a_passphrase_is_required_and_nothing_is_issued_without_one() {
    let k = pki();
    let d = k.dir();
    let before = snapshot(d);
    // stdin is not a terminal and no file/env is given.
    let r = k
        .int(&["issue", "client", "--cn", "erin", "--out", "erin", "--p12"])
        .expect_code(2);
    assert!(
        r.stderr.contains("passphrase") && r.stderr.contains("hint:"),
        "{}",
        r.stderr
    );
    std::fs::write(d.join("empty.txt"), "\n").unwrap();
    let before_empty = snapshot(d);
    let r = k
        .int(&[
            "issue",
            "client",
            "--cn",
            "erin",
            "--out",
            "erin",
            "--p12",
            "--p12-passphrase-file",
            "empty.txt",
        ])
        .expect_code(2);
    assert!(
        r.stderr.contains("empty.txt") && r.stderr.contains("passphrase is empty"),
        "{}",
        r.stderr
    );
    assert_eq!(before_empty, snapshot(d));
    assert!(!d.join("erin.crt").exists());
    let _ = before;
    let r = k
        .int(&["export", "java", "--client", "alice", "--out", "j"])
        .expect_code(2);
    assert!(r.stderr.contains("passphrase"), "{}", r.stderr);
    assert!(!d.join("j").exists());
}

fn mtls_env(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = std::process::Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("MTLS_CA_DIR")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
