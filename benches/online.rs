//! Renewals per second of `mtls-ca ca serve` (a benchmark, not a test: nothing is asserted).
//!
//! Starts the real binary (`ca serve`, release build) on a fresh CA, bootstraps N clients with
//! tokens, then has N concurrent clients renew in a loop for a fixed time. One renewal is what
//! an agent does: a new TCP connection, a full TLS 1.3 handshake with the current certificate as
//! client certificate, `POST /v1/renew` with a CSR for a new key, the server's store commit and
//! signature, and the answer. Keys and CSRs are made before the clock starts (they are the
//! client's cost, not the server's). Prints renewals/s, p50/p99 latency per concurrency, and
//! the server's peak RSS (VmHWM).
//!
//!   cargo bench --bench online                 # 1, 16 and 64 clients, 10 s each
//!   SECS=30 CLIENTS=64 cargo bench --bench online

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mtls_ca::online::{agent, api, client};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mtls-ca"))
}

fn run(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(bin())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run mtls-ca");
    assert!(
        out.status.success(),
        "mtls-ca {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Client {
    chain: Vec<Vec<u8>>,
    key: Vec<u8>,
    /// Pre-made (key PKCS#8 DER, CSR PEM) pairs, one per renewal.
    next: Vec<(Vec<u8>, String)>,
}

fn make_csrs(n: usize) -> Vec<(Vec<u8>, String)> {
    (0..n)
        .map(|_| {
            let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
            let mut p = rcgen::CertificateParams::default();
            p.distinguished_name
                .push(rcgen::DnType::CommonName, "bench");
            let csr = p.serialize_request(&key).unwrap();
            (key.serialize_der(), csr.pem().unwrap())
        })
        .collect()
}

fn pem_certs(s: &str) -> Vec<Vec<u8>> {
    pem::parse_many(s)
        .unwrap()
        .into_iter()
        .map(|p| p.into_contents())
        .collect()
}

fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let secs: u64 = std::env::var("SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let levels: Vec<usize> = std::env::var("CLIENTS")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 16, 64]);
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    run(d, &["--dir", "pki", "init"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    // The server's `--threads` (default: its own, the machine's cores) and the load generator's
    // runtime threads (default 2).
    let server_threads = std::env::var("SERVER_THREADS").ok();
    let client_threads: usize = std::env::var("CLIENT_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let mut serve_args = vec![
        "--dir", "pki", "ca", "serve", "--listen", &listen, "--rate", "100000",
    ];
    if let Some(t) = &server_threads {
        serve_args.extend(["--threads", t]);
    }
    let mut server = Command::new(bin())
        .args(&serve_args)
        .current_dir(d)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "ca serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("https://127.0.0.1:{port}");
    let roots = pem_certs(&std::fs::read_to_string(d.join("pki/ca.crt")).unwrap());
    let target = client::Target::parse(&url).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(client_threads)
        .enable_all()
        .build()
        .unwrap();
    println!("| clients | renewals | renewals/s | p50 | p90 | p99 | p99.9 | max | failed |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let max_clients = *levels.iter().max().unwrap_or(&1);
    // Bootstrap every client once (tokens through the CLI, certificates through the agent).
    let mut clients: Vec<Client> = (0..max_clients)
        .map(|i| {
            let cn = format!("bench-{i}");
            let v: serde_json::Value = serde_json::from_str(&run(
                d,
                &[
                    "--dir",
                    "pki",
                    "--json",
                    "token",
                    "create",
                    "--cn",
                    &cn,
                    "--profile",
                    "client",
                ],
            ))
            .unwrap();
            let stem = d.join(format!("c/{cn}"));
            agent::run_once(
                &agent::AgentOptions {
                    server: url.clone(),
                    out: stem.clone(),
                    ca_file: d.join("pki/ca.crt"),
                    token: v["token"].as_str().map(str::to_string),
                    cn: Some(cn.clone()),
                    sans: Vec::new(),
                    key_type: mtls_ca::keys::KeyType::EcdsaP256,
                    fraction: 0.66,
                    force: false,
                },
                time::OffsetDateTime::now_utc(),
            )
            .unwrap_or_else(|e| panic!("bootstrap {cn}: {e}"));
            let chain = pem_certs(
                &std::fs::read_to_string(mtls_ca::ca::with_ext(&stem, "fullchain.crt")).unwrap(),
            );
            let key =
                pem_certs(&std::fs::read_to_string(mtls_ca::ca::with_ext(&stem, "key")).unwrap())
                    .remove(0);
            Client {
                chain,
                key,
                next: Vec::new(),
            }
        })
        .collect();
    for &n in &levels {
        // Enough CSRs for the run (up to 1,500 renewals/s): made before the clock starts, so
        // that every level runs for the whole SECS.
        let per_client = 1500 * secs as usize / n + 16;
        for c in clients.iter_mut().take(n) {
            c.next = make_csrs(per_client);
        }
        let stop = Instant::now() + Duration::from_secs(secs);
        let started = Instant::now();
        let tasks: Vec<_> = clients
            .drain(..n)
            .map(|mut c| {
                let roots = roots.clone();
                let target = target.clone();
                rt.spawn(async move {
                    let mut lat = Vec::new();
                    // Requests without an HTTP answer (connection refused or reset): counted,
                    // retried with the same certificate (the CSR is spent).
                    let mut failed = 0u64;
                    while Instant::now() < stop {
                        let Some((key, csr)) = c.next.pop() else {
                            break;
                        };
                        let cfg = Arc::new(
                            client::config(&roots, Some((c.chain.clone(), c.key.clone()))).unwrap(),
                        );
                        let body = serde_json::to_vec(&api::RenewRequest { csr }).unwrap();
                        let t0 = Instant::now();
                        let a = client::request(cfg, &target, "POST", "/v1/renew", body).await;
                        let dt = t0.elapsed();
                        let Ok(a) = a else {
                            failed += 1;
                            continue;
                        };
                        if a.status != 200 {
                            panic!("renew: {} {}", a.status, String::from_utf8_lossy(&a.body));
                        }
                        let cert: api::Certificate = serde_json::from_slice(&a.body).unwrap();
                        c.chain = pem_certs(&cert.fullchain);
                        c.key = key;
                        lat.push(dt);
                    }
                    (c, lat, failed)
                })
            })
            .collect();
        let mut all = Vec::new();
        let mut failed = 0u64;
        for t in tasks {
            let (c, lat, f) = rt.block_on(t).unwrap();
            failed += f;
            clients.push(c);
            all.extend(lat);
        }
        let elapsed = started.elapsed().as_secs_f64();
        all.sort();
        let pct = |p: f64| {
            all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
                .map(|d| d.as_secs_f64() * 1000.0)
                .unwrap_or(0.0)
        };
        println!(
            "| {n} | {} | {:.0} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {failed} |",
            all.len(),
            all.len() as f64 / elapsed,
            pct(0.5),
            pct(0.9),
            pct(0.99),
            pct(0.999),
            all.last().map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
        );
    }
    println!(
        "\nserver peak RSS (VmHWM): {:.1} MB",
        peak_rss_kb(server.id()) as f64 / 1024.0
    );
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
}
