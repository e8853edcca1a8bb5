//! `agent`: keeps the certificate at a stem fresh from an online CA.
//!
//! Without `STEM.crt` it bootstraps: a new key, a CSR for the token's names, `POST /v1/sign`.
//! With it, once the renewal point has passed (a fraction of the lifetime, two thirds by
//! default, moved earlier by a per-certificate jitter so a fleet does not renew at once) or
//! with `force`, it renews over mutual TLS with the current certificate: a new key each time,
//! `POST /v1/renew`; the new key waits in `STEM.key.pending` until its certificate is in place,
//! so a renewal whose answer was lost is asked again with the same key and answered with the
//! successor already recorded (renewal is idempotent). The new files replace the old ones each
//! atomically (rename), after each was written and fsynced in full: first `STEM.pem`, the full
//! chain and the key in one private file (one rename replaces the pair: its readers never see a
//! mismatch), then the fullchain, the certificate and the key last. A reader never sees a
//! partial file, and a service is reloaded (`--exec`, run by the caller) only once all four
//! are in place. One attempt per call; retrying with backoff is the caller's loop.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::KeyType;

use super::api;
use super::client::{self, Target};

/// What the agent is asked to do.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// `https://host:port` of `ca serve`.
    pub server: String,
    /// STEM: STEM.pem (chain + key), STEM.crt, STEM.key, STEM.fullchain.crt.
    pub out: PathBuf,
    /// The CA bundle to verify the server with.
    pub ca_file: PathBuf,
    /// A bootstrap token (used only when STEM.crt does not exist).
    pub token: Option<String>,
    /// The CN to ask for when bootstrapping.
    pub cn: Option<String>,
    /// SANs to ask for when bootstrapping.
    pub sans: Vec<String>,
    /// Key type of new keys.
    pub key_type: KeyType,
    /// Renew once this fraction of the lifetime has passed.
    pub fraction: f64,
    /// Renew now, whatever the age.
    pub force: bool,
}

/// What one run did.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Outcome {
    /// A first certificate was obtained with the token.
    Bootstrapped {
        /// Its serial.
        serial: String,
        /// Its notAfter.
        not_after: String,
    },
    /// The certificate was renewed.
    Renewed {
        /// The new serial.
        serial: String,
        /// The serial renewed.
        previous: String,
        /// Its notAfter.
        not_after: String,
    },
    /// Nothing to do yet.
    NotDue {
        /// The current serial.
        serial: String,
        /// When renewal is due.
        #[serde(with = "time::serde::rfc3339")]
        renew_at: OffsetDateTime,
        /// notAfter of the current certificate.
        #[serde(with = "time::serde::rfc3339")]
        not_after: OffsetDateTime,
    },
}

/// Why a run failed.
#[derive(Debug)]
pub enum AgentError {
    /// The CA could not be reached or did not answer (worth retrying).
    Unreachable(String),
    /// The CA's server certificate does not chain to `--ca` (a bundle older than a rotation).
    ServerNotTrusted(String),
    /// The CA refused this host's certificate in the TLS handshake (its issuer is no longer
    /// trusted there, after `ca rotate --finish`; or it expired).
    CertificateRefused(String),
    /// The CA refused (HTTP status and the JSON error's code, message and hint).
    Refused {
        /// HTTP status.
        status: u16,
        /// Error code.
        code: String,
        /// Message.
        message: String,
        /// Hint.
        hint: Option<String>,
    },
    /// A local problem (files, input).
    Local(Error),
}

impl std::fmt::Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentError::Unreachable(m) => write!(f, "the CA could not be reached ({m})"),
            AgentError::ServerNotTrusted(m) => write!(
                f,
                "the CA's server certificate is not trusted by --ca ({m}); after a CA rotation, fetch the new bundle (GET /v1/ca on the CA's plain-HTTP address) into the --ca file"
            ),
            AgentError::CertificateRefused(m) => write!(
                f,
                "the CA refused this host's certificate in the TLS handshake ({m}): its issuer is no longer trusted there (after the CA's rotation ended, say); bootstrap again with a new token (agent --token T --cn NAME)"
            ),
            AgentError::Refused {
                status,
                code,
                message,
                ..
            } => write!(f, "the CA refused ({status} {code}): {message}"),
            AgentError::Local(e) => write!(f, "{e}"),
        }
    }
}

impl From<Error> for AgentError {
    fn from(e: Error) -> Self {
        AgentError::Local(e)
    }
}

/// The current certificate at a stem: serial, validity and renewal point.
#[derive(Debug, Clone)]
pub struct Current {
    /// Serial.
    pub serial: String,
    /// notBefore.
    pub not_before: OffsetDateTime,
    /// notAfter.
    pub not_after: OffsetDateTime,
    /// When renewal is due.
    pub renew_at: OffsetDateTime,
}

/// Reads STEM.crt (None when it does not exist) and computes its renewal point: `fraction` of
/// the lifetime after notBefore (less the CA's five-minute backdating), less a jitter of up to a tenth of the lifetime derived from the
/// serial (stable across runs, different across hosts).
pub fn current(stem: &Path, fraction: f64) -> Result<Option<Current>> {
    let crt = crate::ca::with_ext(stem, "crt");
    if std::fs::symlink_metadata(&crt).is_err() {
        return Ok(None);
    }
    let certs = crate::x509::read_certs(&crt)?;
    let c = crate::x509::parse_cert(&certs[0], &crt)?;
    let (nb, na) = crate::x509::validity(&c);
    let serial = crate::serial::Serial::from_bytes(c.raw_serial()).hex();
    // mtls-ca backdates notBefore by five minutes against clock skew: for the renewal point
    // of a short-lived certificate that would count as used-up life, so it is left out.
    let start = if na - nb > crate::ca::BACKDATE {
        nb + crate::ca::BACKDATE
    } else {
        nb
    };
    let life = na - start;
    let jitter_frac = f64::from(c.raw_serial().last().copied().unwrap_or(0)) / 255.0 * 0.1;
    let frac = (fraction - jitter_frac).clamp(0.05, 0.99);
    let renew_at = start + Duration::seconds_f64(life.as_seconds_f64() * frac);
    Ok(Some(Current {
        serial,
        not_before: nb,
        not_after: na,
        renew_at,
    }))
}

/// One run: bootstrap, renew when due (or forced), or nothing. Starts a small tokio runtime
/// for the one request it makes.
pub fn run_once(
    opts: &AgentOptions,
    now: OffsetDateTime,
) -> std::result::Result<Outcome, AgentError> {
    let target = Target::parse(&opts.server)?;
    let roots = crate::x509::read_certs(&opts.ca_file)?;
    let cur = current(&opts.out, opts.fraction)?;
    let (path, body, client_auth, previous, key) = match &cur {
        None => {
            let token = opts.token.clone().ok_or_else(|| {
                Error::invalid(
                    "--token",
                    "",
                    format!(
                        "{} does not exist, and bootstrapping needs a token",
                        crate::ca::with_ext(&opts.out, "crt").display()
                    ),
                    "make one on the CA host with `mtls-ca token create --cn NAME`, then pass --token and --cn",
                )
            })?;
            let cn = opts.cn.clone().ok_or_else(|| {
                Error::invalid(
                    "--cn",
                    "",
                    "bootstrapping needs the name the token was made for",
                    "pass --cn NAME (and --san for each extra name of the token)",
                )
            })?;
            let key = crate::keys::generate(opts.key_type)?;
            let csr = make_csr(&key, &cn, &opts.sans)?;
            let body = serde_json::to_vec(&api::SignRequest { token, csr }).unwrap_or_default();
            ("/v1/sign", body, None, None, key)
        }
        Some(c) => {
            if !opts.force && now < c.renew_at {
                return Ok(Outcome::NotDue {
                    serial: c.serial.clone(),
                    renew_at: c.renew_at,
                    not_after: c.not_after,
                });
            }
            let crt = crate::ca::with_ext(&opts.out, "crt");
            let full = crate::ca::with_ext(&opts.out, "fullchain.crt");
            let chain = crate::x509::read_certs(if full.exists() { &full } else { &crt })?;
            let key_path = crate::ca::with_ext(&opts.out, "key");
            let old_key_bytes = Zeroizing::new(crate::files::read_limited(&key_path, 1024 * 1024)?);
            let old_key = crate::keys::load_private_key(&old_key_bytes, &key_path)?;
            let c509 = crate::x509::parse_cert(&chain[0], &crt)?;
            let cn = c509
                .subject()
                .iter_common_name()
                .next()
                .and_then(|a| a.as_str().ok())
                .unwrap_or("renewal")
                .to_string();
            let kt = KeyType::of(&old_key).unwrap_or(opts.key_type);
            // The new key is kept as STEM.key.pending until the new certificate is in place:
            // when the answer is lost, the next run asks again with the same key and gets the
            // successor the CA already recorded for it.
            let pending = crate::ca::with_ext(&opts.out, "key.pending");
            let reuse = crate::files::read_limited(&pending, 1024 * 1024)
                .ok()
                .map(Zeroizing::new)
                .and_then(|b| crate::keys::load_private_key(&b, &pending).ok());
            let key = match reuse {
                Some(k) => k,
                None => {
                    let k = crate::keys::generate(kt)?;
                    let pem = Zeroizing::new(crate::keys::to_pkcs8_pem(&k));
                    crate::files::replace(&pending, pem.as_bytes(), crate::files::PRIVATE)?;
                    k
                }
            };
            let csr = make_csr(&key, &cn, &[])?;
            let body = serde_json::to_vec(&api::RenewRequest { csr }).unwrap_or_default();
            (
                "/v1/renew",
                body,
                Some((chain, old_key.serialize_der())),
                Some(c.serial.clone()),
                key,
            )
        }
    };
    let cfg = Arc::new(client::config(&roots, client_auth)?);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AgentError::Local(Error::io(Path::new("<tokio runtime>"), e)))?;
    let answer = rt
        .block_on(client::request(cfg, &target, "POST", path, body))
        .map_err(|u| match u {
            client::Unreachable::Down(m) => AgentError::Unreachable(m),
            client::Unreachable::ServerNotTrusted(m) => AgentError::ServerNotTrusted(m),
            client::Unreachable::ClientCertRefused(m) => AgentError::CertificateRefused(m),
        })?;
    if answer.status != 200 {
        return Err(
            match serde_json::from_slice::<api::ErrorBody>(&answer.body) {
                Ok(b) => AgentError::Refused {
                    status: answer.status,
                    code: b.error.code,
                    message: b.error.message,
                    hint: b.error.hint,
                },
                Err(_) => AgentError::Refused {
                    status: answer.status,
                    code: "http".into(),
                    message: String::from_utf8_lossy(&answer.body)
                        .chars()
                        .take(200)
                        .collect(),
                    hint: None,
                },
            },
        );
    }
    let cert: api::Certificate = serde_json::from_slice(&answer.body).map_err(|e| {
        AgentError::Unreachable(format!("the CA's answer is not a certificate ({e})"))
    })?;
    install(&opts.out, &cert, &key)?;
    let _ = std::fs::remove_file(crate::ca::with_ext(&opts.out, "key.pending"));
    Ok(match previous {
        None => Outcome::Bootstrapped {
            serial: cert.serial,
            not_after: cert.not_after,
        },
        Some(p) => Outcome::Renewed {
            serial: cert.serial,
            previous: p,
            not_after: cert.not_after,
        },
    })
}

fn make_csr(key: &rcgen::KeyPair, cn: &str, sans: &[String]) -> Result<String> {
    let parsed = crate::names::parse_all(sans)?;
    let mut params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.subject_alt_names = parsed
        .iter()
        .map(crate::names::San::to_rcgen)
        .collect::<Result<Vec<_>>>()?;
    let csr = params.serialize_request(key)?;
    Ok(crate::pem::encode("CERTIFICATE REQUEST", csr.der()))
}

/// Checks the answer is a certificate for `key`, then replaces STEM.pem (the full chain and the
/// key in one file: one rename replaces the pair, so its readers never see a mismatch),
/// STEM.fullchain.crt, STEM.crt and STEM.key, each atomically (the key last).
fn install(stem: &Path, cert: &api::Certificate, key: &rcgen::KeyPair) -> Result<()> {
    let crt = crate::ca::with_ext(stem, "crt");
    let ders = crate::pem::parse_all(cert.certificate.as_bytes(), &crt)?;
    let der = ders.first().map(|b| b.der.clone()).unwrap_or_default();
    let c = crate::x509::parse_cert(&der, &crt)?;
    use rcgen::PublicKeyData;
    if c.public_key().raw != key.subject_public_key_info().as_slice() {
        return Err(Error::bad_file(
            &crt,
            "the CA answered with a certificate for another key",
            "check --server points at the right CA",
        ));
    }
    if let Some(parent) = stem.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
    }
    let pem = Zeroizing::new(crate::keys::to_pkcs8_pem(key));
    let mut combined = Zeroizing::new(cert.fullchain.clone());
    if !combined.ends_with('\n') {
        combined.push('\n');
    }
    combined.push_str(&pem);
    crate::files::replace(
        &crate::ca::with_ext(stem, "pem"),
        combined.as_bytes(),
        crate::files::PRIVATE,
    )?;
    crate::files::replace(
        &crate::ca::with_ext(stem, "fullchain.crt"),
        cert.fullchain.as_bytes(),
        crate::files::PUBLIC,
    )?;
    crate::files::replace(&crt, cert.certificate.as_bytes(), crate::files::PUBLIC)?;
    crate::files::replace(
        &crate::ca::with_ext(stem, "key"),
        pem.as_bytes(),
        crate::files::PRIVATE,
    )?;
    Ok(())
}
