//! What every connection of a running server shares: the CA copies, the group commit, the
//! admission slots and rate limits, the metrics, the cached CRL and the served bundle.

use std::sync::{Arc, Mutex};

use time::OffsetDateTime;

use super::super::commit::Committer;
use super::super::ocsp;
use super::super::pool::CaPool;
use super::admission::Limiter;
use super::metrics::Metrics;
use super::options::{Clock, Events, ServeOptions};

/// The last CRL signed for serving, and what it was signed from.
pub(super) struct CrlCache {
    pub(super) der: Vec<u8>,
    pub(super) revoked: usize,
    pub(super) made: OffsetDateTime,
}

pub(super) struct State {
    /// Admission slots of the HTTPS listener (see [`super::admission::admit`]).
    pub(super) admission: Arc<tokio::sync::Semaphore>,
    /// The CA, opened once per concurrent signer (see [`CaPool`]).
    pub(super) cas: CaPool,
    /// Where signed renewals wait to be recorded (see [`super::super::commit`]).
    pub(super) commits: Arc<Committer>,
    pub(super) clock: Clock,
    pub(super) opts: ServeOptions,
    pub(super) metrics: Metrics,
    pub(super) limiter: Limiter,
    pub(super) crl: Mutex<Option<CrlCache>>,
    pub(super) bundle_pem: String,
    pub(super) issuer: ocsp::Issuer,
    pub(super) events: Events,
}
