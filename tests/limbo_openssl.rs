//! The OpenSSL-family verdict of `mtls-ca verify` against its oracle: every x509-limbo case
//! (tests/data/limbo.json) is run through the real `openssl verify` with the flags a gateway uses
//! (`-purpose sslserver|sslclient`, `-verify_hostname`/`-verify_ip`, `-attime`, and
//! `-crl_check_all -CRLfile` when the case has CRLs) and through the library's OpenSSL engine.
//! Every difference must be listed, with a reason, in tests/limbo-openssl-exceptions.txt, and at
//! least 98% of the cases must agree. The default verdict of `mtls-ca verify` (both engines) never
//! accepts what `openssl verify` rejects, and never rejects what rustls and `openssl verify` both
//! accept. Run with --nocapture to see the counts.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use mtls_ca::verify::openssl::{verify_with, Params};
use mtls_ca::verify::{self, Purpose};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn pem_ders(items: &serde_json::Value) -> Vec<Vec<u8>> {
    items
        .as_array()
        .map(|a| {
            a.iter()
                .flat_map(|p| pem::parse_many(p.as_str().unwrap_or("")).unwrap_or_default())
                .map(|p| p.into_contents())
                .collect()
        })
        .unwrap_or_default()
}

fn exceptions() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/limbo-openssl-exceptions.txt"),
    )
    .expect("tests/limbo-openssl-exceptions.txt");
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (id, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        assert!(!reason.trim().is_empty(), "exception {id} has no reason");
        out.insert(id.to_string(), reason.trim().to_string());
    }
    out
}

/// The first `error N at D depth` of `openssl verify`, and whether it accepted.
fn openssl_verify(dir: &Path, case: &serde_json::Value) -> (bool, Vec<u32>) {
    let join = |v: &serde_json::Value| {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|p| p.as_str().unwrap_or("").to_string())
                    .collect::<String>()
            })
            .unwrap_or_default()
    };
    std::fs::write(dir.join("roots.pem"), join(&case["trusted_certs"])).unwrap();
    std::fs::write(
        dir.join("inter.pem"),
        join(&case["untrusted_intermediates"]),
    )
    .unwrap();
    std::fs::write(dir.join("crls.pem"), join(&case["crls"])).unwrap();
    std::fs::write(
        dir.join("leaf.pem"),
        case["peer_certificate"].as_str().unwrap(),
    )
    .unwrap();
    let mut args: Vec<String> = vec!["verify".into(), "-CAfile".into(), "roots.pem".into()];
    if !pem_ders(&case["untrusted_intermediates"]).is_empty() {
        args.extend(["-untrusted".into(), "inter.pem".into()]);
    }
    if !pem_ders(&case["crls"]).is_empty() {
        args.extend([
            "-crl_check_all".into(),
            "-CRLfile".into(),
            "crls.pem".into(),
        ]);
    }
    let client = case["validation_kind"] == "CLIENT";
    args.extend([
        "-purpose".into(),
        if client { "sslclient" } else { "sslserver" }.into(),
    ]);
    if let Some(t) = case["validation_time"].as_str() {
        let at = OffsetDateTime::parse(t, &Rfc3339).unwrap();
        args.extend(["-attime".into(), at.unix_timestamp().to_string()]);
    }
    if let Some((kind, value)) = peer_name(case) {
        args.extend([
            if kind == "IP" {
                "-verify_ip"
            } else {
                "-verify_hostname"
            }
            .into(),
            value,
        ]);
    }
    args.push("leaf.pem".into());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = common::openssl(dir, &refs);
    let text = format!("{}{}", r.stdout, r.stderr);
    let errs = text
        .split("error ")
        .skip(1)
        .filter_map(|s| s.split_whitespace().next()?.parse().ok())
        .collect();
    (r.code == 0, errs)
}

fn peer_name(case: &serde_json::Value) -> Option<(String, String)> {
    if case["validation_kind"] == "CLIENT" {
        return None;
    }
    let n = case["expected_peer_name"].as_object()?;
    let kind = n["kind"].as_str()?;
    let value = n["value"].as_str()?.to_string();
    (kind == "DNS" || kind == "IP").then(|| (kind.to_string(), value))
}

#[test]
fn openssl_engine_matches_openssl_verify() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/limbo.json");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let cases = doc["testcases"].as_array().unwrap();
    let exc = exceptions();
    let dir = tempfile::tempdir().unwrap();
    let (mut agree, mut unexplained, mut stale) = (0, Vec::new(), Vec::new());
    let mut default_accepts_openssl_rejects = Vec::new();
    let mut default_rejects_both_accept = Vec::new();
    for case in cases {
        let id = case["id"].as_str().unwrap().to_string();
        let (want, want_errs) = openssl_verify(dir.path(), case);
        let at = match case["validation_time"].as_str() {
            Some(t) => OffsetDateTime::parse(t, &Rfc3339).unwrap(),
            None => OffsetDateTime::now_utc(),
        };
        let host = peer_name(case).map(|(_, v)| v);
        let crls = pem_ders(&case["crls"]);
        let params = Params {
            purpose: if case["validation_kind"] == "CLIENT" {
                Purpose::Client
            } else {
                Purpose::Server
            },
            host: host.as_deref(),
            at: at.unix_timestamp(),
            crls: &crls,
        };
        let leaf = pem_ders(&serde_json::json!([case["peer_certificate"]]))
            .pop()
            .unwrap();
        let got = verify_with(
            &leaf,
            &pem_ders(&case["untrusted_intermediates"]),
            &pem_ders(&case["trusted_certs"]),
            &params,
        );
        let got_errs: Vec<u32> = got.errors.iter().map(|e| e.num).collect();
        // The default verdict of `mtls-ca verify` (both engines).
        let input = verify::Input {
            leaf: leaf.clone(),
            intermediates: pem_ders(&case["untrusted_intermediates"]),
            roots: pem_ders(&case["trusted_certs"]),
            crls: crls.clone(),
            purpose: Some(params.purpose),
            host: host.clone(),
            key_spki: None,
            at,
            cert_label: id.clone(),
            candidates: Vec::new(),
            candidate_files: Vec::new(),
        };
        if let Ok(r) = verify::verify_engines(
            &input,
            &mtls_ca::diagnose::finding::FixContext::new(Path::new(".")),
            &verify::Options::default(),
        ) {
            let rustls_ok = r.engines.iter().any(|e| e.engine == "rustls" && e.valid);
            if r.valid && !want {
                default_accepts_openssl_rejects.push(id.clone());
            }
            if !r.valid && rustls_ok && want {
                default_rejects_both_accept.push(id.clone());
            }
        }
        if got.valid() == want {
            agree += 1;
            if exc.contains_key(&id) {
                stale.push(id);
            }
        } else if !exc.contains_key(&id) {
            unexplained.push(format!(
                "{id}: openssl {} {want_errs:?}, engine {} {got_errs:?}",
                if want { "accepts" } else { "rejects" },
                if got.valid() { "accepts" } else { "rejects" },
            ));
        }
    }
    println!(
        "limbo: the OpenSSL engine agrees with openssl verify on {agree}/{} cases",
        cases.len()
    );
    println!(
        "default verdict: accepts where openssl rejects: {default_accepts_openssl_rejects:?}; rejects where rustls and openssl accept: {default_rejects_both_accept:?}"
    );
    assert_eq!(cases.len(), 208);
    assert!(
        default_accepts_openssl_rejects.is_empty(),
        "the default verdict accepts what openssl verify rejects: {default_accepts_openssl_rejects:?}"
    );
    assert!(
        default_rejects_both_accept.is_empty(),
        "the default verdict rejects what rustls and openssl verify both accept: {default_rejects_both_accept:?}"
    );
    assert!(stale.is_empty(), "exceptions that now agree: {stale:?}");
    assert!(
        unexplained.is_empty(),
        "{} unexplained differences:\n{}",
        unexplained.len(),
        unexplained.join("\n")
    );
    assert!(agree * 100 >= cases.len() * 98, "only {agree} agree");
}
