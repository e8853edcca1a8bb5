//! Group commit for the online CA's renewals.
//!
//! A renewal is checked and signed under the CA's lock (a fraction of a millisecond), then
//! waits here to be recorded. One thread takes every renewal waiting at that moment, records
//! them in one store transaction ([`crate::store::Store::record_each`]: the successor and the
//! supersede of each, one durable commit for all) and appends their audit lines with one
//! fsync, then answers each. The durability cost (20–30 ms of fsyncs on a slow disk) is paid
//! once per batch instead of once per renewal, and never blocks the signing of the next ones
//! beyond the store commit itself.
//!
//! The guarantees are the CLI's: nothing is answered before it is committed, a renewal refused
//! by the store (its predecessor revoked or renewed meanwhile) fails alone, and a server killed
//! in the middle leaves reserved serials that were never handed out.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};

use time::OffsetDateTime;

use crate::ca::audit::{self, Event as AuditEvent};
use crate::ca::Ca;
use crate::error::{Error, Result};
use crate::store::Record;

/// At most this many renewals in one transaction.
const MAX_BATCH: usize = 256;

/// What the audit log says about one committed certificate.
pub(super) struct AuditLine {
    /// `renew` or `issue`.
    pub event: &'static str,
    /// The new certificate's serial.
    pub serial: String,
    /// The serial renewed.
    pub renews: Option<String>,
    /// Subject text.
    pub subject: String,
    /// Who authorised it (`cert:<serial>`, `token:<id>`).
    pub by: String,
    /// The client's address.
    pub client: String,
}

struct Job {
    record: Record,
    audit: AuditLine,
    reply: tokio::sync::oneshot::Sender<Result<()>>,
}

/// The sending side; the committing thread ends when it is dropped.
pub(super) struct Committer {
    tx: mpsc::Sender<Job>,
    stats: Arc<Stats>,
}

/// Transactions and the records they carried (their ratio is the mean batch size).
#[derive(Default)]
struct Stats {
    batches: AtomicU64,
    records: AtomicU64,
}

impl Committer {
    /// Starts the committing thread for the CA behind `ca` (held weakly: the server owns it).
    /// `warn` hears of an audit line that could not be written (the records stand).
    pub fn start(
        ca: Weak<Mutex<Ca>>,
        clock: super::server::Clock,
        warn: impl Fn(String) + Send + 'static,
    ) -> Result<Committer> {
        let (tx, rx) = mpsc::channel();
        let stats = Arc::new(Stats::default());
        let st = stats.clone();
        std::thread::Builder::new()
            .name("mtls-ca-commit".into())
            .spawn(move || run(&rx, &ca, clock, &warn, &st))
            .map_err(|e| Error::io(std::path::Path::new("<commit thread>"), e))?;
        Ok(Committer { tx, stats })
    }

    /// Group commits so far and the renewals they recorded (for `/metrics`).
    pub fn counts(&self) -> (u64, u64) {
        (
            self.stats.batches.load(Ordering::Relaxed),
            self.stats.records.load(Ordering::Relaxed),
        )
    }

    /// Records `record` (with its audit line) in the next group commit; returns once it is
    /// durable, or with the store's refusal.
    pub async fn commit(&self, record: Record, audit: AuditLine) -> Result<()> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let stopped = || Error::Validity("the server is stopping".into(), "retry".into());
        self.tx
            .send(Job {
                record,
                audit,
                reply,
            })
            .map_err(|_| stopped())?;
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }
}

fn run(
    rx: &mpsc::Receiver<Job>,
    ca: &Weak<Mutex<Ca>>,
    clock: super::server::Clock,
    warn: &dyn Fn(String),
    stats: &Stats,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let now = clock();
        let (records, rest): (Vec<Record>, Vec<_>) = batch
            .into_iter()
            .map(|j| (j.record, (j.audit, j.reply)))
            .unzip();
        let (results, dir) = record(ca, &records, now);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.records.fetch_add(
            results.iter().filter(|r| r.is_ok()).count() as u64,
            Ordering::Relaxed,
        );
        let mut lines = Vec::new();
        let mut replies = Vec::with_capacity(rest.len());
        for ((line, reply), res) in rest.into_iter().zip(results) {
            if res.is_ok() {
                lines.push(line);
            }
            replies.push((reply, res));
        }
        if let Some(dir) = dir {
            let evs: Vec<AuditEvent<'_>> = lines
                .iter()
                .map(|l| AuditEvent {
                    time: now,
                    event: l.event,
                    serial: Some(&l.serial),
                    renews: l.renews.as_deref(),
                    subject: Some(&l.subject),
                    authorised_by: &l.by,
                    client: Some(&l.client),
                })
                .collect();
            if let Err(e) = audit::append_many(&dir, &evs) {
                warn(format!("could not append to the audit log: {e}"));
            }
        }
        for (reply, res) in replies {
            let _ = reply.send(res);
        }
    }
}

/// One store transaction for `records` under the CA's lock; the CA directory for the audit
/// log (None: the CA is gone or its lock poisoned, and every record failed).
fn record(
    ca: &Weak<Mutex<Ca>>,
    records: &[Record],
    now: OffsetDateTime,
) -> (Vec<Result<()>>, Option<PathBuf>) {
    let gone = || {
        records
            .iter()
            .map(|_| {
                Err(Error::Validity(
                    "the CA is not available".into(),
                    "retry".into(),
                ))
            })
            .collect()
    };
    // Tests pause here (renewals queue up) or fail the whole batch.
    let here = std::path::Path::new("<group commit>");
    if let Err(e) = crate::failpoint::hit("serve.commit", here) {
        let msg = e.to_string();
        let failed = records
            .iter()
            .map(|_| Err(Error::io(here, std::io::Error::other(msg.clone()))))
            .collect();
        return (failed, None);
    }
    let Some(ca) = ca.upgrade() else {
        return (gone(), None);
    };
    let Ok(mut ca) = ca.lock() else {
        return (gone(), None);
    };
    let results = ca.store().record_each(records, now);
    (results, Some(ca.dir().to_path_buf()))
}
