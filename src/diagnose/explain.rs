//! `explain`: turn gateway logs and client error output into causes and fixes.
//!
//! Reads nginx error and access logs (`client SSL certificate verify error: (N:text)`,
//! `$ssl_client_verify` values `FAILED:text`), HAProxy logs (`ssl_c_verify`/`ssl_c_err` codes,
//! handshake failures), curl and Python error messages, Kong's 401 texts and AWS API Gateway's
//! `Access denied. Reason: ...`. Every line mentioning an mTLS failure becomes a finding with a
//! stable code; findings are grouped and counted. Lines matching nothing are counted as
//! unrecognised, never guessed at. OpenSSL verify error numbers come from one table
//! ([`VERIFY_ERRORS`]) shared by every source that reports them.

use std::collections::BTreeMap;

use crate::diagnose::finding::{sh, Code, Finding, FixContext, Scope, Side};

/// One OpenSSL verify error: number, OpenSSL's text, our code, cause, fix.
pub struct VerifyError {
    /// `X509_V_ERR_*` number.
    pub num: u32,
    /// `X509_verify_cert_error_string` text (OpenSSL 3).
    pub text: &'static str,
    /// Our stable code.
    pub code: Code,
    /// What it means for mTLS.
    pub cause: &'static str,
    /// What to do.
    pub fix: &'static str,
}

macro_rules! ve {
    ($n:expr, $t:expr, $c:expr, $cause:expr, $fix:expr) => {
        VerifyError {
            num: $n,
            text: $t,
            code: $c,
            cause: $cause,
            fix: $fix,
        }
    };
}

/// Every OpenSSL verify error a client-certificate check can produce.
pub const VERIFY_ERRORS: &[VerifyError] = &[
    ve!(1, "unspecified certificate verification error", Code::VerifyUnspecified, "OpenSSL rejected the certificate without a specific reason", "check the certificate with mtls-ca verify CERT --purpose client --ca CA"),
    ve!(2, "unable to get issuer certificate", Code::MissingIntermediate, "the issuer of a certificate in the chain is not available to the verifier", "send the full chain from the client (STEM.fullchain.crt) or add the intermediate to the server's trusted CA file"),
    ve!(3, "unable to get certificate CRL", Code::CrlMissing, "CRL checking is on but there is no CRL for one of the CAs in the chain", "give the gateway a CRL for every CA in the chain (nginx ssl_crl / HAProxy crl-file): mtls-ca crl in each CA directory, concatenated"),
    ve!(4, "unable to decrypt certificate's signature", Code::BadSignature, "a certificate's signature cannot be decoded", "reissue the certificate; it is damaged or was not signed by its issuer"),
    ve!(5, "unable to decrypt CRL's signature", Code::CrlBadSignature, "the CRL's signature cannot be decoded", "regenerate the CRL with mtls-ca crl"),
    ve!(6, "unable to decode issuer public key", Code::BadIssuerKey, "the issuer's public key cannot be read", "check the CA certificate with mtls-ca inspect"),
    ve!(7, "certificate signature failure", Code::BadSignature, "a certificate's signature does not verify with its issuer's key", "the certificate was not issued by the CA the server trusts (same name, different key?): reissue it from the right CA"),
    ve!(8, "CRL signature failure", Code::CrlBadSignature, "the CRL was not signed by the CA it names", "regenerate the CRL in the right CA directory: mtls-ca crl"),
    ve!(9, "certificate is not yet valid", Code::CertNotYetValid, "the client certificate's notBefore is in the future", "check the clocks of client, CA and gateway; mtls-ca backdates notBefore 5 minutes for skew"),
    ve!(10, "certificate has expired", Code::CertExpired, "the client certificate (or a CA in its chain) has expired", "renew it: mtls-ca renew --cert FILE, and watch expiry with mtls-ca list --expiring-within 30d"),
    ve!(11, "CRL is not yet valid", Code::CrlNotYetValid, "the CRL's thisUpdate is in the future", "check the CA machine's clock and regenerate the CRL"),
    ve!(12, "CRL has expired", Code::CrlExpired, "the gateway's CRL is past its nextUpdate, so every client is rejected", "publish a fresh CRL now (mtls-ca crl) and schedule it (mtls-ca crl --check in cron)"),
    ve!(13, "format error in certificate's notBefore field", Code::BadCertificateEncoding, "the certificate's notBefore is malformed", "reissue the certificate"),
    ve!(14, "format error in certificate's notAfter field", Code::BadCertificateEncoding, "the certificate's notAfter is malformed", "reissue the certificate"),
    ve!(15, "format error in CRL's lastUpdate field", Code::CrlBadEncoding, "the CRL is malformed", "regenerate the CRL with mtls-ca crl"),
    ve!(16, "format error in CRL's nextUpdate field", Code::CrlBadEncoding, "the CRL is malformed", "regenerate the CRL with mtls-ca crl"),
    ve!(17, "out of memory", Code::GatewayOutOfMemory, "the gateway ran out of memory while verifying", "check the gateway host"),
    ve!(18, "self-signed certificate", Code::SelfSignedLeaf, "the client sent a self-signed certificate, not one issued by the trusted CA", "issue the client a certificate from your CA: mtls-ca issue client --cn NAME"),
    ve!(19, "self-signed certificate in certificate chain", Code::UntrustedRoot, "the client's chain ends in a root the gateway does not trust", "add that root to the gateway's trusted CA file (ssl_client_certificate / ca-file), or use a certificate from the CA it trusts"),
    ve!(20, "unable to get local issuer certificate", Code::UnknownIssuer, "the client certificate's issuer is not among the gateway's trusted CAs (or an intermediate is missing)", "add your CA (root and intermediates) to the gateway's ssl_client_certificate / ca-file, or send the fullchain from the client"),
    ve!(21, "unable to verify the first certificate", Code::UnknownIssuer, "no trusted issuer was found for the client certificate", "add the issuing CA to the gateway's trusted CA file"),
    ve!(22, "certificate chain too long", Code::ChainTooLong, "the client's chain is deeper than the gateway allows", "raise the verify depth (nginx ssl_verify_depth 2 for root -> intermediate -> leaf; ingress-nginx auth-tls-verify-depth)"),
    ve!(23, "certificate revoked", Code::CertRevoked, "the client certificate is revoked in the gateway's CRL", "issue the client a new certificate: mtls-ca issue client --cn NAME (or mtls-ca renew --rekey)"),
    ve!(24, "issuer certificate doesn't have a public key", Code::InvalidCa, "the issuing CA certificate is unusable (OpenSSL 1.1: invalid CA certificate)", "check the CA certificate with mtls-ca inspect; CAs need basicConstraints CA:TRUE and keyCertSign"),
    ve!(25, "path length constraint exceeded", Code::PathlenExceeded, "the chain has more CAs than a CA's pathLenConstraint allows", "issue from a CA higher up, or recreate the CA with a larger --pathlen"),
    ve!(26, "unsuitable certificate purpose", Code::WrongPurpose, "the certificate is not for TLS clients (no clientAuth EKU: a server certificate used as a client?)", "issue a client certificate: mtls-ca issue client --cn NAME"),
    ve!(27, "certificate not trusted", Code::CertUntrusted, "the root is not trusted for this purpose", "add the root to the gateway's trusted CA file without purpose restrictions"),
    ve!(28, "certificate rejected", Code::CertRejected, "the root is explicitly marked as rejected for this purpose", "check the trust settings of the gateway's CA file"),
    ve!(29, "subject issuer mismatch", Code::IssuerMismatch, "a certificate's issuer name does not match its CA's subject", "reissue the certificate from the CA the gateway trusts"),
    ve!(30, "authority and subject key identifier mismatch", Code::AkiMismatch, "a certificate's AKI does not match the CA's SKI (issued by a different key with the same name?)", "reissue the certificate from the current CA, or trust the CA that issued it (mtls-ca ca-bundle during rotation)"),
    ve!(31, "authority and issuer serial number mismatch", Code::AkiMismatch, "a certificate's AKI serial does not match the CA", "reissue the certificate from the current CA"),
    ve!(32, "key usage does not include certificate signing", Code::CaWithoutKeycertsign, "a CA in the chain lacks keyCertSign", "recreate the CA with mtls-ca init (CAs get keyCertSign)"),
    ve!(33, "unable to get CRL issuer certificate", Code::CrlIssuerMissing, "the gateway cannot find the CA that signed a CRL", "put the CA that signed each CRL into the trusted CA file"),
    ve!(34, "unhandled critical extension", Code::UnhandledCriticalExtension, "a certificate has a critical extension the gateway does not understand", "reissue the certificate without it (mtls-ca profiles never add one)"),
    ve!(35, "key usage does not include CRL signing", Code::CaWithoutCrlsign, "the CA that signed the CRL lacks cRLSign", "recreate the CA with mtls-ca init (CAs get cRLSign)"),
    ve!(36, "unhandled critical CRL extension", Code::CrlCriticalExtension, "the CRL has a critical extension the gateway does not understand", "regenerate the CRL with mtls-ca crl"),
    ve!(37, "invalid non-CA certificate (has CA markings)", Code::LeafWithCaMarkings, "a leaf certificate carries CA markings", "issue a proper leaf: mtls-ca issue client --cn NAME"),
    ve!(38, "proxy path length constraint exceeded", Code::ProxyCertificate, "proxy certificate rules were violated", "do not use proxy certificates for mTLS"),
    ve!(39, "key usage does not include digital signature", Code::NoDigitalSignature, "the client certificate cannot sign the TLS handshake (keyUsage lacks digitalSignature)", "issue a client certificate: mtls-ca issue client --cn NAME"),
    ve!(40, "proxy certificates not allowed, please set the appropriate flag", Code::ProxyCertificate, "the client sent a proxy certificate", "issue a normal client certificate"),
    ve!(41, "invalid or inconsistent certificate extension", Code::InvalidExtension, "a certificate has a malformed or contradictory extension", "inspect it (mtls-ca inspect) and reissue it"),
    ve!(42, "invalid or inconsistent certificate policy extension", Code::InvalidPolicy, "a certificate's policy extensions are malformed", "reissue it without policy extensions"),
    ve!(43, "no explicit policy", Code::NoExplicitPolicy, "the chain does not satisfy the required certificate policy", "remove the policy requirement or issue certificates with the policy"),
    ve!(44, "different CRL scope", Code::CrlScope, "the CRL's scope does not cover the certificate", "use a full CRL from mtls-ca crl"),
    ve!(45, "unsupported extension feature", Code::UnsupportedExtension, "a certificate uses an extension feature the gateway does not support", "reissue it with mtls-ca"),
    ve!(46, "RFC 3779 resource not subset of parent's resources", Code::Rfc3779Violation, "RFC 3779 resources exceed the parent's", "reissue without RFC 3779 extensions"),
    ve!(47, "permitted subtree violation", Code::NameConstraintViolation, "a name in the certificate is outside the CA's permitted name constraints", "issue names inside the CA's --permit-dns/--permit-ip, or use a CA without those constraints"),
    ve!(48, "excluded subtree violation", Code::NameConstraintViolation, "a name in the certificate is in the CA's excluded name constraints", "issue a name outside the CA's --exclude-dns subtrees"),
    ve!(49, "name constraints minimum and maximum not supported", Code::NameConstraintUnsupported, "the CA's name constraints use minimum/maximum", "recreate the CA with plain name constraints"),
    ve!(50, "application verification failure", Code::ApplicationRejected, "the gateway's own check (e.g. a pinned fingerprint) rejected the certificate", "check the gateway's extra verification settings"),
    ve!(51, "unsupported name constraint type", Code::NameConstraintUnsupported, "the CA's name constraints use a type the gateway cannot check", "recreate the CA with DNS/IP constraints only"),
    ve!(52, "unsupported or invalid name constraint syntax", Code::NameConstraintUnsupported, "the CA's name constraints are malformed", "recreate the CA with mtls-ca init --permit-dns"),
    ve!(53, "unsupported or invalid name syntax", Code::BadName, "a name in the certificate cannot be checked against name constraints", "reissue with valid names"),
    ve!(54, "CRL path validation error", Code::CrlPathError, "the CRL's issuer chain does not validate", "publish CRLs signed by the CAs of the chain (mtls-ca crl)"),
    ve!(55, "path loop", Code::PathLoop, "the chain loops", "check the trusted CA file for cross-signed duplicates"),
    ve!(62, "hostname mismatch", Code::NameMismatch, "the certificate is not for the host name that was checked", "reissue it with --san HOST"),
    ve!(63, "email address mismatch", Code::EmailMismatch, "the certificate is not for the expected email", "reissue it with --san EMAIL"),
    ve!(64, "IP address mismatch", Code::IpMismatch, "the certificate is not for the IP address that was checked", "reissue it with --san IP"),
    ve!(66, "EE certificate key too weak", Code::WeakKey, "the client key is too small for the gateway's security level", "reissue with a stronger key: --key-type ecdsa-p256 or rsa-2048+"),
    ve!(67, "CA certificate key too weak", Code::WeakCaKey, "the CA key is too small for the gateway's security level", "create a new CA with ecdsa-p256 or rsa-3072 (mtls-ca ca rotate)"),
    ve!(68, "CA signature digest algorithm too weak", Code::WeakSignature, "a certificate in the chain is signed with SHA-1 or MD5", "reissue with SHA-256 (every mtls-ca certificate uses SHA-256 or better)"),
    ve!(70, "issuer certificate lookup error", Code::IssuerLookupFailed, "the gateway failed while looking up the issuer", "check the gateway's CA file/directory"),
    ve!(76, "Cannot find certificate signature algorithm", Code::UnsupportedSignature, "the gateway does not support the certificate's signature algorithm", "use ECDSA P-256 or RSA keys (Ed25519 is not accepted everywhere)"),
    ve!(77, "subject signature algorithm and issuer public key algorithm mismatch", Code::SignatureMismatch, "the certificate's signature algorithm does not fit its issuer's key", "reissue the certificate"),
    ve!(78, "cert info signature and signature algorithm mismatch", Code::SignatureMismatch, "the certificate's two signature algorithm fields differ", "reissue the certificate"),
    ve!(79, "invalid CA certificate", Code::InvalidCa, "a CA in the chain is not a valid CA (no CA:TRUE or keyCertSign)", "use a real CA: mtls-ca init (and init --parent for intermediates)"),
    ve!(80, "Path length invalid for non-CA cert", Code::InvalidExtension, "a leaf carries a path length", "reissue it with mtls-ca"),
    ve!(81, "Path length given without key usage keyCertSign", Code::InvalidExtension, "a CA has a path length but no keyCertSign", "recreate the CA with mtls-ca init"),
    ve!(82, "Key usage keyCertSign invalid for non-CA cert", Code::InvalidExtension, "a leaf has keyCertSign", "reissue it with mtls-ca"),
    ve!(83, "Issuer name empty", Code::InvalidExtension, "a certificate has an empty issuer", "reissue it"),
    ve!(84, "Subject name empty", Code::InvalidExtension, "a certificate has an empty subject", "reissue it with --cn"),
    ve!(85, "Missing Authority Key Identifier", Code::InvalidExtension, "a certificate lacks an AKI (strict mode)", "reissue it with mtls-ca (always writes AKI)"),
    ve!(86, "Missing Subject Key Identifier", Code::InvalidExtension, "a certificate lacks an SKI (strict mode)", "reissue it with mtls-ca (always writes SKI)"),
    ve!(87, "Empty Subject Alternative Name extension", Code::InvalidExtension, "a certificate has an empty SAN extension", "reissue it with --san"),
    ve!(89, "Basic Constraints of CA cert not marked critical", Code::InvalidExtension, "a CA's basicConstraints is not critical (strict mode)", "recreate the CA with mtls-ca init"),
    ve!(92, "CA cert does not include key usage extension", Code::InvalidExtension, "a CA has no keyUsage (strict mode)", "recreate the CA with mtls-ca init"),
    ve!(94, "Certificate public key has explicit ECC parameters", Code::ExplicitEcParams, "the key uses explicit EC parameters", "reissue with a named-curve key (mtls-ca keys always are)"),
];

/// Looks a verify error up by number.
pub fn verify_error(num: u32) -> Option<&'static VerifyError> {
    VERIFY_ERRORS.iter().find(|v| v.num == num)
}

/// Looks a verify error up by OpenSSL's text (as in `$ssl_client_verify` = `FAILED:text`):
/// the longest table text the input starts with, so that newer OpenSSL versions' longer texts
/// ("certificate is not yet valid or the system clock is incorrect") still match.
pub fn verify_error_by_text(text: &str) -> Option<&'static VerifyError> {
    let t = text.trim().to_ascii_lowercase();
    VERIFY_ERRORS
        .iter()
        .filter(|v| t.starts_with(&v.text.to_ascii_lowercase()))
        .max_by_key(|v| v.text.len())
}

/// One grouped finding: the shared [`Finding`] (code, side, cause, fix), where such lines come
/// from, how many said it and the first of them.
#[derive(Debug, Clone)]
pub struct Group {
    /// The finding (its message is the cause, its hint the fix).
    pub finding: Finding,
    /// Where such lines come from (nginx, haproxy, curl, python, kong, aws, openssl).
    pub source: String,
    /// How many lines said it.
    pub count: usize,
    /// The first few line numbers (1-based).
    pub lines: Vec<usize>,
    /// The first such line, control characters escaped, at most 300 characters.
    pub sample: String,
}

impl Group {
    /// The code as printed (scope prefix included).
    pub fn code(&self) -> String {
        self.finding.code_str().into_owned()
    }
}

impl serde::Serialize for Group {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let f = &self.finding;
        let mut st = s.serialize_struct("Group", 9)?;
        st.serialize_field("code", &f.code_str())?;
        st.serialize_field("source", &self.source)?;
        st.serialize_field("side", &f.side)?;
        st.serialize_field("cause", &f.message)?;
        st.serialize_field("fix", &f.hint)?;
        if let Some(c) = &f.command {
            st.serialize_field("command", c)?;
        } else {
            st.skip_field("command")?;
        }
        st.serialize_field("count", &self.count)?;
        st.serialize_field("lines", &self.lines)?;
        st.serialize_field("sample", &self.sample)?;
        st.end()
    }
}

/// The result of explaining a log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Explanation {
    /// Lines read.
    pub lines: usize,
    /// Lines that were about an mTLS failure.
    pub matched: usize,
    /// Lines recognised as successful mTLS requests.
    pub ok: usize,
    /// Lines that matched nothing.
    pub unrecognised: usize,
    /// Findings, most frequent first.
    pub findings: Vec<Group>,
}

struct Hit {
    finding: Finding,
    source: &'static str,
}

/// Who must act, by where the line comes from: a client's own error is the client's to fix, a
/// gateway's log line about a client certificate is the gateway's.
fn side_of_source(source: &str) -> Side {
    match source {
        "curl" | "python" | "openssl" | "client" => Side::Client,
        _ => Side::Gateway,
    }
}

fn hit(code: Code, source: &'static str, cause: &str, fix: &str) -> Hit {
    Hit {
        finding: Finding::new(code, side_of_source(source), cause, fix),
        source,
    }
}

fn from_verify(v: &VerifyError, source: &'static str) -> Hit {
    Hit {
        finding: Finding::new(
            v.code,
            side_of_source(source),
            format!("{} (OpenSSL error {}: {})", v.cause, v.num, v.text),
            v.fix,
        ),
        source,
    }
}

/// What one line says, if anything: `Some(Ok(hit))` a failure, `Some(Err(()))` a success.
fn classify(line: &str, ctx: &FixContext) -> Option<Result<Hit, ()>> {
    let l = line.to_ascii_lowercase();
    if let Some(h) = classify_known_sources(line, &l, ctx) {
        return Some(h);
    }
    let mut h = classify_generic(line, &l)?;
    if let Ok(h) = &mut h {
        if !matches!(h.source, "curl" | "python" | "openssl" | "client") {
            h.finding.side = gateway_log_side(h.finding.code);
            if h.finding.message.contains("(OpenSSL error 20:")
                || h.finding.message.contains("(OpenSSL error 21:")
            {
                leaf_only_hint(&mut h.finding);
            }
        } else if h.finding.code == Code::ClientCaNotTrusted {
            h.finding.side = Side::Gateway;
        }
    }
    Some(h)
}

/// The classic lines (nginx error log, HAProxy, curl, Kong, AWS): what one line says.
fn classify_generic(line: &str, l: &str) -> Option<Result<Hit, ()>> {
    // nginx error log: "client SSL certificate verify error: (20:unable to get local issuer certificate)"
    if let Some(i) = l.find("certificate verify error: (") {
        let rest = &l[i + "certificate verify error: (".len()..];
        let num: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        if let Some(v) = num.parse().ok().and_then(verify_error) {
            return Some(Ok(from_verify(v, "nginx")));
        }
        let text = rest
            .split_once(':')
            .map(|x| x.1)
            .unwrap_or("")
            .trim_end_matches(')');
        return Some(Ok(verify_error_by_text(text).map_or_else(
            || {
                hit(
                    Code::VerifyUnknown,
                    "nginx",
                    "the gateway rejected the client certificate with an unknown verify error",
                    "check the certificate with mtls-ca verify CERT --purpose client --ca CA",
                )
            },
            |v| from_verify(v, "nginx"),
        )));
    }
    // HAProxy: ssl_c_verify / ssl_c_err / ssl_c_ca_err numbers in custom log formats.
    for key in [
        "ssl_c_verify=",
        "ssl_c_err=",
        "ssl_c_ca_err=",
        "ssl_c_verify:",
        "ssl_c_err:",
        "ssl_c_ca_err:",
    ] {
        if let Some(i) = l.find(key) {
            let num: String = l[i + key.len()..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if let Ok(n) = num.parse::<u32>() {
                if n == 0 {
                    continue;
                }
                if let Some(v) = verify_error(n) {
                    return Some(Ok(from_verify(v, "haproxy")));
                }
            }
        }
    }
    // nginx access log with $ssl_client_verify.
    if let Some(i) = l.find("failed:") {
        let text: String = l[i + 7..]
            .chars()
            .take_while(|c| *c != '"' && *c != '|' && *c != '\t')
            .collect();
        if let Some(v) = verify_error_by_text(&text) {
            return Some(Ok(from_verify(v, "nginx")));
        }
    }
    if l.contains("client sent no required ssl certificate")
        || l.contains("no required ssl certificate was sent")
    {
        return Some(Ok(hit(Code::NoClientCert, "nginx", "the client connected without a client certificate while one is required (nginx answers HTTP 400)", "configure the client with its certificate and key (curl --cert --key; requests cert=(crt, key)); if it has one, its issuer may not be among the CA names the server sends")));
    }
    if l.contains("the ssl certificate error") {
        return Some(Ok(hit(Code::ClientCertRejected, "nginx", "nginx rejected the client certificate (HTTP 400 \"The SSL certificate error\")", "nginx's error log has the reason ('client SSL certificate verify error'); run mtls-ca explain on it")));
    }
    if l.contains("no required tls certificate was sent") {
        return Some(Ok(hit(Code::NoClientCert, "kong", "Kong's mtls-auth plugin got no client certificate (HTTP 401)", "send the client certificate; check that the plugin's ca_certificates list the client's CA (mtls-ca export kong)")));
    }
    if l.contains("tls certificate failed verification") {
        return Some(Ok(hit(Code::ClientCertRejected, "kong", "Kong's mtls-auth plugin could not verify the client certificate (HTTP 401)", "add the client's CA, root and intermediates, as ca_certificates of the plugin (mtls-ca export kong)")));
    }
    if let Some(i) = l.find("access denied. reason:") {
        let reason = line[i + "access denied. reason:".len()..].trim();
        let r = reason.to_ascii_lowercase();
        let (code, fix) = if r.contains("issuer") {
            (Code::UnknownIssuer, "upload a truststore with the root and every intermediate (mtls-ca export aws) and update the domain's truststoreVersion")
        } else if r.contains("expired") {
            (Code::CertExpired, "renew the client certificate (mtls-ca renew --cert FILE); AWS does not warn about expiring truststore certificates either")
        } else {
            (Code::ClientCertRejected, "check the client certificate against the truststore: mtls-ca verify CERT --purpose client --ca truststore.pem")
        };
        return Some(Ok(Hit {
            finding: Finding::new(
                code,
                Side::Gateway,
                format!("AWS API Gateway refused the client certificate (403): {reason}"),
                fix,
            ),
            source: "aws",
        }));
    }
    let client_side = l.contains("curl:")
        || l.contains("sslerror")
        || l.contains("ssl_read")
        || l.contains("ssl_connect")
        || l.contains("[ssl:")
        || l.contains("urlopen error");
    let server_side = l.contains("ssl_do_handshake() failed")
        || l.contains("ssl handshake failure")
        || l.contains("while ssl handshaking")
        || l.contains("haproxy");
    if l.contains("peer did not return a certificate") {
        return Some(Ok(hit(
            Code::NoClientCert,
            if server_side { "haproxy" } else { "openssl" },
            "the client sent no certificate and the server requires one (handshake aborted)",
            "configure the client with its certificate and key (curl --cert --key)",
        )));
    }
    // Alerts: on the client side the server sent them about our certificate; on the server side
    // the client sent them about the server's certificate.
    let alerts: &[(&str, Code, &str, &str)] = &[
        ("alert certificate required", Code::NoClientCert, "the server requires a client certificate and the client sent none (TLS alert 116)", "pass the client certificate and key: curl --cert client.crt --key client.key"),
        ("alert unknown ca", Code::ClientCaNotTrusted, "the server does not trust the CA that issued the client certificate (TLS alert 48 unknown_ca)", "add the client's CA (and intermediates) to the server's trusted CA file, or send the fullchain"),
        ("alert bad certificate", Code::ClientCertRejected, "the server rejected the client certificate (TLS alert 42 bad_certificate)", "check it: mtls-ca verify CERT --purpose client --ca SERVER_CA; an expired CRL on the server gives the same alert"),
        ("alert certificate expired", Code::CertExpired, "the server rejected the client certificate as expired (TLS alert 45)", "renew it: mtls-ca renew --cert FILE"),
        ("alert certificate revoked", Code::CertRevoked, "the server rejected the client certificate as revoked (TLS alert 44)", "issue a new client certificate"),
        ("alert unsupported certificate", Code::WrongPurpose, "the server rejected the client certificate's purpose (TLS alert 43: no clientAuth?)", "issue a client certificate: mtls-ca issue client --cn NAME"),
        ("alert certificate unknown", Code::ClientCertRejected, "the server could not validate the client certificate (TLS alert 46)", "check it with mtls-ca verify CERT --purpose client"),
        ("alert handshake failure", Code::HandshakeFailure, "the peer aborted the handshake (TLS alert 40; in TLS 1.2 OpenSSL servers send it when a required client certificate is missing)", "pass --cert/--key, and check protocol and cipher settings"),
    ];
    for (needle, code, cause, fix) in alerts {
        if l.contains(needle) {
            if server_side && !client_side {
                return Some(Ok(Hit {
                    finding: Finding::new(
                        *code,
                        Side::Client,
                        format!("the client rejected the server's certificate ({})", needle.trim_start_matches("alert ")),
                        "give the client the CA that issued the server certificate (curl --cacert ca.crt; requests verify=ca.crt) and serve the fullchain",
                    )
                    .scoped(Scope::RejectedByClient),
                    source: if l.contains("haproxy") { "haproxy" } else { "nginx" },
                }));
            }
            return Some(Ok(hit(
                *code,
                if l.contains("curl") {
                    "curl"
                } else if l.contains("sslerror") || l.contains("[ssl:") {
                    "python"
                } else {
                    "openssl"
                },
                cause,
                fix,
            )));
        }
    }
    let client_msgs: &[(&str, Code, &str, &str)] = &[
        ("unable to get local issuer certificate", Code::ServerUntrusted, "the client does not trust the server's certificate: its CA is not in the client's CA bundle (or the server sends no intermediate)", "curl --cacert ca.crt / requests verify='ca.crt', and serve STEM.fullchain.crt"),
        ("self-signed certificate in certificate chain", Code::ServerUntrusted, "the server's chain ends in a root the client does not trust", "curl --cacert ca.crt / requests verify='ca.crt'"),
        ("self signed certificate in certificate chain", Code::ServerUntrusted, "the server's chain ends in a root the client does not trust", "curl --cacert ca.crt / requests verify='ca.crt'"),
        ("no alternative certificate subject name matches", Code::NameMismatch, "the server certificate does not carry the host name the client used", "reissue the server certificate with --san HOST, or connect with a name it carries"),
        ("hostname mismatch", Code::NameMismatch, "the server certificate does not carry the host name the client used", "reissue the server certificate with --san HOST"),
        ("does not match target host name", Code::NameMismatch, "the server certificate does not carry the host name the client used", "reissue the server certificate with --san HOST"),
        ("ip address mismatch", Code::NameMismatch, "the server certificate does not carry the IP address the client used", "reissue the server certificate with --san IP"),
        ("unable to set private key file", Code::ClientKeyProblem, "curl could not use the client key (wrong file, wrong format, or it does not belong to the certificate)", "check the pair: mtls-ca verify client.crt --key client.key"),
        ("unable to use client certificate", Code::ClientKeyProblem, "curl could not use the client certificate/key pair", "check the pair: mtls-ca verify client.crt --key client.key"),
        ("could not load pem client certificate", Code::ClientCertUnreadable, "curl could not read the client certificate file", "check the path and that it is PEM: mtls-ca inspect FILE"),
        ("key values mismatch", Code::ClientKeyProblem, "the private key does not belong to the certificate", "use the key issued with the certificate: mtls-ca verify CERT --key KEY"),
        ("certificate has expired", Code::CertExpired, "a certificate has expired", "renew it: mtls-ca renew --cert FILE"),
        ("certificate verify failed", Code::VerifyFailed, "certificate verification failed", "the rest of the message says why; mtls-ca verify CERT --ca CA tells in plain words"),
        ("wrong version number", Code::NotTls, "the port does not speak TLS (plain HTTP?)", "use https:// on the TLS port, or enable TLS on the server"),
        ("plain http request was sent to https port", Code::NotTls, "a client spoke plain HTTP to the TLS port", "use https://"),
        ("client sent plain http request to https port", Code::NotTls, "a client spoke plain HTTP to the TLS port", "use https://"),
    ];
    for (needle, code, cause, fix) in client_msgs {
        if l.contains(needle) {
            let source = if l.contains("curl") {
                "curl"
            } else if l.contains("sslerror") || l.contains("[ssl:") {
                "python"
            } else if server_side {
                "nginx"
            } else {
                "openssl"
            };
            return Some(Ok(hit(*code, source, cause, fix)));
        }
    }
    if l.contains("ssl client certificate not trusted") {
        return Some(Ok(hit(
            Code::UnknownIssuer,
            "haproxy",
            "HAProxy did not trust the client certificate",
            "add the client's CA to the bind line's ca-file; log ssl_c_err for the exact reason",
        )));
    }
    if l.contains("ssl client ca chain cannot be verified") {
        return Some(Ok(hit(Code::ClientChainInvalid, "haproxy", "HAProxy could not verify the client's CA chain", "put the root and intermediates into ca-file and CRLs for each CA into crl-file; log ssl_c_ca_err for the exact reason")));
    }
    if l.contains("ssl handshake failure") {
        return Some(Ok(hit(Code::HandshakeFailure, "haproxy", "a TLS handshake failed (HAProxy does not say why in its default log)", "log ssl_c_err and ssl_c_ca_err in the log-format, or probe the endpoint: mtls-ca probe HOST:PORT --cert --key")));
    }
    if l.contains("ssl_do_handshake() failed") {
        return Some(Ok(hit(Code::HandshakeFailure, "nginx", "a TLS handshake failed", "the rest of the line has OpenSSL's reason; mtls-ca probe HOST:PORT --cert --key reproduces it")));
    }
    if l.contains("connection refused") || l.contains("failed to connect") {
        return Some(Ok(hit(
            Code::NotListening,
            "client",
            "nothing listens on the address the client used",
            "start the server or fix the host/port",
        )));
    }
    // Successes: an access log line with a verified client.
    if l.contains("success") && (l.contains("http/") || l.contains("verify")) {
        return Some(Err(()));
    }
    None
}

/// Who must act on a gateway's log line about a client certificate: the client when its
/// certificate is wrong (expired, revoked, wrong purpose, sent without its intermediate), the
/// gateway when its trust settings are (CAs, CRLs, depth).
fn gateway_log_side(code: Code) -> Side {
    use Code as C;
    match code {
        C::CertExpired
        | C::CertNotYetValid
        | C::CertRevoked
        | C::WrongPurpose
        | C::SelfSignedLeaf
        | C::NoDigitalSignature
        | C::LeafWithCaMarkings
        | C::ProxyCertificate
        | C::WeakKey
        | C::BadCertificateEncoding
        | C::BadSignature
        | C::MissingIntermediate
        | C::NoClientCert
        | C::ClientKeyProblem
        | C::ClientCertUnreadable
        | C::NotTls
        | C::NotListening
        | C::NameMismatch
        | C::EmailMismatch
        | C::IpMismatch => Side::Client,
        _ => Side::Gateway,
    }
}

/// The client tool a line comes from, when it is a client's own error output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Python,
    Curl,
    Go,
    Java,
    Node,
}

impl Tool {
    fn source(self) -> &'static str {
        match self {
            Tool::Python => "python",
            Tool::Curl => "curl",
            Tool::Go => "go",
            Tool::Java => "java",
            Tool::Node => "node",
        }
    }

    fn detect(l: &str) -> Option<Tool> {
        if l.contains("tls handshake error from") || l.contains("tls_error:") {
            return None; // a Go server (Caddy) or Envoy about its client
        }
        if l.contains("sslcertverificationerror")
            || l.contains("[ssl: certificate_verify_failed]")
            || l.contains("httpsconnectionpool")
            || l.contains("urllib3")
            || l.contains("requests.exceptions")
        {
            Some(Tool::Python)
        } else if l.contains("curl: (") {
            Some(Tool::Curl)
        } else if l.contains("pkix path building failed")
            || l.contains("javax.net.ssl")
            || l.contains("sun.security.")
            || l.contains("no subject alternative dns name matching")
            || l.contains("no subject alternative names matching")
        {
            Some(Tool::Java)
        } else if l.contains("unable_to_verify_leaf_signature")
            || l.contains("self_signed_cert_in_chain")
            || l.contains("depth_zero_self_signed_cert")
            || l.contains("unable_to_get_issuer_cert_locally")
            || l.contains("err_tls_cert_altname_invalid")
            || l.contains("cert_has_expired")
            || l.contains("hostname/ip does not match certificate's altnames")
            || l.trim_start()
                .starts_with("error: unable to verify the first certificate")
            || l.trim_start()
                .starts_with("error: self-signed certificate in certificate chain")
        {
            Some(Tool::Node)
        } else if l.contains("x509: ") || l.contains("tls: failed to verify certificate") {
            Some(Tool::Go)
        } else {
            None
        }
    }

    /// How this tool is told to trust the CA in `ca` (a path).
    fn trust_fix(self, ca: &str, url: Option<&str>) -> String {
        let url = url.unwrap_or("https://HOST:PORT/");
        let q = sh(ca);
        match self {
            Tool::Python => format!(
                "on the client, trust the CA that issued the server certificate: requests.get('{url}', verify='{ca}', cert=('client.crt', 'client.key')) (or export REQUESTS_CA_BUNDLE={q})"
            ),
            Tool::Curl => format!(
                "on the client, trust the CA that issued the server certificate: curl --cacert {q} --cert client.crt --key client.key {url}"
            ),
            Tool::Go => format!(
                "on the client, trust the CA that issued the server certificate: pool := x509.NewCertPool(); pool.AppendCertsFromPEM(os.ReadFile(\"{ca}\")); tls.Config{{RootCAs: pool}} (or run it with SSL_CERT_FILE={q})"
            ),
            Tool::Java => format!(
                "on the client, import the CA into a truststore and use it: keytool -importcert -noprompt -alias mtls-ca -file {q} -keystore truststore.p12 -storetype PKCS12 -storepass changeit; java -Djavax.net.ssl.trustStore=truststore.p12 -Djavax.net.ssl.trustStorePassword=changeit …"
            ),
            Tool::Node => format!(
                "on the client, trust the CA that issued the server certificate: https.request({{ ca: fs.readFileSync('{ca}'), cert, key }}) (or run node with NODE_EXTRA_CA_CERTS={q})"
            ),
        }
    }

    /// The trust fix as one command, when the tool has one that stands alone.
    fn trust_command(self, ca: &str) -> Option<String> {
        match self {
            Tool::Java => Some(format!(
                "keytool -importcert -noprompt -alias mtls-ca -file {} -keystore truststore.p12 -storetype PKCS12 -storepass changeit",
                sh(ca)
            )),
            _ => None,
        }
    }

    /// How this tool connects with a name the server certificate carries.
    fn name_fix(self) -> &'static str {
        match self {
            Tool::Python => "on the client, use a URL whose host is one of the certificate's names (requests.get('https://NAME:PORT/')); map the name to the address in /etc/hosts if DNS lacks it. Or reissue the server certificate with --san for the name the client uses",
            Tool::Curl => "on the client, connect with a name the certificate carries: curl --resolve NAME:PORT:ADDR https://NAME:PORT/. Or reissue the server certificate with --san for the name the client uses",
            Tool::Go => "on the client, dial a name the certificate carries, or set tls.Config{ServerName: \"NAME\"} to one of its names. Or reissue the server certificate with --san for the name the client uses",
            Tool::Java => "on the client, use a URL whose host is one of the certificate's names (Java checks the URL's host against the SANs). Or reissue the server certificate with --san for the name the client uses",
            Tool::Node => "on the client, connect with a name the certificate carries, or pass servername: 'NAME' to https.request. Or reissue the server certificate with --san for the name the client uses",
        }
    }
}

/// `host='H', port=P` in a requests/urllib3 message, as a URL.
fn python_url(line: &str) -> Option<String> {
    let h = line.split("host='").nth(1)?.split('\'').next()?;
    let p: String = line
        .split("port=")
        .nth(1)?
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    if h.is_empty()
        || p.is_empty()
        || !h
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
    {
        return None;
    }
    Some(format!("https://{h}:{p}/"))
}

/// A client tool's own error about the server certificate: the client must act.
fn client_tool_line(line: &str, l: &str, ctx: &FixContext) -> Option<Hit> {
    let tool = Tool::detect(l)?;
    let ca = ctx.dir.join("ca.crt").display().to_string();
    let url = if tool == Tool::Python {
        python_url(line)
    } else {
        None
    };
    let name_mismatch = l.contains("hostname mismatch")
        || l.contains("no alternative certificate subject name matches")
        || l.contains("does not match certificate's altnames")
        || l.contains("err_tls_cert_altname_invalid")
        || l.contains("no subject alternative")
        || (l.contains("x509: certificate is valid for") && l.contains(", not "))
        || l.contains("ip address mismatch");
    if name_mismatch {
        return Some(Hit {
            finding: Finding::new(
                Code::NameMismatch,
                Side::Client,
                format!(
                    "{} connected with a host name the server certificate does not carry",
                    tool.source()
                ),
                tool.name_fix(),
            ),
            source: tool.source(),
        });
    }
    let expired = l.contains("certificate has expired")
        || l.contains("cert_has_expired")
        || l.contains("x509: certificate has expired");
    if expired && !l.contains("alert") {
        return Some(Hit {
            finding: Finding::new(
                Code::CertExpired,
                Side::Server,
                format!("{} refused the server certificate: it has expired", tool.source()),
                format!(
                    "on the server, renew its certificate (mtls-ca renew --cert SERVER.crt --dir {}) and reload it",
                    sh(&ctx.dir.display().to_string())
                ),
            ),
            source: tool.source(),
        });
    }
    let untrusted = l.contains("unable to get local issuer certificate")
        || l.contains("unable to verify the first certificate")
        || l.contains("unable_to_verify_leaf_signature")
        || l.contains("unable_to_get_issuer_cert_locally")
        || l.contains("self-signed certificate in certificate chain")
        || l.contains("self signed certificate in certificate chain")
        || l.contains("self_signed_cert_in_chain")
        || l.contains("depth_zero_self_signed_cert")
        || l.contains("certificate signed by unknown authority")
        || l.contains("pkix path building failed")
        || l.contains("unable to find valid certification path")
        || l.contains("curl: (60)")
        || (l.contains("certificate_verify_failed") && tool == Tool::Python);
    if untrusted {
        let mut f = Finding::new(
            Code::ServerUntrusted,
            Side::Client,
            format!(
                "{} does not trust the server's certificate: the CA that issued it is not in the client's trust store (or the server sends no intermediate)",
                tool.source()
            ),
            format!(
                "{}; if the server's CA is an intermediate, the server must also send it (serve STEM.fullchain.crt)",
                tool.trust_fix(&ca, url.as_deref())
            ),
        );
        if let Some(c) = tool.trust_command(&ca) {
            f = f.with_command(c);
        }
        return Some(Hit {
            finding: f,
            source: tool.source(),
        });
    }
    None
}

/// Lines from sources with their own formats: client tools, `mtls-ca serve`, Envoy, Caddy (Go
/// servers) and the access log `mtls-ca export nginx` configures.
fn classify_known_sources(line: &str, l: &str, ctx: &FixContext) -> Option<Result<Hit, ()>> {
    if let Some(h) = client_tool_line(line, l, ctx) {
        return Some(Ok(h));
    }
    let dir = sh(&ctx.dir.display().to_string()).into_owned();
    let mk = |code: Code, side: Side, source: &'static str, cause: String, fix: String| Hit {
        finding: Finding::new(code, side, cause, fix),
        source,
    };
    // The access log of `mtls-ca export nginx`: ssl_client_verify=NONE|FAILED:reason|SUCCESS.
    if let Some(i) = l.find("ssl_client_verify=") {
        let v = &l[i + "ssl_client_verify=".len()..];
        let serial: Option<String> = line
            .split(" serial=")
            .nth(1)
            .map(|s| {
                s.chars()
                    .take_while(|c| c.is_ascii_hexdigit())
                    .collect::<String>()
            })
            .filter(|s| s.len() >= 8);
        if v.starts_with("success") {
            return Some(Err(()));
        }
        if v.starts_with("none") {
            return Some(Ok(mk(
                Code::NoClientCert,
                Side::Client,
                "nginx",
                "the client sent no certificate (ssl_client_verify=NONE; nginx answered 400 \"No required SSL certificate was sent\")".into(),
                "on the client, pass its certificate and key (curl --cert STEM.fullchain.crt --key STEM.key; requests cert=('STEM.fullchain.crt', 'STEM.key')); if it did, its issuer is not among the CA names nginx sends (ssl_client_certificate)".into(),
            )));
        }
        if let Some(failed) = v.strip_prefix("failed:") {
            let text: String = failed.chars().take_while(|c| *c != '"').collect();
            let text = text.split(" subject=").next().unwrap_or("").to_string();
            if let Some(ve) = verify_error_by_text(&text) {
                let mut h = from_verify(ve, "nginx");
                h.finding.side = gateway_log_side(ve.code);
                if let (Code::CertExpired | Code::CertRevoked, Some(serial)) = (ve.code, &serial) {
                    let serial = serial.to_ascii_lowercase();
                    let (cmd, what) = if ve.code == Code::CertExpired {
                        (ctx.mtls(&ctx.dir, &["renew", serial.as_str()]), "renew it")
                    } else {
                        (ctx.mtls(&ctx.dir, &["renew", serial.as_str(), "--rekey"]), "a revoked certificate stays revoked: issue its successor with a new key")
                    };
                    h.finding.hint = format!("{what} ({cmd}) and give the client the new files");
                    h.finding.command = Some(cmd);
                }
                if ve.num == 21 || ve.num == 20 {
                    leaf_only_hint(&mut h.finding);
                }
                return Some(Ok(h));
            }
        }
    }
    // `mtls-ca serve`: "PEER handshake failed: REASON" and "PEER \"GET / HTTP/1.1\" -> 200, client …".
    if l.contains("\" -> 200, client ") || l.contains("\" -> 200, no client certificate") {
        return Some(Err(()));
    }
    if let Some(i) = l.find(" handshake failed: ") {
        let r = &l[i..];
        let serve: &[(&str, Code, Side, &str)] = &[
            ("the client sent no certificate", Code::NoClientCert, Side::Client, "on the client, pass its certificate and key (curl --cert STEM.fullchain.crt --key STEM.key)"),
            ("from a ca this server does not trust", Code::UnknownIssuer, Side::Gateway, "if the client's CA is an intermediate, the client must send STEM.fullchain.crt; otherwise start serve with --ca naming the client's CA (or issue the client from this CA)"),
            ("client certificate has expired", Code::CertExpired, Side::Client, "renew the client certificate (mtls-ca renew --cert STEM.crt) and deploy it"),
            ("client certificate is not valid yet", Code::CertNotYetValid, Side::Client, "check the clocks of client, CA and server (NTP)"),
            ("client certificate is revoked", Code::CertRevoked, Side::Client, "issue the client a new certificate (mtls-ca renew --cert STEM.crt --rekey)"),
            ("not for clients (no clientauth eku)", Code::WrongPurpose, Side::Client, "issue a client certificate: mtls-ca issue client --cn NAME --out STEM"),
            ("signature is bad", Code::BadSignature, Side::Client, "get the certificate again from the CA that issued it"),
            ("no crl covers", Code::CrlMissing, Side::Gateway, "give serve a --crl for every CA of the client's chain (mtls-ca crl in each CA directory)"),
            ("the crl has expired", Code::CrlExpired, Side::Gateway, "publish a fresh CRL (mtls-ca crl) and restart serve with it"),
        ];
        for (needle, code, side, fix) in serve {
            if r.contains(needle) {
                let fix = with_dir(fix, &dir);
                return Some(Ok(mk(
                    *code,
                    *side,
                    "serve",
                    format!(
                        "mtls-ca serve refused the handshake: {}",
                        line[i + " handshake failed: ".len()..].trim()
                    ),
                    fix,
                )));
            }
        }
        if r.contains("client aborted with alert") {
            return Some(Ok(Hit {
                finding: Finding::new(
                    Code::ServerUntrusted,
                    Side::Client,
                    "the client aborted the handshake: it does not trust the server's certificate",
                    format!("on the client, trust {}/ca.crt (curl --cacert; requests verify=; NODE_EXTRA_CA_CERTS; a Java truststore)", ctx.dir.display()),
                ),
                source: "serve",
            }));
        }
    }
    // Envoy: "TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:verify
    // cert failed: X509_verify_cert: certificate verification error at depth 0: TEXT:TLS_error_end"
    if l.contains("tls_error:") || l.contains("openssl_internal:") {
        if l.contains("peer_did_not_return_a_certificate") {
            return Some(Ok(mk(Code::NoClientCert, Side::Client, "envoy", "the client sent no certificate and Envoy requires one (require_client_certificate)".into(), "on the client, pass its certificate and key (curl --cert STEM.fullchain.crt --key STEM.key)".into())));
        }
        if let Some(i) = l.find("certificate verification error at depth ") {
            let rest = &l[i + "certificate verification error at depth ".len()..];
            let text = rest.split_once(": ").map(|x| x.1).unwrap_or("");
            let text = text.split(":tls_error_end").next().unwrap_or(text);
            if let Some(ve) = verify_error_by_text(text) {
                let mut h = from_verify(ve, "envoy");
                h.finding.side = gateway_log_side(ve.code);
                h.finding.hint = h
                    .finding
                    .hint
                    .replace(
                        "ssl_client_certificate / ca-file",
                        "validation_context.trusted_ca",
                    )
                    .replace(
                        "(nginx ssl_crl / HAProxy crl-file)",
                        "(validation_context.crl)",
                    );
                if ve.num == 20 || ve.num == 21 {
                    leaf_only_hint(&mut h.finding);
                }
                return Some(Ok(h));
            }
        }
        if l.contains("certificate_verify_failed") {
            return Some(Ok(mk(Code::ClientCertRejected, Side::Gateway, "envoy", "Envoy could not verify the client certificate (CERTIFICATE_VERIFY_FAILED)".into(), "Envoy's debug log (--component-log-level connection:debug) has the reason ('verify cert failed: …'); check the client with mtls-ca verify CERT --purpose client".into())));
        }
        if l.contains("tlsv1_alert_unknown_ca")
            || l.contains("sslv3_alert_certificate_unknown")
            || l.contains("sslv3_alert_bad_certificate")
        {
            return Some(Ok(Hit {
                finding: Finding::new(
                    Code::ServerUntrusted,
                    Side::Client,
                    "the client rejected Envoy's server certificate (TLS alert)",
                    format!(
                        "on the client, trust {}/ca.crt (curl --cacert; requests verify=)",
                        ctx.dir.display()
                    ),
                ),
                source: "envoy",
            }));
        }
    }
    // Caddy and other Go servers: "http: TLS handshake error from ADDR: REASON".
    if let Some(i) = l.find("tls handshake error from ") {
        let r = &l[i..];
        let go: &[(&str, Code, Side, &str)] = &[
            ("client didn't provide a certificate", Code::NoClientCert, Side::Client, "on the client, pass its certificate and key (curl --cert STEM.fullchain.crt --key STEM.key)"),
            ("certificate signed by unknown authority", Code::UnknownIssuer, Side::Gateway, "if the client's CA is an intermediate, the client must send STEM.fullchain.crt; otherwise add the client's CA to Caddy's client_auth trusted_ca_cert_file (mtls-ca export caddy)"),
            ("certificate has expired", Code::CertExpired, Side::Client, "renew the client certificate (mtls-ca renew --cert STEM.crt) and deploy it"),
            ("is not yet valid", Code::CertNotYetValid, Side::Client, "check the clocks of client, CA and server (NTP)"),
            ("incompatible key usage", Code::WrongPurpose, Side::Client, "issue a client certificate (clientAuth): mtls-ca issue client --cn NAME --out STEM"),
            ("remote error: tls: bad certificate", Code::ServerUntrusted, Side::Client, "the client does not trust Caddy's certificate: on the client, trust the CA (curl --cacert ca.crt; requests verify=)"),
            ("remote error: tls: unknown certificate authority", Code::ServerUntrusted, Side::Client, "the client does not trust Caddy's certificate: on the client, trust the CA (curl --cacert ca.crt; requests verify=)"),
            ("first record does not look like a tls handshake", Code::NotTls, Side::Client, "the client spoke plain HTTP to the TLS port: use https://"),
        ];
        for (needle, code, side, fix) in go {
            if r.contains(needle) {
                let fix = with_dir(fix, &dir);
                return Some(Ok(mk(
                    *code,
                    *side,
                    "caddy",
                    format!(
                        "Caddy (Go TLS) refused the handshake: {}",
                        line[i + "tls handshake error from ".len()..].trim()
                    ),
                    fix,
                )));
            }
        }
    }
    None
}

/// OpenSSL's errors 20/21 for a client certificate: also the sign of a client that sent its leaf
/// without the intermediate.
fn leaf_only_hint(f: &mut Finding) {
    f.message.push_str("; a client that sends only its leaf, without the intermediate that issued it, gets the same error");
    f.hint = format!(
        "if the client certificate was issued by an intermediate CA, the client must send the fullchain (curl --cert STEM.fullchain.crt; requests cert=('STEM.fullchain.crt', 'STEM.key')); otherwise {}",
        f.hint
    );
}

/// Explains every line of `text`.
pub fn explain(text: &str) -> Explanation {
    explain_lines(text.lines())
}

/// Explains every line of `text`, with fix commands for the CA directory of `ctx`.
pub fn explain_with(text: &str, ctx: &FixContext) -> Explanation {
    explain_lines_with(text.lines(), ctx)
}

/// Explains every line an iterator yields (for streaming large logs).
pub fn explain_lines<'a, I: IntoIterator<Item = &'a str>>(input: I) -> Explanation {
    explain_lines_with(input, &FixContext::default())
}

/// Explains every line an iterator yields, with fix commands for the CA directory of `ctx`.
pub fn explain_lines_with<'a, I: IntoIterator<Item = &'a str>>(
    input: I,
    ctx: &FixContext,
) -> Explanation {
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    let mut lines = 0;
    let mut matched = 0;
    let mut ok = 0;
    let mut unrecognised = 0;
    for (i, line) in input.into_iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        lines += 1;
        match classify(line, ctx) {
            Some(Ok(h)) => {
                matched += 1;
                let key = (h.finding.code_str().into_owned(), h.source.to_string());
                let f = groups.entry(key).or_insert_with(|| Group {
                    finding: h.finding.clone(),
                    source: h.source.into(),
                    count: 0,
                    lines: Vec::new(),
                    sample: escape(line, 300),
                });
                f.count += 1;
                if f.lines.len() < 5 {
                    f.lines.push(i + 1);
                }
            }
            Some(Err(())) => ok += 1,
            None => unrecognised += 1,
        }
    }
    let mut findings: Vec<Group> = groups.into_values().collect();
    findings.sort_by(|a, b| b.count.cmp(&a.count).then(a.lines[0].cmp(&b.lines[0])));
    Explanation {
        lines,
        matched,
        ok,
        unrecognised,
        findings,
    }
}

/// Escapes control characters and caps the length.
pub fn escape(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .take(max)
        .collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

/// A fix command of the tables above, with the caller's `--dir` added to the commands that open the CA.
fn with_dir(fix: &str, dir: &str) -> String {
    fix.replace(
        "mtls-ca renew --cert STEM.crt",
        &format!("mtls-ca renew --cert STEM.crt --dir {dir}"),
    )
    .replace("--out STEM", &format!("--out STEM --dir {dir}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_table_is_consistent() {
        let mut seen = std::collections::HashSet::new();
        for v in VERIFY_ERRORS {
            assert!(seen.insert(v.num), "duplicate {}", v.num);
            assert!(
                verify_error_by_text(v.text).is_some_and(|x| x.text == v.text),
                "{}",
                v.text
            );
        }
        for n in 2..=54 {
            assert!(verify_error(n).is_some(), "verify error {n} unexplained");
        }
    }

    #[test]
    fn classifies_known_lines() {
        let log = "2026/11/28 10:00:00 [info] 12#12: *3 client SSL certificate verify error: (10:certificate has expired) while reading client request headers, client: 127.0.0.1\n\
                   2026/11/28 10:00:01 [info] 12#12: *4 client sent no required SSL certificate while reading client request headers\n\
                   127.0.0.1 - - [28/Nov/2026] \"GET / HTTP/1.1\" 400 FAILED:unable to get local issuer certificate\n\
                   curl: (56) OpenSSL SSL_read: error:0A00045C:SSL routines::tlsv13 alert certificate required, errno 0\n\
                   something else entirely\n";
        let e = explain(log);
        assert_eq!(e.lines, 5);
        assert_eq!(e.matched, 4);
        assert_eq!(e.unrecognised, 1);
        let codes: Vec<String> = e.findings.iter().map(|f| f.code()).collect();
        let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
        assert!(codes.contains(&"cert_expired"));
        assert!(codes.contains(&"unknown_issuer"));
        assert_eq!(codes.iter().filter(|c| **c == "no_client_cert").count(), 2);
    }
}
