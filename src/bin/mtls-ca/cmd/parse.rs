//! Clap value parsers shared by the commands: a typed value or the library's own error.
//!
//! A value that does not parse is refused by clap before any command runs; `main` turns the
//! library error inside back into the usual `error:`/`hint:` lines (and `--json` document).

use mtls_ca::keys::KeyType;

/// `--days N` (also `90d`, `2y`, …) as a number of days.
pub fn days(s: &str) -> Result<u32, mtls_ca::Error> {
    mtls_ca::duration::parse_days("--days", s)
}

/// `--valid 30m|12h|90d`: a validity as a duration (what `--days` is in whole days).
pub fn valid(s: &str) -> Result<time::Duration, mtls_ca::Error> {
    mtls_ca::duration::parse("--valid", s)
}

/// `--key-type T`: ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096.
pub fn key_type(s: &str) -> Result<KeyType, mtls_ca::Error> {
    s.parse()
}
