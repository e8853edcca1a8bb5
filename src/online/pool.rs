//! The online CA's copies of the CA: the same directory, key and store opened several times
//! ([`Ca::reopen`]), so that as many requests sign at once, each leased first come, first
//! served.

use std::sync::Arc;

use crate::ca::Ca;
use crate::error::Result;

/// The CA opened several times (the same directory, key and store, each with its own store
/// connection and serial pool), so that as many requests sign at once. A request leases
/// whichever copy is free, in arrival order: the semaphore is fair, so a renewal never waits
/// behind later ones, and waiting costs no thread. The lease is taken before the request goes
/// to the blocking pool and held until it returns.
pub(super) struct CaPool {
    slots: Vec<Arc<tokio::sync::Mutex<Ca>>>,
    permits: Arc<tokio::sync::Semaphore>,
}

/// One leased copy of the CA; back in the pool when dropped (the copy before the permit).
pub(super) struct Lease {
    ca: tokio::sync::OwnedMutexGuard<Ca>,
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl std::ops::Deref for Lease {
    type Target = Ca;
    fn deref(&self) -> &Ca {
        &self.ca
    }
}

impl std::ops::DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut Ca {
        &mut self.ca
    }
}

impl CaPool {
    /// `ca` and `n - 1` more copies of it.
    pub(super) fn open(ca: Ca, n: usize) -> Result<CaPool> {
        let mut cas = Vec::with_capacity(n);
        for _ in 1..n.max(1) {
            cas.push(ca.reopen()?);
        }
        cas.insert(0, ca);
        Ok(CaPool {
            permits: Arc::new(tokio::sync::Semaphore::new(cas.len())),
            slots: cas
                .into_iter()
                .map(|c| Arc::new(tokio::sync::Mutex::new(c)))
                .collect(),
        })
    }

    /// Waits for a free copy (first come, first served).
    pub(super) async fn lease(&self) -> Lease {
        // A permit guarantees a free slot (never closed: the pool lives as long as the server).
        let permit = self.permits.clone().acquire_owned().await.ok();
        for slot in &self.slots {
            if let Ok(ca) = slot.clone().try_lock_owned() {
                return Lease {
                    ca,
                    _permit: permit,
                };
            }
        }
        Lease {
            ca: self.slots[0].clone().lock_owned().await,
            _permit: permit,
        }
    }
}
