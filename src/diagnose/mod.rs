//! Diagnosis: describe what a certificate, chain, server or log line says, and why a handshake fails.
//!
//! [`inspect`] describes any input, [`verify`] validates a chain as a gateway would, [`fetch`] and
//! [`probe`] talk to a live server, [`serve`] is a test server that reports what clients send, and
//! [`explain`] reads handshake errors from gateway and client logs. These modules read CA
//! directories but never change them.

pub mod explain;
pub mod fetch;
pub mod finding;
pub mod inspect;
pub mod probe;
pub mod serve;
pub mod verify;
