//! `mtls-ca inspect` with the real binary: every object kind mtls-ca writes, and openssl-made
//! certificates, CSRs, CRLs, keys (PKCS#8, SEC1, PKCS#1, encrypted) and PKCS#12 in PEM and DER.
//! Its facts must match what `openssl x509` / `openssl crl` print for the same files.
use crate::common;
use std::path::Path;

use common::*;

fn inspect_json(d: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["--json", "inspect"];
    a.extend_from_slice(args);
    mtls(d, &a).ok().json()
}

fn kinds(j: &serde_json::Value) -> Vec<String> {
    j["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap().to_string())
        .collect()
}

/// An openssl-made root CA and an RSA server leaf, both pkilint-clean.
fn openssl_pki(d: &Path) {
    std::fs::write(
        d.join("req.cnf"),
        "[req]\ndistinguished_name=dn\n[dn]\n[v3]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n",
    )
    .unwrap();
    std::fs::write(
        d.join("leaf.ext"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:ossl.example.com,IP:10.1.2.3\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n",
    )
    .unwrap();
    openssl_p256_key(d, "oca.key");
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "oca.key",
            "-subj",
            "/C=DE/O=Openssl Org/CN=Openssl Root CA",
            "-days",
            "3650",
            "-sha256",
            "-config",
            "req.cnf",
            "-extensions",
            "v3",
            "-out",
            "oca.crt",
        ],
    )
    .ok();
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "oleaf.key",
        ],
    )
    .ok();
    openssl(
        d,
        &[
            "req",
            "-new",
            "-key",
            "oleaf.key",
            "-subj",
            "/O=Openssl Org/CN=ossl.example.com",
            "-addext",
            "subjectAltName=DNS:ossl.example.com,IP:10.1.2.3",
            "-out",
            "oleaf.csr",
        ],
    )
    .ok();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "oleaf.csr",
            "-CA",
            "oca.crt",
            "-CAkey",
            "oca.key",
            "-CAcreateserial",
            "-days",
            "90",
            "-sha256",
            "-extfile",
            "leaf.ext",
            "-out",
            "oleaf.crt",
        ],
    )
    .ok();
    pkilint_cert(d, &d.join("oca.crt"));
    pkilint_cert(d, &d.join("oleaf.crt"));
    pkilint_chain(d, &d.join("oca.crt"), &d.join("oleaf.crt"));
    openssl(d, &["verify", "-CAfile", "oca.crt", "oleaf.crt"]).ok();
}

/// Lines `key=value` of an openssl output.
fn field(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} missing in\n{out}"))
        .trim()
        .to_string()
}

fn iso(openssl_date: &str) -> String {
    // "2026-11-28 23:48:59Z" -> "2026-11-28T23:48:59Z"
    openssl_date.replacen(' ', "T", 1)
}

/// The facts of `cert` as openssl prints them equal those in inspect's JSON object `o`.
#[track_caller]
fn same_as_openssl(d: &Path, cert: &str, form: &str, o: &serde_json::Value) {
    let r = openssl(
        d,
        &[
            "x509",
            "-in",
            cert,
            "-inform",
            form,
            "-noout",
            "-serial",
            "-subject",
            "-issuer",
            "-startdate",
            "-enddate",
            "-dateopt",
            "iso_8601",
            "-fingerprint",
            "-sha256",
            "-nameopt",
            "oneline",
            "-ext",
            "subjectAltName",
        ],
    )
    .ok();
    let out = r.stdout;
    let strip0 = |s: &str| s.trim_start_matches('0').to_ascii_lowercase();
    assert_eq!(
        strip0(&field(&out, "serial")),
        strip0(o["serial"].as_str().unwrap()),
        "{cert}"
    );
    assert_eq!(
        field(&out, "subject").replace(" = ", "="),
        o["subject"],
        "{cert}"
    );
    assert_eq!(
        field(&out, "issuer").replace(" = ", "="),
        o["issuer"],
        "{cert}"
    );
    assert_eq!(iso(&field(&out, "notBefore")), o["not_before"], "{cert}");
    assert_eq!(iso(&field(&out, "notAfter")), o["not_after"], "{cert}");
    assert_eq!(
        field(&out, "sha256 Fingerprint"),
        o["sha256_fingerprint"],
        "{cert}"
    );
    let sans: Vec<String> = o["sans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let v = s["value"].as_str().unwrap();
            match s["type"].as_str().unwrap() {
                "dns" => format!("DNS:{v}"),
                "ip" => format!("IP Address:{v}"),
                "email" => format!("email:{v}"),
                "uri" => format!("URI:{v}"),
                other => panic!("{other}"),
            }
        })
        .collect();
    if sans.is_empty() {
        assert!(!out.contains("Subject Alternative Name"), "{out}");
    } else {
        let line = out
            .lines()
            .skip_while(|l| !l.contains("Subject Alternative Name"))
            .nth(1)
            .unwrap()
            .trim()
            .to_string();
        assert_eq!(line, sans.join(", "), "{cert}");
    }
    let sha1 = openssl(
        d,
        &[
            "x509",
            "-in",
            cert,
            "-inform",
            form,
            "-noout",
            "-fingerprint",
            "-sha1",
        ],
    )
    .ok();
    assert_eq!(
        field(&sha1.stdout, "sha1 Fingerprint"),
        o["sha1_fingerprint"]
    );
}

#[test]
fn every_object_mtls_ca_writes() {
    let t = tempdir();
    let d = t.path();
    root_issuing_server(d);
    mtls(
        d,
        &[
            "--dir",
            "pki/issuing",
            "issue",
            "client",
            "--cn",
            "alice",
            "--san",
            "alice.example.com",
            "--san",
            "alice@example.com",
        ],
    )
    .ok();
    for f in [
        "pki/ca.crt",
        "pki/issuing/ca.crt",
        "api.example.com.crt",
        "alice.crt",
    ] {
        pkilint_cert(d, &d.join(f));
    }
    let j = inspect_json(
        d,
        &[
            "pki/ca.crt",
            "pki/issuing/ca-chain.crt",
            "api.example.com.fullchain.crt",
            "api.example.com.key",
            "alice.crt",
        ],
    );
    assert_eq!(
        kinds(&j),
        [
            "certificate",
            "certificate",
            "certificate",
            "certificate",
            "certificate",
            "private_key",
            "certificate"
        ]
    );
    let o = &j["objects"];
    assert_eq!(o[0]["is_ca"], true);
    assert_eq!(o[0]["self_signed"], true);
    assert_eq!(o[1]["path_len"], 0);
    assert_eq!(
        o[3]["extended_key_usage"],
        serde_json::json!(["serverAuth"])
    );
    assert_eq!(o[3]["key_type"], "ecdsa-p256");
    assert_eq!(o[3]["key_usage"], serde_json::json!(["digitalSignature"]));
    assert_eq!(o[3]["warnings"], serde_json::json!([]), "{:#}", o[3]);
    assert_eq!(o[5]["format"], "pkcs8");
    assert_eq!(o[5]["key_type"], "ecdsa-p256");
    assert!(
        !j.to_string().contains("PRIVATE KEY"),
        "a secret leaked: {j}"
    );
    // A certificate and its key in one file are paired; a foreign key is pointed out.
    let pair = format!(
        "{}{}",
        std::fs::read_to_string(d.join("api.example.com.crt")).unwrap(),
        std::fs::read_to_string(d.join("api.example.com.key")).unwrap()
    );
    std::fs::write(d.join("pair.pem"), pair).unwrap();
    let pj = inspect_json(d, &["pair.pem"]);
    assert_eq!(
        pj["objects"][1]["matches_certificate"], "CN=api.example.com",
        "{pj:#}"
    );
    assert_eq!(
        pj["objects"][1]["public_key_sha256"],
        pj["objects"][0]["public_key_sha256"]
    );
    let wrong = format!(
        "{}{}",
        std::fs::read_to_string(d.join("api.example.com.crt")).unwrap(),
        std::fs::read_to_string(d.join("alice.key")).unwrap()
    );
    std::fs::write(d.join("wrong.pem"), wrong).unwrap();
    let r = mtls(d, &["inspect", "wrong.pem"]).ok();
    assert!(
        r.stdout.contains("belongs to none of the certificates"),
        "{}",
        r.stdout
    );
    let types: Vec<&str> = o[6]["sans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"dns") && types.contains(&"email"),
        "{:#}",
        o[6]
    );
    same_as_openssl(d, "api.example.com.crt", "PEM", &o[3]);
    same_as_openssl(d, "pki/ca.crt", "PEM", &o[0]);
    same_as_openssl(d, "alice.crt", "PEM", &o[6]);
    // Human output: the facts a person needs, and no chain warning for a proper fullchain.
    let r = mtls(d, &["inspect", "api.example.com.fullchain.crt"]).ok();
    for w in [
        "subject      CN=api.example.com",
        "DNS: api.example.com; IP: 10.0.0.5",
        "expires in 36",
        "leaf (CA:FALSE)",
        "CA (pathlen 0)",
        "EKU          serverAuth",
        "SHA-256",
        "SHA-1",
        "SKI",
        "AKI",
    ] {
        assert!(r.stdout.contains(w), "{w:?} missing:\n{}", r.stdout);
    }
    assert!(!r.stdout.contains("warning"), "{}", r.stdout);
    // Stdin, and a chain out of order.
    let leaf = std::fs::read_to_string(d.join("api.example.com.crt")).unwrap();
    let ca = std::fs::read_to_string(d.join("pki/issuing/ca.crt")).unwrap();
    let root = std::fs::read_to_string(d.join("pki/ca.crt")).unwrap();
    std::fs::write(
        d.join("disorder.pem"),
        format!(
            "junk before\r\n{}\r\ntext between\n{ca}{leaf}",
            root.replace('\n', "\r\n")
        ),
    )
    .unwrap();
    let r = mtls(d, &["inspect", "disorder.pem"]).ok();
    assert!(
        r.stdout.contains("self-signed but is not last") || r.stdout.contains("out of order"),
        "{}",
        r.stdout
    );
    std::fs::write(d.join("gap.pem"), format!("{leaf}{root}")).unwrap();
    let r = mtls(d, &["inspect", "gap.pem"]).ok();
    assert!(r.stdout.contains("chain has a gap"), "{}", r.stdout);
    let out = std::process::Command::new(bin())
        .args(["--json", "inspect", "-"])
        .current_dir(d)
        .stdin(std::fs::File::open(d.join("api.example.com.crt")).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["objects"][0]["source"], "-");
}

#[test]
fn openssl_made_objects_pem_and_der() {
    let t = tempdir();
    let d = t.path();
    openssl_pki(d);
    // DER forms.
    openssl(
        d,
        &[
            "x509",
            "-in",
            "oleaf.crt",
            "-outform",
            "DER",
            "-out",
            "oleaf.der",
        ],
    )
    .ok();
    openssl(
        d,
        &[
            "req",
            "-in",
            "oleaf.csr",
            "-outform",
            "DER",
            "-out",
            "oleaf.csr.der",
        ],
    )
    .ok();
    // Keys: PKCS#8 (PEM/DER), SEC1 (PEM/DER), PKCS#1 (PEM/DER), encrypted PKCS#8 (PEM/DER).
    openssl(
        d,
        &[
            "pkcs8", "-topk8", "-nocrypt", "-in", "oca.key", "-outform", "DER", "-out", "p8.der",
        ],
    )
    .ok();
    openssl(d, &["ec", "-in", "oca.key", "-out", "sec1.pem"]).ok();
    openssl(
        d,
        &[
            "ec", "-in", "oca.key", "-outform", "DER", "-out", "sec1.der",
        ],
    )
    .ok();
    openssl(
        d,
        &[
            "rsa",
            "-in",
            "oleaf.key",
            "-traditional",
            "-out",
            "pkcs1.pem",
        ],
    )
    .ok();
    openssl(
        d,
        &[
            "rsa",
            "-in",
            "oleaf.key",
            "-traditional",
            "-outform",
            "DER",
            "-out",
            "pkcs1.der",
        ],
    )
    .ok();
    openssl(
        d,
        &[
            "pkcs8",
            "-topk8",
            "-in",
            "oleaf.key",
            "-v2",
            "aes256",
            "-passout",
            "pass:pw",
            "-out",
            "enc.pem",
        ],
    )
    .ok();
    openssl(
        d,
        &[
            "pkcs8",
            "-topk8",
            "-in",
            "oleaf.key",
            "-v2",
            "aes256",
            "-passout",
            "pass:pw",
            "-outform",
            "DER",
            "-out",
            "enc.der",
        ],
    )
    .ok();

    let j = inspect_json(d, &["oleaf.crt", "oleaf.der", "oca.crt"]);
    assert_eq!(kinds(&j), ["certificate", "certificate", "certificate"]);
    same_as_openssl(d, "oleaf.crt", "PEM", &j["objects"][0]);
    same_as_openssl(d, "oleaf.der", "DER", &j["objects"][1]);
    same_as_openssl(d, "oca.crt", "PEM", &j["objects"][2]);
    let leaf = &j["objects"][0];
    assert_eq!(leaf["key_type"], "rsa");
    assert_eq!(leaf["key_bits"], 2048);
    assert_eq!(
        leaf["key_usage"],
        serde_json::json!(["digitalSignature", "keyEncipherment"])
    );
    assert_eq!(
        j["objects"][2]["subject"],
        "C=DE, O=Openssl Org, CN=Openssl Root CA"
    );

    let j = inspect_json(d, &["oleaf.csr", "oleaf.csr.der"]);
    assert_eq!(kinds(&j), ["csr", "csr"]);
    for o in j["objects"].as_array().unwrap() {
        assert_eq!(o["subject"], "O=Openssl Org, CN=ossl.example.com");
        assert_eq!(o["signature_valid"], true);
        assert_eq!(o["key_bits"], 2048);
        assert_eq!(o["sans"][1]["value"], "10.1.2.3");
    }

    let j = inspect_json(
        d,
        &[
            "oca.key",
            "p8.der",
            "sec1.pem",
            "sec1.der",
            "pkcs1.pem",
            "pkcs1.der",
            "enc.pem",
            "enc.der",
        ],
    );
    let got: Vec<(String, String)> = j["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["format"].as_str().unwrap().to_string(),
                o["key_type"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    let want = [
        ("pkcs8", "ecdsa-p256"),
        ("pkcs8", "ecdsa-p256"),
        ("sec1", "ecdsa-p256"),
        ("sec1", "ecdsa-p256"),
        ("pkcs1", "rsa"),
        ("pkcs1", "rsa"),
        ("encrypted-pkcs8", "?"),
        ("encrypted-pkcs8", "?"),
    ];
    assert_eq!(got, want.map(|(a, b)| (a.to_string(), b.to_string())));
    assert_eq!(j["objects"][4]["key_bits"], 2048);
    let text = mtls(d, &["inspect", "enc.pem", "pkcs1.der"]).ok().stdout;
    assert!(
        text.contains("encrypted, type unknown without passphrase"),
        "{text}"
    );
    assert!(text.contains("rsa (2048 bits)"), "{text}");
}

/// `openssl ca` setup for the openssl-made root.
fn openssl_crl(d: &Path) {
    let db = d.join("odb");
    std::fs::create_dir_all(&db).unwrap();
    std::fs::write(db.join("index.txt"), "").unwrap();
    std::fs::write(db.join("crlnumber"), "1000\n").unwrap();
    std::fs::write(
        d.join("ca.cnf"),
        format!(
            "[ca]\ndefault_ca=c\n[c]\ndatabase={db}/index.txt\ncrlnumber={db}/crlnumber\ncertificate={d}/oca.crt\n\
             private_key={d}/oca.key\ndefault_md=sha256\ndefault_crl_days=7\ncrl_extensions=e\n[e]\nauthorityKeyIdentifier=keyid:always\n",
            db = db.display(),
            d = d.display()
        ),
    )
    .unwrap();
    openssl(
        d,
        &[
            "ca",
            "-config",
            "ca.cnf",
            "-revoke",
            "oleaf.crt",
            "-crl_reason",
            "superseded",
        ],
    )
    .ok();
    openssl(d, &["ca", "-config", "ca.cnf", "-gencrl", "-out", "o.crl"]).ok();
    openssl(
        d,
        &[
            "crl",
            "-in",
            "o.crl",
            "-outform",
            "DER",
            "-out",
            "o.crl.der",
        ],
    )
    .ok();
    pkilint_crl(d, &d.join("o.crl"));
}

#[test]
fn crls_match_openssl() {
    let t = tempdir();
    let d = t.path();
    openssl_pki(d);
    openssl_crl(d);
    let j = inspect_json(d, &["o.crl", "o.crl.der"]);
    assert_eq!(kinds(&j), ["crl", "crl"]);
    let r = openssl(
        d,
        &[
            "crl",
            "-in",
            "o.crl",
            "-noout",
            "-issuer",
            "-lastupdate",
            "-nextupdate",
            "-crlnumber",
            "-dateopt",
            "iso_8601",
            "-nameopt",
            "oneline",
        ],
    )
    .ok();
    let serial = openssl(d, &["x509", "-in", "oleaf.crt", "-noout", "-serial"]).ok();
    for o in j["objects"].as_array().unwrap() {
        assert_eq!(field(&r.stdout, "issuer").replace(" = ", "="), o["issuer"]);
        assert_eq!(iso(&field(&r.stdout, "lastUpdate")), o["this_update"]);
        assert_eq!(iso(&field(&r.stdout, "nextUpdate")), o["next_update"]);
        assert_eq!(
            field(&r.stdout, "crlNumber")
                .trim_start_matches("0x")
                .to_ascii_lowercase(),
            o["crl_number"]
        );
        assert_eq!(o["revoked"].as_array().unwrap().len(), 1);
        assert_eq!(
            o["revoked"][0]["serial"]
                .as_str()
                .unwrap()
                .trim_start_matches('0'),
            field(&serial.stdout, "serial")
                .to_ascii_lowercase()
                .trim_start_matches('0')
        );
        assert_eq!(o["revoked"][0]["reason"], "superseded");
        assert_eq!(o["warnings"], serde_json::json!([]));
    }
    let text = openssl(d, &["crl", "-in", "o.crl", "-noout", "-text"])
        .ok()
        .stdout;
    assert!(text.contains("Superseded"), "{text}");
}

/// Re-encodes DER, replacing every INTEGER 2048 (openssl's default PKCS#12 iteration count) with
/// 10,000,000, and fixing all enclosing lengths.
fn bump_iterations(der: &[u8]) -> Vec<u8> {
    fn tlv(i: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let tag = *i.first()?;
        let l0 = *i.get(1)? as usize;
        let (len, h) = if l0 < 0x80 {
            (l0, 2)
        } else {
            let n = l0 & 0x7f;
            if n == 0 || n > 4 || i.len() < 2 + n {
                return None;
            }
            (
                i[2..2 + n]
                    .iter()
                    .fold(0usize, |a, b| (a << 8) | *b as usize),
                2 + n,
            )
        };
        if i.len() < h + len {
            return None;
        }
        Some((tag, &i[h..h + len], &i[h + len..]))
    }
    fn all(mut i: &[u8]) -> Option<Vec<(u8, &[u8])>> {
        let mut v = Vec::new();
        while !i.is_empty() {
            let (t, c, r) = tlv(i)?;
            v.push((t, c));
            i = r;
        }
        Some(v)
    }
    fn enc(tag: u8, c: &[u8]) -> Vec<u8> {
        let mut o = vec![tag];
        let l = c.len();
        if l < 0x80 {
            o.push(l as u8);
        } else if l < 0x100 {
            o.extend([0x81, l as u8]);
        } else if l < 0x10000 {
            o.extend([0x82, (l >> 8) as u8, l as u8]);
        } else {
            o.extend([0x83, (l >> 16) as u8, (l >> 8) as u8, l as u8]);
        }
        o.extend_from_slice(c);
        o
    }
    fn walk(i: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for (t, c) in all(i).unwrap() {
            let nested = t == 0x04 && c.first() == Some(&0x30) && all(c).is_some();
            let c2 = if t & 0x20 != 0 || nested {
                walk(c)
            } else if t == 0x02 && c == [0x08, 0x00] {
                vec![0x00, 0x98, 0x96, 0x80]
            } else {
                c.to_vec()
            };
            out.extend(enc(t, &c2));
        }
        out
    }
    walk(der)
}

#[test]
fn pkcs12_from_openssl() {
    let t = tempdir();
    let d = t.path();
    openssl_pki(d);
    openssl(
        d,
        &[
            "pkcs12",
            "-export",
            "-inkey",
            "oleaf.key",
            "-in",
            "oleaf.crt",
            "-certfile",
            "oca.crt",
            "-name",
            "ossl leaf",
            "-passout",
            "pass:s3cret",
            "-out",
            "o.p12",
        ],
    )
    .ok();
    std::fs::write(d.join("pass.txt"), "s3cret\n").unwrap();
    let j = inspect_json(d, &["o.p12", "--passphrase-file", "pass.txt"]);
    assert_eq!(kinds(&j), ["pkcs12"]);
    let p = &j["objects"][0];
    assert_eq!(p["keys"][0]["key_type"], "rsa");
    assert_eq!(p["keys"][0]["key_bits"], 2048);
    assert_eq!(p["certificates"].as_array().unwrap().len(), 2);
    assert!(p["friendly_names"].to_string().contains("ossl leaf"));
    assert_eq!(
        p["keys"][0]["matches_certificate"],
        "O=Openssl Org, CN=ossl.example.com"
    );
    let leaf = p["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["is_ca"] == false)
        .unwrap();
    same_as_openssl(d, "oleaf.crt", "PEM", leaf);
    // --passphrase-env works too; the text output shows the contents.
    let out = std::process::Command::new(bin())
        .args(["inspect", "o.p12", "--passphrase-env", "P12_PASS"])
        .current_dir(d)
        .env("P12_PASS", "s3cret")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("PKCS#12") && text.contains("CN=ossl.example.com"),
        "{text}"
    );
    // Wrong and missing passwords: exit 2, one line naming the file.
    std::fs::write(d.join("wrong.txt"), "nope\n").unwrap();
    let r = mtls(d, &["inspect", "o.p12", "--passphrase-file", "wrong.txt"]).expect_code(2);
    assert!(
        r.stderr.starts_with("error: o.p12: wrong PKCS#12 password"),
        "{}",
        r.stderr
    );
    let r = mtls(d, &["inspect", "o.p12"]).expect_code(2);
    assert!(
        r.stderr
            .contains("o.p12: the PKCS#12 file needs a password"),
        "{}",
        r.stderr
    );
    // 10 million iterations: refused before any key derivation.
    let der = std::fs::read(d.join("o.p12")).unwrap();
    std::fs::write(d.join("slow.p12"), bump_iterations(&der)).unwrap();
    let r = mtls(d, &["inspect", "slow.p12", "--passphrase-file", "pass.txt"]).expect_code(2);
    assert!(
        r.stderr.contains("slow.p12") && r.stderr.contains("10000000"),
        "{}",
        r.stderr
    );
    // Empty-password PKCS#12 (as some tools write) opens without a passphrase, with a warning.
    openssl(
        d,
        &[
            "pkcs12",
            "-export",
            "-inkey",
            "oleaf.key",
            "-in",
            "oleaf.crt",
            "-passout",
            "pass:",
            "-out",
            "empty.p12",
        ],
    )
    .ok();
    let j = inspect_json(d, &["empty.p12"]);
    assert!(
        j["objects"][0]["warnings"]
            .to_string()
            .contains("password is empty"),
        "{j:#}"
    );
}

#[test]
fn live_server_chain() {
    let t = tempdir();
    let d = t.path();
    openssl_pki(d);
    let port = free_port();
    let mut server = std::process::Command::new("openssl")
        .args([
            "s_server",
            "-accept",
            &port.to_string(),
            "-cert",
            "oleaf.crt",
            "-key",
            "oleaf.key",
            "-cert_chain",
            "oca.crt",
            "-www",
            "-quiet",
        ])
        .current_dir(d)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl s_server: run scripts/test");
    let target = format!("127.0.0.1:{port}");
    let mut j = serde_json::Value::Null;
    poll_until(std::time::Duration::from_secs(10), || {
        let r = mtls(d, &["--json", "inspect", &target, "--timeout", "5"]);
        if r.code == 0 {
            j = r.json();
        }
        r.code == 0
    });
    let r = mtls(
        d,
        &["inspect", &format!("https://127.0.0.1:{port}/some/path")],
    );
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(kinds(&j), ["certificate", "certificate"], "{j:#}");
    same_as_openssl(d, "oleaf.crt", "PEM", &j["objects"][0]);
    assert_eq!(j["objects"][0]["source"], target);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("CN=ossl.example.com"));
    // Nobody listening: exit 2, one line naming the target.
    let r = mtls(
        d,
        &[
            "inspect",
            &format!("127.0.0.1:{}", free_port()),
            "--timeout",
            "2",
        ],
    )
    .expect_code(2);
    assert!(r.stderr.starts_with("error: 127.0.0.1:"), "{}", r.stderr);
}

#[test]
fn control_characters_are_escaped() {
    let t = tempdir();
    let d = t.path();
    std::fs::write(
        d.join("req.cnf"),
        "[req]\ndistinguished_name=dn\nutf8=yes\n[dn]\n[v3]\nbasicConstraints=critical,CA:FALSE\n",
    )
    .unwrap();
    openssl_p256_key(d, "k.pem");
    // A CN with an ANSI escape sequence and a bidi override.
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "k.pem",
            "-subj",
            "/CN=evil\u{1b}[31mred\u{202e}txt",
            "-days",
            "5",
            "-config",
            "req.cnf",
            "-extensions",
            "v3",
            "-out",
            "evil.crt",
        ],
    )
    .ok();
    let r = mtls(d, &["inspect", "evil.crt"]).ok();
    assert!(
        !r.stdout.contains('\u{1b}') && !r.stdout.contains('\u{202e}'),
        "{:?}",
        r.stdout
    );
    assert!(
        r.stdout.contains("\\u{1b}[31mred\\u{202e}txt"),
        "{}",
        r.stdout
    );
    // And a warning for a self-signed leaf without EKU, expiring soon.
    assert!(
        r.stdout.contains("self-signed leaf") && r.stdout.contains("expires in"),
        "{}",
        r.stdout
    );
}

/// Colour only on a terminal (a pty from `script`), never with NO_COLOR or when piped.
#[test]
fn colour_only_on_a_terminal() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["init", "--cn", "Example Root CA"]).ok();
    let cmd = format!("{} inspect pki/ca.crt", bin().display());
    let run = |no_color: bool| {
        let mut c = std::process::Command::new("script");
        c.args(["-qec", &cmd, "/dev/null"]).current_dir(d);
        if no_color {
            c.env("NO_COLOR", "1");
        } else {
            c.env_remove("NO_COLOR");
        }
        let out = c.output().expect("script (util-linux): run scripts/test");
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(run(false).contains("\u{1b}["), "no colour on a terminal");
    assert!(!run(true).contains("\u{1b}["), "colour despite NO_COLOR");
    let piped = mtls(d, &["inspect", "pki/ca.crt"]).ok();
    assert!(!piped.stdout.contains('\u{1b}'));
}
