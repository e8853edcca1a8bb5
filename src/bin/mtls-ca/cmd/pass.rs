//! Getting the CA key passphrase: --passphrase-file, --passphrase-env, or a prompt on a terminal.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use mtls_ca::secret::Passphrase;
use zeroize::Zeroizing;

use crate::cli::PassArgs;

/// A passphrase source for `Ca::open_with`: called only when `key` turns out to be encrypted.
pub fn source(p: &PassArgs, key: PathBuf) -> impl FnMut() -> mtls_ca::Result<Passphrase> + '_ {
    move || get(p, false, Some(&key))
}

/// The CA key of `dir`.
pub fn ca_key(dir: &Path) -> PathBuf {
    dir.join(mtls_ca::ca::CA_KEY)
}

/// Reads the passphrase; `confirm` asks twice on a terminal (for a new key). `key` names the
/// encrypted key in the error when no source was given.
pub fn get(p: &PassArgs, confirm: bool, key: Option<&Path>) -> mtls_ca::Result<Passphrase> {
    if let Some(f) = &p.passphrase_file {
        return Passphrase::from_file(f);
    }
    if let Some(var) = &p.passphrase_env {
        let v = std::env::var_os(var).ok_or_else(|| mtls_ca::Error::InvalidValue {
            what: "--passphrase-env",
            value: var.clone(),
            reason: "the variable is not set".into(),
            hint: format!("export {var}=... first, or use --passphrase-file"),
        })?;
        let bytes = Zeroizing::new(v.into_encoded_bytes());
        return Passphrase::new(bytes, &format!("${var}"));
    }
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        let first =
            Zeroizing::new(rpassword::prompt_password("CA key passphrase: ").map_err(io_err)?);
        if confirm {
            let again = Zeroizing::new(rpassword::prompt_password("again: ").map_err(io_err)?);
            if *first != *again {
                return Err(mtls_ca::Error::InvalidValue {
                    what: "passphrase",
                    value: String::new(),
                    reason: "the two passphrases differ".into(),
                    hint: "run the command again".into(),
                });
            }
        }
        return Passphrase::new(Zeroizing::new(first.as_bytes().to_vec()), "the terminal");
    }
    let hint =
        "pass --passphrase-file FILE or --passphrase-env VAR, or run on a terminal to be prompted";
    Err(match key {
        Some(k) => mtls_ca::Error::BadFile {
            path: k.to_path_buf(),
            reason: "the private key is encrypted and no passphrase was given".into(),
            hint: hint.into(),
        },
        None => mtls_ca::Error::InvalidValue {
            what: "--encrypt-key",
            value: String::new(),
            reason: "no passphrase was given for the new key".into(),
            hint: hint.into(),
        },
    })
}

fn io_err(e: std::io::Error) -> mtls_ca::Error {
    mtls_ca::Error::Io {
        path: "/dev/tty".into(),
        source: e,
    }
}
