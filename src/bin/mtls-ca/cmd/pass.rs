//! Getting the CA key passphrase: --passphrase-file, --passphrase-env, or a prompt on a terminal.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::Args;
use mtls_ca::secret::Passphrase;
use zeroize::Zeroizing;

/// Where the CA key's passphrase comes from (default: a prompt when stdin is a terminal).
#[derive(Debug, Args, Clone, Default)]
pub struct PassArgs {
    /// Read the CA key passphrase from the first line of FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "passphrase_env")]
    pub passphrase_file: Option<PathBuf>,
    /// Read the CA key passphrase from environment variable VAR.
    #[arg(long, value_name = "VAR")]
    pub passphrase_env: Option<String>,
}

/// A passphrase source for `Ca::open_with`: called only when `key` turns out to be encrypted.
pub fn source(p: &PassArgs, key: PathBuf) -> impl FnMut() -> mtls_ca::Result<Passphrase> + '_ {
    move || get(p, false, Some(&key))
}

/// The CA key of `dir`.
pub fn ca_key(dir: &Path) -> PathBuf {
    dir.join(mtls_ca::ca::CA_KEY)
}

/// Options of every command that signs a leaf with the CA key (issue, sign, renew): the
/// long-validity permit and where the key's passphrase comes from.
#[derive(Debug, Args, Clone, Default)]
pub struct SigningArgs {
    /// Permit server certificates valid for more than 825 days.
    #[arg(long)]
    pub allow_long_validity: bool,
    #[command(flatten)]
    pub pass: PassArgs,
}

/// A question asked on the terminal when no file or variable was given.
pub struct Prompt {
    /// What is asked for, e.g. `CA key passphrase: `.
    pub label: &'static str,
    /// Ask twice (for a new key or file).
    pub confirm: bool,
}

/// The one passphrase reader of the binary: the first line of `file` (CR/LF trimmed), the
/// environment variable `env`, or `prompt` on a terminal; `None` when none of them applies.
/// Never from the command line.
pub fn read(
    file: Option<&Path>,
    env: Option<&str>,
    prompt: Option<Prompt>,
) -> mtls_ca::Result<Option<Passphrase>> {
    if let Some(f) = file {
        return Passphrase::from_file(f).map(Some);
    }
    if let Some(var) = env {
        let v = std::env::var_os(var).ok_or_else(|| mtls_ca::Error::InvalidValue {
            what: "--passphrase-env",
            value: var.to_string(),
            reason: "the variable is not set".into(),
            hint: format!("export {var}=... first, or use --passphrase-file"),
        })?;
        let bytes = Zeroizing::new(v.into_encoded_bytes());
        return Passphrase::new(bytes, &format!("${var}")).map(Some);
    }
    let Some(prompt) = prompt else {
        return Ok(None);
    };
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Ok(None);
    }
    let first = Zeroizing::new(rpassword::prompt_password(prompt.label).map_err(io_err)?);
    if prompt.confirm {
        let again = Zeroizing::new(rpassword::prompt_password("again: ").map_err(io_err)?);
        if *first != *again {
            return Err(mtls_ca::Error::InvalidValue {
                what: "passphrase",
                value: String::new(),
                reason: "the two passphrases differ".into(),
                hint: "run the command again and type the same passphrase twice".into(),
            });
        }
    }
    Passphrase::new(Zeroizing::new(first.as_bytes().to_vec()), "the terminal").map(Some)
}

/// A passphrase as text (PKCS#12 passwords are strings); `source` names it in the error.
pub fn text(p: &Passphrase, source: &str) -> mtls_ca::Result<Zeroizing<String>> {
    std::str::from_utf8(p.as_bytes())
        .map(|s| Zeroizing::new(s.to_string()))
        .map_err(|_| mtls_ca::Error::InvalidValue {
            what: "passphrase",
            value: source.to_string(),
            reason: "not UTF-8 text".into(),
            hint: "use a passphrase of UTF-8 text".into(),
        })
}

/// Reads the CA key passphrase; `confirm` asks twice on a terminal (for a new key). `key` names
/// the encrypted key in the error when no source was given.
pub fn get(p: &PassArgs, confirm: bool, key: Option<&Path>) -> mtls_ca::Result<Passphrase> {
    let prompt = Prompt {
        label: "CA key passphrase: ",
        confirm,
    };
    if let Some(pass) = read(
        p.passphrase_file.as_deref(),
        p.passphrase_env.as_deref(),
        Some(prompt),
    )? {
        return Ok(pass);
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
