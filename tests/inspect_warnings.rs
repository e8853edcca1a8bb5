//! The warnings of the inspect library at a fixed clock, on certificates from the x509-limbo
//! corpus (tests/data/limbo.json) that have exactly the flaw each warning is about.
use mtls_ca::inspect::{inspect_bytes, Object};
use time::OffsetDateTime;

fn limbo_case(id: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/limbo.json");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    doc["testcases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no case {id}"))
        .clone()
}

fn peer(id: &str) -> String {
    limbo_case(id)["peer_certificate"]
        .as_str()
        .unwrap()
        .to_string()
}

fn cert_warnings(pem: &str, now: OffsetDateTime) -> Vec<String> {
    let i = inspect_bytes(pem.as_bytes(), "t.pem", None, now).unwrap();
    match &i.objects[0] {
        Object::Certificate(c) => c.warnings.clone(),
        other => panic!("{other:?}"),
    }
}

fn not_after(pem: &str) -> OffsetDateTime {
    let i = inspect_bytes(pem.as_bytes(), "t.pem", None, OffsetDateTime::UNIX_EPOCH).unwrap();
    match &i.objects[0] {
        Object::Certificate(c) => c.not_after,
        _ => unreachable!(),
    }
}

fn has(w: &[String], needle: &str) -> bool {
    w.iter().any(|x| x.contains(needle))
}

#[test]
fn validity_warnings() {
    let pem = peer("webpki::san::exact-dns-san");
    let na = not_after(&pem);
    let w = cert_warnings(&pem, na + time::Duration::days(10));
    assert!(has(&w, "expired 10 days ago"), "{w:?}");
    let w = cert_warnings(
        &pem,
        na - time::Duration::days(10) - time::Duration::hours(1),
    );
    assert!(has(&w, "expires in 10 days"), "{w:?}");
    let w = cert_warnings(&pem, OffsetDateTime::UNIX_EPOCH);
    assert!(has(&w, "not valid yet"), "{w:?}");
    let w = cert_warnings(&pem, na - time::Duration::days(100));
    assert!(!has(&w, "expire") && !has(&w, "not valid"), "{w:?}");
}

#[test]
fn name_usage_and_strength_warnings() {
    let now = OffsetDateTime::now_utc();
    let w = cert_warnings(&peer("webpki::cn::not-in-san"), now);
    assert!(has(&w, "is not among the SANs"), "{w:?}");
    let w = cert_warnings(&peer("webpki::eku::ee-without-eku"), now);
    assert!(has(&w, "no extendedKeyUsage"), "{w:?}");
    let w = cert_warnings(&peer("webpki::forbidden-weak-rsa-in-leaf"), now);
    assert!(has(&w, "weak key: RSA 1024 bits"), "{w:?}");
    let w = cert_warnings(&peer("webpki::san::exact-dns-san"), now);
    assert!(!has(&w, "SAN") && !has(&w, "weak"), "{w:?}");
}

#[test]
fn chain_order_and_crl_warnings() {
    // root -> intermediate -> leaf, written leaf, root, intermediate: out of order.
    let c = limbo_case("rfc5280::validity::expired-root");
    let leaf = c["peer_certificate"].as_str().unwrap();
    let root = c["trusted_certs"][0].as_str().unwrap();
    let inter = c["untrusted_intermediates"][0].as_str().unwrap();
    let now = OffsetDateTime::now_utc();
    let good = format!("{leaf}{inter}{root}");
    let i = inspect_bytes(good.as_bytes(), "good.pem", None, now).unwrap();
    assert!(i.warnings.is_empty(), "{:?}", i.warnings);
    let bad = format!("{leaf}{root}{inter}");
    let i = inspect_bytes(bad.as_bytes(), "bad.pem", None, now).unwrap();
    assert!(
        i.warnings
            .iter()
            .any(|w| w.contains("self-signed but is not last")),
        "{:?}",
        i.warnings
    );
    let gap = format!("{leaf}{root}");
    let i = inspect_bytes(gap.as_bytes(), "gap.pem", None, now).unwrap();
    assert!(
        i.warnings.iter().any(|w| w.contains("gap")),
        "{:?}",
        i.warnings
    );
    // A CRL read after its nextUpdate.
    let c = limbo_case("crl::crlnumber-missing");
    let crl = c["crls"][0].as_str().unwrap();
    let i = inspect_bytes(crl.as_bytes(), "c.crl", None, now).unwrap();
    match &i.objects[0] {
        Object::Crl(c) => {
            let nu = c.next_update.expect("limbo CRLs have nextUpdate");
            let after =
                inspect_bytes(crl.as_bytes(), "c.crl", None, nu + time::Duration::days(1)).unwrap();
            match &after.objects[0] {
                Object::Crl(a) => assert!(
                    a.warnings.iter().any(|w| w.contains("past its nextUpdate")),
                    "{:?}",
                    a.warnings
                ),
                _ => unreachable!(),
            }
            let before = inspect_bytes(crl.as_bytes(), "c.crl", None, c.this_update).unwrap();
            match &before.objects[0] {
                Object::Crl(b) => assert!(
                    !b.warnings.iter().any(|w| w.contains("nextUpdate")),
                    "{:?}",
                    b.warnings
                ),
                _ => unreachable!(),
            }
        }
        other => panic!("{other:?}"),
    }
}
