//! Hostile and broken inputs for `inspect` and `verify`, with the real binary: each one exits 2
//! with one `error:` line naming the file (plus its `hint:`), never panics, and finishes quickly
//! (the time is printed with --nocapture; the caps on size, PEM blocks, nesting depth and PKCS#12
//! iterations are what keep it short).
use crate::common;
use std::path::Path;
use std::time::Instant;

use common::*;

fn enc(tag: u8, c: &[u8]) -> Vec<u8> {
    let mut o = vec![tag];
    let l = c.len();
    if l < 0x80 {
        o.push(l as u8);
    } else {
        let b = (l as u32).to_be_bytes();
        o.push(0x84);
        o.extend_from_slice(&b);
    }
    o.extend_from_slice(c);
    o
}

fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for ch in data.chunks(3) {
        let n = (ch[0] as u32) << 16
            | (*ch.get(1).unwrap_or(&0) as u32) << 8
            | *ch.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= ch.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn pem(label: &str, der: &[u8]) -> String {
    let body: Vec<String> = b64(der)
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        body.join("\n")
    )
}

/// Every bad file, by name.
fn bad_files(d: &Path) -> Vec<&'static str> {
    let cert = std::fs::read(d.join("api.example.com.crt")).unwrap();
    let cert_text = String::from_utf8(cert.clone()).unwrap();
    let der = {
        let p = ::pem::parse(&cert).unwrap();
        p.into_contents()
    };
    let mut seed = 0x2545F4914F6CDD1Du64;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    let mut deep = Vec::new();
    for _ in 0..10_000 {
        deep = enc(0x30, &deep);
    }
    let files: Vec<(&'static str, Vec<u8>)> = vec![
        ("random.bin", random),
        ("empty.crt", vec![]),
        (
            "badbase64.pem",
            b"-----BEGIN CERTIFICATE-----\n!!!!not base64@@@\n-----END CERTIFICATE-----\n".to_vec(),
        ),
        (
            "truncated.pem",
            cert_text.as_bytes()[..cert_text.len() / 2].to_vec(),
        ),
        ("truncated.der", der[..der.len() / 2].to_vec()),
        (
            "absurd-len.der",
            vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0x00],
        ),
        (
            "absurd-len8.der",
            vec![
                0x30, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00,
            ],
        ),
        (
            "absurd-len.pem",
            pem(
                "CERTIFICATE",
                &[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x30, 0x00],
            )
            .into_bytes(),
        ),
        ("deep.der", deep.clone()),
        ("deep.pem", pem("CERTIFICATE", &deep).into_bytes()),
        ("deep-key.pem", pem("PRIVATE KEY", &deep).into_bytes()),
        ("deep-crl.pem", pem("X509 CRL", &deep).into_bytes()),
        ("deep-p12.pem", pem("PKCS12", &deep).into_bytes()),
        ("text.txt", b"hello, this is not a certificate\n".to_vec()),
        ("zeros.der", vec![0u8; 1000]),
        (
            "cert-in-wrong-block.pem",
            pem("X509 CRL", &der).into_bytes(),
        ),
        (
            "unknown-block.pem",
            pem("SOMETHING ELSE", b"abc").into_bytes(),
        ),
    ];
    for (name, bytes) in &files {
        std::fs::write(d.join(name), bytes).unwrap();
    }
    // 100 MB (sparse: the size is what matters).
    let f = std::fs::File::create(d.join("huge.pem")).unwrap();
    f.set_len(100 * 1024 * 1024).unwrap();
    let mut names: Vec<&'static str> = files.iter().map(|(n, _)| *n).collect();
    names.push("huge.pem");
    names
}

#[track_caller]
fn one_error_line(r: &Run, file: &str, what: &str) {
    assert_eq!(
        r.code, 2,
        "{what} {file}: exit {}\n{}{}",
        r.code, r.stdout, r.stderr
    );
    if what.contains("--json") {
        // With --json, stdout is one error document (naming the file too).
        let v: serde_json::Value = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("{what} {file}: stdout is not JSON ({e}): {:?}", r.stdout));
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(file)),
            "{what} {file}: {v}"
        );
    } else {
        assert!(r.stdout.is_empty(), "{what} {file}: stdout {:?}", r.stdout);
    }
    assert!(
        !r.stderr.contains("panicked"),
        "{what} {file}: {}",
        r.stderr
    );
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert!(
        (1..=2).contains(&lines.len())
            && lines[0].starts_with("error: ")
            && lines[0].contains(file),
        "{what} {file}: want one error line naming the file (and a hint), got:\n{}",
        r.stderr
    );
    if lines.len() == 2 {
        assert!(lines[1].starts_with("hint: "), "{}", r.stderr);
    }
}

#[test]
fn bad_inputs_exit_2_with_one_line() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init", "--cn", "Example Root CA"]).ok();
    mtls(
        d,
        &["issue", "server", "--dir", "pki", "--cn", "api.example.com"],
    )
    .ok();
    pkilint_cert(d, &d.join("api.example.com.crt"));
    for f in bad_files(d) {
        for (what, args) in [
            ("inspect", vec!["inspect", f]),
            ("inspect --json", vec!["--json", "inspect", f]),
            ("verify CERT", vec!["verify", f, "--ca", "pki/ca.crt"]),
            (
                "verify --ca",
                vec!["verify", "api.example.com.crt", "--ca", f],
            ),
            (
                "verify --chain",
                vec![
                    "verify",
                    "api.example.com.crt",
                    "--ca",
                    "pki/ca.crt",
                    "--chain",
                    f,
                ],
            ),
            (
                "verify --crl",
                vec![
                    "verify",
                    "api.example.com.crt",
                    "--ca",
                    "pki/ca.crt",
                    "--crl",
                    f,
                ],
            ),
            (
                "verify --key",
                vec![
                    "verify",
                    "api.example.com.crt",
                    "--ca",
                    "pki/ca.crt",
                    "--key",
                    f,
                ],
            ),
        ] {
            let start = Instant::now();
            let r = mtls(d, &args);
            println!("{what} {f}: exit {} in {:?}", r.code, start.elapsed());
            one_error_line(&r, f, what);
        }
    }
}

#[test]
fn key_where_a_certificate_is_expected() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init", "--cn", "Example Root CA"]).ok();
    mtls(
        d,
        &["issue", "server", "--dir", "pki", "--cn", "api.example.com"],
    )
    .ok();
    let r = mtls(d, &["verify", "api.example.com.key", "--ca", "pki/ca.crt"]);
    one_error_line(&r, "api.example.com.key", "verify");
    assert!(
        r.stderr.contains("no certificate") && r.stderr.contains("PRIVATE KEY"),
        "{}",
        r.stderr
    );
    let r = mtls(
        d,
        &[
            "verify",
            "api.example.com.crt",
            "--ca",
            "api.example.com.key",
        ],
    );
    one_error_line(&r, "api.example.com.key", "verify --ca");
    // A certificate where a key is expected.
    let r = mtls(
        d,
        &[
            "verify",
            "api.example.com.crt",
            "--ca",
            "pki/ca.crt",
            "--key",
            "api.example.com.crt",
        ],
    );
    one_error_line(&r, "api.example.com.crt", "verify --key");
    // inspect of a missing file names it.
    let r = mtls(d, &["inspect", "nope.crt"]);
    one_error_line(&r, "nope.crt", "inspect");
}

#[test]
fn deep_nesting_hidden_in_octet_strings() {
    let t = tempdir();
    let d = t.path();
    // A PFX-looking SEQUENCE { INTEGER 3, SEQUENCE { OID data, [0] { OCTET STRING { deep } } } }.
    let mut deep = Vec::new();
    for _ in 0..5_000 {
        deep = enc(0x04, &enc(0x30, &deep));
    }
    let oid_data = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01,
    ];
    let mut ci = oid_data.to_vec();
    ci.extend(enc(0xa0, &enc(0x04, &enc(0x30, &deep))));
    let mut pfx = vec![0x02, 0x01, 0x03];
    pfx.extend(enc(0x30, &ci));
    std::fs::write(d.join("hidden.p12"), enc(0x30, &pfx)).unwrap();
    let r = mtls(d, &["inspect", "hidden.p12"]);
    one_error_line(&r, "hidden.p12", "inspect");
}
