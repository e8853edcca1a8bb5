//! The online CA on a shared PostgreSQL store (tests/pg_support: a real throwaway cluster): the
//! tokens table arrives by migration, and two `ca serve` hosts of one store sharing a token
//! race: exactly one issues.
use crate::common;
use crate::pg_support;

use std::process::{Command, Stdio};

use common::*;
use pg_support::{mtls_pg, Cluster, PASSWORD};

#[test]
fn two_servers_on_one_postgresql_store_honour_one_token_once() {
    let pg = Cluster::start();
    pg.create_db("online");
    let t = tempdir();
    let d = t.path();
    mtls_pg(d, &["--dir", "h0", "init", "--store", &pg.url("online")]).ok();
    mtls_pg(d, &["--dir", "h1", "init", "--join", "h0"]).ok();
    std::fs::copy(d.join("h0/ca.key"), d.join("h1/ca.key")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.join("h1/ca.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    // The tokens table came with the schema's migrations.
    let mut c = pg.client("online");
    let v: i32 = c
        .query_one("SELECT MAX(version) FROM mtls_ca_schema", &[])
        .unwrap()
        .get(0);
    assert!(v >= 2, "migration {v}");
    // The servers inherit the store password from this process's environment.
    std::env::set_var("MTLS_CA_STORE_PASSWORD", PASSWORD);
    let ports = [free_port(), free_port()];
    let _servers: Vec<Server> = ["h0", "h1"]
        .iter()
        .zip(ports)
        .map(|(h, p)| {
            let listen = format!("127.0.0.1:{p}");
            Server::start(
                d,
                bin().to_str().unwrap(),
                &[
                    "--dir",
                    h,
                    "ca",
                    "serve",
                    "--listen",
                    &listen,
                    "--server",
                    &format!("{h}-server"),
                ],
                p,
            )
        })
        .collect();
    for round in 0..3 {
        let tok = mtls_pg(
            d,
            &[
                "--dir",
                "h1",
                "--json",
                "token",
                "create",
                "--cn",
                "pg.example.com",
                "--profile",
                "client",
            ],
        )
        .ok()
        .json()["token"]
            .as_str()
            .unwrap()
            .to_string();
        let children: Vec<_> = ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Command::new(bin())
                    .args([
                        "agent",
                        "--server",
                        &format!("https://127.0.0.1:{p}"),
                        "--ca",
                        "h0/ca.crt",
                        "--out",
                        &format!("r{round}/c{i}"),
                        "--token",
                        &tok,
                        "--cn",
                        "pg.example.com",
                        "--once",
                    ])
                    .current_dir(d)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<_> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let wins = outs.iter().filter(|o| o.status.code() == Some(0)).count();
        assert_eq!(wins, 1, "{outs:?}");
        let loser = outs.iter().find(|o| o.status.code() != Some(0)).unwrap();
        assert!(
            String::from_utf8_lossy(&loser.stderr).contains("token_used"),
            "{outs:?}"
        );
    }
    let used: i64 = c
        .query_one("SELECT COUNT(*) FROM tokens WHERE used_at IS NOT NULL", &[])
        .unwrap()
        .get(0);
    assert_eq!(used, 3);
    let leaves: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM certificates WHERE profile = 'client' AND state = 'issued'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(leaves, 3, "one certificate per token");
    // Nothing of a token is in the database but its hash.
    let list = mtls_pg(d, &["--dir", "h0", "token", "list"]).ok();
    assert_eq!(list.stdout.lines().count(), 3, "{}", list.stdout);
}
