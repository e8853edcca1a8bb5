//! Bulk issuance (`issue client --batch`): counts, uniqueness, all-or-nothing per chunk, bad
//! lines named, nothing of a failing chunk written, earlier chunks reported.
use crate::common;
use common::*;

use std::collections::HashSet;
use std::path::Path;

fn csv(n: usize, bad_line: Option<usize>) -> String {
    let mut s = String::from("cn,sans,out\n");
    for i in 1..=n {
        // Line i + 1 in the file (the header is line 1).
        if Some(i + 1) == bad_line {
            s.push_str(&format!("client{i},exa mple..com,c/client{i}\n"));
        } else {
            s.push_str(&format!("client{i},client{i}@example.com,c/client{i}\n"));
        }
    }
    s
}

fn files_in(d: &Path) -> usize {
    std::fs::read_dir(d).map(|r| r.count()).unwrap_or(0)
}

#[test]
fn a_batch_issues_every_line_with_unique_serials() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "pki", "init", "--cn", "Batch Root"]).ok();
    std::fs::write(d.join("fleet.csv"), csv(600, None)).unwrap();
    let r = mtls(
        d,
        &[
            "--dir",
            "pki",
            "--json",
            "issue",
            "client",
            "--batch",
            "fleet.csv",
            "--chunk",
            "250",
        ],
    )
    .ok();
    let j = r.json();
    assert_eq!(j["issued"], 600);
    assert_eq!(j["chunks"], 3);
    let serials: HashSet<String> = j["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["serial"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(serials.len(), 600);
    assert_eq!(files_in(&d.join("c")), 1800);
    let list = mtls(d, &["--dir", "pki", "--json", "list"]).ok().json();
    let recorded: HashSet<String> = list["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["profile"] == "client")
        .map(|c| c["serial"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(recorded, serials, "every certificate has its record");
    // Samples are real, lint-clean client certificates with their own keys.
    for i in [1, 300, 600] {
        let crt = format!("c/client{i}.crt");
        openssl(
            d,
            &[
                "verify",
                "-CAfile",
                "pki/ca.crt",
                "-purpose",
                "sslclient",
                &crt,
            ],
        )
        .ok();
        pkilint_cert(d, &d.join(&crt));
        pkilint_chain(d, &d.join("pki/ca.crt"), &d.join(&crt));
        let key = format!("c/client{i}.key");
        let a = openssl(d, &["x509", "-in", &crt, "-noout", "-pubkey"])
            .ok()
            .stdout;
        let b = openssl(d, &["pkey", "-in", &key, "-pubout"]).ok().stdout;
        assert_eq!(a, b, "key {key} belongs to {crt}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join(&key))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    let text = openssl(
        d,
        &[
            "x509",
            "-in",
            "c/client300.crt",
            "-noout",
            "-ext",
            "subjectAltName,extendedKeyUsage",
        ],
    )
    .ok()
    .stdout;
    assert!(
        text.contains("email:client300@example.com")
            && text.contains("TLS Web Client Authentication"),
        "{text}"
    );
}

#[test]
fn a_bad_line_stops_the_batch_before_its_chunk_and_keeps_earlier_chunks() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "pki", "init"]).ok();
    // 250 certificates in chunks of 100; line 181 (certificate 180) is bad: chunk 2 fails.
    std::fs::write(d.join("fleet.csv"), csv(250, Some(181))).unwrap();
    let r = mtls(
        d,
        &[
            "--dir",
            "pki",
            "issue",
            "client",
            "--batch",
            "fleet.csv",
            "--chunk",
            "100",
        ],
    )
    .expect_code(2);
    assert!(r.stderr.contains("fleet.csv:181:"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("100 certificates of earlier chunks were issued"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"));
    assert_eq!(
        r.stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1
    );
    // Chunk 1 (lines 2-101) is complete; nothing of chunk 2 or 3 exists.
    assert_eq!(files_in(&d.join("c")), 300);
    assert!(d.join("c/client100.crt").exists());
    assert!(!d.join("c/client101.crt").exists() && !d.join("c/client101.key").exists());
    let list = mtls(d, &["--dir", "pki", "--json", "list"]).ok().json();
    assert_eq!(
        list["certificates"].as_array().unwrap().len(),
        101,
        "root + chunk 1"
    );
}

#[test]
fn duplicates_files_in_the_way_and_unwritable_dirs_are_refused_with_nothing_written() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "pki", "init"]).ok();
    let before = snapshot(d);
    // A duplicate stem: refused while parsing, before anything is issued.
    std::fs::write(d.join("dup.csv"), "a,,same\nb,,same\n").unwrap();
    let r = mtls(
        d,
        &["--dir", "pki", "issue", "client", "--batch", "dup.csv"],
    )
    .expect_code(2);
    assert!(
        r.stderr.contains("dup.csv:2:") && r.stderr.contains("already used on line 1"),
        "{}",
        r.stderr
    );
    // A file in the way: the line is named, nothing written.
    std::fs::write(d.join("taken.crt"), "x").unwrap();
    std::fs::write(d.join("way.csv"), "ok1,,ok1\ntaken,,taken\n").unwrap();
    let r = mtls(
        d,
        &["--dir", "pki", "issue", "client", "--batch", "way.csv"],
    )
    .expect_code(2);
    assert!(
        r.stderr.contains("way.csv:2:") && r.stderr.contains("taken.crt"),
        "{}",
        r.stderr
    );
    assert!(!d.join("ok1.crt").exists());
    // An output directory that cannot exist (under a regular file).
    std::fs::write(d.join("plain"), "x").unwrap();
    std::fs::write(d.join("dir.csv"), "one\ntwo\n").unwrap();
    let r = mtls(
        d,
        &[
            "--dir",
            "pki",
            "issue",
            "client",
            "--batch",
            "dir.csv",
            "--out-dir",
            "plain/sub",
        ],
    )
    .expect_code(2);
    assert!(r.stderr.contains("dir.csv:1:"), "{}", r.stderr);
    // A file with no certificate lines.
    std::fs::write(d.join("none.csv"), "cn,sans,out\n# nobody yet\n").unwrap();
    let r = mtls(
        d,
        &["--dir", "pki", "issue", "client", "--batch", "none.csv"],
    )
    .expect_code(2);
    assert!(
        r.stderr.contains("none.csv: no certificate lines"),
        "{}",
        r.stderr
    );
    // Garbage and bad JSON.
    std::fs::write(d.join("bad.jsonl"), "{\"cn\": \"x\", \"oops\": 1}\n").unwrap();
    let r = mtls(
        d,
        &["--dir", "pki", "issue", "client", "--batch", "bad.jsonl"],
    )
    .expect_code(2);
    assert!(r.stderr.contains("bad.jsonl:1:"), "{}", r.stderr);
    // Nothing was issued by any of these.
    let list = mtls(d, &["--dir", "pki", "--json", "list"]).ok().json();
    assert_eq!(list["certificates"].as_array().unwrap().len(), 1);
    let after: Vec<_> = snapshot(d)
        .into_iter()
        .filter(|(p, _)| {
            !p.ends_with("taken.crt")
                && !p.ends_with("plain")
                && !p.extension().is_some_and(|e| e == "csv" || e == "jsonl")
                && !p.to_string_lossy().contains("store.db")
        })
        .collect();
    let before: Vec<_> = before
        .into_iter()
        .filter(|(p, _)| !p.to_string_lossy().contains("store.db"))
        .collect();
    assert_eq!(before, after);
}

#[test]
fn json_lines_from_stdin_for_servers() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "pki", "init"]).ok();
    let input = "{\"cn\": \"api1.example.com\", \"sans\": [\"10.0.0.1\"], \"out\": \"s/api1\"}\n{\"cn\": \"api2.example.com\"}\n";
    let mut child = std::process::Command::new(bin())
        .args(["--dir", "pki", "--json", "issue", "server", "--batch", "-"])
        .current_dir(d)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["issued"], 2);
    openssl(
        d,
        &[
            "verify",
            "-CAfile",
            "pki/ca.crt",
            "-purpose",
            "sslserver",
            "-verify_ip",
            "10.0.0.1",
            "s/api1.crt",
        ],
    )
    .ok();
    openssl(
        d,
        &[
            "verify",
            "-CAfile",
            "pki/ca.crt",
            "-purpose",
            "sslserver",
            "-verify_hostname",
            "api2.example.com",
            "api2.example.com.crt",
        ],
    )
    .ok();
    pkilint_cert(d, &d.join("s/api1.crt"));
    pkilint_cert(d, &d.join("api2.example.com.crt"));
}

#[test]
fn a_reader_that_goes_away_is_not_an_error() {
    // `mtls-ca list | head -1` on a big store: the broken pipe ends the command with exit 0.
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "pki", "init"]).ok();
    std::fs::write(d.join("fleet.csv"), csv(1500, None)).unwrap();
    mtls(
        d,
        &[
            "--dir",
            "pki",
            "-q",
            "issue",
            "client",
            "--batch",
            "fleet.csv",
        ],
    )
    .ok();
    let mut child = std::process::Command::new(bin())
        // -q: only errors on stderr (`list` also says where the CA key lives).
        .args(["--dir", "pki", "-q", "list"])
        .current_dir(d)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Read;
        let mut first = [0u8; 100];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap();
        // The pipe's read end is dropped here, long before the ~200 KB listing is written.
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn progress_shows_on_a_terminal_only() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "pki", "init"]).ok();
    std::fs::write(d.join("a.csv"), csv(300, None)).unwrap();
    std::fs::write(
        d.join("b.csv"),
        csv(300, None).replace("c/client", "b/client"),
    )
    .unwrap();
    // On a pseudo-terminal (script from util-linux): a progress line per chunk.
    let cmd = format!(
        "{} --dir pki issue client --batch a.csv --chunk 100",
        bin().display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(d)
        .output()
        .expect("script (util-linux): run scripts/test");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for n in [100, 200, 300] {
        assert!(text.contains(&format!("issued {n}/300")), "{text}");
    }
    // Not on a terminal: silent but for the summary line.
    let r = mtls(
        d,
        &[
            "--dir", "pki", "issue", "client", "--batch", "b.csv", "--chunk", "100",
        ],
    )
    .ok();
    assert!(!r.stderr.contains("issued 100/300"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("created 300 client certificates in 3 chunk(s)"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_hostile_batch_line_gets_a_short_error_fast() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "pki", "init"]).ok();
    // A 5 MB single line: refused on its length, and the error stays one short line.
    std::fs::write(d.join("huge.csv"), "A".repeat(5 * 1024 * 1024)).unwrap();
    let r = mtls(
        d,
        &["--dir", "pki", "issue", "client", "--batch", "huge.csv"],
    )
    .expect_code(2);
    assert!(
        r.stderr.contains("huge.csv:1: line longer than"),
        "{}",
        &r.stderr[..200.min(r.stderr.len())]
    );
    assert!(
        r.stderr.len() < 400,
        "error output of {} bytes",
        r.stderr.len()
    );
    // A long value on the command line is shortened in the error too.
    let cn = "B".repeat(5000);
    let r = mtls(d, &["--dir", "pki", "issue", "client", "--cn", &cn]).expect_code(2);
    assert!(
        r.stderr.contains("(5000 characters)"),
        "{}",
        &r.stderr[..200.min(r.stderr.len())]
    );
    assert!(r.stderr.len() < 400);
}
