//! Group commit for the online CA's renewals.
//!
//! A renewal is checked and signed on one of the server's copies of the CA (a fraction of a
//! millisecond, its serial taken from that copy's pool reserved in advance), then waits here to
//! be recorded. One thread, with its own connection to the store, takes every renewal waiting
//! at that moment, records them in one store transaction
//! ([`crate::store::Store::record_each`]: the successor and the supersede of each, one durable
//! commit for all) and appends their audit lines with one write, then answers each. The
//! durability cost (20–30 ms of fsyncs on a slow disk) is paid once per batch instead of once
//! per renewal, and no copy of the CA is held while it is paid: signing goes on meanwhile.
//!
//! The guarantees are the CLI's: nothing is answered before it is committed, a renewal refused
//! by the store (its predecessor revoked or renewed meanwhile) fails alone, and a server killed
//! in the middle leaves reserved serials that were never handed out. One difference: SQLite's
//! WAL is copied into `store.db` (checkpointed) at most once a second under load and whenever
//! the queue is idle, not after every batch; a commit is durable in the WAL either way, so
//! only a `-wal` file deleted after a crash could take the last second of renewals with it.
//!
//! The same thread reserves serials for the CA copies ([`Committer::reserve`], between two
//! batches, for a copy whose pool runs low: `online::pool`): as the one writer it never waits
//! for SQLite's write lock, where a copy reserving on its own connection slept in the busy
//! handler behind the batches, up to a second under load.
//!
//! The audit lines of a batch are written (one `write`, in the kernel from then on: a `kill -9`
//! keeps them) before its renewals are answered, and fsynced by a second thread while the next
//! batch commits, not in front of the answers: that fsync was a quarter of a batch's time.
//! Only a power loss in the millisecond between the two could lose an audit line, never the
//! store's record (the CLI's own appends are never fsynced: [`audit::append_unsynced`]).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::ca::audit::{self, Event as AuditEvent};
use crate::error::{Error, Result};
use crate::store::{Record, Store};

/// At most this many renewals in one transaction.
const MAX_BATCH: usize = 256;

/// Under load, the WAL is checkpointed into `store.db` this often (not after every batch).
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// A queue empty this long counts as idle: time to checkpoint.
const IDLE: Duration = Duration::from_millis(100);

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

/// What the committing thread is asked to do: record a renewal, or reserve serials for a copy
/// of the CA (the one writer reserves them between two batches, where a copy reserving on its
/// own connection would wait for SQLite's write lock behind the batches, sleeping in the busy
/// handler: up to a second under load).
enum Work {
    /// Boxed: a record is several hundred bytes, a reservation a few words.
    Record(Box<Job>),
    Reserve {
        n: usize,
        reply: tokio::sync::oneshot::Sender<Result<Vec<crate::serial::Serial>>>,
    },
}

/// The sending side; the committing thread ends when it is dropped.
pub(super) struct Committer {
    tx: mpsc::Sender<Work>,
    stats: Arc<Stats>,
}

/// Transactions and the records they carried (their ratio is the mean batch size).
#[derive(Default)]
struct Stats {
    batches: AtomicU64,
    records: AtomicU64,
}

impl Committer {
    /// Starts the committing thread for the CA directory `dir`, on its own connection to the
    /// directory's store (opened here, so a store that cannot be opened fails the start).
    /// `warn` hears of an audit line that could not be written (the records stand).
    pub fn start(
        dir: &Path,
        clock: fn() -> OffsetDateTime,
        warn: impl Fn(String) + Send + Sync + 'static,
    ) -> Result<Committer> {
        let store = Store::open_dir(dir, &crate::store::connect_options())?;
        let dir = dir.to_path_buf();
        let (tx, rx) = mpsc::channel();
        let stats = Arc::new(Stats::default());
        let st = stats.clone();
        let warn: Arc<dyn Fn(String) + Send + Sync> = Arc::new(warn);
        let syncer = AuditSync::start(&dir, warn.clone())?;
        std::thread::Builder::new()
            .name("mtls-ca-commit".into())
            .spawn(move || run(&rx, store, &dir, clock, &*warn, &st, syncer))
            .map_err(|e| Error::io(Path::new("<commit thread>"), e))?;
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
            .send(Work::Record(Box::new(Job {
                record,
                audit,
                reply,
            })))
            .map_err(|_| stopped())?;
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Reserves `n` fresh serials in the store (one transaction, between two group commits).
    pub async fn reserve(&self, n: usize) -> Result<Vec<crate::serial::Serial>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let stopped = || Error::Validity("the server is stopping".into(), "retry".into());
        self.tx
            .send(Work::Reserve { n, reply })
            .map_err(|_| stopped())?;
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }
}

/// The thread that fsyncs the audit log after the group commit has written to it.
struct AuditSync {
    /// A pending request to fsync (capacity one: requests made while one waits are served by
    /// it, since it fsyncs after they wrote).
    tx: mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl AuditSync {
    fn start(dir: &Path, warn: Arc<dyn Fn(String) + Send + Sync>) -> Result<AuditSync> {
        let path = crate::ca::layout::audit_log(dir);
        let (tx, rx) = mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("mtls-ca-audit-sync".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    let synced = std::fs::OpenOptions::new()
                        .append(true)
                        .open(&path)
                        .and_then(|f| f.sync_data());
                    if let Err(e) = synced {
                        warn(format!(
                            "could not fsync the audit log {}: {e}",
                            path.display()
                        ));
                    }
                }
            })
            .map_err(|e| Error::io(Path::new("<audit sync thread>"), e))?;
        Ok(AuditSync { tx, thread })
    }

    /// Asks for an fsync of what has been written so far.
    fn request(&self) {
        let _ = self.tx.try_send(());
    }

    /// The last fsync, then the thread's end.
    fn finish(self) {
        self.request();
        drop(self.tx);
        let _ = self.thread.join();
    }
}

fn run(
    rx: &mpsc::Receiver<Work>,
    mut store: Store,
    dir: &Path,
    clock: fn() -> OffsetDateTime,
    warn: &dyn Fn(String),
    stats: &Stats,
    syncer: AuditSync,
) {
    // Checkpoints (the WAL copied into store.db) are not paid per batch but at most once a
    // second under load, whenever the queue falls idle, and at the end: each batch's commit
    // is durable in the WAL already.
    store.defer_checkpoints();
    let rng = ring::rand::SystemRandom::new();
    let mut dirty = false;
    let mut last_checkpoint = Instant::now();
    loop {
        let first = match rx.recv_timeout(IDLE) {
            Ok(Work::Record(j)) => *j,
            Ok(Work::Reserve { n, reply }) => {
                let _ = reply.send(store.reserve_serials(&rng, n, clock()));
                dirty = true;
                continue;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if dirty {
                    store.checkpoint();
                    dirty = false;
                    last_checkpoint = Instant::now();
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut batch = vec![first];
        let mut reserves = Vec::new();
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Work::Record(j)) => batch.push(*j),
                Ok(Work::Reserve { n, reply }) => reserves.push((n, reply)),
                Err(_) => break,
            }
        }
        for (n, reply) in reserves {
            let _ = reply.send(store.reserve_serials(&rng, n, clock()));
        }
        let now = clock();
        let (records, rest): (Vec<Record>, Vec<_>) = batch
            .into_iter()
            .map(|j| (j.record, (j.audit, j.reply)))
            .unzip();
        let results = record(&mut store, &records, now);
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
        // Only the committed ones (none when the batch failed: nothing is written then).
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
        match audit::append_unsynced(dir, &evs) {
            Ok(()) if !evs.is_empty() => syncer.request(),
            Ok(()) => {}
            Err(e) => warn(format!("could not append to the audit log: {e}")),
        }
        for (reply, res) in replies {
            let _ = reply.send(res);
        }
        dirty = true;
        if last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
            store.checkpoint();
            dirty = false;
            last_checkpoint = Instant::now();
        }
    }
    if dirty {
        store.checkpoint();
    }
    syncer.finish();
}

/// One store transaction for `records` (see [`Store::record_each`]).
fn record(store: &mut Store, records: &[Record], now: OffsetDateTime) -> Vec<Result<()>> {
    // Tests pause here (renewals queue up) or fail the whole batch.
    let here = Path::new("<group commit>");
    if let Err(e) = crate::failpoint::hit("serve.commit", here) {
        let msg = e.to_string();
        return records
            .iter()
            .map(|_| Err(Error::io(here, std::io::Error::other(msg.clone()))))
            .collect();
    }
    store.record_each(records, now)
}
