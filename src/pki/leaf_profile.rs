//! A leaf profile defined as data (`profiles.toml`): its extensions, validity, key types and
//! name policy, checked and applied at issuance. Reading the file is `ca::profiles`; this module
//! only names the file in its messages.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rcgen::{ExtendedKeyUsagePurpose, KeyUsagePurpose};

use crate::error::{Error, Result};
use crate::keys::KeyType;
use crate::names::San;
use crate::pki::policy::NamePolicy;
use crate::profile::Profile;

/// One extended key usage: its name (a built-in one or the dotted OID) and OID arcs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Eku {
    /// `serverAuth`, …, or the dotted OID of a custom purpose.
    pub name: String,
    /// The dotted OID.
    pub oid: String,
    #[serde(skip)]
    pub(crate) arcs: Vec<u64>,
}

/// The extended key usages known by name, with their OIDs.
pub const EKU_NAMES: [(&str, &str); 6] = [
    ("serverAuth", "1.3.6.1.5.5.7.3.1"),
    ("clientAuth", "1.3.6.1.5.5.7.3.2"),
    ("codeSigning", "1.3.6.1.5.5.7.3.3"),
    ("emailProtection", "1.3.6.1.5.5.7.3.4"),
    ("timeStamping", "1.3.6.1.5.5.7.3.8"),
    ("OCSPSigning", "1.3.6.1.5.5.7.3.9"),
];

/// The key usages a leaf profile may set; `rsa_only` ones are written for RSA keys only,
/// `ec_only` (keyAgreement) for ECDSA keys only.
pub const KU_NAMES: [(&str, KeyUsagePurpose); 5] = [
    ("digitalSignature", KeyUsagePurpose::DigitalSignature),
    ("contentCommitment", KeyUsagePurpose::ContentCommitment),
    ("keyEncipherment", KeyUsagePurpose::KeyEncipherment),
    ("dataEncipherment", KeyUsagePurpose::DataEncipherment),
    ("keyAgreement", KeyUsagePurpose::KeyAgreement),
];

/// A profile defined in `profiles.toml`, checked.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileProfile {
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// The built-in behaviour it follows for the CN: server-like (serverAuth: the CN must be a
    /// host name or IP and goes into the SANs) or client-like.
    pub kind: Profile,
    /// keyUsage names.
    pub key_usage: Vec<String>,
    /// extendedKeyUsage.
    pub extended_key_usage: Vec<Eku>,
    /// Validity when none is asked for, in days (None: 365).
    pub default_days: Option<u32>,
    /// Longest validity allowed, in days.
    pub max_days: Option<u32>,
    /// Allowed key types (empty: any).
    pub key_types: Vec<KeyType>,
    /// The issuance policy as written (None: any name).
    pub policy: Option<BTreeMap<&'static str, Vec<String>>>,
    /// True for server, client and server-client (not read from a file).
    pub builtin: bool,
    #[serde(skip)]
    pub(crate) names: Option<NamePolicy>,
    #[serde(skip)]
    pub(crate) source: PathBuf,
}

/// Parses a dotted OID (`1.3.6.1.4.1.55555.1`): at least two arcs, a valid first pair.
pub fn parse_oid(s: &str) -> Option<Vec<u64>> {
    let arcs: Vec<u64> = s
        .split('.')
        .map(|a| {
            if a.is_empty()
                || !a.bytes().all(|b| b.is_ascii_digit())
                || (a.len() > 1 && a.starts_with('0'))
            {
                None
            } else {
                a.parse().ok()
            }
        })
        .collect::<Option<_>>()?;
    let ok = arcs.len() >= 2 && arcs[0] <= 2 && (arcs[0] == 2 || arcs[1] < 40);
    ok.then_some(arcs)
}

/// Parses an extended key usage: a name of [`EKU_NAMES`] or a dotted OID; never anyExtendedKeyUsage.
pub fn parse_eku(v: &str) -> std::result::Result<Eku, String> {
    if let Some((name, oid)) = EKU_NAMES
        .iter()
        .find(|(n, o)| n.eq_ignore_ascii_case(v) || *o == v)
    {
        return Ok(Eku {
            name: name.to_string(),
            oid: oid.to_string(),
            arcs: parse_oid(oid).unwrap_or_default(),
        });
    }
    if v == "2.5.29.37.0" || v.eq_ignore_ascii_case("anyExtendedKeyUsage") {
        return Err(
            "anyExtendedKeyUsage makes a leaf good for every purpose: name the purposes".into(),
        );
    }
    let arcs = parse_oid(v).ok_or_else(|| {
        format!(
            "not an OID (dotted numbers such as 1.3.6.1.4.1.55555.1) nor one of {}",
            EKU_NAMES.map(|(n, _)| n).join(", ")
        )
    })?;
    Ok(Eku {
        name: v.to_string(),
        oid: v.to_string(),
        arcs,
    })
}

impl Eku {
    /// The rcgen purpose.
    pub fn to_rcgen(&self) -> ExtendedKeyUsagePurpose {
        match self.name.as_str() {
            "serverAuth" => ExtendedKeyUsagePurpose::ServerAuth,
            "clientAuth" => ExtendedKeyUsagePurpose::ClientAuth,
            "codeSigning" => ExtendedKeyUsagePurpose::CodeSigning,
            "emailProtection" => ExtendedKeyUsagePurpose::EmailProtection,
            "timeStamping" => ExtendedKeyUsagePurpose::TimeStamping,
            "OCSPSigning" => ExtendedKeyUsagePurpose::OcspSigning,
            _ => ExtendedKeyUsagePurpose::Other(self.arcs.clone()),
        }
    }
}

impl FileProfile {
    /// Refuses a CN or SAN outside this profile's policy, naming the name and the rule.
    pub fn check_names(&self, cn: &str, sans: &[San]) -> Result<()> {
        let Some(p) = &self.names else {
            return Ok(());
        };
        p.check(cn, sans).map_err(|r| Error::InvalidValue {
            what: "name",
            value: r.name,
            reason: format!("outside the policy of profile {:?}: {}", self.name, r.rule),
            hint: format!(
                "certify a name the profile allows, or change [profile.{}.policy] in {}",
                self.name,
                self.source.display()
            ),
        })
    }

    /// Refuses a key type the profile does not allow.
    pub fn check_key_type(&self, kt: KeyType) -> Result<()> {
        if self.key_types.is_empty() || self.key_types.contains(&kt) {
            return Ok(());
        }
        Err(Error::InvalidValue {
            what: "key type",
            value: kt.as_str().into(),
            reason: format!(
                "profile {:?} allows only key_types = [{}]",
                self.name,
                self.key_types
                    .iter()
                    .map(|k| format!("{:?}", k.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            hint: format!("use --key-type {}", self.key_types[0].as_str()),
        })
    }

    /// Refuses a validity above `max_validity`.
    pub fn check_days(&self, days: u32) -> Result<()> {
        match self.max_days {
            Some(m) if days > m => Err(Error::InvalidValue {
                what: "--days",
                value: days.to_string(),
                reason: format!(
                    "above the max_validity of profile {:?} ({m} days)",
                    self.name
                ),
                hint: format!("use --days {m} or less"),
            }),
            _ => Ok(()),
        }
    }

    /// Sets keyUsage and extendedKeyUsage of `params` as the profile says, for a key of type
    /// `kt` (keyEncipherment and dataEncipherment for RSA keys only, keyAgreement for ECDSA keys
    /// only).
    pub fn apply(&self, params: &mut rcgen::CertificateParams, kt: KeyType) {
        let ecdsa = matches!(kt, KeyType::EcdsaP256 | KeyType::EcdsaP384);
        let mut ku: Vec<KeyUsagePurpose> = Vec::new();
        for n in &self.key_usage {
            let Some((_, k)) = KU_NAMES.iter().find(|(x, _)| x == n) else {
                continue;
            };
            let fits = match n.as_str() {
                "keyEncipherment" | "dataEncipherment" => kt.is_rsa(),
                "keyAgreement" => ecdsa,
                _ => true,
            };
            if fits {
                ku.push(*k);
            }
        }
        params.key_usages = ku;
        params.extended_key_usages = self.extended_key_usage.iter().map(Eku::to_rcgen).collect();
    }

    /// The validity in days for a request: `days` if given (checked against the maximum),
    /// else the profile's default, else `fallback` capped to the maximum.
    pub fn days(
        &self,
        days: Option<u32>,
        fallback: u32,
        warnings: &mut Vec<String>,
    ) -> Result<u32> {
        if let Some(d) = days {
            self.check_days(d)?;
            return Ok(d);
        }
        if let Some(d) = self.default_days {
            return Ok(d);
        }
        match self.max_days {
            Some(m) if fallback > m => {
                warnings.push(format!(
                    "validity capped to the max_validity of profile {:?} ({m} days)",
                    self.name
                ));
                Ok(m)
            }
            _ => Ok(fallback),
        }
    }
}
