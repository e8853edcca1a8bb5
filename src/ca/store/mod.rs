//! The store: one SQLite database per CA directory that tracks every serial the CA ever used.
//!
//! Issuance is two short transactions: [`Store::reserve_serial`] inserts the serial under the
//! table's primary key (a uniqueness constraint) and commits *before* anything is signed;
//! [`Store::record_issued`] then stores the certificate (DER, subject, SANs, profile, validity).
//! A process killed in between leaves a `reserved` row that is never reused; files are written
//! only after the record commits, so no certificate file exists without its record.
//! Writers take SQLite's write lock up front (`BEGIN IMMEDIATE`) and wait for each other (busy
//! timeout) instead of failing. The journal is WAL with `synchronous=FULL`; records,
//! revocations and CRL numbers are checkpointed into `store.db` right after they commit, so a
//! `-wal` file deleted after a crash does not take them along (the online CA's group commit
//! checkpoints about once a second instead: see [`Store::defer_checkpoints`]).
//!
//! A renewal's record is refused inside its own transaction when the old certificate was
//! revoked or renewed since it was read (one successor at most, never one of a revoked
//! certificate). Every loop is bounded; a store SQLite finds corrupt (or one that silently
//! drops new rows) is reported as [`Error::StoreDamaged`] and nothing is written.

pub mod migrate;
pub mod postgres;
mod record;
pub mod sqlite;

use std::path::Path;

use ring::rand::SystemRandom;
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::serial::Serial;

pub use postgres::{PgConnect, PgStore, STORE_URL_FILE};
pub use sqlite::SqliteStore;

/// The store's file name inside the CA directory.
pub use record::{
    Checksum, Entry, NewToken, RawRow, Record, RevokeOutcome, RevokedRow, ScanOrder, Status,
    StoredCert, Tally, TokenRefusal, TokenRow, SCHEMA_VERSION, STORE_FILE,
};

static CONNECT: std::sync::OnceLock<PgConnect> = std::sync::OnceLock::new();

/// Sets, once per process, how PostgreSQL stores are reached (the binary reads
/// `MTLS_CA_STORE` and the password sources from its environment and passes them here; the
/// library never reads the environment itself).
pub fn set_connect(c: PgConnect) {
    let _ = CONNECT.set(c);
}

/// What [`set_connect`] set (nothing: the defaults).
pub fn connect_options() -> PgConnect {
    CONNECT.get().cloned().unwrap_or_default()
}

/// An open store: the SQLite file of the CA directory (the default) or a PostgreSQL database
/// shared by several CA directories (hosts).
#[derive(Debug)]
pub enum Store {
    /// `store.db` in the CA directory.
    Sqlite(SqliteStore),
    /// A PostgreSQL database named by the directory's `store.url`.
    Postgres(Box<PgStore>),
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Sqlite($s) => $e,
            Store::Postgres($s) => $e,
        }
    };
}

impl Store {
    /// Creates a new, empty SQLite store at `path` (which must not exist), mode 0600.
    pub fn create(path: &Path) -> Result<Store> {
        SqliteStore::create(path).map(Store::Sqlite)
    }

    /// Opens an existing SQLite store.
    pub fn open(path: &Path) -> Result<Store> {
        SqliteStore::open(path).map(Store::Sqlite)
    }

    /// Opens the PostgreSQL store at `url` for a new CA: it must hold no certificate yet.
    pub fn create_shared(url: &str, connect: &PgConnect) -> Result<Store> {
        let store = PgStore::open(url, connect)?;
        if store.count_serials()? > 0 {
            return Err(Error::invalid(
                "--store",
                postgres::redact(url),
                "this database already holds a CA's certificates",
                "use an empty database, or add this host to that CA with `mtls-ca --dir NEW init --join EXISTING_DIR`",
            ));
        }
        Ok(Store::Postgres(Box::new(store)))
    }

    /// Opens the store of the CA directory `dir`: PostgreSQL when `connect` says so (an
    /// override) or the directory holds `store.url`, else `store.db`.
    pub fn open_dir(dir: &Path, connect: &PgConnect) -> Result<Store> {
        match postgres::location(dir, connect)? {
            Some(url) => PgStore::open(&url, connect).map(|p| Store::Postgres(Box::new(p))),
            None => Store::open(&dir.join(STORE_FILE)),
        }
    }

    /// Hands every record, exactly as stored, to `f` in `order`, all from one snapshot, one
    /// row in memory at a time; returns that snapshot's CRL number.
    pub fn scan(&self, order: ScanOrder, f: &mut dyn FnMut(RawRow) -> Result<()>) -> Result<u64> {
        each!(self, s => s.scan(order, f))
    }

    /// The row count, revoked rows, CRL number and checksum of everything this store holds
    /// (streamed, see [`Checksum`]): what `store migrate` compares between source and copy.
    pub fn tally(&self) -> Result<Tally> {
        let mut sum = Checksum::default();
        let crl = self.scan(ScanOrder::Serial, &mut |r| {
            sum.add(&r);
            Ok(())
        })?;
        Ok(sum.finish(crl))
    }

    /// Copies every record of `source` into this store, which must hold none, in the order
    /// they were first written (so `list`, oldest first, keeps its order), and its CRL number,
    /// in one transaction; returns the rows copied.
    pub fn load_from(&mut self, source: &Store) -> Result<u64> {
        let mut feed = |sink: &mut dyn FnMut(RawRow) -> Result<()>| {
            source.scan(ScanOrder::Written, &mut |r| {
                // Tests fail or kill the copy part-way.
                crate::failpoint::hit("migrate.row", Path::new("<store migrate>"))?;
                sink(r)
            })
        };
        each!(self, s => s.load(&mut feed))
    }

    /// Which backend, for messages: `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Where the store is, for messages: the file, or the URL without its password.
    pub fn location(&self) -> String {
        match self {
            Store::Sqlite(s) => s.path().display().to_string(),
            Store::Postgres(p) => p.url_redacted(),
        }
    }

    /// Reserves a fresh random serial: committed before the caller signs anything.
    pub fn reserve_serial(&mut self, rng: &SystemRandom, now: OffsetDateTime) -> Result<Serial> {
        let mut one = self.reserve_serials(rng, 1, now)?;
        Ok(one.remove(0))
    }

    /// Reserves a given serial (a root CA's own, chosen before its store existed).
    pub fn reserve_serial_exact(&mut self, serial: &Serial, now: OffsetDateTime) -> Result<Serial> {
        each!(self, s => s.reserve_serial_exact(serial, now))
    }

    /// Records a signed certificate under its reserved serial.
    pub fn record_issued(&mut self, rec: &Record, now: OffsetDateTime) -> Result<()> {
        self.record_many(std::slice::from_ref(rec), now)
    }

    /// Reserves `n` fresh random serials in one transaction, committed before anything is
    /// signed.
    pub fn reserve_serials(
        &mut self,
        rng: &SystemRandom,
        n: usize,
        now: OffsetDateTime,
    ) -> Result<Vec<Serial>> {
        each!(self, s => s.reserve_serials(rng, n, now))
    }

    /// Records signed certificates under their reserved serials, all in one transaction. A
    /// renewal is refused there when its predecessor was revoked or renewed meanwhile.
    pub fn record_many(&mut self, recs: &[Record], now: OffsetDateTime) -> Result<()> {
        each!(self, s => s.record_many(recs, now))
    }

    /// Leaves checkpoints to the caller ([`Store::checkpoint`]) instead of running one after
    /// each durable commit: for a long-running writer (the online CA's group commit). SQLite
    /// only; a PostgreSQL server checkpoints on its own.
    pub fn defer_checkpoints(&mut self) {
        if let Store::Sqlite(s) = self {
            s.defer_checkpoints();
        }
    }

    /// Copies what is committed into the main database file now (SQLite's WAL checkpoint;
    /// nothing to do for PostgreSQL). Best effort.
    pub fn checkpoint(&mut self) {
        if let Store::Sqlite(s) = self {
            s.checkpoint();
        }
    }

    /// Records `recs` in one transaction when it can (group commit: one durable commit for
    /// many certificates); when that transaction is refused (a renewal whose predecessor was
    /// revoked or renewed meanwhile), records each on its own, so one refusal fails only its
    /// own certificate. One result per record, in order.
    pub fn record_each(&mut self, recs: &[Record], now: OffsetDateTime) -> Vec<Result<()>> {
        match self.record_many(recs, now) {
            Ok(()) => recs.iter().map(|_| Ok(())).collect(),
            Err(e) if recs.len() == 1 => vec![Err(e)],
            Err(_) => recs
                .iter()
                .map(|r| self.record_many(std::slice::from_ref(r), now))
                .collect(),
        }
    }

    /// Every issued certificate (reserved-only serials are left out), oldest first, with the
    /// status it has at `now`, optionally only those with `status`.
    pub fn list(&self, now: OffsetDateTime, status: Option<Status>) -> Result<Vec<Entry>> {
        each!(self, s => s.list(now, status))
    }

    /// Valid certificates whose notAfter falls within `[now, until]`, soonest first.
    pub fn expiring(&self, now: OffsetDateTime, until: OffsetDateTime) -> Result<Vec<Entry>> {
        each!(self, s => s.expiring(now, until))
    }

    /// How many serials the store holds, reserved ones included.
    pub fn count_serials(&self) -> Result<u64> {
        each!(self, s => s.count_serials())
    }

    /// The backend's integrity check; `Ok(())` when the database is sound.
    pub fn integrity_check(&self) -> Result<()> {
        each!(self, s => s.integrity_check())
    }

    /// Every certificate issued by the CA certificate with serial `ca_serial`, oldest first,
    /// with the status it has at `now`.
    pub fn issued_by(&self, ca_serial: &str, now: OffsetDateTime) -> Result<Vec<Entry>> {
        each!(self, s => s.issued_by(ca_serial, now))
    }

    /// Whether the CA certificate with serial `ca_serial` belongs to this store: `(known,
    /// issued_any)`, `known` when the store recorded that certificate (a root) or anything issued
    /// under it, `issued_any` when the store holds any issued certificate at all.
    pub fn ca_standing(&self, ca_serial: &str) -> Result<(bool, bool)> {
        each!(self, s => s.ca_standing(ca_serial))
    }

    /// The certificate recorded under `serial` (exact, lowercase hex); None when the serial is
    /// unknown or only reserved.
    pub fn get(&self, serial: &str) -> Result<Option<StoredCert>> {
        each!(self, s => s.get(serial))
    }

    /// The serials of recorded certificates that start with the lowercase hex `prefix`.
    pub fn serials_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        if !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(Vec::new());
        }
        each!(self, s => s.serials_with_prefix(prefix))
    }

    /// Marks an issued certificate revoked (durable when this returns). Revoking twice changes
    /// nothing: the first time and reason stay.
    pub fn revoke(
        &mut self,
        serial: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<RevokeOutcome> {
        each!(self, s => s.revoke(serial, reason, now))
    }

    /// Every certificate revoked under the CA certificate with serial `ca_serial`.
    pub fn revoked_by(&self, ca_serial: &str) -> Result<Vec<RevokedRow>> {
        each!(self, s => s.revoked_by(ca_serial))
    }

    /// A certificate issued by the CA `ca_serial`, unexpired at `now`, that is revoked or a
    /// cross-signed root still issued: one that keeps that CA signing CRLs after its overlap
    /// ends (see `crate::ca::overlap::owes_crl`). One indexed query, not a listing.
    pub fn crl_duty(&self, ca_serial: &str, now: OffsetDateTime) -> Result<Option<String>> {
        each!(self, s => s.crl_duty(ca_serial, now))
    }

    /// Takes the next CRL number and commits it before anything is signed: numbers strictly
    /// increase (across every host sharing the store), a crash can skip one but never reuse it.
    pub fn next_crl_number(&mut self) -> Result<u64> {
        each!(self, s => s.next_crl_number())
    }

    /// Stores a new bootstrap token (its hash only); returns its public id.
    pub fn token_create(&mut self, t: &NewToken, now: OffsetDateTime) -> Result<String> {
        each!(self, s => s.token_create(t, now))
    }

    /// Every token, newest first.
    pub fn token_list(&self) -> Result<Vec<TokenRow>> {
        each!(self, s => s.token_list())
    }

    /// Revokes the unused token whose id (or id prefix of at least 8 digits) is `id`; returns
    /// the ids revoked (empty: none matched an unused, unrevoked token).
    pub fn token_revoke(&mut self, id: &str, now: OffsetDateTime) -> Result<Vec<String>> {
        if id.len() < 8 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(Vec::new());
        }
        each!(self, s => s.token_revoke(&id.to_ascii_lowercase(), now))
    }

    /// Reads the token with this hash without using it.
    pub fn token_peek(
        &self,
        hash: &str,
        now: OffsetDateTime,
    ) -> Result<std::result::Result<TokenRow, TokenRefusal>> {
        each!(self, s => s.token_peek(hash, now))
    }

    /// Uses the token with this hash: in one transaction, it is marked used only if it is
    /// still unused, unrevoked and unexpired (of two clients racing with one token, exactly one
    /// gets `Ok`).
    pub fn token_use(
        &mut self,
        hash: &str,
        used_by: &str,
        now: OffsetDateTime,
    ) -> Result<std::result::Result<TokenRow, TokenRefusal>> {
        each!(self, s => s.token_use(hash, used_by, now))
    }

    /// The SQLite file, or the CA directory's `store.url`.
    pub fn path(&self) -> &Path {
        each!(self, s => s.path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

    fn fresh() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::create(&dir.path().join(STORE_FILE)).expect("create");
        (dir, store)
    }

    fn rec(serial: &Serial, ca: &str, days: i64) -> Record {
        Record {
            serial: serial.clone(),
            profile: "client".into(),
            subject: format!("CN=c-{}", serial.hex()),
            sans: vec!["DNS:c.example".into()],
            key_type: "ecdsa-p256".into(),
            not_before: NOW,
            not_after: NOW + time::Duration::days(days),
            der: serial.hex().into_bytes(),
            sha256: "00".into(),
            stem: Some(format!("/tmp/{}", serial.hex())),
            ca_serial: Some(ca.into()),
            renews: None,
        }
    }

    fn issue(store: &mut Store, ca: &str, days: i64) -> Serial {
        let s = store
            .reserve_serial(&SystemRandom::new(), NOW)
            .expect("reserve");
        store
            .record_issued(&rec(&s, ca, days), NOW)
            .expect("record");
        s
    }

    #[test]
    fn create_then_open_reads_the_schema_version() {
        let (dir, store) = fresh();
        drop(store);
        let store = Store::open(&dir.path().join(STORE_FILE)).expect("open");
        assert_eq!(store.count_serials().expect("count"), 0);
        store.integrity_check().expect("integrity");
    }

    #[test]
    fn open_refuses_a_missing_store_and_a_foreign_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope.db");
        assert!(matches!(Store::open(&missing), Err(Error::NoCa { .. })));
        let foreign = dir.path().join("foreign.db");
        Connection::open(&foreign)
            .and_then(|c| c.execute_batch("CREATE TABLE t (x INTEGER);"))
            .expect("foreign db");
        assert!(matches!(
            Store::open(&foreign),
            Err(Error::StoreFormat { .. })
        ));
    }

    #[test]
    fn reserved_serials_are_unique_and_not_listed() {
        let (_dir, mut store) = fresh();
        let rng = SystemRandom::new();
        let mut all = store.reserve_serials(&rng, 500, NOW).expect("reserve");
        all.push(store.reserve_serial(&rng, NOW).expect("reserve one"));
        let mut hex: Vec<String> = all.iter().map(Serial::hex).collect();
        hex.sort();
        hex.dedup();
        assert_eq!(hex.len(), 501);
        assert_eq!(store.count_serials().expect("count"), 501);
        assert!(store.list(NOW, None).expect("list").is_empty());
        assert!(store.get(&hex[0]).expect("get").is_none());
        // The same serial cannot be reserved twice.
        assert!(store.reserve_serial_exact(&all[0], NOW).is_err());
    }

    #[test]
    fn recording_needs_a_reservation_and_rolls_back_as_a_whole() {
        let (_dir, mut store) = fresh();
        let rng = SystemRandom::new();
        let good = store.reserve_serial(&rng, NOW).expect("reserve");
        let unreserved = Serial::random(&rng).expect("serial");
        let err = store
            .record_many(&[rec(&good, "ca", 30), rec(&unreserved, "ca", 30)], NOW)
            .expect_err("unreserved serial");
        assert!(err.to_string().contains("was not reserved"), "{err}");
        // The first record of the failed transaction is not there either.
        assert!(store.get(&good.hex()).expect("get").is_none());
        store
            .record_issued(&rec(&good, "ca", 30), NOW)
            .expect("record");
        let got = store.get(&good.hex()).expect("get").expect("recorded");
        assert_eq!(got.state, "issued");
        assert_eq!(got.der, good.hex().into_bytes());
        assert_eq!(got.ca_serial.as_deref(), Some("ca"));
        // Recording twice under one serial fails.
        assert!(store.record_issued(&rec(&good, "ca", 30), NOW).is_err());
    }

    #[test]
    fn a_group_commit_fails_only_the_refused_renewal() {
        let (_dir, mut store) = fresh();
        let rng = SystemRandom::new();
        let (old, revoked) = (issue(&mut store, "ca", 30), issue(&mut store, "ca", 30));
        store
            .revoke(&revoked.hex(), "key-compromise", NOW)
            .expect("revoke");
        // Three renewals signed while their predecessors looked fine; the middle one's was
        // revoked meanwhile. The batch commits the other two.
        let new = store.reserve_serials(&rng, 3, NOW).expect("reserve");
        let recs: Vec<Record> = new
            .iter()
            .zip([&old, &revoked, &old])
            .map(|(s, renews)| {
                let mut r = rec(s, "ca", 30);
                r.renews = Some(renews.hex());
                r
            })
            .collect();
        let out = store.record_each(&recs, NOW);
        assert!(out[0].is_ok(), "{:?}", out[0]);
        assert!(out[1]
            .as_ref()
            .is_err_and(|e| e.to_string().contains("revoked while")));
        // The third renews the same certificate as the first: it lost to the first.
        assert!(out[2].is_err(), "one certificate, two successors");
        assert_eq!(
            store
                .get(&old.hex())
                .expect("get")
                .expect("old")
                .superseded_by,
            Some(new[0].hex())
        );
        assert!(store.get(&new[1].hex()).expect("get").is_none());
        assert!(store.get(&new[2].hex()).expect("get").is_none());
        // A batch without a refusal is one transaction: all recorded.
        let more = store.reserve_serials(&rng, 2, NOW).expect("reserve");
        let recs: Vec<Record> = more.iter().map(|s| rec(s, "ca", 30)).collect();
        assert!(store.record_each(&recs, NOW).iter().all(Result::is_ok));
        assert!(store.get(&more[1].hex()).expect("get").is_some());
    }

    #[test]
    fn a_renewal_marks_its_predecessor_superseded() {
        let (_dir, mut store) = fresh();
        let old = issue(&mut store, "ca", 30);
        let new = store
            .reserve_serial(&SystemRandom::new(), NOW)
            .expect("reserve");
        let mut r = rec(&new, "ca", 30);
        r.renews = Some(old.hex());
        store.record_issued(&r, NOW).expect("record");
        let got = store.get(&old.hex()).expect("get").expect("old");
        assert_eq!(got.superseded_by, Some(new.hex()));
        let statuses: Vec<(String, Status)> = store
            .list(NOW, None)
            .expect("list")
            .into_iter()
            .map(|e| (e.serial, e.status))
            .collect();
        assert_eq!(
            statuses,
            vec![(old.hex(), Status::Superseded), (new.hex(), Status::Valid)]
        );
    }

    #[test]
    fn a_renewal_is_refused_in_its_transaction_when_the_old_one_changed() {
        let (_dir, mut store) = fresh();
        let rng = SystemRandom::new();
        let old = issue(&mut store, "ca", 30);
        // Two renewals that both passed their checks: the second one to record loses.
        let (a, b) = (
            store.reserve_serial(&rng, NOW).expect("a"),
            store.reserve_serial(&rng, NOW).expect("b"),
        );
        let mut ra = rec(&a, "ca", 30);
        ra.renews = Some(old.hex());
        let mut rb = rec(&b, "ca", 30);
        rb.renews = Some(old.hex());
        store.record_issued(&ra, NOW).expect("first renewal");
        let err = store.record_issued(&rb, NOW).expect_err("second renewal");
        assert!(
            err.to_string().contains("renewed by another process"),
            "{err}"
        );
        assert!(store.get(&b.hex()).expect("get").is_none(), "rolled back");
        // A renewal of a certificate revoked meanwhile.
        let other = issue(&mut store, "ca", 30);
        let c = store.reserve_serial(&rng, NOW).expect("c");
        store
            .revoke(&other.hex(), "key-compromise", NOW)
            .expect("revoke");
        let mut rc = rec(&c, "ca", 30);
        rc.renews = Some(other.hex());
        let err = store.record_issued(&rc, NOW).expect_err("revoked");
        assert!(err.to_string().contains("revoked while"), "{err}");
        assert!(store.get(&c.hex()).expect("get").is_none());
        assert_eq!(
            store
                .get(&other.hex())
                .expect("get")
                .expect("other")
                .superseded_by,
            None
        );
    }

    #[test]
    fn prefix_lookup_is_a_range_of_hex_serials() {
        let (_dir, mut store) = fresh();
        let s = issue(&mut store, "ca", 30);
        let hex = s.hex();
        assert_eq!(
            store.serials_with_prefix(&hex[..8]).expect("prefix"),
            vec![hex.clone()]
        );
        assert!(store
            .serials_with_prefix("zz' OR 1=1 --")
            .expect("prefix")
            .is_empty());
    }

    #[test]
    fn revoking_twice_keeps_the_first_time_and_reason() {
        let (_dir, mut store) = fresh();
        let a = issue(&mut store, "ca1", 30);
        let b = issue(&mut store, "ca2", 30);
        let first = store
            .revoke(&a.hex(), "key-compromise", NOW)
            .expect("revoke");
        assert!(first.changed);
        assert_eq!(first.revoked_at, NOW);
        let later = NOW + time::Duration::hours(1);
        let again = store.revoke(&a.hex(), "superseded", later).expect("again");
        assert!(!again.changed);
        assert_eq!(again.revoked_at, NOW);
        assert_eq!(again.reason.as_deref(), Some("key-compromise"));
        store.revoke(&b.hex(), "unspecified", later).expect("b");
        let rows = store.revoked_by("ca1").expect("revoked_by");
        assert_eq!(
            rows,
            vec![RevokedRow {
                serial: a.hex(),
                revoked_at: NOW,
                reason: Some("key-compromise".into())
            }]
        );
        assert_eq!(store.revoked_by("ca2").expect("ca2").len(), 1);
        assert_eq!(
            store
                .list(later, Some(Status::Revoked))
                .expect("list")
                .len(),
            2
        );
    }

    #[test]
    fn crl_numbers_strictly_increase_across_reopen() {
        let (dir, mut store) = fresh();
        assert_eq!(store.next_crl_number().expect("n"), 1);
        assert_eq!(store.next_crl_number().expect("n"), 2);
        drop(store);
        let mut store = Store::open(&dir.path().join(STORE_FILE)).expect("open");
        assert_eq!(store.next_crl_number().expect("n"), 3);
    }

    #[test]
    fn expiring_lists_valid_certificates_in_the_window_soonest_first() {
        let (_dir, mut store) = fresh();
        let late = issue(&mut store, "ca", 60);
        let soon = issue(&mut store, "ca", 10);
        let revoked = issue(&mut store, "ca", 5);
        store
            .revoke(&revoked.hex(), "unspecified", NOW)
            .expect("revoke");
        let got: Vec<String> = store
            .expiring(NOW, NOW + time::Duration::days(90))
            .expect("expiring")
            .into_iter()
            .map(|e| e.serial)
            .collect();
        assert_eq!(got, vec![soon.hex(), late.hex()]);
        let expired = store
            .list(NOW + time::Duration::days(20), Some(Status::Expired))
            .expect("list");
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].serial, soon.hex());
    }
}
