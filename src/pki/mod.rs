//! The PKI building blocks: encodings, names, keys, serials, durations and certificate profiles.
//!
//! Nothing here knows a CA directory or its store: these modules take and return values, so the
//! `ca` layer above can combine them. Layers point down only: `ca` uses `pki`, never the reverse.

pub mod aia;
pub mod der;
pub mod duration;
pub mod keycrypt;
pub mod keys;
pub mod leaf_profile;
pub mod name_constraints;
pub mod names;
pub mod pem;
pub mod pkcs11;
pub mod pkcs12;
pub mod policy;
pub mod profile;
pub mod rfc5280;
pub mod secret;
pub mod serial;
pub mod signer;
pub mod subject;
pub mod tls;
pub mod x509;
