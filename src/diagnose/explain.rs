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

/// One OpenSSL verify error: number, OpenSSL's text, our code, cause, fix.
pub struct VerifyError {
    /// `X509_V_ERR_*` number.
    pub num: u32,
    /// `X509_verify_cert_error_string` text (OpenSSL 3).
    pub text: &'static str,
    /// Our stable code.
    pub code: &'static str,
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
    ve!(1, "unspecified certificate verification error", "verify_unspecified", "OpenSSL rejected the certificate without a specific reason", "check the certificate with mtls-ca verify CERT --purpose client --ca CA"),
    ve!(2, "unable to get issuer certificate", "missing_intermediate", "the issuer of a certificate in the chain is not available to the verifier", "send the full chain from the client (STEM.fullchain.crt) or add the intermediate to the server's trusted CA file"),
    ve!(3, "unable to get certificate CRL", "crl_missing", "CRL checking is on but there is no CRL for one of the CAs in the chain", "give the gateway a CRL for every CA in the chain (nginx ssl_crl / HAProxy crl-file): mtls-ca crl in each CA directory, concatenated"),
    ve!(4, "unable to decrypt certificate's signature", "bad_signature", "a certificate's signature cannot be decoded", "reissue the certificate; it is damaged or was not signed by its issuer"),
    ve!(5, "unable to decrypt CRL's signature", "crl_bad_signature", "the CRL's signature cannot be decoded", "regenerate the CRL with mtls-ca crl"),
    ve!(6, "unable to decode issuer public key", "bad_issuer_key", "the issuer's public key cannot be read", "check the CA certificate with mtls-ca inspect"),
    ve!(7, "certificate signature failure", "bad_signature", "a certificate's signature does not verify with its issuer's key", "the certificate was not issued by the CA the server trusts (same name, different key?): reissue it from the right CA"),
    ve!(8, "CRL signature failure", "crl_bad_signature", "the CRL was not signed by the CA it names", "regenerate the CRL in the right CA directory: mtls-ca crl"),
    ve!(9, "certificate is not yet valid", "cert_not_yet_valid", "the client certificate's notBefore is in the future", "check the clocks of client, CA and gateway; mtls-ca backdates notBefore 5 minutes for skew"),
    ve!(10, "certificate has expired", "cert_expired", "the client certificate (or a CA in its chain) has expired", "renew it: mtls-ca renew --cert FILE, and watch expiry with mtls-ca list --expiring-within 30d"),
    ve!(11, "CRL is not yet valid", "crl_not_yet_valid", "the CRL's thisUpdate is in the future", "check the CA machine's clock and regenerate the CRL"),
    ve!(12, "CRL has expired", "crl_expired", "the gateway's CRL is past its nextUpdate, so every client is rejected", "publish a fresh CRL now (mtls-ca crl) and schedule it (mtls-ca crl --check in cron)"),
    ve!(13, "format error in certificate's notBefore field", "bad_certificate_encoding", "the certificate's notBefore is malformed", "reissue the certificate"),
    ve!(14, "format error in certificate's notAfter field", "bad_certificate_encoding", "the certificate's notAfter is malformed", "reissue the certificate"),
    ve!(15, "format error in CRL's lastUpdate field", "crl_bad_encoding", "the CRL is malformed", "regenerate the CRL with mtls-ca crl"),
    ve!(16, "format error in CRL's nextUpdate field", "crl_bad_encoding", "the CRL is malformed", "regenerate the CRL with mtls-ca crl"),
    ve!(17, "out of memory", "gateway_out_of_memory", "the gateway ran out of memory while verifying", "check the gateway host"),
    ve!(18, "self-signed certificate", "self_signed_leaf", "the client sent a self-signed certificate, not one issued by the trusted CA", "issue the client a certificate from your CA: mtls-ca issue client --cn NAME"),
    ve!(19, "self-signed certificate in certificate chain", "untrusted_root", "the client's chain ends in a root the gateway does not trust", "add that root to the gateway's trusted CA file (ssl_client_certificate / ca-file), or use a certificate from the CA it trusts"),
    ve!(20, "unable to get local issuer certificate", "unknown_issuer", "the client certificate's issuer is not among the gateway's trusted CAs (or an intermediate is missing)", "add your CA (root and intermediates) to the gateway's ssl_client_certificate / ca-file, or send the fullchain from the client"),
    ve!(21, "unable to verify the first certificate", "unknown_issuer", "no trusted issuer was found for the client certificate", "add the issuing CA to the gateway's trusted CA file"),
    ve!(22, "certificate chain too long", "chain_too_long", "the client's chain is deeper than the gateway allows", "raise the verify depth (nginx ssl_verify_depth 2 for root -> intermediate -> leaf; ingress-nginx auth-tls-verify-depth)"),
    ve!(23, "certificate revoked", "cert_revoked", "the client certificate is revoked in the gateway's CRL", "issue the client a new certificate: mtls-ca issue client --cn NAME (or mtls-ca renew SERIAL, which makes a new key)"),
    ve!(24, "issuer certificate doesn't have a public key", "invalid_ca", "the issuing CA certificate is unusable (OpenSSL 1.1: invalid CA certificate)", "check the CA certificate with mtls-ca inspect; CAs need basicConstraints CA:TRUE and keyCertSign"),
    ve!(25, "path length constraint exceeded", "pathlen_exceeded", "the chain has more CAs than a CA's pathLenConstraint allows", "issue from a CA higher up, or recreate the CA with a larger --pathlen"),
    ve!(26, "unsuitable certificate purpose", "wrong_purpose", "the certificate is not for TLS clients (no clientAuth EKU: a server certificate used as a client?)", "issue a client certificate: mtls-ca issue client --cn NAME"),
    ve!(27, "certificate not trusted", "cert_untrusted", "the root is not trusted for this purpose", "add the root to the gateway's trusted CA file without purpose restrictions"),
    ve!(28, "certificate rejected", "cert_rejected", "the root is explicitly marked as rejected for this purpose", "check the trust settings of the gateway's CA file"),
    ve!(29, "subject issuer mismatch", "issuer_mismatch", "a certificate's issuer name does not match its CA's subject", "reissue the certificate from the CA the gateway trusts"),
    ve!(30, "authority and subject key identifier mismatch", "aki_mismatch", "a certificate's AKI does not match the CA's SKI (issued by a different key with the same name?)", "reissue the certificate from the current CA, or trust the CA that issued it (mtls-ca ca-bundle during rotation)"),
    ve!(31, "authority and issuer serial number mismatch", "aki_mismatch", "a certificate's AKI serial does not match the CA", "reissue the certificate from the current CA"),
    ve!(32, "key usage does not include certificate signing", "ca_without_keycertsign", "a CA in the chain lacks keyCertSign", "recreate the CA with mtls-ca init (CAs get keyCertSign)"),
    ve!(33, "unable to get CRL issuer certificate", "crl_issuer_missing", "the gateway cannot find the CA that signed a CRL", "put the CA that signed each CRL into the trusted CA file"),
    ve!(34, "unhandled critical extension", "unhandled_critical_extension", "a certificate has a critical extension the gateway does not understand", "reissue the certificate without it (mtls-ca profiles never add one)"),
    ve!(35, "key usage does not include CRL signing", "ca_without_crlsign", "the CA that signed the CRL lacks cRLSign", "recreate the CA with mtls-ca init (CAs get cRLSign)"),
    ve!(36, "unhandled critical CRL extension", "crl_critical_extension", "the CRL has a critical extension the gateway does not understand", "regenerate the CRL with mtls-ca crl"),
    ve!(37, "invalid non-CA certificate (has CA markings)", "leaf_with_ca_markings", "a leaf certificate carries CA markings", "issue a proper leaf: mtls-ca issue client --cn NAME"),
    ve!(38, "proxy path length constraint exceeded", "proxy_certificate", "proxy certificate rules were violated", "do not use proxy certificates for mTLS"),
    ve!(39, "key usage does not include digital signature", "no_digital_signature", "the client certificate cannot sign the TLS handshake (keyUsage lacks digitalSignature)", "issue a client certificate: mtls-ca issue client --cn NAME"),
    ve!(40, "proxy certificates not allowed, please set the appropriate flag", "proxy_certificate", "the client sent a proxy certificate", "issue a normal client certificate"),
    ve!(41, "invalid or inconsistent certificate extension", "invalid_extension", "a certificate has a malformed or contradictory extension", "inspect it (mtls-ca inspect) and reissue it"),
    ve!(42, "invalid or inconsistent certificate policy extension", "invalid_policy", "a certificate's policy extensions are malformed", "reissue it without policy extensions"),
    ve!(43, "no explicit policy", "no_explicit_policy", "the chain does not satisfy the required certificate policy", "remove the policy requirement or issue certificates with the policy"),
    ve!(44, "different CRL scope", "crl_scope", "the CRL's scope does not cover the certificate", "use a full CRL from mtls-ca crl"),
    ve!(45, "unsupported extension feature", "unsupported_extension", "a certificate uses an extension feature the gateway does not support", "reissue it with mtls-ca"),
    ve!(46, "RFC 3779 resource not subset of parent's resources", "rfc3779_violation", "RFC 3779 resources exceed the parent's", "reissue without RFC 3779 extensions"),
    ve!(47, "permitted subtree violation", "name_constraint_violation", "a name in the certificate is outside the CA's permitted name constraints", "issue names inside the CA's --permit-dns/--permit-ip, or use a CA without those constraints"),
    ve!(48, "excluded subtree violation", "name_constraint_violation", "a name in the certificate is in the CA's excluded name constraints", "issue a name outside the CA's --exclude-dns subtrees"),
    ve!(49, "name constraints minimum and maximum not supported", "name_constraint_unsupported", "the CA's name constraints use minimum/maximum", "recreate the CA with plain name constraints"),
    ve!(50, "application verification failure", "application_rejected", "the gateway's own check (e.g. a pinned fingerprint) rejected the certificate", "check the gateway's extra verification settings"),
    ve!(51, "unsupported name constraint type", "name_constraint_unsupported", "the CA's name constraints use a type the gateway cannot check", "recreate the CA with DNS/IP constraints only"),
    ve!(52, "unsupported or invalid name constraint syntax", "name_constraint_unsupported", "the CA's name constraints are malformed", "recreate the CA with mtls-ca init --permit-dns"),
    ve!(53, "unsupported or invalid name syntax", "bad_name", "a name in the certificate cannot be checked against name constraints", "reissue with valid names"),
    ve!(54, "CRL path validation error", "crl_path_error", "the CRL's issuer chain does not validate", "publish CRLs signed by the CAs of the chain (mtls-ca crl)"),
    ve!(55, "path loop", "path_loop", "the chain loops", "check the trusted CA file for cross-signed duplicates"),
    ve!(62, "hostname mismatch", "name_mismatch", "the certificate is not for the host name that was checked", "reissue it with --san HOST"),
    ve!(63, "email address mismatch", "email_mismatch", "the certificate is not for the expected email", "reissue it with --san EMAIL"),
    ve!(64, "IP address mismatch", "ip_mismatch", "the certificate is not for the IP address that was checked", "reissue it with --san IP"),
    ve!(66, "EE certificate key too weak", "weak_key", "the client key is too small for the gateway's security level", "reissue with a stronger key: --key-type ecdsa-p256 or rsa-2048+"),
    ve!(67, "CA certificate key too weak", "weak_ca_key", "the CA key is too small for the gateway's security level", "create a new CA with ecdsa-p256 or rsa-3072 (mtls-ca ca rotate)"),
    ve!(68, "CA signature digest algorithm too weak", "weak_signature", "a certificate in the chain is signed with SHA-1 or MD5", "reissue with SHA-256 (every mtls-ca certificate uses SHA-256 or better)"),
    ve!(70, "issuer certificate lookup error", "issuer_lookup_failed", "the gateway failed while looking up the issuer", "check the gateway's CA file/directory"),
    ve!(76, "Cannot find certificate signature algorithm", "unsupported_signature", "the gateway does not support the certificate's signature algorithm", "use ECDSA P-256 or RSA keys (Ed25519 is not accepted everywhere)"),
    ve!(77, "subject signature algorithm and issuer public key algorithm mismatch", "signature_mismatch", "the certificate's signature algorithm does not fit its issuer's key", "reissue the certificate"),
    ve!(78, "cert info signature and signature algorithm mismatch", "signature_mismatch", "the certificate's two signature algorithm fields differ", "reissue the certificate"),
    ve!(79, "invalid CA certificate", "invalid_ca", "a CA in the chain is not a valid CA (no CA:TRUE or keyCertSign)", "use a real CA: mtls-ca init (and init --parent for intermediates)"),
    ve!(80, "Path length invalid for non-CA cert", "invalid_extension", "a leaf carries a path length", "reissue it with mtls-ca"),
    ve!(81, "Path length given without key usage keyCertSign", "invalid_extension", "a CA has a path length but no keyCertSign", "recreate the CA with mtls-ca init"),
    ve!(82, "Key usage keyCertSign invalid for non-CA cert", "invalid_extension", "a leaf has keyCertSign", "reissue it with mtls-ca"),
    ve!(83, "Issuer name empty", "invalid_extension", "a certificate has an empty issuer", "reissue it"),
    ve!(84, "Subject name empty", "invalid_extension", "a certificate has an empty subject", "reissue it with --cn"),
    ve!(85, "Missing Authority Key Identifier", "invalid_extension", "a certificate lacks an AKI (strict mode)", "reissue it with mtls-ca (always writes AKI)"),
    ve!(86, "Missing Subject Key Identifier", "invalid_extension", "a certificate lacks an SKI (strict mode)", "reissue it with mtls-ca (always writes SKI)"),
    ve!(87, "Empty Subject Alternative Name extension", "invalid_extension", "a certificate has an empty SAN extension", "reissue it with --san"),
    ve!(89, "Basic Constraints of CA cert not marked critical", "invalid_extension", "a CA's basicConstraints is not critical (strict mode)", "recreate the CA with mtls-ca init"),
    ve!(92, "CA cert does not include key usage extension", "invalid_extension", "a CA has no keyUsage (strict mode)", "recreate the CA with mtls-ca init"),
    ve!(94, "Certificate public key has explicit ECC parameters", "explicit_ec_params", "the key uses explicit EC parameters", "reissue with a named-curve key (mtls-ca keys always are)"),
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

/// One grouped finding.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    /// Stable code.
    pub code: String,
    /// Where such lines come from (nginx, haproxy, curl, python, kong, aws, openssl).
    pub source: String,
    /// What it means.
    pub cause: String,
    /// What to do.
    pub fix: String,
    /// How many lines said it.
    pub count: usize,
    /// The first few line numbers (1-based).
    pub lines: Vec<usize>,
    /// The first such line, control characters escaped, at most 300 characters.
    pub sample: String,
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
    pub findings: Vec<Finding>,
}

struct Hit {
    code: String,
    source: &'static str,
    cause: String,
    fix: String,
}

fn hit(code: &str, source: &'static str, cause: &str, fix: &str) -> Hit {
    Hit {
        code: code.into(),
        source,
        cause: cause.into(),
        fix: fix.into(),
    }
}

fn from_verify(v: &VerifyError, source: &'static str) -> Hit {
    Hit {
        code: v.code.into(),
        source,
        cause: format!("{} (OpenSSL error {}: {})", v.cause, v.num, v.text),
        fix: v.fix.into(),
    }
}

/// What one line says, if anything: `Some(Ok(hit))` a failure, `Some(Err(()))` a success.
fn classify(line: &str) -> Option<Result<Hit, ()>> {
    let l = line.to_ascii_lowercase();
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
                    "verify_unknown",
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
        return Some(Ok(hit("no_client_cert", "nginx", "the client connected without a client certificate while one is required (nginx answers HTTP 400)", "configure the client with its certificate and key (curl --cert --key; requests cert=(crt, key)); if it has one, its issuer may not be among the CA names the server sends")));
    }
    if l.contains("the ssl certificate error") {
        return Some(Ok(hit("client_cert_rejected", "nginx", "nginx rejected the client certificate (HTTP 400 \"The SSL certificate error\")", "nginx's error log has the reason ('client SSL certificate verify error'); run mtls-ca explain on it")));
    }
    if l.contains("no required tls certificate was sent") {
        return Some(Ok(hit("no_client_cert", "kong", "Kong's mtls-auth plugin got no client certificate (HTTP 401)", "send the client certificate; check that the plugin's ca_certificates list the client's CA (mtls-ca export kong)")));
    }
    if l.contains("tls certificate failed verification") {
        return Some(Ok(hit("client_cert_rejected", "kong", "Kong's mtls-auth plugin could not verify the client certificate (HTTP 401)", "add the client's CA, root and intermediates, as ca_certificates of the plugin (mtls-ca export kong)")));
    }
    if let Some(i) = l.find("access denied. reason:") {
        let reason = line[i + "access denied. reason:".len()..].trim();
        let r = reason.to_ascii_lowercase();
        let (code, fix) = if r.contains("issuer") {
            ("unknown_issuer", "upload a truststore with the root and every intermediate (mtls-ca export aws) and update the domain's truststoreVersion")
        } else if r.contains("expired") {
            ("cert_expired", "renew the client certificate (mtls-ca renew --cert FILE); AWS does not warn about expiring truststore certificates either")
        } else {
            ("client_cert_rejected", "check the client certificate against the truststore: mtls-ca verify CERT --purpose client --ca truststore.pem")
        };
        return Some(Ok(Hit {
            code: code.into(),
            source: "aws",
            cause: format!("AWS API Gateway refused the client certificate (403): {reason}"),
            fix: fix.into(),
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
            "no_client_cert",
            if server_side { "haproxy" } else { "openssl" },
            "the client sent no certificate and the server requires one (handshake aborted)",
            "configure the client with its certificate and key (curl --cert --key)",
        )));
    }
    // Alerts: on the client side the server sent them about our certificate; on the server side
    // the client sent them about the server's certificate.
    let alerts: &[(&str, &str, &str, &str)] = &[
        ("alert certificate required", "no_client_cert", "the server requires a client certificate and the client sent none (TLS alert 116)", "pass the client certificate and key: curl --cert client.crt --key client.key"),
        ("alert unknown ca", "client_ca_not_trusted", "the server does not trust the CA that issued the client certificate (TLS alert 48 unknown_ca)", "add the client's CA (and intermediates) to the server's trusted CA file, or send the fullchain"),
        ("alert bad certificate", "client_cert_rejected", "the server rejected the client certificate (TLS alert 42 bad_certificate)", "check it: mtls-ca verify CERT --purpose client --ca SERVER_CA; an expired CRL on the server gives the same alert"),
        ("alert certificate expired", "cert_expired", "the server rejected the client certificate as expired (TLS alert 45)", "renew it: mtls-ca renew --cert FILE"),
        ("alert certificate revoked", "cert_revoked", "the server rejected the client certificate as revoked (TLS alert 44)", "issue a new client certificate"),
        ("alert unsupported certificate", "wrong_purpose", "the server rejected the client certificate's purpose (TLS alert 43: no clientAuth?)", "issue a client certificate: mtls-ca issue client --cn NAME"),
        ("alert certificate unknown", "client_cert_rejected", "the server could not validate the client certificate (TLS alert 46)", "check it with mtls-ca verify CERT --purpose client"),
        ("alert handshake failure", "handshake_failure", "the peer aborted the handshake (TLS alert 40; in TLS 1.2 OpenSSL servers send it when a required client certificate is missing)", "pass --cert/--key, and check protocol and cipher settings"),
    ];
    for (needle, code, cause, fix) in alerts {
        if l.contains(needle) {
            if server_side && !client_side {
                let code = format!("server_cert_rejected_by_client:{}", &code);
                return Some(Ok(Hit {
                    code,
                    source: if l.contains("haproxy") { "haproxy" } else { "nginx" },
                    cause: format!("the client rejected the server's certificate ({})", needle.trim_start_matches("alert ")),
                    fix: "give the client the CA that issued the server certificate (curl --cacert ca.crt; requests verify=ca.crt) and serve the fullchain".into(),
                }));
            }
            return Some(Ok(hit(
                code,
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
    let client_msgs: &[(&str, &str, &str, &str)] = &[
        ("unable to get local issuer certificate", "server_untrusted", "the client does not trust the server's certificate: its CA is not in the client's CA bundle (or the server sends no intermediate)", "curl --cacert ca.crt / requests verify='ca.crt', and serve STEM.fullchain.crt"),
        ("self-signed certificate in certificate chain", "server_untrusted", "the server's chain ends in a root the client does not trust", "curl --cacert ca.crt / requests verify='ca.crt'"),
        ("self signed certificate in certificate chain", "server_untrusted", "the server's chain ends in a root the client does not trust", "curl --cacert ca.crt / requests verify='ca.crt'"),
        ("no alternative certificate subject name matches", "name_mismatch", "the server certificate does not carry the host name the client used", "reissue the server certificate with --san HOST, or connect with a name it carries"),
        ("hostname mismatch", "name_mismatch", "the server certificate does not carry the host name the client used", "reissue the server certificate with --san HOST"),
        ("does not match target host name", "name_mismatch", "the server certificate does not carry the host name the client used", "reissue the server certificate with --san HOST"),
        ("ip address mismatch", "name_mismatch", "the server certificate does not carry the IP address the client used", "reissue the server certificate with --san IP"),
        ("unable to set private key file", "client_key_problem", "curl could not use the client key (wrong file, wrong format, or it does not belong to the certificate)", "check the pair: mtls-ca verify client.crt --key client.key"),
        ("unable to use client certificate", "client_key_problem", "curl could not use the client certificate/key pair", "check the pair: mtls-ca verify client.crt --key client.key"),
        ("could not load pem client certificate", "client_cert_unreadable", "curl could not read the client certificate file", "check the path and that it is PEM: mtls-ca inspect FILE"),
        ("key values mismatch", "client_key_problem", "the private key does not belong to the certificate", "use the key issued with the certificate: mtls-ca verify CERT --key KEY"),
        ("certificate has expired", "cert_expired", "a certificate has expired", "renew it: mtls-ca renew --cert FILE"),
        ("certificate verify failed", "verify_failed", "certificate verification failed", "the rest of the message says why; mtls-ca verify CERT --ca CA tells in plain words"),
        ("wrong version number", "not_tls", "the port does not speak TLS (plain HTTP?)", "use https:// on the TLS port, or enable TLS on the server"),
        ("plain http request was sent to https port", "not_tls", "a client spoke plain HTTP to the TLS port", "use https://"),
        ("client sent plain http request to https port", "not_tls", "a client spoke plain HTTP to the TLS port", "use https://"),
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
            return Some(Ok(hit(code, source, cause, fix)));
        }
    }
    if l.contains("ssl client certificate not trusted") {
        return Some(Ok(hit(
            "unknown_issuer",
            "haproxy",
            "HAProxy did not trust the client certificate",
            "add the client's CA to the bind line's ca-file; log ssl_c_err for the exact reason",
        )));
    }
    if l.contains("ssl client ca chain cannot be verified") {
        return Some(Ok(hit("client_chain_invalid", "haproxy", "HAProxy could not verify the client's CA chain", "put the root and intermediates into ca-file and CRLs for each CA into crl-file; log ssl_c_ca_err for the exact reason")));
    }
    if l.contains("ssl handshake failure") {
        return Some(Ok(hit("handshake_failure", "haproxy", "a TLS handshake failed (HAProxy does not say why in its default log)", "log ssl_c_err and ssl_c_ca_err in the log-format, or probe the endpoint: mtls-ca probe HOST:PORT --cert --key")));
    }
    if l.contains("ssl_do_handshake() failed") {
        return Some(Ok(hit("handshake_failure", "nginx", "a TLS handshake failed", "the rest of the line has OpenSSL's reason; mtls-ca probe HOST:PORT --cert --key reproduces it")));
    }
    if l.contains("connection refused") || l.contains("failed to connect") {
        return Some(Ok(hit(
            "not_listening",
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

/// Explains every line of `text`.
pub fn explain(text: &str) -> Explanation {
    explain_lines(text.lines())
}

/// Explains every line an iterator yields (for streaming large logs).
pub fn explain_lines<'a, I: IntoIterator<Item = &'a str>>(input: I) -> Explanation {
    let mut groups: BTreeMap<(String, String), Finding> = BTreeMap::new();
    let mut lines = 0;
    let mut matched = 0;
    let mut ok = 0;
    let mut unrecognised = 0;
    for (i, line) in input.into_iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        lines += 1;
        match classify(line) {
            Some(Ok(h)) => {
                matched += 1;
                let key = (h.code.clone(), h.source.to_string());
                let f = groups.entry(key).or_insert_with(|| Finding {
                    code: h.code.clone(),
                    source: h.source.into(),
                    cause: h.cause.clone(),
                    fix: h.fix.clone(),
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
    let mut findings: Vec<Finding> = groups.into_values().collect();
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
        let codes: Vec<&str> = e.findings.iter().map(|f| f.code.as_str()).collect();
        assert!(codes.contains(&"cert_expired"));
        assert!(codes.contains(&"unknown_issuer"));
        assert_eq!(codes.iter().filter(|c| **c == "no_client_cert").count(), 2);
    }
}
