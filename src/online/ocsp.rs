//! The OCSP responder (RFC 6960): requests decoded and responses encoded with RustCrypto's
//! `x509-ocsp` types, signed by the issuing CA's key itself (no delegated responder
//! certificate), the status read from the store: `good` for a certificate that CA issued and did
//! not revoke, `revoked` with time and reason, `unknown` for a serial it never issued. It answers
//! for the current CA and, during a rotation's overlap, for every retired CA that has not expired
//! (each response signed by the CA the request names: [`Responders`]). A request about another
//! issuer, or about two issuers at once, gets `unauthorized`; an undecodable one
//! `malformedRequest`.

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
use crate::signer::CaKey;

/// How long a response may be cached (its nextUpdate).
pub const RESPONSE_VALIDITY: Duration = Duration::hours(1);

/// The largest request body accepted (a request for a few certificates is a few hundred bytes).
pub const MAX_REQUEST: usize = 16 * 1024;

/// What the responder needs of the CA certificate, computed once.
#[derive(Debug, Clone)]
pub struct Issuer {
    /// The CA certificate's serial (lowercase hex): the store's `ca_serial` of what it issued.
    serial: String,
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
            serial: Serial::from_bytes(c.raw_serial()).hex(),
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

/// The CAs the responder answers for: the current one (signing with the copy of the CA a
/// request leases) and the retired ones of the overlap, each with its own key.
pub struct Responders {
    current: Issuer,
    retired: Vec<(Issuer, std::sync::Mutex<CaKey>, Vec<u8>)>,
}

impl Responders {
    /// For the CA `ca` and every retired CA of its directory that has not expired at `now`
    /// (their keys loaded here, with `ca`'s passphrase when encrypted). A retired CA whose key
    /// cannot be loaded is left out, and said in the returned warnings: the current CA is
    /// served either way.
    pub fn of(ca: &Ca, now: OffsetDateTime) -> Result<(Responders, Vec<String>)> {
        let mut retired = Vec::new();
        let mut warnings = Vec::new();
        for r in crate::rotate::retired(ca)? {
            if r.not_after <= now {
                continue;
            }
            match r.load_key(ca) {
                Ok(key) => retired.push((
                    Issuer::of(&r.cert_der)?,
                    std::sync::Mutex::new(key),
                    r.cert_der,
                )),
                Err(e) => warnings.push(format!(
                    "the retired CA {} is left out of OCSP and /v1/crl: its key cannot be used ({e})",
                    r.cert_path.display()
                )),
            }
        }
        Ok((
            Responders {
                current: Issuer::of(ca.cert_der())?,
                retired,
            },
            warnings,
        ))
    }

    /// Which CA a request's `(hash algorithm, issuer name hash, issuer key hash)` names: None
    /// for the current one, `Some(i)` for retired one `i`; Err when none.
    fn find(&self, alg: &str, name: &[u8], key: &[u8]) -> std::result::Result<Option<usize>, ()> {
        if self.current.matches(alg, name, key) {
            return Ok(None);
        }
        self.retired
            .iter()
            .position(|(i, _, _)| i.matches(alg, name, key))
            .map(Some)
            .ok_or(())
    }

    /// The retired CAs: each one's certificate (DER) and key (for their CRLs).
    pub fn retired(&self) -> impl Iterator<Item = (&[u8], &std::sync::Mutex<CaKey>)> {
        self.retired.iter().map(|(_, k, der)| (der.as_slice(), k))
    }

    fn issuer(&self, which: Option<usize>) -> &Issuer {
        match which {
            None => &self.current,
            Some(i) => &self.retired[i].0,
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

/// Answers one DER OCSP request at `now` for the CAs of `responders`, the store read through
/// `ca` (the leased copy of the current CA, which also signs for it): the DER OCSPResponse.
pub fn respond(
    ca: &mut Ca,
    responders: &Responders,
    req: &[u8],
    now: OffsetDateTime,
) -> (Vec<u8>, Answer) {
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
    // One response is signed by one CA: every certificate asked about must be of the same one.
    let mut signer: Option<Option<usize>> = None;
    for r in list {
        let id = &r.req_cert;
        let which = match responders.find(
            &id.hash_algorithm.oid.to_string(),
            id.issuer_name_hash.as_bytes(),
            id.issuer_key_hash.as_bytes(),
        ) {
            Ok(w) if signer.is_none() || signer == Some(w) => w,
            _ => {
                return (
                    unsigned(OcspResponseStatus::Unauthorized),
                    Answer::Unauthorized,
                )
            }
        };
        signer = Some(which);
        let issuer = responders.issuer(which);
        let serial = Serial::from_bytes(id.serial_number.as_bytes()).hex();
        let status = match ca.store().get(&serial) {
            // Recorded, but issued by another CA than the one asked about.
            Ok(Some(c)) if c.ca_serial.as_deref() != Some(issuer.serial.as_str()) => {
                CertStatus::unknown()
            }
            Ok(Some(c)) if c.state == "revoked" => {
                let (at, reason) = revocation_of(ca, &issuer.serial, &serial, now);
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
    let which = signer.flatten();
    let issuer = responders.issuer(which);
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
    let signed = match which {
        None => sign(data, |tbs| ca.sign_raw(tbs).ok()),
        Some(i) => {
            let Ok(key) = responders.retired[i].1.lock() else {
                return (
                    unsigned(OcspResponseStatus::InternalError),
                    Answer::Malformed,
                );
            };
            sign(data, |tbs| {
                use rcgen::SigningKey;
                let alg = crate::pki::aia::sig_alg_der(key.key_type().ok()?);
                key.sign(tbs).ok().map(|sig| (sig, alg))
            })
        }
    };
    match signed {
        Some(der) => (der, Answer::Signed),
        None => (
            unsigned(OcspResponseStatus::InternalError),
            Answer::Malformed,
        ),
    }
}

/// The signed OCSPResponse of `data`; `sign_raw` gives the signature of the DER it is handed
/// and the DER of its algorithm identifier.
fn sign(
    data: ResponseData,
    sign_raw: impl FnOnce(&[u8]) -> Option<(Vec<u8>, Vec<u8>)>,
) -> Option<Vec<u8>> {
    let tbs = data.to_der().ok()?;
    let (sig, alg_der) = sign_raw(&tbs)?;
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

/// When and why `serial` was revoked (from the store's revocation list of the CA `ca_serial`).
fn revocation_of(
    ca: &mut Ca,
    ca_serial: &str,
    serial: &str,
    now: OffsetDateTime,
) -> (OffsetDateTime, Option<x509_cert02::ext::pkix::CrlReason>) {
    use crate::lifecycle::Reason;
    use x509_cert02::ext::pkix::CrlReason;
    let rows = crate::lifecycle::revoked_by(ca.store(), ca_serial).unwrap_or_default();
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
