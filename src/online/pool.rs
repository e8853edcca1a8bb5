//! The online CA's copies of the CA: the same directory, key and store opened several times
//! ([`Ca::reopen`]), so that as many requests sign at once, each leased first come, first
//! served.

use std::sync::Arc;

use super::commit::Committer;
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
    refill: Arc<Committer>,
}

/// One leased copy of the CA; back in the pool when dropped (the copy before the permit).
/// A copy whose pool of reserved serials runs low ([`Ca::serials_low`]) is refilled after the
/// lease ends and stays leased meanwhile: the group commit's thread, the one writer, reserves
/// the serials between two batches ([`Committer::reserve`]). So the request that used the copy
/// is answered without waiting, and no copy sleeps in SQLite's busy handler behind the group
/// commit's transactions: reserving on the copy's own connection when its pool ran out gave
/// 1 renewal in a few hundred a 20 ms to 1.3 s stall under load.
pub(super) struct Lease {
    ca: Option<tokio::sync::OwnedMutexGuard<Ca>>,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    refill: Arc<Committer>,
}

impl std::ops::Deref for Lease {
    type Target = Ca;
    fn deref(&self) -> &Ca {
        self.ca
            .as_ref()
            .expect("a lease holds its copy until dropped")
    }
}

impl std::ops::DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut Ca {
        self.ca
            .as_mut()
            .expect("a lease holds its copy until dropped")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(mut ca) = self.ca.take() else { return };
        let n = ca.serials_wanted();
        if n == 0 {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let permit = self.permit.take();
        let committer = self.refill.clone();
        rt.spawn(async move {
            // On an error the pool stays low: the issuance that empties it reserves itself
            // and reports the store's error.
            if let Ok(more) = committer.reserve(n).await {
                ca.add_serials(more);
            }
            drop(ca);
            drop(permit);
        });
    }
}

impl CaPool {
    /// `ca` and `n - 1` more copies of it; `refill` reserves serials for a copy whose pool
    /// runs low.
    pub(super) fn open(ca: Ca, n: usize, refill: Arc<Committer>) -> Result<CaPool> {
        let mut cas = Vec::with_capacity(n);
        for _ in 1..n.max(1) {
            cas.push(ca.reopen()?);
        }
        cas.insert(0, ca);
        Ok(CaPool {
            refill,
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
                    ca: Some(ca),
                    permit,
                    refill: self.refill.clone(),
                };
            }
        }
        Lease {
            ca: Some(self.slots[0].clone().lock_owned().await),
            permit,
            refill: self.refill.clone(),
        }
    }
}
