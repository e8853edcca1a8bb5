//! One finding type for `verify`, `probe` and `explain`: what is wrong, who must act, how to fix it.
//!
//! A [`Finding`] carries a stable [`Code`] (serialised to the same strings the commands have
//! always printed, so JSON output keeps its meaning), the [`Side`] that must change something
//! (the client, the server, or the gateway that verifies clients), a message, a hint and, when
//! the fix is one command, that command exactly as it can be run. Commands are built by
//! [`FixContext`] from the caller's real `--dir`, so they are runnable as printed. The library
//! never prints: the binary renders findings as text or JSON.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

macro_rules! codes {
    ($($v:ident = $s:literal,)*) => {
        /// A stable finding code; [`Code::as_str`] is what JSON output and `[code]` in text show.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[allow(missing_docs)]
        pub enum Code {
            $($v,)*
        }

        impl Code {
            /// Every code.
            pub const ALL: &'static [Code] = &[$(Code::$v,)*];

            /// The code's string, e.g. `unknown_issuer`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$v => $s,)*
                }
            }

            /// The code for a string, if it is one.
            pub fn parse(s: &str) -> Option<Code> {
                match s {
                    $($s => Some(Code::$v),)*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    AkiMismatch = "aki_mismatch",
    ApplicationRejected = "application_rejected",
    BadCertificateEncoding = "bad_certificate_encoding",
    BadCrl = "bad_crl",
    BadEncoding = "bad_encoding",
    BadIssuerKey = "bad_issuer_key",
    BadName = "bad_name",
    BadSignature = "bad_signature",
    ChainOrder = "chain_order",
    CaUsedAsLeaf = "ca_used_as_leaf",
    CaWithoutCrlsign = "ca_without_crlsign",
    CaWithoutKeycertsign = "ca_without_keycertsign",
    CertExpired = "cert_expired",
    CertNotYetValid = "cert_not_yet_valid",
    CertRejected = "cert_rejected",
    CertRevoked = "cert_revoked",
    CertUntrusted = "cert_untrusted",
    ChainTooComplex = "chain_too_complex",
    ChainTooLong = "chain_too_long",
    ClientCaNotTrusted = "client_ca_not_trusted",
    ClientCertNotRequested = "client_cert_not_requested",
    ClientCertRejected = "client_cert_rejected",
    ClientCertRequired = "client_cert_required",
    ClientCertUnreadable = "client_cert_unreadable",
    ClientCertUntrusted = "client_cert_untrusted",
    ClientChainInvalid = "client_chain_invalid",
    ClientKeyMismatch = "client_key_mismatch",
    ClientKeyProblem = "client_key_problem",
    CrlBadEncoding = "crl_bad_encoding",
    CrlBadSignature = "crl_bad_signature",
    CrlCriticalExtension = "crl_critical_extension",
    CrlExpired = "crl_expired",
    CrlIssuerMissing = "crl_issuer_missing",
    CrlMissing = "crl_missing",
    CrlNotYetValid = "crl_not_yet_valid",
    CrlPathError = "crl_path_error",
    CrlScope = "crl_scope",
    Distrusted = "distrusted",
    EmailMismatch = "email_mismatch",
    Expired = "expired",
    ExplicitEcParams = "explicit_ec_params",
    GatewayOutOfMemory = "gateway_out_of_memory",
    HandshakeFailed = "handshake_failed",
    HandshakeFailure = "handshake_failure",
    InvalidCa = "invalid_ca",
    InvalidCertificate = "invalid_certificate",
    InvalidExtension = "invalid_extension",
    InvalidPolicy = "invalid_policy",
    IpMismatch = "ip_mismatch",
    IssuerLookupFailed = "issuer_lookup_failed",
    IssuerMismatch = "issuer_mismatch",
    KeyMismatch = "key_mismatch",
    LeafUsedAsCa = "leaf_used_as_ca",
    LeafWithCaMarkings = "leaf_with_ca_markings",
    MissingIntermediate = "missing_intermediate",
    NameConstraintUnsupported = "name_constraint_unsupported",
    NameConstraintViolation = "name_constraint_violation",
    NameConstraints = "name_constraints",
    NameMismatch = "name_mismatch",
    NoAnswer = "no_answer",
    NoClientCert = "no_client_cert",
    NoClientCertGiven = "no_client_cert_given",
    NoDigitalSignature = "no_digital_signature",
    NoExplicitPolicy = "no_explicit_policy",
    NotListening = "not_listening",
    NotTls = "not_tls",
    NotYetValid = "not_yet_valid",
    PathLoop = "path_loop",
    PathlenExceeded = "pathlen_exceeded",
    ProxyCertificate = "proxy_certificate",
    RevocationUnknown = "revocation_unknown",
    Revoked = "revoked",
    Rfc3779Violation = "rfc3779_violation",
    SelfSignedLeaf = "self_signed_leaf",
    ServerCertInvalid = "server_cert_invalid",
    ServerMissingIntermediate = "server_missing_intermediate",
    ServerNoCertificate = "server_no_certificate",
    ServerUntrusted = "server_untrusted",
    SignatureMismatch = "signature_mismatch",
    UnhandledCriticalExtension = "unhandled_critical_extension",
    UnknownIssuer = "unknown_issuer",
    UnsupportedCriticalExtension = "unsupported_critical_extension",
    UnsupportedExtension = "unsupported_extension",
    UnsupportedNameType = "unsupported_name_type",
    UnsupportedSignature = "unsupported_signature",
    UnsupportedSignatureAlgorithm = "unsupported_signature_algorithm",
    UntrustedRoot = "untrusted_root",
    UnusableKey = "unusable_key",
    VerifyFailed = "verify_failed",
    VerifyUnknown = "verify_unknown",
    VerifyUnspecified = "verify_unspecified",
    WeakCaKey = "weak_ca_key",
    WeakKey = "weak_key",
    WeakSignature = "weak_signature",
    WrongPurpose = "wrong_purpose",
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Codes compare with their strings, so `code == "revoked"` keeps working.
impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// What a code is about, written as a prefix of the code string: `probe` judges the server's
/// chain with verify's codes (`server_expired`) and names why the server refused our client
/// certificate with them too (`client_cert_expired`); `explain` reports a client's alert about
/// the server certificate (`server_cert_rejected_by_client:unknown_issuer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Scope {
    /// The certificate or line itself (no prefix).
    #[default]
    Own,
    /// The server's chain as a live server presented it (`server_`).
    ServerChain,
    /// Our client certificate, refused by the server (`client_cert_`).
    ClientCert,
    /// The server certificate, refused by a client (`server_cert_rejected_by_client:`).
    RejectedByClient,
}

impl Scope {
    fn prefix(self) -> &'static str {
        match self {
            Scope::Own => "",
            Scope::ServerChain => "server_",
            Scope::ClientCert => "client_cert_",
            Scope::RejectedByClient => "server_cert_rejected_by_client:",
        }
    }
}

/// The party that must change something for the problem to go away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The TLS client: its certificate, its key, its trust store, the name it connects to.
    Client,
    /// The TLS server: the certificate and chain it presents.
    Server,
    /// The gateway's client verification: its trusted CAs, CRLs, depth.
    Gateway,
}

impl Side {
    /// `client`, `server` or `gateway`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
            Side::Gateway => "gateway",
        }
    }
}

/// One problem: a code, the side that must act, what is wrong, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The stable code.
    pub code: Code,
    /// What the code is about (a prefix of the code string).
    pub scope: Scope,
    /// Who must act.
    pub side: Side,
    /// What is wrong, in a sentence.
    pub message: String,
    /// How to fix it, in words (may contain the command).
    pub hint: String,
    /// The fix as one command, runnable as printed, when there is one.
    pub command: Option<String>,
}

impl Finding {
    /// A finding about the certificate or line itself.
    pub fn new(
        code: Code,
        side: Side,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Finding {
            code,
            scope: Scope::Own,
            side,
            message: message.into(),
            hint: hint.into(),
            command: None,
        }
    }

    /// The same finding with another scope.
    pub fn scoped(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }

    /// The same finding with its fix command.
    pub fn with_command(mut self, command: impl Into<String>) -> Self {
        self.command = Some(command.into());
        self
    }

    /// The code as printed: scope prefix and code, e.g. `server_expired`.
    pub fn code_str(&self) -> Cow<'static, str> {
        match self.scope {
            Scope::Own => Cow::Borrowed(self.code.as_str()),
            s => Cow::Owned(format!("{}{}", s.prefix(), self.code.as_str())),
        }
    }
}

impl Serialize for Finding {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Finding", 5)?;
        st.serialize_field("code", &self.code_str())?;
        st.serialize_field("side", &self.side)?;
        st.serialize_field("message", &self.message)?;
        st.serialize_field("hint", &self.hint)?;
        if let Some(c) = &self.command {
            st.serialize_field("command", c)?;
        } else {
            st.skip_field("command")?;
        }
        st.end()
    }
}

/// Quotes a word for a POSIX shell when it needs it.
pub fn sh(word: &str) -> Cow<'_, str> {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@+,%".contains(&b));
    if safe {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', r"'\''")))
    }
}

/// A CA directory and its certificate, as found by [`FixContext::discover`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaDir {
    /// The directory (as the caller spelled it, joined with the subdirectory).
    pub dir: PathBuf,
    /// Its `ca.crt` (DER).
    pub cert: Vec<u8>,
}

/// What fix commands need to know about the caller: the CA directory it named and the CA
/// directories found there (the directory itself and the issuing CAs below it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixContext {
    /// The CA directory as the caller gave it (`--dir`, default `pki`).
    pub dir: PathBuf,
    /// CA directories found at and below `dir`.
    pub cas: Vec<CaDir>,
}

impl Default for FixContext {
    fn default() -> Self {
        FixContext {
            dir: PathBuf::from("pki"),
            cas: Vec::new(),
        }
    }
}

fn subject_raw(der: &[u8]) -> Option<Vec<u8>> {
    use x509_parser::prelude::FromDer;
    x509_parser::certificate::X509Certificate::from_der(der)
        .ok()
        .map(|(_, c)| c.subject().as_raw().to_vec())
}

fn issuer_raw(der: &[u8]) -> Option<Vec<u8>> {
    use x509_parser::prelude::FromDer;
    x509_parser::certificate::X509Certificate::from_der(der)
        .ok()
        .map(|(_, c)| c.issuer().as_raw().to_vec())
}

impl FixContext {
    /// A context for the CA directory `dir`, without looking at its files.
    pub fn new(dir: &Path) -> Self {
        FixContext {
            dir: dir.to_path_buf(),
            cas: Vec::new(),
        }
    }

    /// A context for `dir` that knows the CAs in `dir/ca.crt` and `dir/*/ca.crt` (issuing CAs
    /// made with `init --parent`). Unreadable files are skipped: this only shapes hints.
    pub fn discover(dir: &Path) -> Self {
        let mut cas = Vec::new();
        let mut dirs = vec![dir.to_path_buf()];
        if let Ok(rd) = std::fs::read_dir(dir) {
            let mut subs: Vec<PathBuf> = rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect();
            subs.sort();
            dirs.extend(subs);
        }
        for d in dirs {
            let f = d.join("ca.crt");
            if !f.is_file() {
                continue;
            }
            if let Ok(certs) = crate::x509::read_certs(&f) {
                if let Some(c) = certs.into_iter().next() {
                    cas.push(CaDir { dir: d, cert: c });
                }
            }
        }
        FixContext {
            dir: dir.to_path_buf(),
            cas,
        }
    }

    /// The directory of the CA whose subject is `issuer` (raw DER name), if known.
    pub fn dir_of_issuer(&self, issuer: &[u8]) -> Option<&Path> {
        self.cas
            .iter()
            .find(|c| subject_raw(&c.cert).as_deref() == Some(issuer))
            .map(|c| c.dir.as_path())
    }

    /// The CA directory new leaves should come from, among the CAs `accepted` allows: one that
    /// issued no other known CA (an issuing CA, never a root with an issuing CA below it).
    pub fn issuing_dir(&self, accepted: impl Fn(&[u8]) -> bool) -> Option<&Path> {
        let ok: Vec<&CaDir> = self.cas.iter().filter(|c| accepted(&c.cert)).collect();
        let is_parent = |p: &CaDir| {
            let s = subject_raw(&p.cert);
            self.cas
                .iter()
                .any(|c| c.cert != p.cert && issuer_raw(&c.cert) == s && s.is_some())
        };
        ok.iter()
            .find(|c| !is_parent(c))
            .or_else(|| ok.first())
            .map(|c| c.dir.as_path())
    }

    /// The directory to issue a successor of a leaf issued by `issuer` from: that CA's
    /// directory when known, else the issuing CA of this context, else `dir`.
    pub fn dir_for_leaf(&self, issuer: &[u8]) -> &Path {
        self.dir_of_issuer(issuer)
            .or_else(|| self.issuing_dir(|_| true))
            .unwrap_or(&self.dir)
    }

    /// `mtls-ca ARGS… --dir DIR`, each argument quoted for the shell when needed (`--dir` is
    /// global, so it may come last, where it reads as "in this CA").
    pub fn mtls<S: AsRef<str>>(&self, dir: &Path, args: &[S]) -> String {
        let mut c = String::from("mtls-ca");
        for a in args {
            c.push(' ');
            c.push_str(&sh(a.as_ref()));
        }
        c.push_str(" --dir ");
        c.push_str(&sh(&dir.display().to_string()));
        c
    }
}

/// The stem of a certificate file (`gw.fullchain.crt` → `gw`, `certs/a.crt` → `certs/a`).
pub fn stem_of(label: &str) -> &str {
    label
        .strip_suffix(".fullchain.crt")
        .or_else(|| label.strip_suffix(".crt"))
        .or_else(|| label.strip_suffix(".pem"))
        .unwrap_or(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.as_str()), "duplicate {c}");
            assert_eq!(Code::parse(c.as_str()), Some(*c));
        }
    }

    #[test]
    fn scoped_codes_and_json() {
        let f = Finding::new(Code::Expired, Side::Client, "m", "h").scoped(Scope::ClientCert);
        assert_eq!(f.code_str(), "client_cert_expired");
        let j = serde_json::to_value(&f).unwrap();
        assert_eq!(j["code"], "client_cert_expired");
        assert_eq!(j["side"], "client");
        assert!(j.get("command").is_none());
        let f = f.with_command("mtls-ca --dir pki renew --cert a.crt");
        assert_eq!(
            serde_json::to_value(&f).unwrap()["command"],
            "mtls-ca --dir pki renew --cert a.crt"
        );
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(sh("pki/issuing"), "pki/issuing");
        assert_eq!(sh("my dir"), "'my dir'");
        assert_eq!(sh("it's"), r"'it'\''s'");
        assert_eq!(sh(""), "''");
    }
}
