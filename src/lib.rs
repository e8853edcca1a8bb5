//! # mtls-ca
//!
//! A certificate-authority toolkit for mutual TLS. This library holds everything the `mtls-ca`
//! binary does: it never prints, never reads the clock or the environment on its own (times and
//! paths are parameters), and reports failures as one typed [`Error`] with a hint.
//!
//! Map of the modules:
//! - [`ca`]: a CA directory: `init`, `open`, `issue`.
//! - [`profile`]: every extension of every certificate (root, intermediate, server, client).
//! - [`keys`]: key types, generation (ring; RSA with the `rsa` crate), loading openssl formats.
//! - [`names`]: SAN parsing and validation.
//! - [`serial`]: random 159-bit serial numbers.
//! - [`store`]: the SQLite store that tracks every serial.
//! - [`files`]: safe, all-or-nothing file writing (0600 keys, no overwrite, `.bak` on force).
//! - [`pem`], [`x509`], [`der`]: reading and checking encoded objects.
//! - [`csr`], [`lifecycle`], [`crl`], [`import`], [`rotate`], [`keycrypt`], [`secret`]: the
//!   certificate lifecycle (CSRs, renew/revoke, CRLs, CA adoption and rollover, encrypted keys).
//! - [`export`]: configs and bundles for gateways and clients; [`pkcs12`]: `.p12` files.
//! - [`inspect`]: any PEM/DER/PKCS#12 input described, with warnings; [`fetch`]: a live server's chain.
//! - [`verify`]: path validation with rustls' own verifiers, as a report with fixes.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod batch;
pub mod ca;
pub mod crl;
pub mod csr;
pub mod der;
pub mod duration;
pub mod error;
pub mod explain;
pub mod export;
pub mod fetch;
pub mod files;
pub mod import;
pub mod inspect;
pub mod keycrypt;
pub mod keys;
pub mod lifecycle;
pub mod names;
pub mod pem;
pub mod pkcs12;
pub mod probe;
pub mod profile;
pub mod rotate;
pub mod secret;
pub mod serial;
pub mod serve;
pub mod store;
pub mod verify;
pub mod x509;

pub use error::{Error, Result};
