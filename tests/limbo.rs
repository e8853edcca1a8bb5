//! x509-limbo conformance: every case of tests/data/limbo.json (208 cases of x509-limbo,
//! https://github.com/C2SP/x509-limbo, compiled from its generator at commit
//! 8a2e6f41023b1716dc16fe63335e4bb972e4c3f6 without the BetterTLS suite; Apache-2.0) runs through the library's `verify` (rustls' verifiers) and is compared
//! with its expected result. Every disagreement must be listed, with a reason, in
//! tests/limbo-exceptions.txt; a case expected to FAIL that passes without such an entry fails
//! this test. The agreement count is printed (run with --nocapture) and recorded in docs/verify.md.

use std::collections::BTreeMap;
use std::path::Path;

use mtls_ca::verify::{self, Input, Purpose};
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

fn report(case: &serde_json::Value) -> mtls_ca::Result<verify::Report> {
    let leaf = pem_ders(&serde_json::json!([case["peer_certificate"]]));
    let leaf = leaf.into_iter().next().unwrap_or_default();
    let at = match case["validation_time"].as_str() {
        Some(t) => OffsetDateTime::parse(t, &Rfc3339).expect("validation_time"),
        None => OffsetDateTime::now_utc(),
    };
    let purpose = match case["validation_kind"].as_str() {
        Some("CLIENT") => Purpose::Client,
        _ => Purpose::Server,
    };
    let name = case["expected_peer_name"]
        .as_object()
        .filter(|n| n["kind"] == "DNS" || n["kind"] == "IP")
        .and_then(|n| n["value"].as_str())
        .map(str::to_string);
    let input = Input {
        leaf,
        intermediates: pem_ders(&case["untrusted_intermediates"]),
        roots: pem_ders(&case["trusted_certs"]),
        crls: pem_ders(&case["crls"]),
        purpose: Some(purpose),
        host: if purpose == Purpose::Server {
            name
        } else {
            None
        },
        key_spki: None,
        at,
        cert_label: case["id"].as_str().unwrap_or("case").to_string(),
        candidates: vec![],
        candidate_files: Vec::new(),
    };
    verify::verify(&input)
}

/// `true` when the library accepts the case (an `Err` is a rejection too: unusable input).
fn accepts(case: &serde_json::Value) -> bool {
    report(case).is_ok_and(|r| r.valid)
}

fn case(id: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/limbo.json");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    doc["testcases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()
        .clone()
}

/// Where rustls and openssl disagree, verify decides like rustls and says what openssl would do.
#[test]
fn openssl_disagreements_are_warned() {
    let r = report(&case("rfc5280::validity::expired-root")).unwrap();
    assert!(r.valid, "{r:?}");
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("expired") && w.contains("openssl")),
        "{r:?}"
    );
    let r = report(&case("rfc5280::ca-as-leaf")).unwrap();
    assert!(!r.valid);
    assert_eq!(r.errors[0].code, "ca_used_as_leaf", "{r:?}");
    assert!(r.warnings.iter().any(|w| w.contains("openssl")), "{r:?}");
    let r = report(&case("rfc5280::nc::nc-permits-email-exact")).unwrap();
    assert!(!r.valid);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("email or URI name constraints")),
        "{r:?}"
    );
    let r = report(&case("webpki::forbidden-weak-rsa-in-leaf")).unwrap();
    assert_eq!(r.errors[0].code, "unusable_key", "{r:?}");
}

fn exceptions() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/limbo-exceptions.txt"),
    )
    .expect("tests/limbo-exceptions.txt");
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

#[test]
fn limbo_agreement() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/limbo.json");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let cases = doc["testcases"].as_array().unwrap();
    let exc = exceptions();
    let (mut agree, mut unexplained) = (0, Vec::new());
    let mut explained = Vec::new();
    let mut stale = Vec::new();
    for case in cases {
        let id = case["id"].as_str().unwrap().to_string();
        let want = case["expected_result"] == "SUCCESS";
        let got = accepts(case);
        if got == want {
            agree += 1;
            if exc.contains_key(&id) {
                stale.push(id);
            }
        } else if let Some(reason) = exc.get(&id) {
            explained.push(format!("{id}: {reason}"));
        } else {
            unexplained.push(format!(
                "{id}: expected {}, got {}: {}",
                if want { "SUCCESS" } else { "FAILURE" },
                if got { "SUCCESS" } else { "FAILURE" },
                case["description"]
                    .as_str()
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("")
            ));
        }
    }
    println!("limbo: {agree}/{} cases agree with x509-limbo", cases.len());
    for e in &explained {
        println!("  known: {e}");
    }
    assert_eq!(cases.len(), 208);
    assert!(
        stale.is_empty(),
        "exceptions that now agree (remove them): {stale:?}"
    );
    assert!(
        unexplained.is_empty(),
        "{} unexplained disagreements:\n{}",
        unexplained.len(),
        unexplained.join("\n")
    );
}

/// The report of `verify_with` for a case (both engines, `strict` as given).
fn report_with(case: &serde_json::Value, strict: bool) -> Option<verify::Report> {
    let leaf = pem_ders(&serde_json::json!([case["peer_certificate"]]))
        .into_iter()
        .next()?;
    let at = match case["validation_time"].as_str() {
        Some(t) => OffsetDateTime::parse(t, &Rfc3339).ok()?,
        None => OffsetDateTime::now_utc(),
    };
    let purpose = match case["validation_kind"].as_str() {
        Some("CLIENT") => Purpose::Client,
        _ => Purpose::Server,
    };
    let host = case["expected_peer_name"]
        .as_object()
        .filter(|n| purpose == Purpose::Server && (n["kind"] == "DNS" || n["kind"] == "IP"))
        .and_then(|n| n["value"].as_str())
        .map(str::to_string);
    let input = Input {
        leaf,
        intermediates: pem_ders(&case["untrusted_intermediates"]),
        roots: pem_ders(&case["trusted_certs"]),
        crls: pem_ders(&case["crls"]),
        purpose: Some(purpose),
        host,
        key_spki: None,
        at,
        cert_label: case["id"].as_str().unwrap_or("case").to_string(),
        candidates: vec![],
        candidate_files: Vec::new(),
    };
    let opts = verify::Options {
        strict,
        ..verify::Options::default()
    };
    verify::verify_engines(
        &input,
        &mtls_ca::diagnose::finding::FixContext::new(Path::new(".")),
        &opts,
    )
    .ok()
}

fn strict_exceptions() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/limbo-strict-exceptions.txt"),
    )
    .expect("tests/limbo-strict-exceptions.txt");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (id, reason) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            assert!(!reason.trim().is_empty(), "exception {id} has no reason");
            (id.to_string(), reason.trim().to_string())
        })
        .collect()
}

/// `--strict` (both engines + the RFC 5280 rules) against limbo's expected results: at least
/// 195 of 208 agree, and every case accepted against the expectation is listed with a reason in
/// tests/limbo-strict-exceptions.txt.
#[test]
fn limbo_strict_agreement() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/limbo.json");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let cases = doc["testcases"].as_array().unwrap();
    let exc = strict_exceptions();
    let (mut agree, mut false_accepts, mut other) = (0, Vec::new(), Vec::new());
    for case in cases {
        let id = case["id"].as_str().unwrap().to_string();
        let want = case["expected_result"] == "SUCCESS";
        let got = report_with(case, true).is_some_and(|r| r.valid);
        if got == want {
            agree += 1;
        } else if got && !exc.contains_key(&id) {
            false_accepts.push(id);
        } else if !got {
            other.push(id);
        }
    }
    println!(
        "limbo --strict: {agree}/{} agree; rejected against the expectation: {other:?}",
        cases.len()
    );
    assert!(
        false_accepts.is_empty(),
        "--strict accepts cases limbo expects to fail (not in tests/limbo-strict-exceptions.txt): {false_accepts:#?}"
    );
    assert!(agree >= 195, "--strict agrees on only {agree} of 208");
}

/// `inspect` shows the `--strict` findings as warnings (and none for conformant certificates).
#[test]
fn inspect_warns_what_strict_rejects() {
    let zero = case("rfc5280::serial::zero");
    let pem = zero["peer_certificate"].as_str().unwrap();
    let r = mtls_ca::inspect::inspect_bytes(
        pem.as_bytes(),
        "zero.pem",
        None,
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    let warnings: Vec<String> = r
        .objects
        .iter()
        .filter_map(|o| match o {
            mtls_ca::inspect::Object::Certificate(c) => Some(c.warnings.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(
        warnings.iter().any(|w| w.contains("strict_serial_zero")),
        "{warnings:?}"
    );
    let strict = report_with(&zero, true).unwrap();
    assert!(!strict.valid);
    assert!(strict.strict.iter().any(|f| f.code == "strict_serial_zero"));
    assert!(
        report_with(&zero, false).unwrap().valid,
        "both engines accept it"
    );
}
