//! # mtls-ca
//!
//! A certificate-authority toolkit for mutual TLS. This library holds everything the `mtls-ca`
//! binary does: it never prints, never reads the clock or the environment on its own (times and
//! paths are parameters), and reports failures as one typed [`Error`] with a hint.
//!
//! Map of the modules, grouped by layer (layers point down only: `online` uses `ca`;
//! `diagnose` and `export` use `ca`; `ca` uses `pki`; `files` and `error` serve every layer):
//! - [`pki`]: the building blocks, none of which knows a CA directory:
//!   [`der`], [`pem`], [`x509`] (reading and checking encoded objects), [`names`] (SANs),
//!   [`keys`] (key types, generation, openssl formats), [`keycrypt`] and [`secret`] (encrypted keys,
//!   passphrases), [`serial`] (random 159-bit serials), [`duration`] (validity),
//!   [`profile`] (every extension of every certificate), [`pkcs12`] (`.p12` files),
//!   [`subject`] (RFC 4514 subjects), [`pki::name_constraints`] and [`pki::rfc5280`] (path
//!   validation rules), [`signer`] (the CA key: a key file or a PKCS#11 token, one rcgen
//!   `SigningKey`), [`pki::pkcs11`] (RFC 7512 URIs, token sessions), [`pki::policy`] and
//!   [`pki::leaf_profile`] (name patterns, profiles from `profiles.toml`), [`pki::aia`] (CRL
//!   distribution point and AIA URLs), [`pki::tls`] (the accept-any-chain verifier).
//! - [`ca`]: a CA directory: `init`, `open`, `issue`; [`ca::layout`] (the one owner of its file
//!   names and of "is this a CA directory"), [`store`] (SQLite or PostgreSQL: every serial, every
//!   token; `store::migrate` between them), [`batch`], [`csr`], [`lifecycle`] (renew, revoke),
//!   [`crl`], [`import`] (adopting an openssl CA), [`rotate`] (CA rollover), [`ca::cross_sign`],
//!   [`ca::ceremony`] (offline root), [`ca::join`] (another host of a shared CA),
//!   [`ca::journal`] (crash-safe multi-file changes), [`ca::doctor`], [`ca::overlap`] (the trust
//!   domain of a rotation), [`ca::profiles`], [`ca::audit`] (the audit log).
//! - [`diagnose`]: [`inspect`] (any PEM/DER/PKCS#12 input described, with warnings), [`verify`]
//!   (rustls and OpenSSL-family verdicts, as a report with fixes), [`fetch`] (a live server's
//!   chain), [`probe`] (an mTLS handshake against a server), [`serve`] (a test server),
//!   [`explain`] (handshake errors in logs), [`diagnose::finding`] (the one finding type).
//! - [`export`]: configs and bundles for gateways and clients ([`export::inputs`] is what every
//!   target renderer shares).
//! - [`online`]: the CA over the network: `ca serve` (tokens, mTLS renewal, CRL, OCSP) and the
//!   `agent`; the only module that starts a tokio runtime.
//! - [`failpoint`]: fault injection at write steps, for tests (debug builds only; the one place
//!   the library acts on a setting from the environment, handed over by the binary).
//! - [`files`]: every file write: all-or-nothing sets (0600 keys, no overwrite, `.bak` on force)
//!   and atomic replace-in-place.
//! - [`error`]: the one typed [`Error`], each variant with a hint.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod ca;
pub mod diagnose;
pub mod error;
pub mod export;
pub mod failpoint;
pub mod files;
pub mod online;
pub mod pki;

// The flat paths of the first release (`mtls_ca::store`, `mtls_ca::verify`, …) stay valid: benches,
// fuzz targets and tests use them.
pub use ca::{batch, crl, csr, import, lifecycle, rotate, store};
pub use diagnose::{explain, fetch, inspect, probe, serve, verify};
pub use pki::{
    der, duration, keycrypt, keys, name_constraints, names, pem, pkcs11, pkcs12, profile, rfc5280,
    secret, serial, signer, subject, x509,
};

pub use error::{Error, Result};
