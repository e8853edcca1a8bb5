//! Who gets served, and when: admission slots for new HTTPS connections (first come, first
//! served under load) and a token bucket per client (token requests per address, renewals per
//! certificate).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::metrics::Metrics;

/// A token bucket per client.
pub(super) struct Limiter {
    pub(super) rate: f64,
    pub(super) burst: f64,
    pub(super) buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Limiter {
    pub(super) fn allow(&self, key: &str) -> bool {
        let Ok(mut m) = self.buckets.lock() else {
            return true;
        };
        let now = Instant::now();
        if m.len() > 100_000 {
            m.retain(|_, (_, t)| now.duration_since(*t).as_secs() < 60);
        }
        let (tokens, last) = m.entry(key.to_string()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Connections in their handshake and first request at once, per runtime thread (see
/// [`admit`]).
pub(super) const ADMIT_PER_THREAD: usize = 12;
/// How long a new HTTPS connection waits for admission before it is served anyway.
pub(super) const ADMIT_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// An HTTPS connection's admission slot, given back once its first request is answered (or
/// the connection ends); empty when it was served without one.
#[derive(Clone, Default)]
pub(super) struct Admitted(pub(super) Arc<Mutex<Option<tokio::sync::OwnedSemaphorePermit>>>);

impl Admitted {
    pub(super) fn release(&self) {
        if let Ok(mut p) = self.0.lock() {
            p.take();
        }
    }
}

/// Admission of a new HTTPS connection: at most `threads * ADMIT_PER_THREAD` connections are
/// in their handshake and first request at once, the others wait for a slot in arrival order
/// (the semaphore is fair). Under load this serves renewals first come, first served instead
/// of interleaving every connection's handshake with every other's: a fifth off p99 for 6 %
/// of throughput at 64 clients (benches/online.rs, docs/performance.md). A connection that has waited
/// [`ADMIT_WAIT`] is served anyway (counted in `/metrics`), so clients that open connections
/// and stall can slow others by that much at most, never lock them out.
pub(super) async fn admit(slots: &Arc<tokio::sync::Semaphore>, metrics: &Metrics) -> Admitted {
    let slot = tokio::time::timeout(ADMIT_WAIT, slots.clone().acquire_owned()).await;
    match slot {
        Ok(Ok(permit)) => Admitted(Arc::new(Mutex::new(Some(permit)))),
        _ => {
            metrics.unadmitted.fetch_add(1, Ordering::Relaxed);
            Admitted::default()
        }
    }
}
