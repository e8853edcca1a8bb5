//! The HTTPS listener's TLS configuration: client certificates requested and verified
//! against the CA's roots ([`ClientVerifier`]), tuned for one request per connection.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};

use crate::ca::Ca;
use crate::error::{Error, Result};

use super::server_cert::Resolver;

/// Client certificates are requested, not required (a bootstrapping host has none), and
/// verified against this CA's roots for client *or* server use: a service renews its server
/// certificate with that same certificate. An expired one passes the handshake so that
/// `/v1/renew` can refuse it with a JSON body instead of a TLS alert; `/v1/renew` accepts only
/// the exact certificate the store recorded, so nothing else gets through that way.
#[derive(Debug)]
pub(super) struct ClientVerifier {
    pub(super) roots: Vec<rustls::pki_types::TrustAnchor<'static>>,
    pub(super) subjects: Vec<rustls::DistinguishedName>,
    pub(super) provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &self.subjects
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> std::result::Result<ClientCertVerified, rustls::Error> {
        use rustls::CertificateError;
        let cert = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let algs = self.provider.signature_verification_algorithms.all;
        for usage in [
            webpki::KeyUsage::client_auth(),
            webpki::KeyUsage::server_auth(),
        ] {
            match cert.verify_for_usage(algs, &self.roots, intermediates, now, usage, None, None) {
                Ok(_) => return Ok(ClientCertVerified::assertion()),
                Err(webpki::Error::CertExpired { .. }) => {
                    return Ok(ClientCertVerified::assertion())
                }
                Err(_) => continue,
            }
        }
        Err(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

pub(super) fn tls_config(ca: &Ca, resolver: Arc<Resolver>) -> Result<rustls::ServerConfig> {
    let provider = Arc::new(super::super::tls_provider());
    // The root of this CA's chain, plus every root of the rotation bundle.
    let mut ders: Vec<Vec<u8>> = ca.chain().last().cloned().into_iter().collect();
    let bundle = crate::ca::layout::bundle(ca.dir());
    if bundle.exists() {
        ders.extend(crate::x509::read_certs(&bundle)?);
    }
    let mut roots = Vec::new();
    let mut subjects = Vec::new();
    for der in &ders {
        let c = CertificateDer::from(der.clone());
        if let Ok(a) = webpki::anchor_from_trusted_cert(&c) {
            subjects.push(rustls::DistinguishedName::in_sequence(a.subject.as_ref()));
            roots.push(a.to_owned());
        }
    }
    let verifier = ClientVerifier {
        roots,
        subjects,
        provider: provider.clone(),
    };
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Validity(format!("TLS setup failed ({e})"), "report a bug".into()))?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_cert_resolver(resolver);
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    tune_for_one_request(&mut cfg);
    Ok(cfg)
}

/// What suits a CA whose clients make one request per connection (an agent renews with a new
/// key each time, so a resumed session would never be used): no session tickets and no session
/// cache (two TLS messages and a cache insertion less per handshake), and the server's order of
/// cipher suites (AES-128-GCM with SHA-256 first, [`super::super::tls_provider`]) over
/// the client's, because SHA-256 runs in the CPU's SHA extensions and SHA-384 does not: the
/// handshake's transcript hash and key schedule were 2–3 % of a renewal's CPU with SHA-384
/// (docs/performance.md).
pub(super) fn tune_for_one_request(cfg: &mut rustls::ServerConfig) {
    cfg.send_tls13_tickets = 0;
    cfg.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    cfg.ignore_client_order = true;
}
