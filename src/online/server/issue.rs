//! Issuance over the network: `/v1/sign` (a bootstrap token and a CSR) and `/v1/renew` (the
//! current certificate over mutual TLS and a CSR), with the checks that come before anything
//! is recorded and the answer a client gets.

use std::path::{Path, PathBuf};

use hyper::StatusCode;
use time::Duration;

use crate::ca::audit::{self, Event as AuditEvent};
use crate::ca::{Ca, LeafKey, LeafRequest};
use crate::error::Error;
use crate::names::San;
use crate::profile::{self, Profile};
use crate::store::TokenRefusal;

use super::super::api;
use super::super::commit::AuditLine;
use super::super::pool::Lease;
use super::http::{store_error, ApiError};
use super::options::ServeEvent;
use super::state::State;

pub(super) fn bad_csr(e: &Error) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        code: "bad_csr",
        message: e.to_string().replace("<request>: ", ""),
        hint: Some("send a PEM CSR signed by the new key (mtls-ca agent makes one)".into()),
    }
}

/// The answer for the stored certificate `serial`.
pub(super) fn answer(ca: &mut Ca, serial: &str) -> std::result::Result<api::Certificate, ApiError> {
    let stored = ca
        .store()
        .get(serial)
        .map_err(|e| store_error(&e))?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the new certificate is not in the store",
                "retry",
            )
        })?;
    Ok(answer_der(ca, serial, &stored.der))
}

/// The answer for certificate `der`: it, its full chain and its notAfter.
pub(super) fn answer_der(ca: &Ca, serial: &str, der: &[u8]) -> api::Certificate {
    let mut full = vec![der.to_vec()];
    full.extend(ca.intermediates().iter().cloned());
    let not_after = x509_parser::parse_x509_certificate(der)
        .map(|(_, c)| crate::x509::validity(&c).1)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    api::Certificate {
        serial: serial.to_string(),
        certificate: crate::pem::encode("CERTIFICATE", der),
        fullchain: full
            .iter()
            .map(|d| crate::pem::encode("CERTIFICATE", d))
            .collect(),
        not_after,
    }
}

pub(super) fn token_refused(r: TokenRefusal) -> ApiError {
    let (status, message, hint) = match r {
        TokenRefusal::Unknown => (
            StatusCode::UNAUTHORIZED,
            "unknown token",
            "check the token (copy it whole), or make a new one with `mtls-ca token create`",
        ),
        TokenRefusal::Used => (
            StatusCode::UNAUTHORIZED,
            "this token was already used",
            "a token works once: make a new one with `mtls-ca token create`",
        ),
        TokenRefusal::Revoked => (
            StatusCode::UNAUTHORIZED,
            "this token was revoked",
            "make a new one with `mtls-ca token create`",
        ),
        TokenRefusal::Expired => (
            StatusCode::UNAUTHORIZED,
            "this token has expired",
            "make a new one with `mtls-ca token create` (--ttl sets how long it works)",
        ),
    };
    ApiError::new(status, r.as_str(), message, hint)
}

/// `/v1/sign`: every check before anything changes, then the token is used (one transaction),
/// then the certificate is issued (serial reserved, signed, recorded) and audited.
pub(super) fn sign(
    st: &State,
    mut ca: Lease,
    r: &api::SignRequest,
    client: &str,
) -> std::result::Result<api::Certificate, ApiError> {
    let now = (st.clock)();
    let hash = super::super::token::hash(&r.token);
    let token = ca
        .store()
        .token_peek(&hash, now)
        .map_err(|e| store_error(&e))?
        .map_err(token_refused)?;
    let info =
        crate::csr::parse(r.csr.as_bytes(), Path::new("<request>")).map_err(|e| bad_csr(&e))?;
    let (prof, file_profile) = resolve_profile(&ca, &token.profile)?;
    let allowed = crate::names::parse_all(&token.sans)
        .map_err(|e| ApiError::from_lib(&e, StatusCode::INTERNAL_SERVER_ERROR))?;
    let (cn, sans) = if prof.is_server() {
        let s = profile::server_sans(&token.cn, allowed)
            .map_err(|e| ApiError::from_lib(&e, StatusCode::INTERNAL_SERVER_ERROR))?;
        (s[0].to_string(), s)
    } else {
        (token.cn.clone(), allowed)
    };
    // The token fixes the names: a CSR asking for anything else is refused (not trimmed).
    if let Some(asked) = &info.cn {
        if !asked.eq_ignore_ascii_case(&cn) && !asked.eq_ignore_ascii_case(&token.cn) {
            return Err(names_refused(&format!("CN {asked:?}"), &token.cn));
        }
    }
    for s in &info.sans {
        if !sans
            .iter()
            .any(|a| a.to_string().eq_ignore_ascii_case(&s.to_string()))
        {
            return Err(names_refused(&format!("SAN {s}"), &token.cn));
        }
    }
    let valid = token
        .valid_secs
        .map(Duration::seconds)
        .unwrap_or(st.opts.default_valid);
    // Nothing changed so far. Now the token is used, exactly once across racing clients.
    let used = ca
        .store()
        .token_use(&hash, client, now)
        .map_err(|e| store_error(&e))?
        .map_err(token_refused)?;
    let issued = ca
        .issue_leaf_with(
            LeafRequest {
                profile: prof,
                cn,
                subject: Default::default(),
                sans,
                days: None,
                valid: Some(valid),
                default_days: crate::ca::LEAF_DAYS,
                stem: PathBuf::new(),
                force: false,
                renews: None,
                warnings: Vec::new(),
            },
            LeafKey::Public {
                spki: info.spki,
                key_type: info.key_type,
            },
            now,
            file_profile.as_ref(),
        )
        .map_err(|e| ApiError::from_lib(&e, StatusCode::UNPROCESSABLE_ENTITY))?;
    let by = format!("token:{}", used.id);
    audit_event(
        st,
        &ca,
        "issue",
        &issued.serial,
        None,
        &issued.subject,
        &by,
        client,
    );
    answer(&mut ca, &issued.serial)
}

/// The profile a token or a stored certificate names: a built-in one, or one of the CA
/// directory's `profiles.toml` (read again each time, so a tightened policy applies at once).
pub(super) fn resolve_profile(
    ca: &Ca,
    name: &str,
) -> std::result::Result<(Profile, Option<crate::pki::leaf_profile::FileProfile>), ApiError> {
    match crate::ca::profiles::resolve(ca.dir(), name)
        .map_err(|e| ApiError::from_lib(&e, StatusCode::INTERNAL_SERVER_ERROR))?
    {
        crate::ca::profiles::Resolved::Builtin(p) => Ok((p, None)),
        crate::ca::profiles::Resolved::File(f) => Ok((f.kind, Some(*f))),
    }
}

pub(super) fn names_refused(what: &str, cn: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "names_not_allowed",
        format!("the CSR asks for {what}, which this token does not allow (it is for {cn:?})"),
        "make the CSR for the token's names only (mtls-ca agent --cn/--san), or create a token for these names",
    )
}

#[allow(clippy::too_many_arguments)]
pub(super) fn audit_event(
    st: &State,
    ca: &Ca,
    event: &str,
    serial: &str,
    renews: Option<&str>,
    subject: &str,
    by: &str,
    client: &str,
) {
    let ev = AuditEvent {
        time: (st.clock)(),
        event,
        serial: Some(serial),
        renews,
        subject: Some(subject),
        authorised_by: by,
        client: Some(client),
    };
    if let Err(e) = audit::append(ca.dir(), &ev) {
        (st.events)(ServeEvent::Warning(format!(
            "could not append to the audit log: {e}"
        )));
    }
}

/// What [`renew`] did: signed a successor that the group commit is to record, or found the
/// successor of a retried renewal already recorded.
pub(super) enum Renewed {
    Again(api::Certificate),
    Signed {
        record: Box<crate::store::Record>,
        audit: AuditLine,
        answer: api::Certificate,
    },
}

/// `/v1/renew`: the client certificate must be the stored one, issued and not revoked,
/// superseded or expired; the CSR's key must be new. The successor keeps names, profile and
/// lifetime; it is signed here on a leased copy of the CA (`ca`) and recorded, superseding the
/// old one in the same transaction, by the group commit. The request's CSR comes already read
/// (`csr`); its error is reported only where the checks reach it, after those of the
/// certificate.
pub(super) fn renew(
    st: &State,
    mut ca: Lease,
    cert: &[u8],
    csr: crate::error::Result<crate::csr::CsrInfo>,
    client: &str,
) -> std::result::Result<Renewed, ApiError> {
    let now = (st.clock)();
    let (_, c) = x509_parser::parse_x509_certificate(cert).map_err(|_| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unknown_certificate",
            "the client certificate cannot be read",
            "connect with a certificate this CA issued",
        )
    })?;
    let serial = crate::serial::Serial::from_bytes(c.raw_serial()).hex();
    let stored = ca.store().get(&serial).map_err(|e| store_error(&e))?;
    let Some(old) = stored.filter(|s| s.der == cert) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "unknown_certificate",
            format!("certificate {serial} was not issued by this CA"),
            "bootstrap again with a token (mtls-ca token create, then agent --token)",
        ));
    };
    if old.state == "revoked" {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "certificate_revoked",
            format!("certificate {serial} is revoked"),
            "a revoked certificate cannot renew: bootstrap again with a new token",
        ));
    }
    if let Some(next) = &old.superseded_by {
        // A retry of a renewal whose answer was lost (connection cut, server killed): the same
        // new key gets the successor that was recorded for it, and nothing new is issued.
        let info = csr.map_err(|e| bad_csr(&e))?;
        let succ = ca.store().get(next).map_err(|e| store_error(&e))?;
        if let Some(succ) = succ.filter(|s| s.state == "issued" && s.superseded_by.is_none()) {
            let same_key = x509_parser::parse_x509_certificate(&succ.der)
                .is_ok_and(|(_, c)| c.public_key().raw == info.spki.as_slice());
            if same_key {
                return answer(&mut ca, next).map(Renewed::Again);
            }
        }
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "certificate_superseded",
            format!("certificate {serial} was already renewed (its successor is {next})"),
            "renew with the newest certificate",
        ));
    }
    let (nb, na) = crate::x509::validity(&c);
    if na <= now {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "certificate_expired",
            format!(
                "certificate {serial} expired on {}",
                crate::ca::fmt_date(na)
            ),
            "an expired certificate cannot renew: bootstrap again with a new token",
        ));
    }
    let (prof, file_profile) = resolve_profile(&ca, &old.profile)?;
    if !prof.is_leaf() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_a_leaf",
            "only server and client certificates renew here",
            "rotate a CA with `mtls-ca ca rotate`",
        ));
    }
    let info = csr.map_err(|e| bad_csr(&e))?;
    if info.spki == c.public_key().raw {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "same_key",
            "the CSR is for the current certificate's key",
            "make a new key for each renewal (mtls-ca agent does)",
        ));
    }
    let cn = c
        .subject()
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .map(str::to_string)
        .unwrap_or_default();
    let sans = crate::names::parse_all(&crate::x509::san_strings(&c))
        .map_err(|e| ApiError::from_lib(&e, StatusCode::UNPROCESSABLE_ENTITY))?;
    let sans: Vec<San> = if prof.is_server() {
        profile::server_sans(&cn, sans)
            .map_err(|e| ApiError::from_lib(&e, StatusCode::UNPROCESSABLE_ENTITY))?
    } else {
        sans
    };
    let lifetime = (na - nb - crate::ca::BACKDATE).max(Duration::minutes(1));
    let subject = crate::subject::Subject::from_name(c.subject());
    let signed = ca
        .sign_unrecorded(
            LeafRequest {
                profile: prof,
                cn: if prof.is_server() {
                    sans[0].to_string()
                } else {
                    cn
                },
                subject,
                sans,
                days: None,
                valid: Some(lifetime),
                default_days: crate::ca::LEAF_DAYS,
                stem: PathBuf::new(),
                force: false,
                renews: Some(serial.clone()),
                warnings: Vec::new(),
            },
            info.spki,
            info.key_type,
            now,
            file_profile.as_ref(),
        )
        .map_err(|e| ApiError::from_lib(&e, StatusCode::CONFLICT))?;
    // Revoked or renewed between the check above and the record: the store refuses it in the
    // group commit, and this renewal alone fails (409).
    let answer = answer_der(&ca, &signed.issued.serial, &signed.der);
    Ok(Renewed::Signed {
        record: Box::new(signed.record),
        audit: AuditLine {
            event: "renew",
            serial: signed.issued.serial,
            renews: Some(serial.clone()),
            subject: signed.issued.subject,
            by: format!("cert:{serial}"),
            client: client.to_string(),
        },
        answer,
    })
}
