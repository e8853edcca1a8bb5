//! What every connection of a running server shares: the current generation of the CA (its
//! copies, the served bundle, the OCSP issuer, the TLS configuration: `super::rotation`), the
//! group commit, the admission slots and rate limits, the metrics and the cached CRL.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use time::OffsetDateTime;

use super::super::commit::Committer;
use super::super::ocsp;
use super::super::pool::CaPool;
use super::admission::Limiter;
use super::metrics::Metrics;
use super::options::{Clock, Events, ServeOptions};

/// The last CRLs signed for serving (the current CA's first, then the overlap's retired ones),
/// and what they were signed from.
pub(super) struct CrlCache {
    pub(super) ders: Vec<Vec<u8>>,
    /// Revocations they list, all CAs together.
    pub(super) revoked: usize,
    pub(super) made: OffsetDateTime,
}

/// The CA as the files of its directory were when it was loaded (see `super::rotation`).
pub(super) struct CaGen {
    /// What it was built from (`super::rotation::fingerprint`).
    pub(super) fingerprint: Vec<u8>,
    /// The CA certificate's serial.
    pub(super) serial: String,
    /// The CA, opened once per concurrent signer (see [`CaPool`]).
    pub(super) cas: CaPool,
    /// `GET /v1/ca`.
    pub(super) bundle_pem: String,
    /// The CAs OCSP answers for: the current one and the overlap's retired ones, whose keys
    /// also sign their CRLs for `/v1/crl`.
    pub(super) ocsp: ocsp::Responders,
    /// The HTTPS listener's TLS (its client-certificate roots follow the bundle).
    pub(super) tls: tokio_rustls::TlsAcceptor,
}

pub(super) struct State {
    /// The CA directory.
    pub(super) dir: PathBuf,
    /// How many copies of the CA sign at once.
    pub(super) copies: usize,
    /// Admission slots of the HTTPS listener (see [`super::admission::admit`]).
    pub(super) admission: Arc<tokio::sync::Semaphore>,
    /// The current generation of the CA; swapped when the directory is rotated.
    pub(super) gen: RwLock<Arc<CaGen>>,
    /// Where signed renewals wait to be recorded (see [`super::super::commit`]).
    pub(super) commits: Arc<Committer>,
    pub(super) clock: Clock,
    pub(super) opts: ServeOptions,
    pub(super) metrics: Metrics,
    pub(super) limiter: Limiter,
    pub(super) crl: Mutex<Option<CrlCache>>,
    pub(super) events: Events,
}

impl State {
    /// The current generation of the CA.
    pub(super) fn gen(&self) -> Arc<CaGen> {
        match self.gen.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Makes `next` the current generation (and forgets the CRL signed by the previous one).
    pub(super) fn swap(&self, next: CaGen) {
        let next = Arc::new(next);
        match self.gen.write() {
            Ok(mut g) => *g = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        if let Ok(mut c) = self.crl.lock() {
            *c = None;
        }
    }
}
