//! The life of issued certificates after issuance: finding them by serial or file, revoking,
//! renewing (alone or every one expiring within a window), and what expires soon.
//!
//! Revocation is durable in the store before anything else happens (the CRL is made from the
//! store by [`crate::crl`]). Renewal goes through [`Ca::issue_leaf`], the same path as `issue`,
//! with the old certificate's subject, SANs and profile; the new record names the old one in
//! `renews` and the old one gets `superseded_by`.

use std::path::{Path, PathBuf};

use time::{Duration, OffsetDateTime};

use crate::ca::{Ca, Issued, LeafKey, LeafRequest};
use crate::error::{Error, Result};
use crate::keys::KeyType;
use crate::profile::{self, Profile};
use crate::serial::Serial;
use crate::store::{Entry, Store};
use crate::x509;

/// Which certificate a command is about.
#[derive(Debug, Clone)]
pub enum Target {
    /// A serial as typed (hex, `:` allowed; a unique prefix of at least 8 digits is enough).
    Serial(String),
    /// A certificate file this CA issued.
    Cert(PathBuf),
}

pub use crate::store::StoredCert;

/// Looks a certificate up by serial (exact, or a unique prefix of ≥ 8 hex digits) or by file.
pub fn find(store: &mut Store, target: &Target) -> Result<StoredCert> {
    match target {
        Target::Serial(s) => {
            let norm = Serial::parse(s)?.hex();
            let typed: String = s
                .trim()
                .trim_start_matches("0x")
                .chars()
                .filter(|c| *c != ':')
                .collect::<String>()
                .to_ascii_lowercase();
            if let Some(c) = store.get(&norm)? {
                return Ok(c);
            }
            if typed.len() >= 8 {
                let matches = store.serials_with_prefix(&typed)?;
                if matches.len() == 1 {
                    if let Some(c) = store.get(&matches[0])? {
                        return Ok(c);
                    }
                } else if matches.len() > 1 {
                    return Err(Error::invalid(
                        "serial",
                        s.clone(),
                        format!("prefix matches {} certificates", matches.len()),
                        "give more digits of the serial (see `mtls-ca list`)",
                    ));
                }
            } else if !typed.is_empty() {
                let matches = store.serials_with_prefix(&typed)?;
                if !matches.is_empty() {
                    return Err(Error::invalid(
                        "serial",
                        s.clone(),
                        format!(
                            "prefix too short ({} match{}): give at least 8 hex digits",
                            matches.len(),
                            if matches.len() == 1 { "" } else { "es" }
                        ),
                        "copy more of the serial from `mtls-ca list`",
                    ));
                }
            }
            Err(Error::UnknownSerial { serial: s.clone() })
        }
        Target::Cert(path) => {
            let certs = x509::read_certs(path)?;
            let der = &certs[0];
            let c = x509::parse_cert(der, path)?;
            let serial = Serial::from_bytes(c.raw_serial()).hex();
            let found = store.get(&serial)?.ok_or_else(|| Error::UnknownSerial {
                serial: serial.clone(),
            })?;
            if found.der != *der {
                return Err(Error::bad_file(
                    path,
                    format!("serial {serial} is known, but this certificate is not the one this CA issued under it"),
                    "give a certificate issued by this CA (see `mtls-ca list`)",
                ));
            }
            Ok(found)
        }
    }
}

/// RFC 5280 revocation reasons (certificateHold is never used).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// No reason given (no reasonCode entry in the CRL).
    Unspecified,
    /// The private key leaked.
    KeyCompromise,
    /// The CA key leaked.
    CaCompromise,
    /// The subject's affiliation changed.
    AffiliationChanged,
    /// Replaced by another certificate.
    Superseded,
    /// No longer needed.
    CessationOfOperation,
    /// Privileges withdrawn.
    PrivilegeWithdrawn,
}

impl Reason {
    /// Every reason, as typed.
    pub const ALL: [Reason; 7] = [
        Reason::Unspecified,
        Reason::KeyCompromise,
        Reason::CaCompromise,
        Reason::AffiliationChanged,
        Reason::Superseded,
        Reason::CessationOfOperation,
        Reason::PrivilegeWithdrawn,
    ];

    /// The name typed and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unspecified => "unspecified",
            Reason::KeyCompromise => "key-compromise",
            Reason::CaCompromise => "ca-compromise",
            Reason::AffiliationChanged => "affiliation-changed",
            Reason::Superseded => "superseded",
            Reason::CessationOfOperation => "cessation-of-operation",
            Reason::PrivilegeWithdrawn => "privilege-withdrawn",
        }
    }

    /// Parses `--reason` (also accepts openssl's camelCase names).
    pub fn parse(s: &str) -> Result<Reason> {
        let norm: String = s
            .trim()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        for r in Reason::ALL {
            if r.as_str().replace('-', "") == norm {
                return Ok(r);
            }
        }
        let why = if norm == "certificatehold" || norm == "hold" {
            "certificateHold is not supported (suspension makes revocation reversible)"
        } else {
            "unknown revocation reason"
        };
        Err(Error::invalid(
            "--reason",
            s,
            why,
            "use unspecified, key-compromise, ca-compromise, affiliation-changed, superseded, cessation-of-operation or privilege-withdrawn",
        ))
    }

    /// The CRL reasonCode (None for unspecified: RFC 5280 says to omit it).
    pub fn to_rcgen(self) -> Option<rcgen::RevocationReason> {
        use rcgen::RevocationReason as R;
        match self {
            Reason::Unspecified => None,
            Reason::KeyCompromise => Some(R::KeyCompromise),
            Reason::CaCompromise => Some(R::CaCompromise),
            Reason::AffiliationChanged => Some(R::AffiliationChanged),
            Reason::Superseded => Some(R::Superseded),
            Reason::CessationOfOperation => Some(R::CessationOfOperation),
            Reason::PrivilegeWithdrawn => Some(R::PrivilegeWithdrawn),
        }
    }
}

/// The outcome of `revoke`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Revocation {
    /// Serial, lowercase hex.
    pub serial: String,
    /// Subject DN text.
    pub subject: String,
    /// The reason recorded (the first one, when it was already revoked).
    pub reason: String,
    /// True when the certificate was already revoked (nothing changed).
    pub already_revoked: bool,
    /// When it was revoked.
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
}

/// Revokes a certificate in the store (durable when this returns). Revoking twice changes
/// nothing and says so.
pub fn revoke(
    store: &mut Store,
    target: &Target,
    reason: Reason,
    now: OffsetDateTime,
) -> Result<Revocation> {
    let c = find(store, target)?;
    let subject = x509::parse_cert(&c.der, Path::new("<stored certificate>"))
        .map(|x| x.subject().to_string())
        .unwrap_or_default();
    if c.profile == Profile::Root.as_str() {
        return Err(Error::invalid(
            "serial",
            c.serial,
            "this is the CA's own certificate: a CA cannot revoke itself",
            "to replace the CA, run `mtls-ca ca rotate`",
        ));
    }
    crate::failpoint::hit("revoke.before", store.path())?;
    let r = store.revoke(&c.serial, reason.as_str(), now)?;
    crate::failpoint::hit("revoke.after", store.path())?;
    Ok(Revocation {
        serial: c.serial,
        subject,
        reason: r.reason.unwrap_or_else(|| "unspecified".into()),
        already_revoked: !r.changed,
        revoked_at: r.revoked_at,
    })
}

/// A revoked certificate as a CRL lists it.
#[derive(Debug, Clone)]
pub struct RevokedEntry {
    /// Serial.
    pub serial: Serial,
    /// When.
    pub revoked_at: OffsetDateTime,
    /// Why.
    pub reason: Reason,
}

/// Every certificate revoked under the CA certificate with serial `ca_serial`.
pub fn revoked_by(store: &mut Store, ca_serial: &str) -> Result<Vec<RevokedEntry>> {
    let mut out = Vec::new();
    for row in store.revoked_by(ca_serial)? {
        out.push(RevokedEntry {
            serial: Serial::parse(&row.serial)?,
            revoked_at: row.revoked_at,
            reason: row
                .reason
                .as_deref()
                .and_then(|r| Reason::parse(r).ok())
                .unwrap_or(Reason::Unspecified),
        });
    }
    Ok(out)
}

/// Valid leaf certificates whose notAfter falls within `within` of `now`.
pub fn expiring(store: &Store, now: OffsetDateTime, within: Duration) -> Result<Vec<Entry>> {
    store.expiring(now, now + within)
}

/// Options of `renew`.
#[derive(Debug, Clone)]
pub struct RenewOptions {
    /// Which certificate.
    pub target: Target,
    /// Keep the old public key instead of making a new key of the same type (the default makes a
    /// new key: renewing with the same key does not recover from a leaked one).
    pub reuse_key: bool,
    /// Validity in days (None: the old certificate's validity period).
    pub days: Option<u32>,
    /// Validity as a duration (`--valid 30m`); wins over `days`.
    pub valid: Option<time::Duration>,
    /// Output stem (None: where the old certificate was written; old files are kept as `.bak`).
    pub stem: Option<PathBuf>,
    /// Permit server certificates above 825 days.
    pub allow_long_validity: bool,
    /// With `stem`: replace files already there (kept as `.bak`).
    pub force: bool,
}

/// Renews one certificate: same subject CN, SANs and profile, new serial, recorded as
/// superseding the old one.
pub fn renew(ca: &mut Ca, opts: &RenewOptions, now: OffsetDateTime) -> Result<Issued> {
    let old = find(ca.store(), &opts.target)?;
    crate::failpoint::hit("renew.start", ca.dir())?;
    if old.profile == Profile::Root.as_str()
        || old.profile == Profile::Intermediate.as_str()
        || old.profile == crate::profile::CROSS_SIGNED
    {
        return Err(Error::invalid(
            "serial",
            old.serial,
            format!("a {} certificate is not renewed this way", old.profile),
            "renew server and client certificates; for the CA use `mtls-ca ca rotate`",
        ));
    }
    // A profile from profiles.toml is read again: its current policy, key types and maximum
    // validity apply to the renewed certificate.
    let resolved = crate::ca::profiles::resolve(ca.dir(), &old.profile)?;
    let file_profile = resolved.file().cloned();
    let profile = resolved.kind();
    if !profile.is_leaf() {
        return Err(Error::invalid(
            "serial",
            old.serial,
            format!("a {} certificate is not renewed this way", old.profile),
            "renew server and client certificates; for the CA use `mtls-ca ca rotate`",
        ));
    }
    if old.state == "revoked" {
        return Err(Error::invalid(
            "serial",
            old.serial,
            "this certificate is revoked",
            "issue a new certificate instead (`mtls-ca issue` or `mtls-ca sign`)",
        ));
    }
    if let Some(next) = &old.superseded_by {
        return Err(Error::invalid(
            "serial",
            old.serial.clone(),
            format!("already renewed: its successor is {next}"),
            format!("renew the successor instead: mtls-ca renew {next}"),
        ));
    }
    let here = Path::new("<stored certificate>");
    let cert = x509::parse_cert(&old.der, here)?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .map(str::to_string)
        .ok_or_else(|| {
            Error::invalid(
                "serial",
                old.serial.clone(),
                "the certificate has no common name",
                "issue a new certificate instead",
            )
        })?;
    let sans = crate::names::parse_all(&x509::san_strings(&cert))?;
    let sans = match profile {
        p if p.is_server() => profile::server_sans(&cn, sans)?,
        _ => sans,
    };
    let (nb, na) = x509::validity(&cert);
    let old_days = u32::try_from((na - nb).whole_days().max(1)).unwrap_or(crate::ca::LEAF_DAYS);
    let mut warnings = Vec::new();
    crate::ca::check_leaf_days(profile, opts.days, opts.allow_long_validity, &mut warnings)?;
    let key_type: KeyType = old.key_type.parse()?;
    // The CA made the key (issue, batch) when a key file sits next to the old certificate; a
    // CSR-signed certificate's key stays with its requester, who rotates it with a new CSR.
    let ca_made_key = old
        .stem
        .as_deref()
        .is_some_and(|s| crate::ca::with_ext(Path::new(s), "key").exists());
    let key = if !opts.reuse_key && ca_made_key {
        LeafKey::Generate(key_type)
    } else {
        if opts.reuse_key {
            warnings.push(
                "--reuse-key: the old key is kept; if it leaked, the renewed certificate is \
                 as exposed as the old one"
                    .into(),
            );
        } else {
            warnings.push(
                "the CA does not hold this certificate's key (signed from a CSR): the public key \
                 is kept; to rotate it, have the owner make a new CSR and `mtls-ca sign` it"
                    .into(),
            );
        }
        LeafKey::Public {
            spki: cert.public_key().raw.to_vec(),
            key_type,
        }
    };
    let (stem, force) = match (&opts.stem, &old.stem) {
        (Some(s), _) => (s.clone(), opts.force),
        (None, Some(s)) => (PathBuf::from(s), true),
        (None, None) => {
            return Err(Error::invalid(
                "serial",
                old.serial,
                "the store does not know where this certificate was written",
                "give --out STEM",
            ))
        }
    };
    let default_days = if profile.is_server()
        && opts.days.is_none()
        && old_days > crate::ca::SERVER_MAX_DAYS
        && !opts.allow_long_validity
    {
        crate::ca::LEAF_DAYS
    } else {
        old_days
    };
    ca.issue_leaf_with(
        LeafRequest {
            profile,
            subject: crate::subject::Subject::from_name(cert.subject()),
            cn: if profile.is_server() {
                sans[0].to_string()
            } else {
                cn
            },
            sans,
            days: opts.days,
            valid: opts.valid,
            default_days,
            stem,
            force,
            renews: Some(old.serial),
            warnings,
        },
        key,
        now,
        file_profile.as_ref(),
    )
}

/// The result of renewing one certificate of a batch.
#[derive(Debug, serde::Serialize)]
pub struct BatchItem {
    /// The old serial.
    pub serial: String,
    /// The old subject.
    pub subject: String,
    /// The successor, when renewal worked.
    pub renewed: Option<Issued>,
    /// Why it failed, otherwise.
    pub error: Option<String>,
    /// What to do about the failure.
    pub hint: Option<String>,
}

/// Renews every valid server/client certificate that expires within `within`. With `out_dir`,
/// each successor goes to `out_dir/<old file name>`; otherwise over the old files (kept as
/// `.bak`). Failures do not stop the batch; each is reported.
pub fn renew_expiring(
    ca: &mut Ca,
    within: Duration,
    out_dir: Option<&Path>,
    reuse_key: bool,
    days: Option<u32>,
    now: OffsetDateTime,
) -> Result<Vec<BatchItem>> {
    renew_selected(ca, Some(within), None, out_dir, reuse_key, days, now)
}

/// The serials of the CAs of `ca`'s overlap that `sel` names (`--issuer`). A prefix that names
/// no CA of the overlap is an error that lists them.
pub fn issuer_serials(
    dir: &Path,
    sel: &crate::ca::overlap::IssuerSel,
    now: OffsetDateTime,
) -> Result<Vec<String>> {
    let members = crate::ca::overlap::members(dir, now)?;
    let found: Vec<String> = members
        .iter()
        .filter(|m| m.matches(sel))
        .map(|m| m.serial.clone())
        .collect();
    if found.is_empty() {
        if let crate::ca::overlap::IssuerSel::Prefix(p) = sel {
            let known: Vec<String> = members
                .iter()
                .map(|m| {
                    format!(
                        "{} ({})",
                        crate::ca::overlap::prefix_of(&m.serial),
                        if m.retired { "retired" } else { "current" }
                    )
                })
                .collect();
            return Err(Error::invalid(
                "--issuer",
                p.clone(),
                "no CA of this directory has a serial or key id starting with it",
                format!("use current, retired, or one of: {}", known.join(", ")),
            ));
        }
    }
    Ok(found)
}

/// Renews every valid (unexpired, unrevoked, not yet renewed) server/client certificate that
/// expires within `within` (when given) and was issued by a CA `issuer` names (when given).
/// Files are written as [`renew_expiring`] writes them. Failures do not stop the batch.
pub fn renew_selected(
    ca: &mut Ca,
    within: Option<Duration>,
    issuer: Option<&crate::ca::overlap::IssuerSel>,
    out_dir: Option<&Path>,
    reuse_key: bool,
    days: Option<u32>,
    now: OffsetDateTime,
) -> Result<Vec<BatchItem>> {
    let issuers = issuer
        .map(|sel| issuer_serials(ca.dir(), sel, now))
        .transpose()?;
    let candidates: Vec<Entry> = match within {
        Some(w) => expiring(ca.store(), now, w)?,
        None => ca.store().list(now, Some(crate::store::Status::Valid))?,
    };
    let due: Vec<Entry> = candidates
        .into_iter()
        .filter(|e| {
            e.profile != "root"
                && e.profile != "intermediate"
                && e.profile != crate::profile::CROSS_SIGNED
        })
        .filter(|e| match &issuers {
            Some(set) => e.ca_serial.as_ref().is_some_and(|s| set.contains(s)),
            None => true,
        })
        .collect();
    let mut out = Vec::new();
    for e in due {
        let stem = match (out_dir, &e.stem) {
            (Some(d), Some(s)) => Some(
                d.join(
                    Path::new(s)
                        .file_name()
                        .map(PathBuf::from)
                        .unwrap_or_else(|| PathBuf::from(&e.serial)),
                ),
            ),
            (Some(d), None) => Some(d.join(&e.serial)),
            (None, _) => None,
        };
        // A certificate that already lives in `out_dir` (a successor written there by an
        // earlier run) is renewed in place, its files kept as `.bak`: cron re-runs stay exit 0.
        let stem = match (stem, &e.stem) {
            (Some(new), Some(old)) if same_path(&new, Path::new(old)) => None,
            (stem, _) => stem,
        };
        let opts = RenewOptions {
            target: Target::Serial(e.serial.clone()),
            reuse_key,
            days,
            valid: None,
            stem,
            allow_long_validity: false,
            force: false,
        };
        let r = renew(ca, &opts, now);
        let (renewed, error, hint) = match r {
            Ok(i) => (Some(i), None, None),
            Err(err) => (None, Some(err.to_string()), err.hint()),
        };
        out.push(BatchItem {
            serial: e.serial,
            subject: e.subject,
            renewed,
            error,
            hint,
        });
    }
    Ok(out)
}

/// True when `a` and `b` name the same path as written (components compared, `.` ignored).
fn same_path(a: &Path, b: &Path) -> bool {
    let norm = |p: &Path| -> Vec<std::ffi::OsString> {
        p.components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .map(|c| c.as_os_str().to_os_string())
            .collect()
    };
    norm(a) == norm(b)
}
