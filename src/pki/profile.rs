//! Certificate profiles: every extension of every certificate mtls-ca makes is decided here.
//!
//! See `docs/profiles.md`: root and intermediate CAs, server and
//! client leaves. The profile knows nothing about files or the store; `ca.rs` feeds it a subject,
//! names, a serial and a validity and signs what it returns.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, KeyIdMethod, KeyUsagePurpose, NameConstraints,
};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::keys::KeyType;
use crate::names::San;
use crate::serial::Serial;

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// A self-signed root CA.
    Root,
    /// A CA signed by another CA.
    Intermediate,
    /// A TLS server (serverAuth only).
    Server,
    /// A TLS client (clientAuth only).
    Client,
    /// A dual-use leaf, client and server (serverAuth + clientAuth), e.g. a service in a mesh.
    #[serde(rename = "server-client")]
    ServerClient,
}

impl Profile {
    /// The name stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Root => "root",
            Profile::Intermediate => "intermediate",
            Profile::Server => "server",
            Profile::Client => "client",
            Profile::ServerClient => "server-client",
        }
    }

    /// Parses a stored or typed profile name.
    pub fn parse(s: &str) -> Result<Profile> {
        match s {
            "root" => Ok(Profile::Root),
            "intermediate" => Ok(Profile::Intermediate),
            "server" => Ok(Profile::Server),
            "client" => Ok(Profile::Client),
            "server-client" => Ok(Profile::ServerClient),
            _ => Err(Error::invalid(
                "profile",
                s,
                "unknown profile",
                "use server, client or server-client",
            )),
        }
    }

    /// True for root and intermediate.
    pub fn is_ca(self) -> bool {
        matches!(self, Profile::Root | Profile::Intermediate)
    }

    /// True for the leaf profiles: server, client, server-client.
    pub fn is_leaf(self) -> bool {
        !self.is_ca()
    }

    /// True when the certificate serves TLS (server, server-client): its CN must be a DNS name
    /// or IP and is added to the SANs.
    pub fn is_server(self) -> bool {
        matches!(self, Profile::Server | Profile::ServerClient)
    }
}

/// The profile name a cross-signed root certificate (`ca cross-sign`) is recorded with.
pub const CROSS_SIGNED: &str = "cross-signed";

/// Name constraints for a CA (`--permit-dns`, `--permit-ip`, `--exclude-dns`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Constraints {
    /// Permitted DNS subtrees (e.g. `example.com` covers every name below it).
    pub permit_dns: Vec<String>,
    /// Permitted IP ranges.
    pub permit_ip: Vec<(IpAddr, u8)>,
    /// Excluded DNS subtrees.
    pub exclude_dns: Vec<String>,
    /// Permitted e-mail subtrees: a mailbox, a host, or `.domain` (every host below it).
    pub permit_email: Vec<String>,
    /// Excluded IP ranges.
    pub exclude_ip: Vec<(IpAddr, u8)>,
}

impl Constraints {
    /// True when no constraint is set.
    pub fn is_empty(&self) -> bool {
        self.permit_dns.is_empty()
            && self.permit_ip.is_empty()
            && self.exclude_dns.is_empty()
            && self.permit_email.is_empty()
            && self.exclude_ip.is_empty()
    }

    /// Parses a `--permit-email` subtree: `name@example.com` (one mailbox), `example.com` (every
    /// mailbox at that host) or `.example.com` (every host below it).
    pub fn parse_email(v: &str) -> Result<String> {
        let bad = |r: &str| {
            Error::invalid(
                "--permit-email",
                v,
                r,
                "give a mailbox (a@example.com), a host (example.com) or .example.com",
            )
        };
        if v.contains('@') {
            return match crate::names::San::parse(v) {
                Ok(San::Email(e)) => Ok(e),
                _ => Err(bad("not an e-mail address")),
            };
        }
        let (dot, d) = match v.strip_prefix('.') {
            Some(d) => (".", d),
            None => ("", v),
        };
        let d = crate::names::parse_dns(d, false).map_err(|r| bad(&r))?;
        Ok(format!("{dot}{d}"))
    }

    /// Parses an `--exclude-ip` CIDR.
    pub fn parse_exclude_cidr(v: &str) -> Result<(IpAddr, u8)> {
        Self::parse_cidr(v).map_err(|e| match e {
            Error::InvalidValue {
                value,
                reason,
                hint,
                ..
            } => Error::InvalidValue {
                what: "--exclude-ip",
                value,
                reason,
                hint,
            },
            other => other,
        })
    }

    /// Parses a `--permit-dns`/`--exclude-dns` domain.
    pub fn parse_domain(flag: &'static str, v: &str) -> Result<String> {
        let d = v.strip_prefix('.').unwrap_or(v);
        crate::names::parse_dns(d, false)
            .map_err(|r| Error::invalid(flag, v, r, "give a domain such as example.com"))
    }

    /// Parses a `--permit-ip` CIDR (`10.0.0.0/8`, `fd00::/8`; a bare address means one host).
    pub fn parse_cidr(v: &str) -> Result<(IpAddr, u8)> {
        let bad = |r: &str| Error::invalid("--permit-ip", v, r, "give a CIDR such as 10.0.0.0/8");
        let (addr, len) = match v.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (v, None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| bad("not an IP address"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(l) => l.parse::<u8>().map_err(|_| bad("bad prefix length"))?,
            None => max,
        };
        if len > max {
            return Err(bad("prefix length too long"));
        }
        Ok((ip, len))
    }

    fn to_rcgen(&self) -> Option<NameConstraints> {
        if self.is_empty() {
            return None;
        }
        let mut permitted: Vec<GeneralSubtree> = self
            .permit_dns
            .iter()
            .map(|d| GeneralSubtree::DnsName(d.clone()))
            .collect();
        permitted.extend(
            self.permit_ip.iter().map(|(ip, len)| {
                GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(*ip, *len))
            }),
        );
        permitted.extend(
            self.permit_email
                .iter()
                .map(|e| GeneralSubtree::Rfc822Name(e.clone())),
        );
        let mut excluded: Vec<GeneralSubtree> = self
            .exclude_dns
            .iter()
            .map(|d| GeneralSubtree::DnsName(d.clone()))
            .collect();
        excluded.extend(
            self.exclude_ip.iter().map(|(ip, len)| {
                GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(*ip, *len))
            }),
        );
        Some(NameConstraints {
            permitted_subtrees: permitted,
            excluded_subtrees: excluded,
        })
    }
}

/// Everything a profile needs to build a certificate's fields.
#[derive(Debug, Clone)]
pub struct Request {
    /// Which profile.
    pub profile: Profile,
    /// Subject common name.
    pub cn: String,
    /// Subject organization, if any.
    pub org: Option<String>,
    /// Further subject attributes (`--subject`), least specific first; the CN goes last.
    pub subject: crate::subject::Subject,
    /// Subject alternative names (for servers, already including the CN).
    pub sans: Vec<San>,
    /// The subject key's type (decides keyEncipherment).
    pub key_type: KeyType,
    /// The serial, reserved in the store.
    pub serial: Serial,
    /// notBefore.
    pub not_before: OffsetDateTime,
    /// notAfter.
    pub not_after: OffsetDateTime,
    /// CA only: pathLenConstraint.
    pub pathlen: Option<u8>,
    /// CA only: name constraints.
    pub constraints: Constraints,
}

/// Longest common name (RFC 5280 ub-common-name).
pub const MAX_CN_LEN: usize = 64;

/// Checks a common name: 1–64 characters, no control characters.
pub fn check_cn(cn: &str) -> Result<()> {
    let bad = |r: &str| Error::invalid("--cn", cn, r, "give a short name such as api.example.com");
    if cn.trim().is_empty() {
        return Err(bad("empty common name"));
    }
    if cn.chars().count() > MAX_CN_LEN {
        return Err(bad("longer than 64 characters (the X.509 limit)"));
    }
    if cn.chars().any(|c| c.is_control()) {
        return Err(bad("contains control characters"));
    }
    crate::subject::check_chars("--cn", cn)
}

/// Builds the rcgen parameters for a request: the one place extensions are decided.
pub fn params(req: &Request) -> Result<CertificateParams> {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    if let Some(org) = &req.org {
        dn.push(DnType::OrganizationName, org.as_str());
    }
    for (ty, value) in req.subject.to_dn(&req.cn).iter() {
        dn.push(ty.clone(), value.clone());
    }
    p.distinguished_name = dn;
    p.serial_number = Some(rcgen::SerialNumber::from_slice(req.serial.as_bytes()));
    p.not_before = req.not_before;
    p.not_after = req.not_after;
    // SKI: RFC 7093 method 1, set by the signer with `with_ski` once the key is known (rcgen's
    // own Sha256 method hashes the whole SubjectPublicKeyInfo, which is not method 1).
    p.key_identifier_method = KeyIdMethod::Sha256;
    p.subject_alt_names = req
        .sans
        .iter()
        .map(San::to_rcgen)
        .collect::<Result<Vec<_>>>()?;
    match req.profile {
        Profile::Root | Profile::Intermediate => {
            p.is_ca = IsCa::Ca(match req.pathlen {
                Some(n) => BasicConstraints::Constrained(n),
                None => BasicConstraints::Unconstrained,
            });
            p.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
            ];
            p.name_constraints = req.constraints.to_rcgen();
            p.use_authority_key_identifier_extension = req.profile == Profile::Intermediate;
        }
        Profile::Server | Profile::Client | Profile::ServerClient => {
            // ExplicitNoCa: critical basicConstraints CA:FALSE, and rcgen then writes the SKI.
            p.is_ca = IsCa::ExplicitNoCa;
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            if req.profile.is_server() && req.key_type.is_rsa() {
                p.key_usages.push(KeyUsagePurpose::KeyEncipherment);
            }
            p.extended_key_usages = match req.profile {
                Profile::Server => vec![ExtendedKeyUsagePurpose::ServerAuth],
                Profile::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
                _ => vec![
                    ExtendedKeyUsagePurpose::ServerAuth,
                    ExtendedKeyUsagePurpose::ClientAuth,
                ],
            };
            p.use_authority_key_identifier_extension = true;
        }
    }
    Ok(p)
}

/// The subject key identifier of a public key: RFC 7093 method 1, the leftmost 160 bits of the
/// SHA-256 hash of the subjectPublicKey BIT STRING value (`PublicKeyData::der_bytes`).
pub fn ski(subject_public_key: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, subject_public_key).as_ref()[..20].to_vec()
}

/// `params` with its SKI computed from `key` by [`ski`].
pub fn with_ski(params: &CertificateParams, key: &impl rcgen::PublicKeyData) -> CertificateParams {
    let mut p = params.clone();
    p.key_identifier_method = KeyIdMethod::PreSpecified(ski(key.der_bytes()));
    p
}

/// The SANs a server certificate gets: the CN (as DNS name or IP) first unless already listed.
pub fn server_sans(cn: &str, sans: Vec<San>) -> Result<Vec<San>> {
    let cn_san = San::parse(cn).map_err(|_| {
        Error::invalid(
            "--cn",
            cn,
            "a server's common name must be a DNS name or IP address (it is added to the SANs)",
            "use the host name clients connect to, e.g. --cn api.example.com",
        )
    })?;
    if !matches!(cn_san, San::Dns(_) | San::Ip(_)) {
        return Err(Error::invalid(
            "--cn",
            cn,
            "a server's common name must be a DNS name or IP address",
            "use the host name clients connect to, e.g. --cn api.example.com",
        ));
    }
    let mut out = vec![cn_san];
    for s in sans {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{KeyPair, PublicKeyData};
    use time::macros::datetime;
    use x509_parser::extensions::ParsedExtension;

    fn request(profile: Profile, key_type: KeyType) -> Request {
        Request {
            profile,
            cn: "api.example.com".into(),
            org: Some("Example".into()),
            sans: vec![San::Dns("api.example.com".into())],
            key_type,
            serial: Serial::from_bytes(&[0x00, 0x4a, 0x01, 0x02]),
            not_before: datetime!(2026-01-01 00:00 UTC),
            not_after: datetime!(2026-04-01 00:00 UTC),
            pathlen: None,
            constraints: Constraints::default(),
            subject: Default::default(),
        }
    }

    #[test]
    fn profile_names_round_trip() {
        for p in [
            Profile::Root,
            Profile::Intermediate,
            Profile::Server,
            Profile::Client,
        ] {
            assert_eq!(Profile::parse(p.as_str()).unwrap(), p);
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
            assert_eq!(
                p.is_ca(),
                matches!(p, Profile::Root | Profile::Intermediate)
            );
        }
        for bad in ["", "Server", "ca", "leaf"] {
            let e = Profile::parse(bad).unwrap_err();
            assert!(e.to_string().contains("unknown profile"), "{bad}: {e}");
        }
    }

    #[test]
    fn leaf_profiles_are_single_purpose_and_not_ca() {
        for (profile, key_type, eku, key_encipherment) in [
            (
                Profile::Server,
                KeyType::EcdsaP256,
                ExtendedKeyUsagePurpose::ServerAuth,
                false,
            ),
            (
                Profile::Server,
                KeyType::Rsa2048,
                ExtendedKeyUsagePurpose::ServerAuth,
                true,
            ),
            (
                Profile::Client,
                KeyType::EcdsaP256,
                ExtendedKeyUsagePurpose::ClientAuth,
                false,
            ),
            (
                Profile::Client,
                KeyType::Rsa2048,
                ExtendedKeyUsagePurpose::ClientAuth,
                false,
            ),
        ] {
            let p = params(&request(profile, key_type)).unwrap();
            let what = format!("{profile:?} {key_type:?}");
            assert!(matches!(p.is_ca, IsCa::ExplicitNoCa), "{what}");
            assert_eq!(p.extended_key_usages, [eku], "{what}");
            let mut want = vec![KeyUsagePurpose::DigitalSignature];
            if key_encipherment {
                want.push(KeyUsagePurpose::KeyEncipherment);
            }
            assert_eq!(p.key_usages, want, "{what}");
            assert!(p.use_authority_key_identifier_extension, "{what}");
            assert!(p.name_constraints.is_none(), "{what}");
            assert_eq!(p.not_before, datetime!(2026-01-01 00:00 UTC));
            assert_eq!(p.not_after, datetime!(2026-04-01 00:00 UTC));
            // Leading zero octets of the reserved serial are not written.
            assert_eq!(
                p.serial_number.as_ref().unwrap().to_bytes(),
                [0x4a, 0x01, 0x02]
            );
        }
    }

    #[test]
    fn ca_profiles_sign_certificates_and_crls_only() {
        let mut req = request(Profile::Root, KeyType::EcdsaP256);
        let root = params(&req).unwrap();
        assert!(matches!(
            root.is_ca,
            IsCa::Ca(BasicConstraints::Unconstrained)
        ));
        assert_eq!(
            root.key_usages,
            [
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign
            ]
        );
        assert!(root.extended_key_usages.is_empty());
        assert!(!root.use_authority_key_identifier_extension);
        req.profile = Profile::Intermediate;
        req.pathlen = Some(0);
        req.constraints = Constraints {
            permit_dns: vec!["example.com".into()],
            permit_ip: vec![Constraints::parse_cidr("10.0.0.0/8").unwrap()],
            exclude_dns: vec!["bad.example.com".into()],
            ..Constraints::default()
        };
        let int = params(&req).unwrap();
        assert!(matches!(
            int.is_ca,
            IsCa::Ca(BasicConstraints::Constrained(0))
        ));
        assert!(int.use_authority_key_identifier_extension);
        let nc = int.name_constraints.expect("name constraints");
        assert_eq!(nc.permitted_subtrees.len(), 2);
        assert_eq!(nc.excluded_subtrees.len(), 1);
    }

    #[test]
    fn a_signed_client_certificate_has_exactly_the_profile_extensions() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut req = request(Profile::Client, KeyType::EcdsaP256);
        req.cn = "alice".into();
        req.sans = vec![];
        let p = with_ski(&params(&req).unwrap(), &key);
        let cert = p.self_signed(&key).unwrap();
        let (_, x) = x509_parser::parse_x509_certificate(cert.der()).unwrap();
        assert_eq!(x.subject().to_string(), "O=Example, CN=alice");
        assert_eq!(x.raw_serial(), [0x4a, 0x01, 0x02]);
        let bc = x.basic_constraints().unwrap().unwrap();
        assert!(bc.critical && !bc.value.ca);
        let ku = x.key_usage().unwrap().unwrap();
        assert!(ku.critical && ku.value.digital_signature() && !ku.value.key_cert_sign());
        let eku = x.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth && !eku.any);
        let ski_ext = x
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
                _ => None,
            })
            .expect("SKI");
        assert_eq!(ski_ext, ski(key.der_bytes()));
        assert_eq!(ski_ext.len(), 20);
    }

    #[test]
    fn name_constraint_inputs() {
        assert_eq!(
            Constraints::parse_domain("--permit-dns", ".Example.com").unwrap(),
            "example.com"
        );
        assert!(Constraints::parse_domain("--permit-dns", "*.example.com").is_err());
        assert!(Constraints::parse_domain("--exclude-dns", "").is_err());
        assert_eq!(
            Constraints::parse_cidr("10.1.0.0/16").unwrap(),
            ("10.1.0.0".parse().unwrap(), 16)
        );
        assert_eq!(
            Constraints::parse_cidr("fd00::1").unwrap(),
            ("fd00::1".parse().unwrap(), 128)
        );
        assert_eq!(
            Constraints::parse_cidr("192.0.2.1").unwrap().1,
            32,
            "a bare address is one host"
        );
        for (bad, why) in [
            ("10.0.0.0/33", "prefix length too long"),
            ("fd00::/129", "prefix length too long"),
            ("10.0.0.0/x", "bad prefix length"),
            ("example.com/8", "not an IP address"),
            ("", "not an IP address"),
        ] {
            let e = Constraints::parse_cidr(bad).unwrap_err();
            assert!(e.to_string().contains(why), "{bad}: {e}");
        }
        assert!(Constraints::default().is_empty());
        assert!(Constraints::default().to_rcgen().is_none());
    }

    #[test]
    fn common_names() {
        check_cn("alice").unwrap();
        check_cn(&"é".repeat(MAX_CN_LEN)).unwrap();
        for (bad, why) in [
            ("", "empty"),
            ("   ", "empty"),
            (&*"a".repeat(MAX_CN_LEN + 1), "longer than 64"),
            ("a\nb", "control characters"),
            ("a\u{7f}", "control characters"),
        ] {
            let e = check_cn(bad).unwrap_err();
            assert!(e.to_string().contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn server_sans_put_the_cn_first_once() {
        let api = San::Dns("api.example.com".into());
        let ip = San::Ip("10.0.0.1".parse().unwrap());
        assert_eq!(
            server_sans("api.example.com", vec![ip.clone(), api.clone()]).unwrap(),
            [api.clone(), ip.clone()]
        );
        assert_eq!(
            server_sans("10.0.0.1", vec![api.clone()]).unwrap(),
            [ip, api]
        );
        for bad in ["alice@example.com", "spiffe://example.org/x", "not a name"] {
            let e = server_sans(bad, vec![]).unwrap_err();
            assert!(
                e.to_string().contains("DNS name or IP address"),
                "{bad}: {e}"
            );
        }
    }
}
