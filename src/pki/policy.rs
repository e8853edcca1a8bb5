//! Issuance policy of a profile: which names a leaf may carry, as patterns.
//!
//! A [`NamePolicy`] holds one list of patterns per kind of name (see `docs/profiles.md`):
//! - `dns`: `api.example.com` (that name), `*.example.com` (one label below, the wildcard name
//!   itself included), `.example.com` (any name below, at any depth);
//! - `ip`: CIDR ranges (`10.0.0.0/8`, `fd00::/8`; a bare address is one host);
//! - `uri`: `spiffe://example.org/ns/prod/sa/web` (that URI) or `spiffe://example.org/ns/*`
//!   (a trailing `*`: that prefix followed by anything);
//! - `email`: `alice@example.com` (that mailbox), `example.com` (any mailbox at that host),
//!   `.example.com` (any mailbox at a host below);
//! - `cn`: glob patterns for a CN that is no name (`svc-*`; `*` matches any characters).
//!
//! Every SAN must match a pattern of its kind (a kind without patterns allows none). The CN
//! must match a `cn` glob, or read as a name (a host name with a dot, an IP, an e-mail address)
//! that the SAN patterns allow. Patterns are parsed once; a malformed one is refused naming it.

use std::net::IpAddr;

use crate::names::San;

/// One DNS pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsPattern {
    /// Exactly this name.
    Exact(String),
    /// One label below this domain (`*.example.com`).
    OneLabel(String),
    /// Any name below this domain (`.example.com`).
    Below(String),
}

/// One e-mail pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailPattern {
    /// Exactly this mailbox.
    Mailbox(String),
    /// Any mailbox at this host.
    Host(String),
    /// Any mailbox at a host below this domain.
    Below(String),
}

/// One URI pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriPattern {
    /// Exactly this URI.
    Exact(String),
    /// This prefix followed by at least one character.
    Prefix(String),
}

/// The parsed policy of a profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamePolicy {
    /// Globs for the CN.
    pub cn: Vec<String>,
    /// DNS patterns.
    pub dns: Vec<DnsPattern>,
    /// IP ranges.
    pub ip: Vec<(IpAddr, u8)>,
    /// URI patterns.
    pub uri: Vec<UriPattern>,
    /// E-mail patterns.
    pub email: Vec<EmailPattern>,
    /// The patterns as written, per kind, for messages: `dns = ["*.example.com"]`.
    pub text: Vec<(&'static str, Vec<String>)>,
}

/// Why a name is outside a policy: the name and the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The name as text.
    pub name: String,
    /// The rule, e.g. `no dns pattern matches (dns = ["*.example.com"])`.
    pub rule: String,
}

/// Parses a DNS pattern.
pub fn parse_dns_pattern(p: &str) -> Result<DnsPattern, String> {
    let (make, rest): (fn(String) -> DnsPattern, &str) = if let Some(r) = p.strip_prefix("*.") {
        (DnsPattern::OneLabel, r)
    } else if let Some(r) = p.strip_prefix('.') {
        (DnsPattern::Below, r)
    } else {
        (DnsPattern::Exact, p)
    };
    if rest.contains('*') {
        return Err("a `*` only as the whole leftmost label (*.example.com)".into());
    }
    crate::names::parse_dns(rest, false).map(make)
}

/// Parses an IP range: `10.0.0.0/8`; a bare address is one host. Host bits must be zero.
pub fn parse_cidr(p: &str) -> Result<(IpAddr, u8), String> {
    let (addr, len) = match p.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (p, None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| "not an IP address or CIDR range (10.0.0.0/8)".to_string())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l
            .parse::<u8>()
            .map_err(|_| "bad prefix length".to_string())?,
        None => max,
    };
    if len > max {
        return Err(format!("prefix length above {max}"));
    }
    if masked(ip, len) != ip {
        return Err(format!(
            "host bits set (the range is {}/{len})",
            masked(ip, len)
        ));
    }
    Ok((ip, len))
}

/// Parses a URI pattern: a URI with a scheme, optionally ending in `*`.
pub fn parse_uri_pattern(p: &str) -> Result<UriPattern, String> {
    let (body, prefix) = match p.strip_suffix('*') {
        Some(b) => (b, true),
        None => (p, false),
    };
    if body.contains('*') {
        return Err("a `*` only at the end (spiffe://example.org/ns/*)".into());
    }
    let scheme = body.split_once("://").map(|(s, _)| s).unwrap_or_default();
    if scheme.is_empty()
        || !scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return Err("not a URI with a scheme (spiffe://example.org/...)".into());
    }
    if body.chars().any(|c| c.is_control() || c.is_whitespace()) || !body.is_ascii() {
        return Err("URIs are ASCII without spaces".into());
    }
    if prefix {
        Ok(UriPattern::Prefix(body.to_string()))
    } else {
        Ok(UriPattern::Exact(body.to_string()))
    }
}

/// Parses an e-mail pattern.
pub fn parse_email_pattern(p: &str) -> Result<EmailPattern, String> {
    if p.contains('*') {
        return Err("no `*` in e-mail patterns: give a mailbox, a host or .domain".into());
    }
    if p.contains('@') {
        return match San::parse(p) {
            Ok(San::Email(e)) => Ok(EmailPattern::Mailbox(e)),
            _ => Err("not an e-mail address".into()),
        };
    }
    match p.strip_prefix('.') {
        Some(d) => crate::names::parse_dns(d, false).map(EmailPattern::Below),
        None => crate::names::parse_dns(p, false).map(EmailPattern::Host),
    }
}

/// Checks a CN glob: 1-64 characters, no control characters; `*` matches any characters.
pub fn parse_cn_glob(p: &str) -> Result<String, String> {
    if p.is_empty() || p.chars().count() > crate::profile::MAX_CN_LEN {
        return Err("must be 1-64 characters".into());
    }
    if p.chars().any(char::is_control) {
        return Err("contains control characters".into());
    }
    Ok(p.to_string())
}

fn masked(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v) => {
            let m = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            IpAddr::V4((u32::from(v) & m).into())
        }
        IpAddr::V6(v) => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            IpAddr::V6((u128::from(v) & m).into())
        }
    }
}

fn below(name: &str, domain: &str) -> bool {
    name.len() > domain.len() + 1
        && name.ends_with(domain)
        && name.as_bytes()[name.len() - domain.len() - 1] == b'.'
}

/// True when `name` (lowercase) matches the DNS pattern.
pub fn dns_matches(p: &DnsPattern, name: &str) -> bool {
    match p {
        DnsPattern::Exact(d) => name == d,
        DnsPattern::Below(d) => below(name, d),
        DnsPattern::OneLabel(d) => {
            below(name, d) && !name[..name.len() - d.len() - 1].contains('.')
        }
    }
}

/// True when the address lies in the range.
pub fn ip_matches(range: &(IpAddr, u8), ip: &IpAddr) -> bool {
    range.0.is_ipv4() == ip.is_ipv4() && masked(*ip, range.1) == range.0
}

/// True when the URI matches (scheme and host compared without case).
pub fn uri_matches(p: &UriPattern, uri: &str) -> bool {
    let norm = |u: &str| -> String {
        // scheme://authority is case-insensitive; the path is not.
        match u.split_once("://") {
            Some((s, rest)) => {
                let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                format!(
                    "{}://{}{}",
                    s.to_ascii_lowercase(),
                    rest[..end].to_ascii_lowercase(),
                    &rest[end..]
                )
            }
            None => u.to_string(),
        }
    };
    let u = norm(uri);
    match p {
        UriPattern::Exact(e) => u == norm(e),
        UriPattern::Prefix(pre) => {
            let pre = norm(pre);
            u.len() > pre.len() && u.starts_with(&pre)
        }
    }
}

/// True when the mailbox matches (the host part compared without case).
pub fn email_matches(p: &EmailPattern, mailbox: &str) -> bool {
    let Some((local, host)) = mailbox.rsplit_once('@') else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    match p {
        EmailPattern::Mailbox(m) => match m.rsplit_once('@') {
            Some((l, h)) => l == local && h.eq_ignore_ascii_case(&host),
            None => false,
        },
        EmailPattern::Host(h) => host == *h,
        EmailPattern::Below(d) => below(&host, d),
    }
}

/// True when `cn` matches the glob (`*` matches any run of characters, case-sensitive).
pub fn glob_matches(glob: &str, cn: &str) -> bool {
    let parts: Vec<&str> = glob.split('*').collect();
    if parts.len() == 1 {
        return glob == cn;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !cn.starts_with(first) || cn.len() < first.len() + last.len() || !cn.ends_with(last) {
        return false;
    }
    let mut rest = &cn[first.len()..cn.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

impl NamePolicy {
    /// Parses the pattern lists; `Err((kind, pattern, reason))` names the bad one.
    pub fn parse(
        cn: &[String],
        dns: &[String],
        ip: &[String],
        uri: &[String],
        email: &[String],
    ) -> Result<NamePolicy, (&'static str, String, String)> {
        fn all<T>(
            kind: &'static str,
            v: &[String],
            f: impl Fn(&str) -> Result<T, String>,
        ) -> Result<Vec<T>, (&'static str, String, String)> {
            v.iter()
                .map(|p| f(p).map_err(|r| (kind, p.clone(), r)))
                .collect()
        }
        Ok(NamePolicy {
            cn: all("cn", cn, parse_cn_glob)?,
            dns: all("dns", dns, parse_dns_pattern)?,
            ip: all("ip", ip, parse_cidr)?,
            uri: all("uri", uri, parse_uri_pattern)?,
            email: all("email", email, parse_email_pattern)?,
            text: vec![
                ("cn", cn.to_vec()),
                ("dns", dns.to_vec()),
                ("ip", ip.to_vec()),
                ("uri", uri.to_vec()),
                ("email", email.to_vec()),
            ],
        })
    }

    fn listed(&self, kind: &str) -> String {
        let v = self
            .text
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        if v.is_empty() {
            format!("the policy allows no {kind} names ({kind} = [])")
        } else {
            format!(
                "no {kind} pattern matches ({kind} = [{}])",
                v.iter()
                    .map(|p| format!("{p:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }

    /// True when the SAN matches a pattern of its kind.
    pub fn allows(&self, san: &San) -> bool {
        match san {
            San::Dns(d) => self.dns.iter().any(|p| dns_matches(p, d)),
            San::Ip(ip) => self.ip.iter().any(|r| ip_matches(r, ip)),
            San::Uri(u) => self.uri.iter().any(|p| uri_matches(p, u)),
            San::Email(e) => self.email.iter().any(|p| email_matches(p, e)),
        }
    }

    /// Checks a leaf's CN and SANs; the first name outside the policy is refused.
    pub fn check(&self, cn: &str, sans: &[San]) -> Result<(), Refusal> {
        if !self.cn.iter().any(|g| glob_matches(g, cn)) {
            match crate::name_constraints::cn_as_name(cn) {
                Some(n) if self.allows(&n) => {}
                Some(n) => {
                    return Err(Refusal {
                        name: cn.to_string(),
                        rule: format!(
                            "the CN matches no cn glob and, read as a {} name, {}",
                            n.kind(),
                            self.listed(n.kind())
                        ),
                    })
                }
                None => {
                    return Err(Refusal {
                        name: cn.to_string(),
                        rule: self.listed("cn"),
                    })
                }
            }
        }
        for s in sans {
            if !self.allows(s) {
                return Err(Refusal {
                    name: s.to_string(),
                    rule: self.listed(s.kind()),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pol(cn: &[&str], dns: &[&str], ip: &[&str], uri: &[&str], email: &[&str]) -> NamePolicy {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        NamePolicy::parse(&v(cn), &v(dns), &v(ip), &v(uri), &v(email)).unwrap()
    }

    #[test]
    fn dns_patterns() {
        let one = parse_dns_pattern("*.example.com").unwrap();
        let any = parse_dns_pattern(".Example.com").unwrap();
        let exact = parse_dns_pattern("api.example.com").unwrap();
        assert!(dns_matches(&one, "a.example.com"));
        assert!(dns_matches(&one, "*.example.com"));
        assert!(!dns_matches(&one, "a.b.example.com"));
        assert!(!dns_matches(&one, "example.com"));
        assert!(!dns_matches(&one, "aexample.com"));
        assert!(dns_matches(&any, "a.b.example.com"));
        assert!(!dns_matches(&any, "example.com"));
        assert!(!dns_matches(&any, "evilexample.com"));
        assert!(dns_matches(&exact, "api.example.com"));
        assert!(!dns_matches(&exact, "x.api.example.com"));
        for bad in ["*.*.example.com", "a*.example.com", "", "exa mple.com", "*"] {
            assert!(parse_dns_pattern(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ip_uri_email_patterns() {
        let r = parse_cidr("10.1.0.0/16").unwrap();
        assert!(ip_matches(&r, &"10.1.2.3".parse().unwrap()));
        assert!(!ip_matches(&r, &"10.2.0.1".parse().unwrap()));
        assert!(!ip_matches(&r, &"::ffff:10.1.0.1".parse().unwrap()));
        assert!(ip_matches(
            &parse_cidr("fd00::/8").unwrap(),
            &"fd12::1".parse().unwrap()
        ));
        assert!(parse_cidr("10.0.0.1/8").unwrap_err().contains("host bits"));
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("ten").is_err());
        let u = parse_uri_pattern("spiffe://example.org/ns/*").unwrap();
        assert!(uri_matches(&u, "spiffe://example.org/ns/prod/sa/web"));
        assert!(uri_matches(&u, "SPIFFE://Example.org/ns/x"));
        assert!(!uri_matches(&u, "spiffe://example.org/ns/"));
        assert!(!uri_matches(&u, "spiffe://example.org/NS/x"));
        assert!(!uri_matches(&u, "spiffe://example.org.evil/ns/x"));
        for bad in ["example.org/ns/*", "spiffe://a/*/b", "://x", "1x://y"] {
            assert!(parse_uri_pattern(bad).is_err(), "{bad}");
        }
        let host = parse_email_pattern("example.com").unwrap();
        let below_p = parse_email_pattern(".example.com").unwrap();
        let mbox = parse_email_pattern("alice@example.com").unwrap();
        assert!(email_matches(&host, "bob@Example.com"));
        assert!(!email_matches(&host, "bob@mail.example.com"));
        assert!(email_matches(&below_p, "bob@mail.example.com"));
        assert!(!email_matches(&below_p, "bob@example.com"));
        assert!(email_matches(&mbox, "alice@example.com"));
        assert!(!email_matches(&mbox, "mallory@example.com"));
        assert!(parse_email_pattern("*@example.com").is_err());
    }

    #[test]
    fn globs() {
        assert!(glob_matches("svc-*", "svc-billing"));
        assert!(!glob_matches("svc-*", "admin"));
        assert!(glob_matches("*-ci-*", "team-ci-42"));
        assert!(glob_matches("*", "anything"));
        assert!(glob_matches("a*a", "aa"));
        assert!(!glob_matches("a*a", "a"));
        assert!(glob_matches("exact", "exact"));
    }

    #[test]
    fn a_policy_names_the_name_and_the_rule() {
        let p = pol(
            &["svc-*"],
            &["*.mesh.example.com"],
            &["10.0.0.0/8"],
            &["spiffe://example.org/ns/*"],
            &[],
        );
        p.check(
            "svc-web",
            &[
                San::Dns("web.mesh.example.com".into()),
                San::Ip("10.9.9.9".parse().unwrap()),
                San::Uri("spiffe://example.org/ns/prod/sa/web".into()),
            ],
        )
        .unwrap();
        // A CN that is a host name is allowed by the dns patterns.
        p.check("web.mesh.example.com", &[]).unwrap();
        let e = p.check("admin", &[]).unwrap_err();
        assert_eq!(e.name, "admin");
        assert!(e.rule.contains(r#"cn = ["svc-*"]"#), "{}", e.rule);
        let e = p.check("evil.com", &[]).unwrap_err();
        assert!(e.rule.contains("read as a dns name"), "{}", e.rule);
        let e = p
            .check("svc-x", &[San::Ip("192.168.1.1".parse().unwrap())])
            .unwrap_err();
        assert_eq!(e.name, "192.168.1.1");
        assert!(e.rule.contains(r#"ip = ["10.0.0.0/8"]"#), "{}", e.rule);
        let e = p
            .check("svc-x", &[San::Email("a@example.com".into())])
            .unwrap_err();
        assert!(e.rule.contains("allows no email names"), "{}", e.rule);
        let bad = NamePolicy::parse(&[], &["*.*.x.com".into()], &[], &[], &[]).unwrap_err();
        assert_eq!((bad.0, bad.1.as_str()), ("dns", "*.*.x.com"));
    }
}
