//! Name constraints at issuance: a CA whose certificate (or a parent's, up the chain) carries
//! permitted/excluded subtrees refuses to issue a leaf whose names fall outside them.
//!
//! Verifiers disagree on what they enforce (rustls-webpki checks DNS and IP only; openssl also
//! e-mail and URI, and the CN when it looks like a host name), so mtls-ca checks every type
//! before signing: DNS, IP, e-mail (rfc822Name) and URI SANs, and the subject CN taken as a DNS
//! name (when it has a dot), an IP address or an e-mail address. Matching follows RFC 5280
//! §4.2.1.10: a DNS subtree `example.com` covers the name and every name below it (`.example.com`
//! only the names below); an e-mail subtree is a mailbox, a host (every mailbox there) or `.domain`
//! (every host below it); a URI subtree is a host or `.domain`, matched against the URI's host; an
//! IP subtree is an address range. Names of a type no subtree speaks about are unconstrained.

use std::net::IpAddr;

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use crate::names::San;

/// One subtree of a nameConstraints extension, in a form we can match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subtree {
    /// dNSName subtree.
    Dns(String),
    /// iPAddress range: network address and mask bytes.
    Ip(Vec<u8>, Vec<u8>),
    /// rfc822Name subtree.
    Email(String),
    /// uniformResourceIdentifier subtree (a host or `.domain`).
    Uri(String),
    /// A type mtls-ca cannot evaluate (directoryName, otherName, …).
    Other(String),
}

impl std::fmt::Display for Subtree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subtree::Dns(d) => write!(f, "DNS:{d}"),
            Subtree::Email(e) => write!(f, "email:{e}"),
            Subtree::Uri(u) => write!(f, "URI:{u}"),
            Subtree::Ip(a, m) => {
                let prefix: u32 = m.iter().map(|b| b.count_ones()).sum();
                match ip_of(a) {
                    Some(ip) => write!(f, "IP:{ip}/{prefix}"),
                    None => write!(f, "IP:(malformed)"),
                }
            }
            Subtree::Other(o) => write!(f, "{o}"),
        }
    }
}

/// The name constraints of one CA certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaConstraints {
    /// The CA's subject, for messages.
    pub ca: String,
    /// Permitted subtrees.
    pub permitted: Vec<Subtree>,
    /// Excluded subtrees.
    pub excluded: Vec<Subtree>,
}

/// A name to check, as it will appear in the certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Name<'a> {
    /// A SAN.
    San(&'a San),
    /// The subject CN, read as the SAN it looks like.
    Cn(&'a str, San),
}

/// Why a name is refused: the name, where it came from, and the constraint it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// `--san` or `--cn` (where the name came from).
    pub what: &'static str,
    /// The name.
    pub name: String,
    /// What it breaks, e.g. `not within the permitted DNS subtrees (DNS:example.com) of CN=Root`.
    pub reason: String,
}

/// Reads the nameConstraints extension of a certificate (empty when it has none).
pub fn of_cert(cert: &X509Certificate<'_>) -> CaConstraints {
    let mut out = CaConstraints {
        ca: cert.subject().to_string(),
        ..CaConstraints::default()
    };
    if let Ok(Some(nc)) = cert.name_constraints() {
        if let Some(p) = &nc.value.permitted_subtrees {
            out.permitted = p.iter().map(|s| subtree(&s.base)).collect();
        }
        if let Some(e) = &nc.value.excluded_subtrees {
            out.excluded = e.iter().map(|s| subtree(&s.base)).collect();
        }
    }
    out
}

fn subtree(g: &GeneralName<'_>) -> Subtree {
    match g {
        GeneralName::DNSName(d) => Subtree::Dns(d.to_ascii_lowercase()),
        GeneralName::RFC822Name(e) => Subtree::Email(e.to_string()),
        GeneralName::URI(u) => Subtree::Uri(u.to_ascii_lowercase()),
        GeneralName::IPAddress(b) if b.len() == 8 || b.len() == 32 => {
            let half = b.len() / 2;
            Subtree::Ip(b[..half].to_vec(), b[half..].to_vec())
        }
        other => Subtree::Other(other.to_string()),
    }
}

/// The SAN a subject CN stands for, when a verifier could read it as one: an IP address, an
/// e-mail address, or a DNS name with at least one dot (openssl's rule for checking the CN).
pub fn cn_as_name(cn: &str) -> Option<San> {
    let s = San::parse(cn).ok()?;
    match &s {
        San::Dns(d) if d.contains('.') => Some(s),
        San::Ip(_) | San::Email(_) => Some(s),
        _ => None,
    }
}

/// Checks the CN and SANs of a new leaf against the constraints of every CA of its chain.
pub fn check(
    chain: &[CaConstraints],
    cn: &str,
    sans: &[San],
) -> std::result::Result<(), Violation> {
    let mut names: Vec<Name<'_>> = sans.iter().map(Name::San).collect();
    if let Some(s) = cn_as_name(cn) {
        if !sans.contains(&s) {
            names.push(Name::Cn(cn, s));
        }
    }
    for c in chain {
        for n in &names {
            let (what, shown, san) = match n {
                // A server's CN is its first SAN: name the flag the user typed it with.
                Name::San(s) if s.to_string().eq_ignore_ascii_case(cn) => {
                    ("--cn", s.to_string(), *s)
                }
                Name::San(s) => ("--san", s.to_string(), *s),
                Name::Cn(cn, s) => ("--cn", cn.to_string(), s),
            };
            if let Some(ex) = c.excluded.iter().find(|t| matches(t, san) == Some(true)) {
                return Err(Violation {
                    what,
                    name: shown,
                    reason: format!("inside the excluded subtree {ex} of the CA {}", c.ca),
                });
            }
            let same_type: Vec<&Subtree> = c
                .permitted
                .iter()
                .filter(|t| matches(t, san).is_some())
                .collect();
            if !same_type.is_empty() && !same_type.iter().any(|t| matches(t, san) == Some(true)) {
                let list: Vec<String> = same_type.iter().map(|t| t.to_string()).collect();
                return Err(Violation {
                    what,
                    name: shown,
                    reason: format!(
                        "outside the permitted subtrees ({}) of the CA {}",
                        list.join(", "),
                        c.ca
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Whether `name` falls in `tree`: None when the subtree is of another name type.
pub fn matches(tree: &Subtree, name: &San) -> Option<bool> {
    match (tree, name) {
        (Subtree::Dns(t), San::Dns(n)) => Some(dns_within(n, t)),
        (Subtree::Ip(net, mask), San::Ip(ip)) => {
            let bytes = match ip {
                IpAddr::V4(v) => v.octets().to_vec(),
                IpAddr::V6(v) => v.octets().to_vec(),
            };
            if bytes.len() != net.len() {
                return None;
            }
            Some(
                bytes
                    .iter()
                    .zip(net)
                    .zip(mask)
                    .all(|((b, n), m)| b & m == n & m),
            )
        }
        (Subtree::Email(t), San::Email(n)) => Some(email_within(n, t)),
        (Subtree::Uri(t), San::Uri(u)) => Some(match uri_host(u) {
            Some(h) => host_within(&h, t),
            // A URI without a host cannot satisfy a URI constraint (RFC 5280).
            None => false,
        }),
        _ => None,
    }
}

/// A DNS name within a DNS subtree. A wildcard name is within when every name it covers is:
/// `*.a.example.com` is within `example.com`; it is caught by an exclusion of anything below
/// `a.example.com` (it would cover it).
fn dns_within(name: &str, tree: &str) -> bool {
    let tree = tree.trim_end_matches('.').to_ascii_lowercase();
    if tree.is_empty() {
        return true;
    }
    let name = name.to_ascii_lowercase();
    if let Some(base) = name.strip_prefix("*.") {
        // Every covered name `x.base` is within `tree` when base is within it (or equal, for a
        // `.tree` subtree), and some covered name is within `tree` when tree is below base.
        let inside = host_within(base, &tree) || base == tree.trim_start_matches('.');
        let overlaps = host_within(tree.trim_start_matches('.'), base);
        return inside || overlaps;
    }
    host_within(&name, &tree)
}

/// A host within a subtree: `example.com` covers itself and names below it; `.example.com` only
/// names below it.
fn host_within(host: &str, tree: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if let Some(domain) = tree.strip_prefix('.') {
        return host.ends_with(&format!(".{domain}"));
    }
    host == tree || host.ends_with(&format!(".{tree}"))
}

/// RFC 5280 rfc822Name subtrees: a mailbox (exact), a host (every mailbox at exactly that host)
/// or `.domain` (every mailbox at a host below it).
fn email_within(email: &str, tree: &str) -> bool {
    let Some((_, host)) = email.rsplit_once('@') else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    if let Some((tl, th)) = tree.rsplit_once('@') {
        let (el, _) = email.rsplit_once('@').unwrap_or_default();
        return el == tl && host == th.to_ascii_lowercase();
    }
    let tree = tree.to_ascii_lowercase();
    if let Some(domain) = tree.strip_prefix('.') {
        return host.ends_with(&format!(".{domain}"));
    }
    host == tree
}

/// The host of a URI (`spiffe://example.org/ns/x` → `example.org`), without user info or port.
pub fn uri_host(uri: &str) -> Option<String> {
    let (_, rest) = uri.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

fn ip_of(b: &[u8]) -> Option<IpAddr> {
    crate::x509::ip_from_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca(permitted: Vec<Subtree>, excluded: Vec<Subtree>) -> Vec<CaConstraints> {
        vec![CaConstraints {
            ca: "CN=Test".into(),
            permitted,
            excluded,
        }]
    }

    fn san(s: &str) -> San {
        San::parse(s).unwrap()
    }

    #[test]
    fn dns_subtrees() {
        let c = ca(vec![Subtree::Dns("example.com".into())], vec![]);
        assert!(check(&c, "x", &[san("api.example.com")]).is_ok());
        assert!(check(&c, "x", &[san("example.com")]).is_ok());
        assert!(check(&c, "x", &[san("*.example.com")]).is_ok());
        assert!(check(&c, "x", &[san("evil.com")]).is_err());
        assert!(check(&c, "x", &[san("notexample.com")]).is_err());
        // The CN counts when it has a dot.
        let v = check(&c, "evil.com", &[]).unwrap_err();
        assert_eq!((v.what, v.name.as_str()), ("--cn", "evil.com"));
        assert!(check(&c, "billing-service", &[]).is_ok());
        // IPs are not constrained by DNS subtrees alone.
        assert!(check(&c, "x", &[san("192.168.1.1")]).is_ok());
        let c = ca(vec![], vec![Subtree::Dns("bad.example.com".into())]);
        assert!(check(&c, "x", &[san("a.bad.example.com")]).is_err());
        assert!(check(&c, "x", &[san("*.example.com")]).is_err());
        assert!(check(&c, "x", &[san("good.example.com")]).is_ok());
    }

    #[test]
    fn ip_email_uri_subtrees() {
        let c = ca(
            vec![Subtree::Ip(vec![10, 0, 0, 0], vec![255, 0, 0, 0])],
            vec![],
        );
        assert!(check(&c, "x", &[san("10.1.2.3")]).is_ok());
        let v = check(&c, "x", &[san("192.168.1.1")]).unwrap_err();
        assert!(v.reason.contains("IP:10.0.0.0/8"), "{}", v.reason);
        assert!(check(&c, "x", &[san("::1")]).is_ok());
        let c = ca(vec![Subtree::Email("example.com".into())], vec![]);
        assert!(check(&c, "x", &[san("a@example.com")]).is_ok());
        assert!(check(&c, "x", &[san("a@sub.example.com")]).is_err());
        assert!(check(&c, "eve@evil.com", &[]).is_err());
        let c = ca(vec![Subtree::Email(".example.com".into())], vec![]);
        assert!(check(&c, "x", &[san("a@sub.example.com")]).is_ok());
        let c = ca(vec![Subtree::Uri("example.org".into())], vec![]);
        assert!(check(&c, "x", &[san("spiffe://example.org/ns/a")]).is_ok());
        assert!(check(&c, "x", &[san("spiffe://evil.org/ns/a")]).is_err());
        assert_eq!(
            uri_host("https://u@h.example:8443/p").as_deref(),
            Some("h.example")
        );
    }
}
