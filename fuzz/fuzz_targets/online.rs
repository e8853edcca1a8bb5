//! Fuzz what the online CA (`ca serve`) reads from the network: the JSON bodies of `/v1/sign`
//! and `/v1/renew` with the CSR inside them, and OCSP requests (`/v1/ocsp`, POST body or the
//! decoded GET path), answered by `online::ocsp::respond` for a real CA made once in a temporary
//! directory. Any input: an answer or an error, never a panic, a hang or unbounded memory.
#![no_main]
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use mtls_ca::ca::{Ca, InitOptions};
use mtls_ca::online::{api, ocsp};

struct Fixture {
    ca: Ca,
    responders: ocsp::Responders,
}

fn fixture() -> &'static Mutex<Fixture> {
    static FIX: OnceLock<Mutex<Fixture>> = OnceLock::new();
    FIX.get_or_init(|| {
        let now = time::OffsetDateTime::now_utc();
        let dir = std::env::temp_dir().join(format!(
            "mtls-ca-fuzz-online-{}-{}",
            std::process::id(),
            now.unix_timestamp_nanos()
        ));
        let opts = InitOptions {
            cn: Some("Fuzz CA".into()),
            org: None,
            subject: Default::default(),
            key_type: mtls_ca::keys::KeyType::EcdsaP256,
            days: None,
            pathlen: None,
            constraints: Default::default(),
            parent: None,
            force: false,
        };
        let (ca, _) = Ca::init(&dir, &opts, now).expect("the fuzz CA");
        let (responders, _) = ocsp::Responders::of(&ca, now).expect("its OCSP responders");
        Mutex::new(Fixture { ca, responders })
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = serde_json::from_slice::<api::SignRequest>(data) {
        let _ = mtls_ca::csr::parse(r.csr.as_bytes(), Path::new("sign.csr"));
    }
    if let Ok(r) = serde_json::from_slice::<api::RenewRequest>(data) {
        let _ = mtls_ca::csr::parse(r.csr.as_bytes(), Path::new("renew.csr"));
    }
    let mut f = fixture().lock().unwrap_or_else(|e| e.into_inner());
    let Fixture { ca, responders } = &mut *f;
    let _ = ocsp::respond(ca, responders, data, time::OffsetDateTime::now_utc());
});
