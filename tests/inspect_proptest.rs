//! Property tests: mutated certificates, chains, CSRs, CRLs and keys fed to the library's inspect
//! and verify entry points never panic; they return a description, a report or an error.
//! The seeds are real files (mtls-ca certificates, openssl CSR and CRL, all pkilint-clean).
use crate::common;
use std::sync::OnceLock;

use common::*;
use mtls_ca::verify::{Input, Purpose};
use proptest::prelude::*;

struct Seeds {
    _dir: tempfile::TempDir,
    ca: Vec<u8>,
    fullchain: Vec<u8>,
    csr: Vec<u8>,
    crl: Vec<u8>,
    key: Vec<u8>,
}

fn seeds() -> &'static Seeds {
    static S: OnceLock<Seeds> = OnceLock::new();
    S.get_or_init(|| {
        let t = tempdir();
        let d = t.path();
        mtls(d, &["init", "--cn", "Example Root CA"]).ok();
        mtls(d, &["--dir", "pki/issuing", "init", "--parent", "pki", "--cn", "Example Issuing CA"]).ok();
        mtls(d, &["--dir", "pki/issuing", "issue", "server", "--cn", "api.example.com"]).ok();
        pkilint_cert(d, &d.join("api.example.com.crt"));
        openssl(
            d,
            &["req", "-new", "-key", "api.example.com.key", "-subj", "/CN=api.example.com", "-out", "a.csr"],
        )
        .ok();
        let db = d.join("odb");
        std::fs::create_dir_all(&db).unwrap();
        std::fs::write(db.join("index.txt"), "").unwrap();
        std::fs::write(db.join("crlnumber"), "01\n").unwrap();
        std::fs::write(
            d.join("ca.cnf"),
            format!(
                "[ca]\ndefault_ca=c\n[c]\ndatabase={db}/index.txt\ncrlnumber={db}/crlnumber\ncertificate={d}/pki/issuing/ca.crt\n\
                 private_key={d}/pki/issuing/ca.key\ndefault_md=sha256\ndefault_crl_days=7\ncrl_extensions=e\n[e]\nauthorityKeyIdentifier=keyid:always\n",
                db = db.display(),
                d = d.display()
            ),
        )
        .unwrap();
        openssl(d, &["ca", "-config", "ca.cnf", "-revoke", "api.example.com.crt", "-crl_reason", "keyCompromise"]).ok();
        openssl(d, &["ca", "-config", "ca.cnf", "-gencrl", "-out", "i.crl"]).ok();
        pkilint_crl(d, &d.join("i.crl"));
        let read = |p: &str| std::fs::read(d.join(p)).unwrap();
        Seeds {
            ca: read("pki/ca.crt"),
            fullchain: read("api.example.com.fullchain.crt"),
            csr: read("a.csr"),
            crl: read("i.crl"),
            key: read("api.example.com.key"),
            _dir: t,
        }
    })
}

fn der_of(pem_text: &[u8]) -> Vec<Vec<u8>> {
    ::pem::parse_many(pem_text)
        .unwrap()
        .into_iter()
        .map(|p| p.into_contents())
        .collect()
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<usize>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
    ]
}

fn apply(mut data: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        if data.is_empty() {
            break;
        }
        let n = data.len();
        match m {
            Mutation::Flip(i, b) => data[i % n] ^= b,
            Mutation::Truncate(i) => data.truncate(i % n),
            Mutation::Insert(i, v) => {
                let at = i % n;
                data.splice(at..at, v.iter().copied());
            }
            Mutation::Delete(i, k) => {
                let at = i % n;
                let end = (at + k).min(n);
                data.drain(at..end);
            }
        }
    }
    data
}

fn at() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

fn run_verify(leaf: Vec<u8>, intermediates: Vec<Vec<u8>>, roots: Vec<Vec<u8>>, crls: Vec<Vec<u8>>) {
    for purpose in [Purpose::Server, Purpose::Client] {
        let input = Input {
            leaf: leaf.clone(),
            intermediates: intermediates.clone(),
            roots: roots.clone(),
            crls: crls.clone(),
            purpose: Some(purpose),
            host: Some("api.example.com".into()),
            key_spki: None,
            at: at(),
            cert_label: "fuzz.crt".into(),
            candidates: intermediates.clone(),
            candidate_files: Vec::new(),
        };
        let _ = mtls_ca::verify::verify(&input);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn inspect_survives_mutated_pem(which in 0usize..5, muts in proptest::collection::vec(mutation(), 1..6)) {
        let s = seeds();
        let seed = [&s.fullchain, &s.csr, &s.crl, &s.key, &s.ca][which].clone();
        let data = apply(seed, &muts);
        let _ = mtls_ca::inspect::inspect_bytes(&data, "fuzz.pem", None, at());
    }

    #[test]
    fn inspect_survives_mutated_der(which in 0usize..3, muts in proptest::collection::vec(mutation(), 1..6)) {
        let s = seeds();
        let seed = [&s.fullchain, &s.csr, &s.crl][which];
        let der = der_of(seed).remove(0);
        let data = apply(der, &muts);
        let _ = mtls_ca::inspect::inspect_bytes(&data, "fuzz.der", Some("pw"), at());
    }

    #[test]
    fn verify_survives_mutated_chain(which in 0usize..4, muts in proptest::collection::vec(mutation(), 1..4)) {
        let s = seeds();
        let chain = der_of(&s.fullchain);
        let root = der_of(&s.ca).remove(0);
        let crl = der_of(&s.crl).remove(0);
        let (mut leaf, mut inter, mut roots, mut crls) = (chain[0].clone(), vec![chain[1].clone()], vec![root], vec![crl]);
        match which {
            0 => leaf = apply(leaf, &muts),
            1 => inter[0] = apply(inter[0].clone(), &muts),
            2 => roots[0] = apply(roots[0].clone(), &muts),
            _ => crls[0] = apply(crls[0].clone(), &muts),
        }
        run_verify(leaf, inter, roots, crls);
    }
}

#[test]
fn unmutated_seeds_are_understood() {
    let s = seeds();
    for (name, data) in [
        ("chain", &s.fullchain),
        ("csr", &s.csr),
        ("crl", &s.crl),
        ("key", &s.key),
    ] {
        mtls_ca::inspect::inspect_bytes(data, name, None, at())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // The leaf is revoked in the seed CRL: verify must say so.
    let chain = der_of(&s.fullchain);
    let input = Input {
        leaf: chain[0].clone(),
        intermediates: vec![chain[1].clone()],
        roots: der_of(&s.ca),
        crls: der_of(&s.crl),
        purpose: None,
        host: Some("api.example.com".into()),
        key_spki: None,
        at: at(),
        cert_label: "api.example.com.crt".into(),
        candidates: vec![],
        candidate_files: Vec::new(),
    };
    let r = mtls_ca::verify::verify(&input).unwrap();
    assert!(!r.valid);
    assert_eq!(r.errors[0].code, "revoked", "{r:?}");
    assert_eq!(r.errors[1].code, "revocation_unknown", "{r:?}");
}
