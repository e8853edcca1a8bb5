//! The server's own certificate: its names, issued from the CA on first start, renewed when a
//! third of its life is left (at start and every minute after), and swapped into the TLS
//! configuration without a restart ([`Resolver`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use time::{Duration, OffsetDateTime};

use crate::ca::Ca;
use crate::error::{Error, Result};
use crate::profile::Profile;

use super::options::{Events, ServeEvent, ServeOptions};
use super::state::State;

/// The names of the server's own certificate: the public URL's host, the listen addresses
/// unless unspecified, localhost and 127.0.0.1.
pub(super) fn server_names(opts: &ServeOptions) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(u) = &opts.public_url {
        let host = u
            .base
            .split("://")
            .nth(1)
            .unwrap_or("")
            .split('/')
            .next()
            .unwrap_or("");
        let host = if let Some(rest) = host.strip_prefix('[') {
            rest.split(']').next().unwrap_or("").to_string()
        } else {
            host.rsplit_once(':')
                .map(|(h, _)| h.to_string())
                .unwrap_or_else(|| host.to_string())
        };
        if !host.is_empty() {
            names.push(host);
        }
    }
    for a in [Some(opts.listen), opts.http_listen].into_iter().flatten() {
        if !a.ip().is_unspecified() {
            names.push(a.ip().to_string());
        }
    }
    for n in ["localhost", "127.0.0.1"] {
        names.push(n.to_string());
    }
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.to_ascii_lowercase()));
    names
}

pub(super) struct ServerKey {
    pub(super) certified: CertifiedKey,
    pub(super) serial: String,
    pub(super) not_after: OffsetDateTime,
}

pub(super) fn emit_server_cert(events: &Events, k: &ServerKey, what: &'static str) {
    events(ServeEvent::ServerCert {
        serial: k.serial.clone(),
        not_after: k.not_after,
        what,
    });
}

/// Loads the server certificate at `stem`, issuing it when missing and renewing it when a
/// third of its life (or less) is left.
pub(super) fn server_cert(
    ca: &mut Ca,
    stem: &Path,
    names: &[String],
    valid: Duration,
    now: OffsetDateTime,
) -> Result<(ServerKey, &'static str)> {
    let crt = crate::ca::with_ext(stem, "crt");
    let what = if !crt.exists() {
        if let Some(parent) = stem.parent() {
            if !parent.as_os_str().is_empty() && !parent.exists() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
        }
        ca.issue(
            &crate::ca::IssueOptions {
                profile: Profile::Server,
                cn: names[0].clone(),
                subject: Default::default(),
                sans: names[1..].to_vec(),
                days: None,
                valid: Some(valid),
                key_type: crate::keys::KeyType::EcdsaP256,
                stem: stem.to_path_buf(),
                force: false,
                allow_long_validity: false,
            },
            now,
        )?;
        "issued"
    } else {
        let k = load_server_key(stem)?;
        if due(k.not_after, k.not_before, now) {
            crate::lifecycle::renew(
                ca,
                &crate::lifecycle::RenewOptions {
                    target: crate::lifecycle::Target::Cert(crt.clone()),
                    reuse_key: false,
                    days: None,
                    valid: Some(valid),
                    stem: Some(stem.to_path_buf()),
                    allow_long_validity: false,
                    force: false,
                },
                now,
            )
            .map(|_| ())
            .or_else(|e| match e {
                // Not this CA's (a --server certificate from elsewhere): keep serving it.
                Error::UnknownSerial { .. } => Ok(()),
                e => Err(e),
            })?;
            "renewed"
        } else {
            "loaded"
        }
    };
    let k = load_server_key(stem)?;
    Ok((
        ServerKey {
            certified: k.certified,
            serial: k.serial,
            not_after: k.not_after,
        },
        what,
    ))
}

/// Whether a certificate with this validity is due for renewal at `now` (a third of its life
/// or less left).
pub(super) fn due(
    not_after: OffsetDateTime,
    not_before: OffsetDateTime,
    now: OffsetDateTime,
) -> bool {
    let life = not_after - not_before;
    not_after - now <= life / 3
}

pub(super) struct LoadedKey {
    pub(super) certified: CertifiedKey,
    pub(super) serial: String,
    pub(super) not_before: OffsetDateTime,
    pub(super) not_after: OffsetDateTime,
}

pub(super) fn load_server_key(stem: &Path) -> Result<LoadedKey> {
    let full = crate::ca::with_ext(stem, "fullchain.crt");
    let crt = crate::ca::with_ext(stem, "crt");
    let chain_path = if full.exists() { full } else { crt.clone() };
    let chain = crate::x509::read_certs(&chain_path)?;
    let key_path = crate::ca::with_ext(stem, "key");
    let key_bytes = zeroize::Zeroizing::new(crate::files::read_limited(&key_path, 1024 * 1024)?);
    let kp = crate::keys::load_private_key(&key_bytes, &key_path)?;
    let der = PrivateKeyDer::Pkcs8(kp.serialize_der().into());
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider.key_provider.load_private_key(der).map_err(|e| {
        Error::bad_file(
            &key_path,
            format!("rustls cannot use this key ({e})"),
            "issue the server certificate again",
        )
    })?;
    let c = crate::x509::parse_cert(&chain[0], &crt)?;
    let (nb, na) = crate::x509::validity(&c);
    let serial = crate::serial::Serial::from_bytes(c.raw_serial()).hex();
    let certs: Vec<CertificateDer<'static>> = chain.into_iter().map(CertificateDer::from).collect();
    Ok(LoadedKey {
        certified: CertifiedKey::new(certs, signing),
        serial,
        not_before: nb,
        not_after: na,
    })
}

/// Checks the server certificate every minute (see [`check`]).
pub(super) async fn renew_loop(
    st: Arc<State>,
    res: Arc<Resolver>,
    stem: PathBuf,
    names: Vec<String>,
) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        check(&st, &res, &stem, &names).await;
    }
}

/// Renews the server certificate when due, and serves the one on disk when it is not the one
/// in use (renewed here, or by `mtls-ca renew`, e.g. `renew --issuer retired` after a
/// rotation): swapped into the TLS configuration, no restart.
pub(super) async fn check(st: &Arc<State>, res: &Arc<Resolver>, stem: &Path, names: &[String]) {
    let st2 = st.clone();
    let stem2 = stem.to_path_buf();
    let names2 = names.to_vec();
    let mut ca = st.gen().cas.lease().await;
    let out = tokio::task::spawn_blocking(move || {
        server_cert(
            &mut ca,
            &stem2,
            &names2,
            st2.opts.server_valid,
            (st2.clock)(),
        )
    })
    .await;
    match out {
        Ok(Ok((k, what))) => {
            let in_use = res
                .0
                .read()
                .ok()
                .and_then(|c| c.cert.first().map(|d| d.as_ref().to_vec()));
            let on_disk = k.certified.cert.first().map(|d| d.as_ref().to_vec());
            if what == "renewed" || in_use != on_disk {
                emit_server_cert(&st.events, &k, what);
                if let Ok(mut w) = res.0.write() {
                    *w = Arc::new(k.certified);
                }
            }
        }
        Ok(Err(e)) => (st.events)(ServeEvent::Warning(format!(
            "could not renew the server certificate: {e}"
        ))),
        Err(_) => {}
    }
}

#[derive(Debug)]
pub(super) struct Resolver(pub(super) RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.read().ok().map(|k| k.clone())
    }
}
