//! Serial numbers: 159 random bits from the OS CSPRNG, positive, exactly 20 octets.
//!
//! The first octet has its top bit cleared (positive) and is never zero (so the DER encoding is
//! always the full 20 octets, minimally encoded, and the value is always ≥ 2^152). Uniqueness is
//! enforced by the store, which reserves each serial before anything is signed.

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{Error, Result};

/// Octets in every serial.
pub const SERIAL_LEN: usize = 20;

/// A certificate serial number (big-endian, positive).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(Vec<u8>);

impl Serial {
    /// A fresh random serial.
    pub fn random(rng: &SystemRandom) -> Result<Serial> {
        let mut b = [0u8; SERIAL_LEN];
        // A zero first octet comes once in 128 draws; 64 in a row means the generator is broken.
        for _ in 0..64 {
            rng.fill(&mut b)
                .map_err(|_| Error::Crypto("the OS random generator failed".into()))?;
            b[0] &= 0x7f;
            if b[0] != 0 {
                return Ok(Serial(b.to_vec()));
            }
        }
        Err(Error::Crypto(
            "the OS random generator returned 64 unusable serials in a row".into(),
        ))
    }

    /// A serial from its big-endian bytes (leading zero octets dropped).
    pub fn from_bytes(bytes: &[u8]) -> Serial {
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        Serial(bytes[start..].to_vec())
    }

    /// Parses a serial typed by a user: hex with optional `0x` and `:` separators.
    pub fn parse(s: &str) -> Result<Serial> {
        let hex: String = s
            .trim()
            .trim_start_matches("0x")
            .chars()
            .filter(|c| *c != ':')
            .collect();
        let bad = || {
            Error::invalid(
                "serial",
                s,
                "not a hexadecimal serial number",
                "copy the serial from `mtls-ca list` or `mtls-ca inspect`",
            )
        };
        if hex.is_empty() || hex.len() > 2 * 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let padded = if hex.len() % 2 == 1 {
            format!("0{hex}")
        } else {
            hex
        };
        let bytes = (0..padded.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&padded[i..i + 2], 16).map_err(|_| bad()))
            .collect::<Result<Vec<u8>>>()?;
        Ok(Serial::from_bytes(&bytes))
    }

    /// Big-endian bytes, no leading zeros.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Lowercase hex, the form stored and printed.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({})", self.hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_serials_are_positive_full_length() {
        let rng = SystemRandom::new();
        for _ in 0..1000 {
            let s = Serial::random(&rng).unwrap();
            assert_eq!(s.as_bytes().len(), SERIAL_LEN);
            assert!(s.as_bytes()[0] > 0 && s.as_bytes()[0] < 0x80);
        }
    }

    #[test]
    fn parse_round_trips() {
        let s = Serial::parse("0A:bc:01").unwrap();
        assert_eq!(s.hex(), "0abc01");
        assert_eq!(Serial::parse(&s.hex()).unwrap(), s);
        assert!(Serial::parse("xyz").is_err());
    }
}
