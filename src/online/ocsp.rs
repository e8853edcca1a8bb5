//! The OCSP responder (RFC 6960): requests decoded and responses encoded with RustCrypto's
//! `x509-ocsp` types, signed by the CA key itself (no delegated responder certificate), the
//! status read from the store: `good` for a certificate this CA issued and did not revoke,
//! `revoked` with time and reason, `unknown` for a serial the store never recorded. A request
//! about another issuer gets `unauthorized`; an undecodable one `malformedRequest`.

use der07::asn1::{BitString, GeneralizedTime, OctetString};
use der07::{Decode, Encode};
use time::{Duration, OffsetDateTime};
use x509_ocsp::{
    BasicOcspResponse, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse,
    OcspResponseStatus, ResponderId, ResponseData, RevokedInfo, SingleResponse,
};

use crate::ca::Ca;
use crate::error::Result;
use crate::serial::Serial;

/// How long a response may be cached (its nextUpdate).
pub const RESPONSE_VALIDITY: Duration = Duration::hours(1);

/// The largest request body accepted (a request for a few certificates is a few hundred bytes).
pub const MAX_REQUEST: usize = 16 * 1024;

/// What the responder needs of the CA certificate, computed once.
#[derive(Debug, Clone)]
pub struct Issuer {
    name_sha1: Vec<u8>,
    key_sha1: Vec<u8>,
    name_sha256: Vec<u8>,
    key_sha256: Vec<u8>,
}

impl Issuer {
    /// The hashes of the CA certificate's subject and public key.
    pub fn of(ca_der: &[u8]) -> Result<Issuer> {
        let c = crate::x509::parse_cert(ca_der, std::path::Path::new("ca.crt"))?;
        let name = c.subject().as_raw();
        let key = c.public_key().subject_public_key.data.as_ref();
        let h = |alg: &'static ring::digest::Algorithm, b: &[u8]| {
            ring::digest::digest(alg, b).as_ref().to_vec()
        };
        use ring::digest::{SHA1_FOR_LEGACY_USE_ONLY as SHA1, SHA256};
        Ok(Issuer {
            name_sha1: h(&SHA1, name),
            key_sha1: h(&SHA1, key),
            name_sha256: h(&SHA256, name),
            key_sha256: h(&SHA256, key),
        })
    }

    fn matches(&self, alg: &str, name: &[u8], key: &[u8]) -> bool {
        match alg {
            "1.3.14.3.2.26" => name == self.name_sha1 && key == self.key_sha1,
            "2.16.840.1.101.3.4.2.1" => name == self.name_sha256 && key == self.key_sha256,
            _ => false,
        }
    }
}

/// The outcome of one request, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A signed response (with this many good / revoked / unknown statuses).
    Signed,
    /// The request could not be decoded.
    Malformed,
    /// The request asked about a certificate of another issuer.
    Unauthorized,
}

fn unsigned(status: OcspResponseStatus) -> Vec<u8> {
    OcspResponse {
        response_status: status,
        response_bytes: None,
    }
    .to_der()
    .unwrap_or_default()
}

fn gtime(t: OffsetDateTime) -> Option<OcspGeneralizedTime> {
    let secs = u64::try_from(t.unix_timestamp()).ok()?;
    GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs))
        .ok()
        .map(OcspGeneralizedTime)
}

/// Answers one DER OCSP request for the CA `ca` at `now`: the DER OCSPResponse.
pub fn respond(ca: &mut Ca, issuer: &Issuer, req: &[u8], now: OffsetDateTime) -> (Vec<u8>, Answer) {
    let Ok(request) = OcspRequest::from_der(req) else {
        return (
            unsigned(OcspResponseStatus::MalformedRequest),
            Answer::Malformed,
        );
    };
    let list = &request.tbs_request.request_list;
    if list.is_empty() || list.len() > 16 {
        return (
            unsigned(OcspResponseStatus::MalformedRequest),
            Answer::Malformed,
        );
    }
    let now = now.replace_nanosecond(0).unwrap_or(now);
    let mut responses = Vec::with_capacity(list.len());
    for r in list {
        let id = &r.req_cert;
        if !issuer.matches(
            &id.hash_algorithm.oid.to_string(),
            id.issuer_name_hash.as_bytes(),
            id.issuer_key_hash.as_bytes(),
        ) {
            return (
                unsigned(OcspResponseStatus::Unauthorized),
                Answer::Unauthorized,
            );
        }
        let serial = Serial::from_bytes(id.serial_number.as_bytes()).hex();
        let status = match ca.store().get(&serial) {
            Ok(Some(c)) if c.state == "revoked" => {
                let (at, reason) = revocation_of(ca, &serial, now);
                let Some(revocation_time) = gtime(at) else {
                    return (
                        unsigned(OcspResponseStatus::InternalError),
                        Answer::Malformed,
                    );
                };
                CertStatus::Revoked(RevokedInfo {
                    revocation_time,
                    revocation_reason: reason,
                })
            }
            Ok(Some(_)) => CertStatus::good(),
            Ok(None) => CertStatus::unknown(),
            Err(_) => return (unsigned(OcspResponseStatus::TryLater), Answer::Malformed),
        };
        let (Some(this_update), Some(next_update)) = (gtime(now), gtime(now + RESPONSE_VALIDITY))
        else {
            return (
                unsigned(OcspResponseStatus::InternalError),
                Answer::Malformed,
            );
        };
        responses.push(SingleResponse {
            cert_id: id.clone(),
            cert_status: status,
            this_update,
            next_update: Some(next_update),
            single_extensions: None,
        });
    }
    // The nonce is echoed when the client sent one (openssl ocsp does by default).
    let nonce = request
        .tbs_request
        .request_extensions
        .as_ref()
        .and_then(|exts| {
            exts.iter()
                .find(|e| e.extn_id.to_string() == "1.3.6.1.5.5.7.48.1.2")
                .cloned()
        });
    let (Ok(key_hash), Some(produced_at)) = (OctetString::new(issuer.key_sha1.clone()), gtime(now))
    else {
        return (
            unsigned(OcspResponseStatus::InternalError),
            Answer::Malformed,
        );
    };
    let data = ResponseData {
        version: x509_ocsp::Version::V1,
        responder_id: ResponderId::ByKey(key_hash),
        produced_at,
        responses,
        response_extensions: nonce.map(|n| vec![n]),
    };
    match sign(ca, data) {
        Some(der) => (der, Answer::Signed),
        None => (
            unsigned(OcspResponseStatus::InternalError),
            Answer::Malformed,
        ),
    }
}

fn sign(ca: &Ca, data: ResponseData) -> Option<Vec<u8>> {
    let tbs = data.to_der().ok()?;
    let (sig, alg_der) = ca.sign_raw(&tbs).ok()?;
    let basic = BasicOcspResponse {
        tbs_response_data: data,
        signature_algorithm: spki07::AlgorithmIdentifierOwned::from_der(&alg_der).ok()?,
        signature: BitString::from_bytes(&sig).ok()?,
        certs: None,
    };
    use x509_ocsp::AsResponseBytes;
    OcspResponse {
        response_status: OcspResponseStatus::Successful,
        response_bytes: Some(basic.to_response_bytes().ok()?),
    }
    .to_der()
    .ok()
}

/// When and why `serial` was revoked (from the store's revocation list of this CA).
fn revocation_of(
    ca: &mut Ca,
    serial: &str,
    now: OffsetDateTime,
) -> (OffsetDateTime, Option<x509_cert02::ext::pkix::CrlReason>) {
    use crate::lifecycle::Reason;
    use x509_cert02::ext::pkix::CrlReason;
    let ca_serial = ca.serial_hex().unwrap_or_default();
    let rows = crate::lifecycle::revoked_by(ca.store(), &ca_serial).unwrap_or_default();
    let Some(r) = rows.into_iter().find(|r| r.serial.hex() == serial) else {
        return (now, None);
    };
    let reason = match r.reason {
        Reason::Unspecified => None,
        Reason::KeyCompromise => Some(CrlReason::KeyCompromise),
        Reason::CaCompromise => Some(CrlReason::CaCompromise),
        Reason::AffiliationChanged => Some(CrlReason::AffiliationChanged),
        Reason::Superseded => Some(CrlReason::Superseded),
        Reason::CessationOfOperation => Some(CrlReason::CessationOfOperation),
        Reason::PrivilegeWithdrawn => Some(CrlReason::PrivilegeWithdrawn),
    };
    (r.revoked_at, reason)
}
