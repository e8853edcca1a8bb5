//! Passphrases for encrypted CA keys: one type that holds the bytes, wipes them when dropped and
//! never prints them. Where a passphrase comes from (file, environment, terminal) is the CLI's
//! business; the library only reads a passphrase file when given its path.

use std::fmt;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Longest passphrase accepted (bytes).
pub const MAX_PASSPHRASE: usize = 1024;

/// A passphrase, zeroized on drop, redacted in `Debug`.
#[derive(Clone)]
pub struct Passphrase(Zeroizing<Vec<u8>>);

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

impl Passphrase {
    /// A passphrase from raw bytes: one trailing newline (LF or CRLF) is dropped; empty or
    /// over-long passphrases are refused. `source` names where it came from, for errors.
    pub fn new(bytes: Zeroizing<Vec<u8>>, source: &str) -> Result<Passphrase> {
        let mut b = bytes;
        if b.last() == Some(&b'\n') {
            b.pop();
            if b.last() == Some(&b'\r') {
                b.pop();
            }
        }
        if b.is_empty() {
            return Err(Error::invalid(
                "passphrase",
                source.to_string(),
                "the passphrase is empty",
                "put a non-empty passphrase in it",
            ));
        }
        if b.len() > MAX_PASSPHRASE {
            return Err(Error::invalid(
                "passphrase",
                source.to_string(),
                "longer than 1024 bytes",
                "use a shorter passphrase",
            ));
        }
        Ok(Passphrase(b))
    }

    /// Reads a passphrase file: its first line.
    pub fn from_file(path: &Path) -> Result<Passphrase> {
        let bytes = Zeroizing::new(crate::files::read_limited(path, 64 * 1024)?);
        let end = bytes
            .iter()
            .position(|b| *b == b'\n')
            .map(|i| i + 1)
            .unwrap_or(bytes.len());
        Passphrase::new(
            Zeroizing::new(bytes[..end].to_vec()),
            &path.display().to_string(),
        )
        .map_err(|e| match e {
            Error::InvalidValue { reason, hint, .. } => Error::bad_file(path, reason, hint),
            other => other,
        })
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}
