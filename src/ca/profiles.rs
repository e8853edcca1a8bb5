//! Profiles as data: the leaf profiles a CA defines in `DIR/profiles.toml`, and the one
//! policy check every leaf-making path calls.
//!
//! A file profile sets key usage, extended key usages (built-in names or custom OIDs), default
//! and maximum validity, allowed key types and an issuance policy ([`crate::pki::policy`]).
//! The built-in leaf profiles (`server`, `client`, `server-client`) always exist and may not be
//! redefined; nor may `root` or `intermediate`. [`check`] is the entry point for any issuer
//! (issue, batch, sign, renew, an online CA): given the CA directory, a profile name and the
//! names of a leaf, it refuses what the profile does not allow. See `docs/profiles.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::keys::KeyType;
use crate::names::San;
use crate::pki::leaf_profile::{parse_eku, parse_oid, EKU_NAMES, KU_NAMES};
pub use crate::pki::leaf_profile::{Eku, FileProfile};
use crate::pki::policy::NamePolicy;
use crate::profile::Profile;

/// Largest profiles file read.
const MAX_FILE: u64 = 1 << 20;

/// Names a file profile may not take.
pub const RESERVED: [&str; 5] = ["root", "intermediate", "server", "client", "server-client"];

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    #[serde(default)]
    profile: BTreeMap<String, ProfileToml>,
}

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct ProfileToml {
    description: Option<String>,
    key_usage: Option<Vec<String>>,
    extended_key_usage: Vec<String>,
    default_validity: Option<String>,
    max_validity: Option<String>,
    key_types: Option<Vec<String>>,
    policy: Option<PolicyToml>,
}

#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct PolicyToml {
    #[serde(default)]
    cn: Vec<String>,
    #[serde(default)]
    dns: Vec<String>,
    #[serde(default)]
    ip: Vec<String>,
    #[serde(default)]
    uri: Vec<String>,
    #[serde(default)]
    email: Vec<String>,
}

/// A profile by name: built in, or from the file.
#[derive(Debug, Clone)]
pub enum Resolved {
    /// server, client, server-client (or root/intermediate, which only `init`/`sign` use).
    Builtin(Profile),
    /// Defined in `profiles.toml`.
    File(Box<FileProfile>),
}

impl Resolved {
    /// The built-in behaviour (for a file profile, its [`FileProfile::kind`]).
    pub fn kind(&self) -> Profile {
        match self {
            Resolved::Builtin(p) => *p,
            Resolved::File(f) => f.kind,
        }
    }

    /// The file profile, if it is one.
    pub fn file(&self) -> Option<&FileProfile> {
        match self {
            Resolved::Builtin(_) => None,
            Resolved::File(f) => Some(f),
        }
    }
}

/// The profiles of a CA directory.
#[derive(Debug, Clone, Default)]
pub struct Profiles {
    /// File profiles by name.
    pub file: BTreeMap<String, FileProfile>,
    /// The file they came from (it may not exist).
    pub path: PathBuf,
}

fn file_err(path: &Path, reason: String, hint: &str) -> Error {
    Error::bad_file(path, reason, hint)
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn days_of(path: &Path, name: &str, key: &str, v: &str) -> Result<u32> {
    let d = crate::duration::parse_days("validity", v).map_err(|e| {
        file_err(
            path,
            format!(
                "profile {name:?}: {key} {v:?}: {}",
                e.hint().unwrap_or_default()
            ),
            "write a whole number of days: \"90d\", \"52w\", \"1y\"",
        )
    })?;
    if d == 0 || d > crate::ca::MAX_DAYS {
        return Err(file_err(
            path,
            format!("profile {name:?}: {key} {v:?}: must be between 1 day and 100 years"),
            "write a whole number of days: \"90d\", \"52w\", \"1y\"",
        ));
    }
    Ok(d)
}

fn check_name(path: &Path, name: &str) -> Result<()> {
    let hint = "name profiles with lowercase letters, digits and - (e.g. mesh-service)";
    if RESERVED.contains(&name) {
        return Err(file_err(
            path,
            format!("profile {name:?}: a built-in profile cannot be redefined"),
            "give the profile another name (e.g. web-strict)",
        ));
    }
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        return Err(file_err(
            path,
            format!("profile {name:?}: not a valid profile name"),
            hint,
        ));
    }
    Ok(())
}

fn build(path: &Path, name: &str, t: &ProfileToml) -> Result<FileProfile> {
    check_name(path, name)?;
    let hint_eku = "use serverAuth, clientAuth, codeSigning, emailProtection, timeStamping, OCSPSigning or a dotted OID";
    let mut ekus: Vec<Eku> = Vec::new();
    for v in &t.extended_key_usage {
        let e = parse_eku(v).map_err(|r| {
            file_err(
                path,
                format!("profile {name:?}: extended_key_usage {v:?}: {r}"),
                hint_eku,
            )
        })?;
        if ekus.iter().any(|x| x.oid == e.oid) {
            return Err(file_err(
                path,
                format!("profile {name:?}: extended_key_usage {v:?} is listed twice"),
                "list each purpose once",
            ));
        }
        ekus.push(e);
    }
    if ekus.is_empty() {
        return Err(file_err(
            path,
            format!("profile {name:?}: extended_key_usage is empty"),
            "name at least one purpose, e.g. extended_key_usage = [\"clientAuth\"]",
        ));
    }
    let has = |oid: &str| ekus.iter().any(|e| e.oid == oid);
    let kind = match (has(EKU_NAMES[0].1), has(EKU_NAMES[1].1)) {
        (true, true) => Profile::ServerClient,
        (true, false) => Profile::Server,
        _ => Profile::Client,
    };
    let key_usage = match &t.key_usage {
        // As the built-ins: keyEncipherment for server-like profiles (written for RSA keys only).
        None if kind.is_server() => vec!["digitalSignature".into(), "keyEncipherment".into()],
        None => vec!["digitalSignature".to_string()],
        Some(v) => {
            let mut out: Vec<String> = Vec::new();
            for k in v {
                let Some((n, _)) = KU_NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)) else {
                    return Err(file_err(
                        path,
                        format!("profile {name:?}: key_usage {k:?} is not a leaf key usage"),
                        "use digitalSignature, contentCommitment, keyEncipherment, dataEncipherment or keyAgreement (keyCertSign and cRLSign are for CAs)",
                    ));
                };
                if out.iter().any(|x| x == n) {
                    return Err(file_err(
                        path,
                        format!("profile {name:?}: key_usage {k:?} is listed twice"),
                        "list each key usage once",
                    ));
                }
                out.push(n.to_string());
            }
            if !out.iter().any(|x| x == "digitalSignature") {
                return Err(file_err(
                    path,
                    format!("profile {name:?}: key_usage {v:?} lacks digitalSignature"),
                    "add \"digitalSignature\": TLS 1.3 and every ECDSA or Ed25519 handshake sign with the key",
                ));
            }
            out
        }
    };
    let default_days = t
        .default_validity
        .as_deref()
        .map(|v| days_of(path, name, "default_validity", v))
        .transpose()?;
    let max_days = t
        .max_validity
        .as_deref()
        .map(|v| days_of(path, name, "max_validity", v))
        .transpose()?;
    if let (Some(d), Some(m)) = (default_days, max_days) {
        if d > m {
            return Err(file_err(
                path,
                format!(
                    "profile {name:?}: default_validity {:?} ({d} days) is above max_validity {:?} ({m} days)",
                    t.default_validity.as_deref().unwrap_or_default(),
                    t.max_validity.as_deref().unwrap_or_default()
                ),
                "lower default_validity or raise max_validity",
            ));
        }
    }
    let mut key_types = Vec::new();
    for k in t.key_types.iter().flatten() {
        let kt: KeyType = k.parse().map_err(|e: Error| {
            file_err(
                path,
                format!("profile {name:?}: key_types {k:?}: {}", reason_of(&e)),
                "use ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072 or rsa-4096",
            )
        })?;
        if !key_types.contains(&kt) {
            key_types.push(kt);
        }
    }
    if t.key_types.as_ref().is_some_and(Vec::is_empty) {
        return Err(file_err(
            path,
            format!("profile {name:?}: key_types is empty: no key could be certified"),
            "list the allowed key types, or leave key_types out to allow any",
        ));
    }
    let (names, policy) = match &t.policy {
        None => (None, None),
        Some(p) => {
            let np = NamePolicy::parse(&p.cn, &p.dns, &p.ip, &p.uri, &p.email).map_err(
                |(kind, pat, reason)| {
                    file_err(
                        path,
                        format!("profile {name:?}: policy.{kind} {pat:?}: {reason}"),
                        "see docs/profiles.md for the pattern syntax (*.example.com, .example.com, 10.0.0.0/8, spiffe://td/ns/*, example.com)",
                    )
                },
            )?;
            let text: BTreeMap<&'static str, Vec<String>> = np
                .text
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (*k, v.clone()))
                .collect();
            (Some(np), Some(text))
        }
    };
    Ok(FileProfile {
        name: name.to_string(),
        description: t.description.clone(),
        kind,
        key_usage,
        extended_key_usage: ekus,
        default_days,
        max_days,
        key_types,
        policy,
        builtin: false,
        names,
        source: path.to_path_buf(),
    })
}

/// A built-in leaf profile described as a file profile would be (for `profile list/show`).
pub fn builtin(p: Profile) -> FileProfile {
    let eku = |i: usize| Eku {
        name: EKU_NAMES[i].0.into(),
        oid: EKU_NAMES[i].1.into(),
        arcs: parse_oid(EKU_NAMES[i].1).unwrap_or_default(),
    };
    let (key_usage, ekus, description) = match p {
        Profile::Server => (
            vec!["digitalSignature", "keyEncipherment"],
            vec![eku(0)],
            "TLS server: serverAuth; the CN is added to the SANs",
        ),
        Profile::ServerClient => (
            vec!["digitalSignature", "keyEncipherment"],
            vec![eku(0), eku(1)],
            "dual-use leaf (a service in a mesh): serverAuth and clientAuth; the CN is added to the SANs",
        ),
        _ => (
            vec!["digitalSignature"],
            vec![eku(1)],
            "TLS client: clientAuth",
        ),
    };
    FileProfile {
        name: p.as_str().into(),
        description: Some(description.into()),
        kind: p,
        key_usage: key_usage.into_iter().map(String::from).collect(),
        extended_key_usage: ekus,
        default_days: Some(crate::ca::LEAF_DAYS),
        max_days: p.is_server().then_some(crate::ca::SERVER_MAX_DAYS),
        key_types: KeyType::ALL.to_vec(),
        policy: None,
        builtin: true,
        names: None,
        source: PathBuf::new(),
    }
}

impl Profiles {
    /// Every leaf profile: the built-in ones, then those of the file by name.
    pub fn all(&self) -> Vec<FileProfile> {
        let mut v: Vec<FileProfile> = [Profile::Server, Profile::Client, Profile::ServerClient]
            .into_iter()
            .map(builtin)
            .collect();
        v.extend(self.file.values().cloned());
        v
    }

    /// One leaf profile by name, described (built-in or from the file).
    pub fn describe(&self, name: &str) -> Result<FileProfile> {
        match self.resolve(name)? {
            Resolved::Builtin(p) if p.is_leaf() => Ok(builtin(p)),
            Resolved::Builtin(p) => Err(Error::invalid(
                "profile",
                p.as_str(),
                "a CA profile (made by `init`), not a leaf profile",
                "use server, client, server-client or a profile of profiles.toml",
            )),
            Resolved::File(f) => Ok(*f),
        }
    }
}

fn reason_of(e: &Error) -> String {
    match e {
        Error::InvalidValue { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

impl Profiles {
    /// Reads `DIR/profiles.toml` (no file: no file profiles).
    pub fn load(dir: &Path) -> Result<Profiles> {
        let path = crate::ca::layout::profiles(dir);
        if !path.exists() {
            return Ok(Profiles {
                file: BTreeMap::new(),
                path,
            });
        }
        // The policy is as trustworthy as the file: refused when another user could change it.
        crate::files::check_trusted(&path, false)?;
        let bytes = crate::files::read_limited(&path, MAX_FILE)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            file_err(
                &path,
                "not UTF-8 text".into(),
                "write profiles.toml as UTF-8 TOML",
            )
        })?;
        Self::parse(&text, &path)
    }

    /// Parses the text of a profiles file (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Profiles> {
        let raw: FileToml = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| format!("line {}: ", line_of(text, s.start)))
                .unwrap_or_default();
            file_err(
                path,
                format!("{at}{}", e.message().trim().replace('\n', " ")),
                "fix the file; docs/profiles.md lists every key of a profile",
            )
        })?;
        let mut file = BTreeMap::new();
        for (name, t) in &raw.profile {
            file.insert(name.clone(), build(path, name, t)?);
        }
        Ok(Profiles {
            file,
            path: path.to_path_buf(),
        })
    }

    /// A profile by name: a built-in leaf profile, or one from the file.
    pub fn resolve(&self, name: &str) -> Result<Resolved> {
        if let Ok(p) = Profile::parse(name) {
            return Ok(Resolved::Builtin(p));
        }
        match self.file.get(name) {
            Some(f) => Ok(Resolved::File(Box::new(f.clone()))),
            None => {
                let mut known: Vec<&str> = vec!["server", "client", "server-client"];
                known.extend(self.file.keys().map(String::as_str));
                Err(Error::invalid(
                    "profile",
                    name,
                    if self.path.exists() {
                        format!("no such profile (built-in or in {})", self.path.display())
                    } else {
                        format!("no such profile ({} does not exist)", self.path.display())
                    },
                    format!("use one of: {} (mtls-ca profile list)", known.join(", ")),
                ))
            }
        }
    }
}

/// Resolves a profile name in the CA directory `dir`.
pub fn resolve(dir: &Path, name: &str) -> Result<Resolved> {
    if let Ok(p) = Profile::parse(name) {
        return Ok(Resolved::Builtin(p));
    }
    Profiles::load(dir)?.resolve(name)
}

/// The policy check of every leaf-making path: refuses a CN or SAN outside the policy of the
/// profile `name` of the CA in `dir` (built-in profiles have no name policy).
pub fn check(dir: &Path, name: &str, cn: &str, sans: &[San]) -> Result<()> {
    match resolve(dir, name)? {
        Resolved::Builtin(_) => Ok(()),
        Resolved::File(f) => f.check_names(cn, sans),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::KeyUsagePurpose;

    fn parse(t: &str) -> Result<Profiles> {
        Profiles::parse(t, Path::new("pki/profiles.toml"))
    }

    const MESH: &str = r#"
[profile.mesh]
description = "services in the mesh"
extended_key_usage = ["serverAuth", "clientAuth", "1.3.6.1.4.1.55555.1.2"]
default_validity = "30d"
max_validity = "90d"
key_types = ["ecdsa-p256", "ed25519"]

[profile.mesh.policy]
dns = ["*.mesh.example.com"]
uri = ["spiffe://example.org/ns/*"]
"#;

    #[test]
    fn a_profile_file_is_read() {
        let p = parse(MESH).unwrap();
        let m = match p.resolve("mesh").unwrap() {
            Resolved::File(f) => f,
            other => panic!("{other:?}"),
        };
        assert_eq!(m.kind, Profile::ServerClient);
        assert_eq!(m.default_days, Some(30));
        assert_eq!(m.max_days, Some(90));
        assert_eq!(m.extended_key_usage[2].oid, "1.3.6.1.4.1.55555.1.2");
        assert_eq!(m.key_types, [KeyType::EcdsaP256, KeyType::Ed25519]);
        m.check_names(
            "a.mesh.example.com",
            &[San::Dns("a.mesh.example.com".into())],
        )
        .unwrap();
        let e = m
            .check_names("evil.com", &[San::Dns("evil.com".into())])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("evil.com") && e.contains("*.mesh.example.com"),
            "{e}"
        );
        assert!(m.check_key_type(KeyType::Rsa2048).is_err());
        assert!(m.check_days(91).is_err());
        m.check_days(90).unwrap();
        assert!(matches!(
            p.resolve("server").unwrap(),
            Resolved::Builtin(Profile::Server)
        ));
        assert!(p
            .resolve("nope")
            .unwrap_err()
            .to_string()
            .contains("no such profile"));
    }

    #[test]
    fn key_usages_fit_the_key_type() {
        let p = parse(
            "[profile.k]\nextended_key_usage = [\"clientAuth\", \"1.2.3.4\"]\nkey_usage = [\"digitalSignature\", \"keyEncipherment\", \"keyAgreement\"]\n",
        )
        .unwrap();
        let k = &p.file["k"];
        assert_eq!(k.kind, Profile::Client);
        for (kt, want) in [
            (
                KeyType::EcdsaP256,
                vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::KeyAgreement,
                ],
            ),
            (
                KeyType::Rsa2048,
                vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::KeyEncipherment,
                ],
            ),
            (KeyType::Ed25519, vec![KeyUsagePurpose::DigitalSignature]),
        ] {
            let mut params = rcgen::CertificateParams::default();
            k.apply(&mut params, kt);
            assert_eq!(params.key_usages, want, "{kt:?}");
            assert_eq!(
                params.extended_key_usages,
                [
                    rcgen::ExtendedKeyUsagePurpose::ClientAuth,
                    rcgen::ExtendedKeyUsagePurpose::Other(vec![1, 2, 3, 4])
                ]
            );
        }
        // The built-in profiles described as data.
        let s = builtin(Profile::Server);
        assert_eq!(s.extended_key_usage[0].oid, "1.3.6.1.5.5.7.3.1");
        assert_eq!(s.max_days, Some(crate::ca::SERVER_MAX_DAYS));
        assert_eq!(p.all().len(), 4);
    }

    #[test]
    fn bad_files_name_the_value_and_the_rule() {
        for (text, want) in [
            ("[profile.a]\nextended_key_usage = [\"clientAuth\"]\ncolour = 1\n", "line 3: unknown field `colour`"),
            ("[profile.a]\nextended_key_usage = [\"1.3.x\"]\n", "extended_key_usage \"1.3.x\": not an OID"),
            ("[profile.a]\nextended_key_usage = [\"3.1\"]\n", "not an OID"),
            ("[profile.a]\nextended_key_usage = []\n", "extended_key_usage is empty"),
            ("[profile.a]\nextended_key_usage = [\"clientAuth\"]\n[profile.a.policy]\ndns = [\"*.*.x.com\"]\n", "policy.dns \"*.*.x.com\""),
            ("[profile.a]\nextended_key_usage = [\"clientAuth\"]\n[profile.a.policy]\nip = [\"10.0.0.1/8\"]\n", "host bits set"),
            ("[profile.a]\nextended_key_usage = [\"clientAuth\"]\n[profile.a.policy]\nuri = [\"example.org/*\"]\n", "policy.uri"),
            ("[profile.a]\nextended_key_usage = [\"clientAuth\"]\n[profile.a.policy]\nhost = []\n", "unknown field `host`"),
            ("[profile.server]\nextended_key_usage = [\"clientAuth\"]\n", "built-in profile cannot be redefined"),
            ("[profile.a]\nextended_key_usage = [\"clientAuth\"]\ndefault_validity = \"100d\"\nmax_validity = \"90d\"\n", "above max_validity"),
            ("[profile.a]\nextended_key_usage = [\"clientAuth\"]\nmax_validity = \"12h\"\n", "max_validity \"12h\""),
            ("[profile.a]\nextended_key_usage = [\"clientAuth\"]\nkey_types = [\"rsa-1024\"]\n", "key_types \"rsa-1024\""),
            ("[profile.a]\nextended_key_usage = [\"clientAuth\"]\nkey_usage = [\"keyCertSign\"]\n", "not a leaf key usage"),
            ("[profile.A]\nextended_key_usage = [\"clientAuth\"]\n", "not a valid profile name"),
            ("[profile.a]\n", "missing field `extended_key_usage`"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }
}
