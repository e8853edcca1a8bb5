//! A throwaway SoftHSM2 token for tests: its own SOFTHSM2_CONF and token directory in a temp
//! dir, initialised with `softhsm2-util --init-token`, a PIN file, and `mtls-ca` runs that reach
//! it. A missing SoftHSM2 fails the test (scripts/test installs it).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::common::Run;

/// The user PIN of every test token.
pub const PIN: &str = "246813";
const SO_PIN: &str = "97531357";

/// The SoftHSM2 PKCS#11 module of this machine.
pub fn module() -> PathBuf {
    for p in [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
    ] {
        if Path::new(p).is_file() {
            return PathBuf::from(p);
        }
    }
    panic!("libsofthsm2.so not found: run scripts/test, which installs softhsm2");
}

/// One initialised token in its own SoftHSM2 configuration.
pub struct Token {
    _dir: tempfile::TempDir,
    /// SOFTHSM2_CONF for every process that uses the token.
    pub conf: PathBuf,
    /// A file (0600) holding the user PIN.
    pub pin_file: PathBuf,
    /// The token label.
    pub label: String,
}

impl Token {
    /// Creates and initialises a token labelled `label`.
    pub fn new(label: &str) -> Token {
        let dir = tempfile::Builder::new()
            .prefix("mtls-ca-softhsm-")
            .tempdir()
            .unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        let out = Command::new("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                label,
                "--pin",
                PIN,
                "--so-pin",
                SO_PIN,
            ])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run softhsm2-util ({e}): run scripts/test, which installs softhsm2")
            });
        assert!(
            out.status.success(),
            "softhsm2-util --init-token: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pin_file = dir.path().join("pin");
        std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        Token {
            _dir: dir,
            conf,
            pin_file,
            label: label.into(),
        }
    }

    /// The URI of `object` with the module and the PIN file in it.
    pub fn uri(&self, object: &str) -> String {
        format!(
            "pkcs11:token={};object={}?module-path={}&pin-source=file:{}",
            self.label,
            object,
            module().display(),
            self.pin_file.display()
        )
    }

    /// The URI of `object` with nothing but the token and the label (module and PIN from the
    /// environment).
    pub fn bare_uri(&self, object: &str) -> String {
        format!("pkcs11:token={};object={}", self.label, object)
    }

    /// `mtls-ca ARGS` in `cwd` reaching this token, with `env` on top.
    pub fn mtls(&self, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = Command::new(super::common::bin());
        c.args(args)
            .current_dir(cwd)
            .env_remove("MTLS_CA_DIR")
            .env_remove("MTLS_CA_STORE")
            .env_remove("MTLS_CA_PKCS11_MODULE")
            .env_remove("MTLS_CA_PKCS11_PIN")
            .env("SOFTHSM2_CONF", &self.conf)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().expect("run mtls-ca");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// A logged-in session on the token, straight through cryptoki (not through mtls-ca), to
    /// check what the token holds. SOFTHSM2_CONF is set for this process.
    pub fn session(&self) -> (cryptoki::context::Pkcs11, cryptoki::session::Session) {
        use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
        // SoftHSM2 reads its configuration when the module is initialised; every test of one
        // binary that calls this uses the same configuration (one token per test binary).
        std::env::set_var("SOFTHSM2_CONF", &self.conf);
        let ctx = Pkcs11::new(module()).unwrap();
        let _ = ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
        let slot = ctx
            .get_slots_with_token()
            .unwrap()
            .into_iter()
            .find(|s| ctx.get_token_info(*s).unwrap().label() == self.label)
            .expect("the token");
        let session = ctx.open_rw_session(slot).unwrap();
        session
            .login(
                cryptoki::session::UserType::User,
                Some(&cryptoki::types::AuthPin::new(PIN.into())),
            )
            .unwrap();
        (ctx, session)
    }
}

/// One `error:` line (plus its `hint:`), nothing else on stderr.
#[track_caller]
pub fn one_line_error(r: &Run) -> String {
    assert_eq!(r.code, 2, "expected exit 2:\n{}{}", r.stdout, r.stderr);
    let errors: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", r.stderr);
    assert!(
        r.stderr
            .lines()
            .all(|l| l.starts_with("error:") || l.starts_with("hint:")),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    errors[0].to_string()
}
