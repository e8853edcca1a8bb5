//! A throwaway PostgreSQL cluster for the tests: `initdb` + `pg_ctl` in a temp directory, a
//! free port on 127.0.0.1, password authentication (SCRAM), stopped and removed on drop. Under
//! root the server runs as the `postgres` user (PostgreSQL refuses root). A missing PostgreSQL
//! is a test failure: scripts/test installs the Debian `postgresql` package.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const USER: &str = "mtls";
pub const PASSWORD: &str = "pg-test-S3cret";

/// Runs `mtls-ca ARGS` in `cwd` with the test cluster's password (`MTLS_CA_STORE_PASSWORD`)
/// and no other store variable inherited.
pub fn mtls_pg(cwd: &Path, args: &[&str]) -> crate::common::Run {
    crate::common::mtls_env(cwd, args, &[("MTLS_CA_STORE_PASSWORD", PASSWORD)])
}

pub struct Cluster {
    _tmp: tempfile::TempDir,
    pub data: PathBuf,
    pub port: u16,
    bin: PathBuf,
    log: PathBuf,
}

fn pg_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed (/usr/lib/postgresql): run scripts/test, which installs it")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").exists())
        .collect();
    found.sort();
    found
        .pop()
        .expect("no initdb under /usr/lib/postgresql/*/bin: run scripts/test")
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self is owned by the effective user.
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
            .arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn chown_to_server(p: &Path) {
    if is_root() {
        let out = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(p)
            .output()
            .expect("chown");
        assert!(out.status.success(), "chown {}", p.display());
    }
}

impl Cluster {
    pub fn start() -> Cluster {
        let bin = pg_bin();
        let tmp = tempfile::Builder::new()
            .prefix("mtls-ca-pg-")
            .tempdir()
            .expect("tempdir");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let data = tmp.path().join("data");
        let pwfile = tmp.path().join("pw");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        let sock = tmp.path().join("sock");
        std::fs::create_dir(&sock).unwrap();
        chown_to_server(tmp.path());
        let out = as_server_user(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", USER, "--auth=scram-sha-256", "--no-sync"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .stdin(Stdio::null())
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = crate::common::free_port();
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\nfsync = off\nmax_connections = 200\n",
            sock.display()
        );
        let mut pgconf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        pgconf.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), pgconf).unwrap();
        let c = Cluster {
            log: tmp.path().join("log"),
            _tmp: tmp,
            data,
            port,
            bin,
        };
        c.ctl(&["start", "-w", "-t", "60"]);
        c
    }

    fn ctl(&self, args: &[&str]) {
        let out = as_server_user(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run pg_ctl");
        assert!(
            out.status.success(),
            "pg_ctl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// Turns TLS on with this certificate and key and refuses every connection without it
    /// (`hostssl` only), then restarts.
    pub fn require_tls(&self, cert: &Path, key: &Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::copy(cert, self.data.join("server.crt")).unwrap();
        std::fs::copy(key, self.data.join("server.key")).unwrap();
        std::fs::set_permissions(
            self.data.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let mut conf = std::fs::read_to_string(self.data.join("postgresql.conf")).unwrap();
        conf.push_str("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        std::fs::write(self.data.join("postgresql.conf"), conf).unwrap();
        let hba = std::fs::read_to_string(self.data.join("pg_hba.conf")).unwrap();
        let hba: String = hba
            .lines()
            .map(|l| {
                if l.starts_with("host ") {
                    l.replacen("host ", "hostssl ", 1)
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(self.data.join("pg_hba.conf"), hba + "\n").unwrap();
        chown_to_server(&self.data);
        self.restart();
    }

    /// Restarts the server (fast shutdown: open connections are cut).
    pub fn restart(&self) {
        self.ctl(&["restart", "-m", "fast", "-w", "-t", "60"]);
    }

    /// A URL without password for database `db`.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://{USER}@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    /// Creates database `name`.
    pub fn create_db(&self, name: &str) {
        let mut c = self.client("postgres");
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    }

    /// A client of database `db`.
    pub fn client(&self, db: &str) -> postgres::Client {
        let mut cfg: postgres::Config = self.url(db).parse().unwrap();
        cfg.password(PASSWORD);
        cfg.connect(postgres::NoTls)
            .expect("connect to the test cluster")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_server_user(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["stop", "-m", "immediate", "-w"])
            .stdin(Stdio::null())
            .output();
    }
}
