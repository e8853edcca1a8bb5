//! Following the CA directory: the CA copies, the served bundle, the OCSP issuer and the TLS
//! configuration (the roots client certificates are checked against) are one generation
//! ([`CaGen`]), built from the files on disk. When `ca.crt` or `ca-bundle.crt` changes (a
//! `ca rotate`, a `ca rotate --finish`), the next generation is built and swapped in: new
//! connections and requests use it, those in flight finish on the old one. The directory is
//! looked at every few seconds and on SIGHUP (`systemctl reload`), which also serves the
//! server certificate on disk when it changed (`renew --issuer retired` before `--finish`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::ca::Ca;
use crate::error::Result;

use super::super::commit::Committer;
use super::super::ocsp;
use super::super::pool::CaPool;
use super::options::ServeEvent;
use super::server_cert::Resolver;
use super::state::{CaGen, State};
use super::tls::tls_config;

/// How often the directory is looked at for a rotation.
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// What a generation was built from: the bytes of `ca.crt` and `ca-bundle.crt` (a rotation
/// changes both, `--finish` the bundle), hashed.
pub(super) fn fingerprint(dir: &Path) -> Vec<u8> {
    let mut h = ring::digest::Context::new(&ring::digest::SHA256);
    for p in [crate::ca::layout::cert(dir), crate::ca::layout::bundle(dir)] {
        let bytes = std::fs::read(&p).unwrap_or_default();
        h.update(&(bytes.len() as u64).to_be_bytes());
        h.update(&bytes);
    }
    h.finish().as_ref().to_vec()
}

/// A generation from `ca` (opened, its public URLs and serial pool set) at `now`: `copies`
/// copies of it signing, recording through `commits`; OCSP for it and for the retired CAs
/// still valid (their keys loaded now; what could not be loaded is in the warnings).
pub(super) fn generation(
    ca: Ca,
    copies: usize,
    commits: Arc<Committer>,
    resolver: Arc<Resolver>,
    now: time::OffsetDateTime,
) -> Result<(CaGen, Vec<String>)> {
    let fingerprint = fingerprint(ca.dir());
    let serial = ca.serial_hex()?;
    let tls = Arc::new(tls_config(&ca, resolver)?);
    let bundle_pem = bundle(&ca)?;
    let (ocsp, warnings) = ocsp::Responders::of(&ca, now)?;
    let cas = CaPool::open(ca, copies, commits)?;
    Ok((
        CaGen {
            fingerprint,
            serial,
            cas,
            bundle_pem,
            ocsp,
            tls: tokio_rustls::TlsAcceptor::from(tls),
        },
        warnings,
    ))
}

/// The trust bundle served at /v1/ca: `ca-bundle.crt` when present (every CA to trust during
/// a rotation), else the CA's chain.
fn bundle(ca: &Ca) -> Result<String> {
    let p = crate::ca::layout::bundle(ca.dir());
    if p.exists() {
        let certs = crate::x509::read_certs(&p)?;
        let mut out: Vec<Vec<u8>> = ca.intermediates().to_vec();
        out.extend(certs);
        return Ok(out
            .iter()
            .map(|d| crate::pem::encode("CERTIFICATE", d))
            .collect());
    }
    Ok(ca
        .chain()
        .iter()
        .map(|d| crate::pem::encode("CERTIFICATE", d))
        .collect())
}

/// Swaps in a new generation when the directory's CA files changed; a failure (a rotation
/// half-way, a key that does not open) is reported and the current generation stays.
pub(super) async fn reload_if_changed(st: &Arc<State>, resolver: &Arc<Resolver>) {
    let current = st.gen();
    let dir = st.dir.clone();
    let seen = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || fingerprint(&dir))
            .await
            .unwrap_or_default()
    };
    if seen == current.fingerprint {
        return;
    }
    // A copy of the current CA reopens the directory with its passphrase, public URLs and
    // serial pool size (`Ca::reopen`): what it finds on disk now.
    let lease = current.cas.lease().await;
    let commits = st.commits.clone();
    let resolver = resolver.clone();
    let copies = st.copies;
    let now = (st.clock)();
    let built = tokio::task::spawn_blocking(move || {
        let ca = lease.reopen()?;
        drop(lease);
        generation(ca, copies, commits, resolver, now)
    })
    .await;
    match built {
        Ok(Ok((g, warnings))) => {
            let (serial, changed) = (g.serial.clone(), g.serial != current.serial);
            st.swap(g);
            (st.events)(ServeEvent::CaReloaded { serial, changed });
            for w in warnings {
                (st.events)(ServeEvent::Warning(w));
            }
        }
        Ok(Err(e)) => (st.events)(ServeEvent::Warning(format!(
            "the CA files of {} changed but could not be loaded (still serving the previous ones): {e}",
            dir.display()
        ))),
        Err(_) => {}
    }
}

/// Looks at the directory every few seconds, and on SIGHUP also at the server certificate
/// (`stem`, with `names`).
pub(super) async fn watch(
    st: Arc<State>,
    resolver: Arc<Resolver>,
    stem: PathBuf,
    names: Vec<String>,
) {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        let hup_recv = async {
            match hup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let hup = tokio::select! {
            _ = tokio::time::sleep(WATCH_EVERY) => false,
            _ = hup_recv => true,
        };
        reload_if_changed(&st, &resolver).await;
        if hup {
            super::server_cert::check(&st, &resolver, &stem, &names).await;
        }
    }
}
