//! The rustls verdict: runs rustls' own [`WebPkiServerVerifier`] / [`WebPkiClientVerifier`] (ring
//! provider, CRLs included) and maps every rustls/webpki error to a stable code with a message and
//! a fix.

use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, RootCertStore};
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, ServerName, UnixTime};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::model::{
    cert_label_of, days_phrase, ekus, fullchain_name, is_self_issued, issue_cmd, leaf_file,
    name_problem, parse, problem, revocation_of, unix, Input, Problem, Purpose,
};
use crate::diagnose::finding::Code;
use crate::inspect::fmt_name;

/// Runs rustls' verifier for `purpose` on the input; `Ok(())` when a rustls peer accepts.
pub(super) fn rustls_check(
    input: &Input,
    purpose: Purpose,
    server_name: &ServerName<'static>,
    intermediates: &[Vec<u8>],
    allow_unknown_revocation: bool,
) -> std::result::Result<(), rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut store = RootCertStore::empty();
    store.add_parsable_certificates(input.roots.iter().map(|r| CertificateDer::from(r.clone())));
    if store.is_empty() {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
    }
    let store = Arc::new(store);
    let crls: Vec<CertificateRevocationListDer<'static>> = input
        .crls
        .iter()
        .map(|c| CertificateRevocationListDer::from(c.clone()))
        .collect();
    let leaf = CertificateDer::from(input.leaf.as_slice());
    let inter: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    let now = unix(input.at);
    let to_err = |e: rustls::server::VerifierBuilderError| {
        rustls::Error::General(format!("cannot build the verifier: {e}"))
    };
    match purpose {
        Purpose::Server => {
            let mut b = WebPkiServerVerifier::builder_with_provider(store, provider);
            if !crls.is_empty() {
                b = b.with_crls(crls);
                if allow_unknown_revocation {
                    b = b.allow_unknown_revocation_status();
                }
            }
            let v = b.build().map_err(to_err)?;
            v.verify_server_cert(&leaf, &inter, server_name, &[], now)
                .map(|_| ())
        }
        Purpose::Client => {
            let mut b = WebPkiClientVerifier::builder_with_provider(store, provider);
            if !crls.is_empty() {
                b = b.with_crls(crls);
                if allow_unknown_revocation {
                    b = b.allow_unknown_revocation_status();
                }
            }
            let v = b.build().map_err(to_err)?;
            v.verify_client_cert(&leaf, &inter, now).map(|_| ())
        }
    }
}

/// The name check alone, as webpki does it (used for client certificates and to report a name
/// mismatch next to another error).
pub(super) fn name_ok(leaf: &[u8], name: &ServerName<'_>) -> bool {
    let der = CertificateDer::from(leaf);
    match webpki::EndEntityCert::try_from(&der) {
        Ok(ee) => ee.verify_is_valid_for_subject_name(name).is_ok(),
        Err(_) => false,
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn explain(
    e: &rustls::Error,
    input: &Input,
    leaf: &X509Certificate<'_>,
    purpose: Purpose,
    host: Option<&str>,
    chain: &[&[u8]],
    warnings: &mut Vec<String>,
) -> Problem {
    let label = &input.cert_label;
    let at = input.at;
    let ce =
        match e {
            rustls::Error::InvalidCertificate(ce) => ce,
            rustls::Error::InvalidCertRevocationList(crl) => return problem(
                Code::BadCrl,
                format!("a CRL cannot be used: {crl:?}"),
                "give the CRL the issuing CA published (mtls-ca crl), not an edited or foreign one",
            ),
            other => {
                return problem(
                    Code::InvalidCertificate,
                    format!("rejected: {other}"),
                    "inspect it with `mtls-ca inspect FILE`",
                )
            }
        };
    let ts = |u: &UnixTime| {
        OffsetDateTime::from_unix_timestamp(u.as_secs() as i64)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    };
    match ce {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            let not_after = match ce {
                CertificateError::ExpiredContext { not_after, .. } => Some(ts(not_after)),
                _ => None,
            };
            let which = not_after.and_then(|na| {
                cert_label_of(chain, |c| {
                    c.validity().not_after.timestamp() == na.unix_timestamp()
                })
            });
            let na = not_after.unwrap_or_else(|| crate::x509::validity(leaf).1);
            // Calendar days (UTC): "today" only when the expiry date is the checked date.
            let ago = days_phrase((utc_date(at) - utc_date(na)).whole_days());
            let when = if ago == "today" { "today".to_string() } else { format!("{ago} ago") };
            match which {
                Some((i, subject)) if i > 0 => problem(
                    Code::Expired,
                    format!("the CA certificate {subject} expired {when} ({})", crate::ca::fmt_date(na)),
                    "renew that CA and reissue the certificates below it",
                ),
                _ => problem(
                    Code::Expired,
                    format!("expired {when} ({})", crate::ca::fmt_date(na)),
                    format!("mtls-ca renew --cert {}, then deploy the new files", leaf_file(label)),
                ),
            }
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            let nb = match ce {
                CertificateError::NotValidYetContext { not_before, .. } => ts(not_before),
                _ => crate::x509::validity(leaf).0,
            };
            let which = cert_label_of(chain, |c| {
                c.validity().not_before.timestamp() == nb.unix_timestamp()
            });
            let who = match which {
                Some((i, s)) if i > 0 => format!("the CA certificate {s} is "),
                _ => String::new(),
            };
            problem(
                Code::NotYetValid,
                format!(
                    "{who}not valid yet: valid from {} (in {})",
                    crate::ca::fmt_date(nb),
                    days_phrase((utc_date(nb) - utc_date(at)).whole_days().max(0))
                ),
                "check the clock of this machine and of the peer (NTP), or wait until then",
            )
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            name_problem(leaf, purpose, host.unwrap_or(""))
        }
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            let has = ekus(leaf);
            let (message, hint) = match (purpose, has) {
                (Purpose::Server, Some((false, true, _))) => (
                    "this is a client certificate (clientAuth) used as a server".to_string(),
                    format!("issue a server certificate: {}", issue_cmd(Purpose::Server, leaf, None)),
                ),
                (Purpose::Client, Some((true, false, _))) => (
                    "this is a server certificate (serverAuth) used as a client".to_string(),
                    format!("issue a client certificate: {}", issue_cmd(Purpose::Client, leaf, None)),
                ),
                (p, _) => (
                    format!(
                        "the certificate is not allowed for {} authentication (its extendedKeyUsage lacks {})",
                        if p == Purpose::Server { "server" } else { "client" },
                        if p == Purpose::Server { "serverAuth" } else { "clientAuth" }
                    ),
                    format!("issue one with the right profile: {}", issue_cmd(p, leaf, None)),
                ),
            };
            problem(Code::WrongPurpose, message, hint)
        }
        CertificateError::UnknownIssuer => unknown_issuer(input, leaf, chain, purpose),
        CertificateError::Revoked => match revocation_of(chain, &input.crls) {
            Some((subject, date, reason, true)) => problem(
                Code::Revoked,
                format!("revoked on {date} ({reason}): {subject}"),
                "a revoked certificate stays revoked: issue a new one (with a new key) and deploy it",
            ),
            Some((subject, date, reason, false)) => problem(
                Code::Revoked,
                format!("the CA certificate {subject} was revoked on {date} ({reason})"),
                "everything below that CA is untrusted: move to a new CA and reissue",
            ),
            None => problem(
                Code::Revoked,
                "a certificate of the chain is revoked",
                "issue a new certificate and deploy it",
            ),
        },
        CertificateError::UnknownRevocationStatus => {
            let missing: Vec<String> = chain
                .iter()
                .filter_map(|d| parse(d))
                .filter(|c| !is_self_issued(c))
                .filter(|c| {
                    !input.crls.iter().any(|crl| {
                        CertificateRevocationList::from_der(crl)
                            .is_ok_and(|(_, crl)| crl.issuer().as_raw() == c.issuer().as_raw())
                    })
                })
                .map(|c| format!("{} (issuer of {})", fmt_name(c.issuer()), fmt_name(c.subject())))
                .collect();
            problem(
                Code::RevocationUnknown,
                if missing.is_empty() {
                    "the revocation status of a certificate of the chain is unknown: no usable CRL from its issuer".to_string()
                } else {
                    format!("no CRL given from {}: its revocation status is unknown", missing.join(", "))
                },
                "pass the CRL of every CA of the chain with --crl (nginx's ssl_crl needs them all too)",
            )
        }
        CertificateError::ExpiredRevocationList
        | CertificateError::ExpiredRevocationListContext { .. } => problem(
            Code::CrlExpired,
            "a CRL is past its nextUpdate",
            "publish a fresh CRL: mtls-ca crl",
        ),
        CertificateError::BadSignature => problem(
            Code::BadSignature,
            "a signature in the chain does not verify: the certificate was altered or is signed by another key with the same CA name",
            "get the certificate again from its CA; check that --ca is the CA that really issued it",
        ),
        #[allow(deprecated)]
        CertificateError::UnsupportedSignatureAlgorithm
        | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => problem(
            Code::UnsupportedSignatureAlgorithm,
            "a certificate of the chain is signed with an algorithm rustls does not accept (e.g. SHA-1, MD5, RSA-PSS with odd parameters, P-521)",
            "reissue it with ECDSA P-256/P-384, Ed25519 or RSA with SHA-256",
        ),
        CertificateError::BadEncoding => problem(
            Code::BadEncoding,
            "a certificate of the chain is not valid DER as rustls reads it",
            "inspect it with `mtls-ca inspect`; reissue it with a conforming tool",
        ),
        CertificateError::Other(other) => {
            match other.0.downcast_ref::<webpki::Error>() {
                Some(w) => webpki_problem(w, leaf, purpose, chain, warnings),
                None => problem(
                    Code::InvalidCertificate,
                    format!("rejected: {other}"),
                    "inspect it with `mtls-ca inspect FILE`",
                ),
            }
        }
        other => problem(
            Code::InvalidCertificate,
            format!("rejected: {other:?}"),
            "inspect it with `mtls-ca inspect FILE`",
        ),
    }
}

fn webpki_problem(
    w: &webpki::Error,
    leaf: &X509Certificate<'_>,
    purpose: Purpose,
    chain: &[&[u8]],
    warnings: &mut Vec<String>,
) -> Problem {
    use webpki::Error as W;
    match w {
        W::CaUsedAsEndEntity => {
            warnings.push("openssl-based gateways (nginx, HAProxy) accept a CA certificate used as a leaf; rustls does not".into());
            problem(
                Code::CaUsedAsLeaf,
                "this is a CA certificate (CA:TRUE), used here as a server or client certificate",
                format!("issue a leaf from this CA: {}", issue_cmd(purpose, leaf, None)),
            )
        }
        W::EndEntityUsedAsCa => problem(
            Code::LeafUsedAsCa,
            "a leaf certificate (CA:FALSE) appears as the issuer of another certificate",
            "only a CA (mtls-ca init) may issue certificates",
        ),
        W::PathLenConstraintViolated => problem(
            Code::PathlenExceeded,
            "the chain has more CAs below a CA than its pathLenConstraint allows",
            "create the intermediate with a larger --pathlen on its parent, or issue from a higher CA",
        ),
        W::NameConstraintViolation => {
            if chain_has_email_uri_constraints(chain) {
                warnings.push("a CA of the chain has email or URI name constraints: rustls rejects such chains, openssl-based gateways may accept them".into());
            }
            problem(
                Code::NameConstraints,
                "a name of the certificate is outside the name constraints of its CA",
                "issue only names the CA permits (see `mtls-ca inspect ca.crt`), or use another CA",
            )
        }
        W::UnsupportedNameType => {
            if chain_has_email_uri_constraints(chain) {
                warnings.push("a CA of the chain has email or URI name constraints: rustls rejects such chains, openssl-based gateways may accept them".into());
            }
            problem(
                Code::UnsupportedNameType,
                "the chain has a name constraint or name of a type rustls does not support (email or URI constraints)",
                "use a CA constrained by DNS names and IP ranges only",
            )
        }
        W::UnsupportedCriticalExtension => problem(
            Code::UnsupportedCriticalExtension,
            "a certificate of the chain has a critical extension rustls does not understand",
            "reissue it without that extension (or mark it non-critical)",
        ),
        W::MaximumPathDepthExceeded | W::MaximumPathBuildCallsExceeded | W::MaximumSignatureChecksExceeded | W::MaximumNameConstraintComparisonsExceeded => problem(
            Code::ChainTooComplex,
            "the chain is too long or too complex to validate",
            "use a chain of at most a few intermediates",
        ),
        W::CertDistrusted => problem(Code::Distrusted, "the certificate is distrusted", "use another CA"),
        other => problem(
            Code::InvalidCertificate,
            format!("rejected by rustls: {other}"),
            "inspect it with `mtls-ca inspect FILE`",
        ),
    }
}

fn chain_has_email_uri_constraints(chain: &[&[u8]]) -> bool {
    chain.iter().filter_map(|d| parse(d)).any(|c| {
        c.iter_extensions().any(|e| match e.parsed_extension() {
            ParsedExtension::NameConstraints(nc) => nc
                .permitted_subtrees
                .iter()
                .flatten()
                .chain(nc.excluded_subtrees.iter().flatten())
                .any(|s| matches!(s.base, GeneralName::RFC822Name(_) | GeneralName::URI(_))),
            _ => false,
        })
    })
}

fn unknown_issuer(
    input: &Input,
    leaf: &X509Certificate<'_>,
    chain: &[&[u8]],
    purpose: Purpose,
) -> Problem {
    let label = &input.cert_label;
    let last = chain.last().and_then(|d| parse(d));
    let issuer = last
        .as_ref()
        .map(|c| fmt_name(c.issuer()))
        .unwrap_or_else(|| fmt_name(leaf.issuer()));
    // Is a certificate named like the missing issuer nearby, and does it complete the chain?
    let want = last.as_ref().map(|c| c.issuer().as_raw().to_vec());
    let self_issued = last.as_ref().is_some_and(is_self_issued);
    if !self_issued {
        let mut candidates = input.candidates.clone();
        for f in &input.candidate_files {
            if let Ok(v) = crate::x509::read_certs(f) {
                candidates.extend(v);
            }
        }
        let found: Vec<Vec<u8>> = candidates
            .iter()
            .filter(|c| {
                parse(c).is_some_and(|c| {
                    Some(c.subject().as_raw().to_vec()) == want && !is_self_issued(&c)
                })
            })
            .cloned()
            .collect();
        if !found.is_empty() {
            let mut more = input.intermediates.clone();
            more.extend(candidates.iter().cloned());
            let name = ServerName::try_from("invalid.invalid").expect("static name");
            let ok = match rustls_check(input, purpose, &name, &more, false) {
                Ok(()) => true,
                Err(rustls::Error::InvalidCertificate(c)) => !matches!(
                    c,
                    CertificateError::UnknownIssuer | CertificateError::BadSignature
                ),
                Err(_) => false,
            };
            if ok {
                let full = fullchain_name(label);
                return problem(
                    Code::MissingIntermediate,
                    match purpose {
                        Purpose::Server => format!(
                            "the server sent its certificate without the intermediate ({issuer}): clients cannot link it to the trusted CA"
                        ),
                        Purpose::Client => format!(
                            "the client sent its certificate without the intermediate ({issuer}): servers cannot link it to the trusted CA"
                        ),
                    },
                    match purpose {
                        Purpose::Server => format!(
                            "serve {full} (leaf + intermediates) instead of {label} (nginx: ssl_certificate {full}); to check it here, verify {full} or pass --chain"
                        ),
                        Purpose::Client => format!(
                            "send {full} (leaf + intermediates) as the client certificate (curl --cert {full}); to check it here, verify {full} or pass --chain"
                        ),
                    },
                );
            }
        }
        return problem(
            Code::UnknownIssuer,
            format!(
                "issued by {issuer}, which is not among the trusted CAs (and no intermediate links it to them)"
            ),
            format!(
                "if {issuer} is an intermediate CA, serve {} (leaf + intermediates); otherwise trust its root with --ca FILE",
                fullchain_name(label)
            ),
        );
    }
    problem(
        Code::UnknownIssuer,
        format!("issued by {issuer}, which is not among the trusted CAs"),
        format!(
            "trust that CA with --ca FILE (peers: add it to their CA bundle), or reissue the certificate from the trusted CA: {}",
            issue_cmd(purpose, leaf, None)
        ),
    )
}

/// The calendar date of `t` in UTC.
fn utc_date(t: OffsetDateTime) -> time::Date {
    t.to_offset(time::UtcOffset::UTC).date()
}
