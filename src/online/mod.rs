//! The online CA: `ca serve` (an HTTPS server over the CA of a directory) and `agent` (the
//! client on a service host that keeps its certificate fresh).
//!
//! A layer above [`crate::ca`] and below the binary. The server is tokio + hyper + rustls
//! (ring); its handlers stay thin and issue through [`crate::ca::Ca::issue_leaf`], so the store
//! semantics are the ones every CLI command has: the serial is reserved before signing, a
//! renewal's successor is recorded and its predecessor marked superseded in one transaction,
//! revoked, superseded and expired certificates are refused. Only this module starts a tokio
//! runtime, and only when `serve` or `agent` is called.
//!
//! - [`token`]: bootstrap tokens (made here, stored hashed by the store).
//! - [`server`]: the endpoints, TLS, rate limits, metrics, its own server certificate.
//! - `pool`: the CA opened once per concurrent signer, leased first come, first served.
//! - `commit`: group commit of renewals (one store transaction and one audit write for all
//!   renewals waiting at that moment); it also reserves the copies' serials.
//! - [`ocsp`]: the RFC 6960 responder (RustCrypto `x509-ocsp` types, signed by the CA key).
//! - [`agent`]: bootstrap with a token, renewal over mutual TLS, safe file replacement.
//! - [`api`]: the JSON bodies both sides exchange; [`client`]: the HTTPS client of the agent.

pub mod agent;
pub mod api;
pub mod client;
mod commit;
pub mod ocsp;
mod pool;
pub mod server;
pub mod token;

/// ring's TLS provider as the server and the agent use it: the TLS 1.3 suites ordered
/// AES-128-GCM-SHA256 first. Its SHA-256 runs in the CPU's SHA extensions where SHA-384 (of
/// the default first choice, AES-256-GCM-SHA384) runs in software, and the transcript hash and
/// key schedule of every handshake use it; the record cipher hardly matters for one small
/// request. Every suite stays offered.
pub(crate) fn tls_provider() -> rustls::crypto::CryptoProvider {
    let mut p = rustls::crypto::ring::default_provider();
    p.cipher_suites
        .sort_by_key(|s| *s != rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256);
    p
}
