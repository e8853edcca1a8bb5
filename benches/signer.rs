//! The cost of one CA signature: the key in memory (a key file's) vs the key in a SoftHSM2 token
//! through PKCS#11, ECDSA P-256 and RSA-3072, through the one signer the CA uses
//! (`mtls_ca::signer::CaKey`, rcgen's `SigningKey`).
//!
//! Makes its own token (softhsm2-util in a temp directory, SOFTHSM2_CONF set for this process),
//! so it needs SoftHSM2 installed: `required-features = ["interop"]`.
//! Run: `cargo bench --features interop --bench signer`.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use mtls_ca::keys::{self, KeyType};
use mtls_ca::pkcs11::{Pkcs11Env, Pkcs11Uri, TokenKey};
use mtls_ca::signer::CaKey;
use rcgen::SigningKey;

fn module() -> PathBuf {
    if let Ok(m) = std::env::var("MTLS_CA_BENCH_PKCS11_MODULE") {
        return PathBuf::from(m);
    }
    [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
    .expect("libsofthsm2.so: install softhsm2")
}

fn signers(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let ok = std::process::Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            "bench",
            "--pin",
            "123456",
        ])
        .args(["--so-pin", "654321"])
        .output()
        .expect("softhsm2-util: install softhsm2")
        .status
        .success();
    assert!(ok, "softhsm2-util --init-token failed");
    let env = Pkcs11Env {
        module: Some(module()),
        pin: Some(zeroize::Zeroizing::new("123456".into())),
    };
    let msg = vec![0x5au8; 600]; // about one TBSCertificate
    for (name, kt) in [
        ("ecdsa-p256", KeyType::EcdsaP256),
        ("rsa-3072", KeyType::Rsa3072),
    ] {
        let file = CaKey::File(keys::generate(kt).unwrap());
        let uri = Pkcs11Uri::parse(&format!("pkcs11:token=bench;object={name}")).unwrap();
        let (token, _) = TokenKey::open_or_generate(&uri, &env, kt).unwrap();
        let token = CaKey::Token(token);
        let mut g = c.benchmark_group(format!("signer/{name}"));
        g.bench_function("key file", |b| {
            b.iter(|| black_box(file.sign(black_box(&msg)).unwrap()))
        });
        g.bench_function("softhsm2", |b| {
            b.iter(|| black_box(token.sign(black_box(&msg)).unwrap()))
        });
        g.finish();
    }
}

criterion_group!(benches, signers);
criterion_main!(benches);
