//! Criterion benchmarks of the library's hot paths: key generation per key type,
//! `Ca::issue`, inspect of a certificate and of a 200-certificate bundle, `verify`, a CRL of
//! 10,000 revoked certificates, and `Ca::issue_batch` of 1,000 certificates.
//!
//! Everything goes through the public library API with a fixed time (time is a parameter).
//! Certificate files and stores live in a temporary directory on the real disk (fsyncs included,
//! as in production), except where a name says `tmpfs`.
//!
//! Every fixture is built lazily, inside the benchmark that needs it, so a filter
//! (`cargo bench --bench hot_paths -- crl`) builds only what it runs. Under `cargo test`
//! (criterion's test mode runs each benchmark once) the costly fixtures are made smaller:
//! 200 revoked certificates instead of 10,000 and batches of 20 instead of 1,000.
//!
//! Run: `cargo bench --bench hot_paths` (a few minutes on 2 cores), `-- --quick` for a rough run.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};
use mtls_ca::batch::{BatchItem, BatchOptions, DEFAULT_CHUNK};
use mtls_ca::ca::{Ca, InitOptions, IssueOptions};
use mtls_ca::keys::{self, KeyType};
use mtls_ca::lifecycle::{self, Reason, Target};
use mtls_ca::profile::{Constraints, Profile};
use mtls_ca::store::Record;
use mtls_ca::verify::{self, Purpose};
use mtls_ca::{crl, inspect};
use tempfile::TempDir;
use time::OffsetDateTime;

/// The time every operation runs at.
const NOW: OffsetDateTime = time::macros::datetime!(2026-06-01 12:00 UTC);

/// True under `cargo test` (criterion's test mode: no `--bench`, or `--bench --test`).
fn test_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--test")
}

/// Revoked certificates in the CRL benchmark.
fn crl_entries() -> usize {
    if test_mode() {
        200
    } else {
        10_000
    }
}

/// Certificates per `issue_batch` call.
fn batch_size() -> usize {
    if test_mode() {
        20
    } else {
        1_000
    }
}

/// Certificates in the inspected bundle.
const BUNDLE: usize = 200;

/// A temporary directory on the real disk.
fn disk_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("mtls-ca-bench-")
        .tempdir()
        .expect("temp dir")
}

/// A temporary directory on tmpfs (fsync is free there) when /dev/shm exists.
fn tmpfs_dir() -> TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(t) = tempfile::Builder::new()
            .prefix("mtls-ca-bench-")
            .tempdir_in(shm)
        {
            return t;
        }
    }
    disk_dir()
}

/// An open ECDSA P-256 root CA in `dir/pki`.
fn new_ca(dir: &Path, cn: &str) -> Ca {
    Ca::init(
        &dir.join("pki"),
        &InitOptions {
            subject: Default::default(),
            cn: Some(cn.into()),
            org: None,
            key_type: KeyType::EcdsaP256,
            days: None,
            pathlen: None,
            constraints: Constraints::default(),
            parent: None,
            force: false,
        },
        NOW,
    )
    .expect("ca init")
    .0
}

fn client_opts(cn: &str, stem: PathBuf) -> IssueOptions {
    IssueOptions {
        subject: Default::default(),
        profile: Profile::Client,
        cn: cn.into(),
        sans: Vec::new(),
        days: None,
        valid: None,
        key_type: KeyType::EcdsaP256,
        stem,
        force: false,
        allow_long_validity: false,
    }
}

fn batch_items(dir: &Path, n: usize) -> Vec<BatchItem> {
    (0..n)
        .map(|i| BatchItem {
            line: i + 1,
            cn: format!("client-{i}"),
            sans: Vec::new(),
            stem: dir.join(format!("c{i}")),
        })
        .collect()
}

fn batch_opts() -> BatchOptions {
    BatchOptions {
        profile: Profile::Client,
        key_type: KeyType::EcdsaP256,
        days: None,
        force: false,
        chunk: DEFAULT_CHUNK,
        threads: 0,
        subject: Default::default(),
        file_profile: None,
    }
}

/// A CA with one client certificate (PEM and DER) and one server certificate (DER).
struct LeafFixture {
    _dir: TempDir,
    ca_der: Vec<u8>,
    client_pem: Vec<u8>,
    client_der: Vec<u8>,
    server_der: Vec<u8>,
}

impl LeafFixture {
    fn new() -> LeafFixture {
        let dir = disk_dir();
        let mut ca = new_ca(dir.path(), "Bench Leaf Root");
        let client = ca
            .issue(&client_opts("alice", dir.path().join("alice")), NOW)
            .expect("issue client");
        let mut server = client_opts("api.example.com", dir.path().join("api"));
        server.profile = Profile::Server;
        let server = ca.issue(&server, NOW).expect("issue server");
        let client_pem = std::fs::read(&client.files.cert).expect("read client.crt");
        LeafFixture {
            ca_der: ca.cert_der().to_vec(),
            client_der: first_der(&client_pem),
            server_der: first_der(&std::fs::read(&server.files.cert).expect("read api.crt")),
            client_pem,
            _dir: dir,
        }
    }
}

fn first_der(pem_bytes: &[u8]) -> Vec<u8> {
    pem::parse(pem_bytes).expect("PEM").into_contents()
}

fn keygen(c: &mut Criterion) {
    let mut g = c.benchmark_group("keygen");
    g.sample_size(50);
    for kt in [KeyType::EcdsaP256, KeyType::EcdsaP384, KeyType::Ed25519] {
        g.bench_function(kt.as_str(), |b| {
            b.iter(|| black_box(keys::generate(kt).expect("keygen")))
        });
    }
    g.finish();
    // RSA prime search: slow and of high variance; ten flat samples of one key each.
    let mut g = c.benchmark_group("keygen");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(8));
    for kt in [KeyType::Rsa2048, KeyType::Rsa3072, KeyType::Rsa4096] {
        g.bench_function(kt.as_str(), |b| {
            b.iter(|| black_box(keys::generate(kt).expect("keygen")))
        });
    }
    g.finish();
}

/// One `Ca::issue` of a client certificate (ECDSA P-256 leaf and CA): key, serial reserved,
/// sign, self-check, record, three files. A fresh output stem per iteration.
fn issue(c: &mut Criterion) {
    let mut g = c.benchmark_group("issue");
    g.sample_size(50).measurement_time(Duration::from_secs(5));
    for (name, on_tmpfs) in [
        ("client_ecdsa_p256", false),
        ("client_ecdsa_p256_tmpfs", true),
    ] {
        let mut fixture: Option<(TempDir, Ca, usize)> = None;
        g.bench_function(name, |b| {
            let (dir, ca, n) = fixture.get_or_insert_with(|| {
                let dir = if on_tmpfs { tmpfs_dir() } else { disk_dir() };
                let ca = new_ca(dir.path(), "Bench Issue Root");
                std::fs::create_dir(dir.path().join("out")).expect("mkdir");
                (dir, ca, 0)
            });
            let out = dir.path().join("out");
            b.iter_batched(
                || {
                    *n += 1;
                    client_opts(&format!("client-{n}"), out.join(format!("c{n}")))
                },
                |opts| black_box(ca.issue(&opts, NOW).expect("issue")),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

/// `inspect_bytes` (parse + describe + warnings) of one certificate and of a bundle of 200.
fn inspect(c: &mut Criterion) {
    let mut g = c.benchmark_group("inspect");
    let mut leaf: Option<LeafFixture> = None;
    g.throughput(Throughput::Elements(1));
    g.bench_function("certificate", |b| {
        let f = leaf.get_or_insert_with(LeafFixture::new);
        b.iter(|| {
            black_box(
                inspect::inspect_bytes(black_box(&f.client_pem), "alice.crt", None, NOW)
                    .expect("inspect"),
            )
        })
    });
    let mut bundle: Option<Vec<u8>> = None;
    g.throughput(Throughput::Elements(BUNDLE as u64));
    g.bench_function("bundle_200", |b| {
        let pem = bundle.get_or_insert_with(|| {
            let dir = tmpfs_dir();
            let mut ca = new_ca(dir.path(), "Bench Bundle Root");
            let out = dir.path().join("out");
            std::fs::create_dir(&out).expect("mkdir");
            let items = batch_items(&out, BUNDLE);
            let done = ca
                .issue_batch(
                    &items,
                    Path::new("bundle.csv"),
                    &batch_opts(),
                    NOW,
                    &mut |_, _| {},
                )
                .expect("issue_batch");
            let mut pem = Vec::new();
            for c in &done.certificates {
                pem.extend(std::fs::read(&c.cert).expect("read cert"));
            }
            pem
        });
        b.iter(|| {
            let i =
                inspect::inspect_bytes(black_box(pem), "bundle.pem", None, NOW).expect("inspect");
            assert_eq!(i.objects.len(), BUNDLE);
            black_box(i)
        })
    });
    g.finish();
}

/// `verify::verify` of a leaf against its root (rustls' verifiers plus the report).
fn verify(c: &mut Criterion) {
    let mut g = c.benchmark_group("verify");
    let mut leaf: Option<LeafFixture> = None;
    for (name, purpose) in [
        ("client_leaf", Purpose::Client),
        ("server_leaf_host", Purpose::Server),
    ] {
        g.bench_function(name, |b| {
            let f = leaf.get_or_insert_with(LeafFixture::new);
            let input = verify::Input {
                leaf: match purpose {
                    Purpose::Client => f.client_der.clone(),
                    Purpose::Server => f.server_der.clone(),
                },
                intermediates: Vec::new(),
                roots: vec![f.ca_der.clone()],
                crls: Vec::new(),
                purpose: Some(purpose),
                host: (purpose == Purpose::Server).then(|| "api.example.com".to_string()),
                key_spki: None,
                at: NOW,
                cert_label: "leaf.crt".into(),
                candidates: Vec::new(),
                candidate_files: Vec::new(),
            };
            b.iter(|| {
                let r = verify::verify(black_box(&input)).expect("verify");
                assert!(r.valid, "{:?}", r.errors);
                black_box(r)
            })
        });
    }
    g.finish();
}

/// A CA directory on disk whose store holds `n` revoked certificates.
struct CrlFixture {
    dir: TempDir,
    ca: Ca,
    n: usize,
}

impl CrlFixture {
    /// Reserves and records `n` certificates in one transaction each (they reuse one real
    /// certificate's DER: a CRL needs only the serials), revokes each through
    /// `lifecycle::revoke` (one transaction each: done on tmpfs, where fsync is free), then
    /// copies the CA directory to the disk.
    fn new(n: usize) -> CrlFixture {
        let shm = tmpfs_dir();
        let mut ca = new_ca(shm.path(), "Bench CRL Root");
        let template = ca
            .issue(&client_opts("template", shm.path().join("template")), NOW)
            .expect("issue");
        let der = first_der(&std::fs::read(&template.files.cert).expect("read"));
        let sha256 = mtls_ca::x509::sha256_hex(&der);
        let ca_serial = ca.serial_hex().expect("ca serial");
        let rng = ring::rand::SystemRandom::new();
        let serials = ca
            .store()
            .reserve_serials(&rng, n, NOW)
            .expect("reserve_serials");
        let recs: Vec<Record> = serials
            .iter()
            .enumerate()
            .map(|(i, s)| Record {
                serial: s.clone(),
                profile: Profile::Client.as_str().into(),
                subject: format!("CN=client-{i}"),
                sans: Vec::new(),
                key_type: KeyType::EcdsaP256.as_str().into(),
                not_before: template.not_before,
                not_after: template.not_after,
                der: der.clone(),
                sha256: sha256.clone(),
                stem: None,
                ca_serial: Some(ca_serial.clone()),
                renews: None,
            })
            .collect();
        ca.store().record_many(&recs, NOW).expect("record_many");
        for (i, s) in serials.iter().enumerate() {
            let reason = Reason::ALL[i % Reason::ALL.len()];
            lifecycle::revoke(ca.store(), &Target::Serial(s.hex()), reason, NOW).expect("revoke");
        }
        drop(ca); // closes (checkpoints) the store
        let dir = disk_dir();
        copy_dir(&shm.path().join("pki"), &dir.path().join("pki"));
        let ca = Ca::open(&dir.path().join("pki")).expect("open");
        CrlFixture { dir, ca, n }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        if e.file_type().expect("type").is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
    }
}

/// `crl::generate` (CRL number committed, revoked list read from the store, signed, parsed
/// back, written atomically) with 10,000 entries, and the store read alone.
fn crl(c: &mut Criterion) {
    let mut g = c.benchmark_group("crl");
    let n = crl_entries();
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(n as u64));
    let mut fixture: Option<CrlFixture> = None;
    g.bench_function(format!("generate_{n}"), |b| {
        let f = fixture.get_or_insert_with(|| CrlFixture::new(n));
        let out = f.dir.path().join("pki").join("crl.pem");
        b.iter(|| {
            let made = crl::generate(&mut f.ca, None, &out, NOW).expect("crl");
            assert_eq!(made[0].revoked, f.n);
            black_box(made)
        })
    });
    g.bench_function(format!("revoked_by_{n}"), |b| {
        let f = fixture.get_or_insert_with(|| CrlFixture::new(n));
        let ca_serial = f.ca.serial_hex().expect("ca serial");
        b.iter(|| {
            let r = lifecycle::revoked_by(f.ca.store(), &ca_serial).expect("revoked_by");
            assert_eq!(r.len(), f.n);
            black_box(r)
        })
    });
    g.finish();
}

/// `Ca::issue_batch` of 1,000 client certificates into a fresh directory per iteration.
fn batch(c: &mut Criterion) {
    let mut g = c.benchmark_group("batch");
    let n = batch_size();
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(15))
        .throughput(Throughput::Elements(n as u64));
    let mut fixture: Option<(TempDir, Ca, usize)> = None;
    g.bench_function(format!("issue_{n}_clients"), |b| {
        let (dir, ca, k) = fixture.get_or_insert_with(|| {
            let dir = disk_dir();
            let ca = new_ca(dir.path(), "Bench Batch Root");
            (dir, ca, 0)
        });
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                *k += 1;
                let out = dir.path().join(format!("run{k}"));
                std::fs::create_dir(&out).expect("mkdir");
                let items = batch_items(&out, n);
                let start = Instant::now();
                let s = ca
                    .issue_batch(
                        &items,
                        Path::new("batch.csv"),
                        &batch_opts(),
                        NOW,
                        &mut |_, _| {},
                    )
                    .expect("issue_batch");
                total += start.elapsed();
                assert_eq!(s.issued, n);
                // The files stay until the end (about 12 MB a run): deleting them between runs
                // made ext4's inode allocator skip the recently freed inodes, a cost of the
                // benchmark rather than of issuance. The store keeps growing, as it does in use.
            }
            total
        })
    });
    g.finish();
}

criterion_group! {
    name = hot_paths;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = keygen, issue, inspect, verify, crl, batch
}
criterion_main!(hot_paths);
