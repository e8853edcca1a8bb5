//! `store migrate` with a real throwaway PostgreSQL cluster (tests/pg_support): a SQLite store
//! with issued, reserved, revoked and renewed certificates and CRL numbers goes to PostgreSQL
//! and back, and every column of every row comes back identical; a target that holds records
//! is refused and nothing changes.
use crate::common;
use crate::pg_support;

use std::path::Path;

use common::*;
use pg_support::{mtls_pg, Cluster, PASSWORD};

/// One row, every column, as text (NULL as None; BLOBs as hex).
type Row = Vec<Option<String>>;

const COLUMNS: &str = "serial, state, profile, subject, sans, key_type, not_before, not_after, \
     encode(der, 'hex'), sha256, stem, ca_serial, reserved_at, issued_at, revoked_at, \
     revocation_reason, renews, superseded_by";

/// Every row of a SQLite store, read with SQLite itself (not through mtls-ca).
fn sqlite_rows(db: &Path) -> (Vec<Row>, String) {
    let c = rusqlite::Connection::open(db).unwrap();
    let cols = COLUMNS.replace(
        "encode(der, 'hex')",
        "CASE WHEN der IS NULL THEN NULL ELSE hex(der) END",
    );
    let mut st = c
        .prepare(&format!("SELECT {cols} FROM certificates ORDER BY serial"))
        .unwrap();
    let rows = st
        .query_map([], |r| {
            (0..18)
                .map(|i| {
                    let v: rusqlite::types::Value = r.get(i)?;
                    Ok(match v {
                        rusqlite::types::Value::Null => None,
                        rusqlite::types::Value::Integer(n) => Some(n.to_string()),
                        rusqlite::types::Value::Text(t) => Some(t),
                        rusqlite::types::Value::Real(f) => Some(f.to_string()),
                        rusqlite::types::Value::Blob(b) => {
                            Some(b.iter().map(|x| format!("{x:02x}")).collect())
                        }
                    })
                })
                .collect::<rusqlite::Result<Row>>()
        })
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap();
    let crl: String = c
        .query_row("SELECT value FROM meta WHERE key = 'crl_number'", [], |r| {
            r.get(0)
        })
        .unwrap();
    // SQLite's hex() is upper case.
    let rows = rows
        .into_iter()
        .map(|mut r| {
            r[8] = r[8].take().map(|h| h.to_ascii_lowercase());
            r
        })
        .collect();
    (rows, crl)
}

/// Every row of a PostgreSQL store.
fn pg_rows(pg: &Cluster, db: &str) -> (Vec<Row>, String) {
    let mut c = pg.client(db);
    let cast = COLUMNS
        .replace("encode(der, 'hex')", "encode(der; 'hex')")
        .split(", ")
        .map(|col| format!("({})::TEXT", col.replace(';', ",")))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = c
        .query(
            &format!("SELECT {cast} FROM certificates ORDER BY serial COLLATE \"C\""),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (0..18).map(|i| r.get::<_, Option<String>>(i)).collect())
        .collect();
    let crl: String = c
        .query_one("SELECT value FROM meta WHERE key = 'crl_number'", &[])
        .unwrap()
        .get(0);
    (rows, crl)
}

/// Fails naming the first row and column that differ (not the whole tables).
#[track_caller]
fn same_rows(got: &[Row], want: &[Row], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: row count");
    for (g, w) in got.iter().zip(want) {
        for (i, (a, b)) in g.iter().zip(w).enumerate() {
            assert_eq!(a, b, "{what}: row {:?}, column {i} differs", w[0]);
        }
    }
}

fn serial_of(d: &Path, cert: &str) -> String {
    let s = openssl(d, &["x509", "-in", cert, "-noout", "-serial"])
        .ok()
        .stdout;
    s.trim()
        .trim_start_matches("serial=")
        .to_ascii_lowercase()
        .trim_start_matches('0')
        .to_string()
}

/// A SQLite CA with every kind of row: issued, revoked (with reasons), renewed (superseded),
/// a reserved serial (a process stopped between reserve and record), and CRL number 2.
fn populated_ca(d: &Path, dir: &str) {
    mtls(d, &["--dir", dir, "init", "--cn", "Migrate Root"]).ok();
    for i in 0..12 {
        let stem = format!("{dir}-c{i}");
        mtls(
            d,
            &[
                "--dir", dir, "issue", "client", "--cn", &stem, "--out", &stem,
            ],
        )
        .ok();
    }
    mtls(
        d,
        &[
            "--dir",
            dir,
            "issue",
            "server",
            "--cn",
            "api.example.com",
            "--san",
            "10.0.0.5",
            "--out",
            &format!("{dir}-api"),
        ],
    )
    .ok();
    for (i, reason) in [(0, "key-compromise"), (1, "superseded"), (2, "unspecified")] {
        let s = serial_of(d, &format!("{dir}-c{i}.crt"));
        mtls(d, &["--dir", dir, "revoke", &s, "--reason", reason]).ok();
    }
    for i in [3, 4] {
        let s = serial_of(d, &format!("{dir}-c{i}.crt"));
        mtls(
            d,
            &[
                "--dir",
                dir,
                "renew",
                &s,
                "--out",
                &format!("{dir}-c{i}-new"),
            ],
        )
        .ok();
    }
    mtls(d, &["--dir", dir, "crl"]).ok();
    mtls(d, &["--dir", dir, "crl"]).ok();
    // A reserved serial whose process died before the record.
    let r = mtls_fp(
        d,
        "issue.reserve:exit",
        &[
            "--dir", dir, "issue", "client", "--cn", "lost", "--out", "lost",
        ],
    );
    assert_ne!(r.code, 0);
}

/// A populated SQLite CA in `DIR/dir` (see [`populated_ca`]) and an empty database `db` on a
/// new cluster: the temp directory, the cluster and the database's URL.
fn ca_and_database(dir: &str, db: &str) -> (tempfile::TempDir, Cluster, String) {
    let t = tempdir();
    let pg = Cluster::start();
    pg.create_db(db);
    let url = pg.url(db);
    populated_ca(t.path(), dir);
    (t, pg, url)
}

/// The rows in database `db`'s certificates table (None while it has no table yet).
fn pg_count(pg: &Cluster, db: &str) -> Option<i64> {
    pg.client(db)
        .query_one("SELECT COUNT(*) FROM certificates", &[])
        .ok()
        .map(|r| r.get(0))
}

/// A refused run: exit 2 and exactly one `error:` line, which is returned.
#[track_caller]
fn refused(r: &Run) -> &str {
    assert_eq!(r.code, 2, "{}", r.stderr);
    let errors: Vec<_> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", r.stderr);
    errors[0]
}

#[test]
fn sqlite_to_postgresql_and_back_keeps_every_record() {
    let t = tempdir();
    let d = t.path();
    let pg = Cluster::start();
    pg.create_db("migrated");
    populated_ca(d, "ca");
    let (before, crl_before) = sqlite_rows(&d.join("ca/store.db"));
    assert_eq!(crl_before, "2");
    assert!(before.iter().any(|r| r[1].as_deref() == Some("reserved")));
    assert_eq!(
        before
            .iter()
            .filter(|r| r[1].as_deref() == Some("revoked"))
            .count(),
        3
    );
    assert_eq!(before.iter().filter(|r| r[17].is_some()).count(), 2);
    let list_before = mtls(d, &["--dir", "ca", "--json", "list"]).ok().json();

    // SQLite → PostgreSQL. A bootstrap token that could still be used blocks the migration
    // (tokens are not copied), naming it; once revoked, the migration runs.
    let url = pg.url("migrated");
    let tok = mtls(
        d,
        &["--dir", "ca", "--json", "token", "create", "--cn", "host-1"],
    )
    .ok()
    .json();
    let id = tok["id"].as_str().unwrap().to_string();
    let r = mtls_pg(d, &["--dir", "ca", "store", "migrate", "--to", &url]).expect_code(2);
    assert!(
        r.stderr.contains("bootstrap token") && r.stderr.contains(&id),
        "{}",
        r.stderr
    );
    assert!(!d.join("ca/store.url").exists());
    mtls(d, &["--dir", "ca", "token", "revoke", &id]).ok();
    let m = mtls_pg(
        d,
        &["--dir", "ca", "--json", "store", "migrate", "--to", &url],
    )
    .ok()
    .json();
    assert_eq!(m["records"], before.len());
    assert_eq!(m["revoked"], 3);
    assert_eq!(m["crl_number"], 2);
    let sum = m["checksum"].as_str().unwrap().to_string();
    assert_eq!(sum.len(), 64);
    assert!(!d.join("ca/store.db").exists());
    assert!(d.join("ca/store.db.migrated").exists());
    assert_eq!(
        std::fs::read_to_string(d.join("ca/store.url"))
            .unwrap()
            .trim(),
        url
    );
    let (in_pg, crl_pg) = pg_rows(&pg, "migrated");
    same_rows(&in_pg, &before, "PostgreSQL");
    assert_eq!(crl_pg, "2");
    // The directory uses PostgreSQL now: same listing.
    let list_pg = mtls_pg(d, &["--dir", "ca", "--json", "list"]).ok().json();
    assert_eq!(list_pg, list_before);

    // PostgreSQL → SQLite.
    let back = mtls_pg(
        d,
        &[
            "--dir", "ca", "--json", "store", "migrate", "--to", "sqlite",
        ],
    )
    .ok()
    .json();
    assert_eq!(back["checksum"], sum.as_str(), "the checksum changed");
    assert_eq!(back["records"], before.len());
    assert!(d.join("ca/store.db").exists());
    assert!(!d.join("ca/store.url").exists());
    assert!(d.join("ca/store.url.migrated").exists());
    let (after, crl_after) = sqlite_rows(&d.join("ca/store.db"));
    same_rows(&after, &before, "after the round trip");
    assert_eq!(crl_after, "2");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("ca/store.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "store.db readable by others");
    }
    let list_after = mtls(d, &["--dir", "ca", "--json", "list"]).ok().json();
    assert_eq!(list_after, list_before);
    // The CA goes on where it stopped: the next CRL is number 3 and lists the 3 revocations.
    mtls(d, &["--dir", "ca", "crl"]).ok();
    let n = openssl(d, &["crl", "-in", "ca/crl.pem", "-noout", "-crlnumber"])
        .ok()
        .stdout;
    assert_eq!(n.trim(), "crlNumber=0x03");
    let text = openssl(d, &["crl", "-in", "ca/crl.pem", "-noout", "-text"])
        .ok()
        .stdout;
    assert_eq!(text.matches("Serial Number:").count(), 3);
    pkilint_crl(d, &d.join("ca/crl.pem"));
    mtls(
        d,
        &[
            "--dir", "ca", "issue", "client", "--cn", "after", "--out", "after",
        ],
    )
    .ok();
    openssl(d, &["verify", "-CAfile", "ca/ca.crt", "after.crt"]).ok();
}

#[test]
fn a_target_with_records_is_refused_and_nothing_changes() {
    let (t, pg, url) = ca_and_database("a", "taken");
    let d = t.path();
    mtls_pg(d, &["--dir", "a", "store", "migrate", "--to", &url]).ok();
    let (rows_a, _) = pg_rows(&pg, "taken");
    // A second CA may not pour its records into the first one's database.
    mtls(d, &["--dir", "b", "init", "--cn", "Other Root"]).ok();
    mtls(
        d,
        &["--dir", "b", "issue", "client", "--cn", "b1", "--out", "b1"],
    )
    .ok();
    let before = snapshot(&d.join("b"));
    let r = mtls_pg(d, &["--dir", "b", "store", "migrate", "--to", &url]);
    assert!(refused(&r).contains("already holds"), "{}", r.stderr);
    assert!(!r.stderr.contains(PASSWORD));
    assert_eq!(snapshot(&d.join("b")), before, "the directory changed");
    same_rows(&pg_rows(&pg, "taken").0, &rows_a, "the target");
    // Back to SQLite while a stray store.db is in the way: refused, nothing changes.
    std::fs::write(d.join("a/store.db"), b"stray").unwrap();
    let before_a = snapshot(&d.join("a"));
    let r = mtls_pg(d, &["--dir", "a", "store", "migrate", "--to", "sqlite"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(snapshot(&d.join("a")), before_a);
    // Nonsense targets.
    for bad in ["sqlite", "mysql://x@y/z"] {
        let r = mtls(d, &["--dir", "b", "store", "migrate", "--to", bad]);
        assert_eq!(r.code, 2, "{bad}: {}", r.stderr);
        assert_eq!(snapshot(&d.join("b")), before);
    }
    // A wrong password: one line, nothing written.
    let r = mtls(
        d,
        &[
            "--dir",
            "b",
            "store",
            "migrate",
            "--to",
            &url.replace("mtls@", "mtls:wrong@"),
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!r.stderr.contains("wrong"), "{}", r.stderr);
    assert_eq!(snapshot(&d.join("b")), before);
}

#[test]
fn a_copy_failed_or_killed_part_way_leaves_the_target_empty_and_the_directory_as_it_was() {
    let (t, pg, url) = ca_and_database("ca", "half");
    let d = t.path();
    // The directory's files byte for byte, but SQLite's own (opening and closing a store may
    // checkpoint its WAL), whose records are compared instead.
    let files = || {
        snapshot(&d.join("ca"))
            .into_iter()
            .filter(|(p, _)| !p.to_string_lossy().contains("store.db"))
            .collect::<Vec<_>>()
    };
    let before = (files(), sqlite_rows(&d.join("ca/store.db")));
    let args = ["--dir", "ca", "store", "migrate", "--to", &url];
    for action in ["error", "kill"] {
        // At the fifth row: four are in the target's open transaction.
        let fp = format!("migrate.row@5:{action}");
        let r = mtls_env(
            d,
            &args,
            &[
                ("MTLS_CA_STORE_PASSWORD", PASSWORD),
                ("MTLS_CA_FAILPOINT", &fp),
            ],
        );
        assert_ne!(r.code, 0, "{fp}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{fp}: {}", r.stderr);
        let after = (files(), sqlite_rows(&d.join("ca/store.db")));
        assert!(after == before, "{fp}: the directory changed");
        assert!(!d.join("ca/store.url").exists(), "{fp}");
        assert_eq!(
            pg_count(&pg, "half"),
            Some(0),
            "{fp}: rows were left in the target"
        );
    }
    // Nothing is in the way of the next attempt.
    let m = mtls_pg(
        d,
        &["--dir", "ca", "--json", "store", "migrate", "--to", &url],
    )
    .ok()
    .json();
    assert_eq!(m["records"], pg_rows(&pg, "half").0.len());
}

#[test]
fn a_source_changed_during_the_move_fails_the_comparison_and_the_directory_stays() {
    use std::time::{Duration, Instant};
    let (t, pg, url) = ca_and_database("ca", "moving");
    let d = t.path();
    // The migration pauses after its copy has committed, before both stores are summed.
    let mover = {
        let (d, url) = (d.to_path_buf(), url.clone());
        std::thread::spawn(move || {
            mtls_env(
                &d,
                &["--dir", "ca", "store", "migrate", "--to", &url],
                &[
                    ("MTLS_CA_STORE_PASSWORD", PASSWORD),
                    ("MTLS_CA_FAILPOINT", "migrate.verify:sleep-8000"),
                ],
            )
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while pg_count(&pg, "moving").unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "the copy never committed");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Meanwhile one record of the source changes (as another writer's would).
    let c = rusqlite::Connection::open(d.join("ca/store.db")).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    let changed = c
        .execute(
            "UPDATE certificates SET subject = 'CN=changed meanwhile'
             WHERE rowid = (SELECT MAX(rowid) FROM certificates WHERE subject IS NOT NULL)",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(c);
    let r = mover.join().unwrap();
    assert!(refused(&r).contains("differs"), "{}", r.stderr);
    // The directory stays on its SQLite store, which has the change.
    assert!(d.join("ca/store.db").exists());
    assert!(!d.join("ca/store.url").exists());
    assert!(!d.join("ca/store.db.migrated").exists());
    let list = mtls(d, &["--dir", "ca", "list"]).ok().stdout;
    assert!(list.contains("changed meanwhile"), "{list}");
}
