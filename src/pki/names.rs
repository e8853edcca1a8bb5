//! Subject alternative names: parsing `--san` values, validating them, and turning them into rcgen
//! types.
//!
//! Type detection follows `cli.md`: an IP address becomes an iPAddress entry; a value with `@` an
//! email (rfc822Name); a value with a scheme (`spiffe://`, `https://`) a URI; anything else a DNS
//! name. Values that *look* like a botched IP address (`10.0.0.1x`, `300.1.1.1`) are refused
//! rather than silently becoming DNS names.

use std::fmt;
use std::net::IpAddr;

use crate::error::{Error, Result};

/// Longest DNS name (RFC 1035).
const MAX_DNS_LEN: usize = 253;
/// Longest value of any SAN we accept.
const MAX_SAN_LEN: usize = 2048;

/// One subject alternative name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum San {
    /// dNSName, lowercase ASCII, optionally `*.` wildcard.
    Dns(String),
    /// iPAddress (v4 or v6).
    Ip(IpAddr),
    /// rfc822Name.
    Email(String),
    /// uniformResourceIdentifier (e.g. a SPIFFE ID).
    Uri(String),
}

impl San {
    /// Parses one `--san` value, detecting its type.
    pub fn parse(value: &str) -> Result<San> {
        let bad = |reason: &str, hint: &str| Error::invalid("--san", value, reason, hint);
        let v = value.trim();
        if v.is_empty() {
            return Err(bad(
                "empty name",
                "give a DNS name, IP address, email or URI",
            ));
        }
        if v.len() > MAX_SAN_LEN {
            return Err(bad("too long", "SAN values are at most 2048 characters"));
        }
        if v.chars().any(|c| c.is_control()) {
            return Err(bad(
                "contains control characters",
                "remove control characters from the name",
            ));
        }
        let unbracketed = v
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(v);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Ok(San::Ip(ip));
        }
        if let Some(idx) = v.find("://") {
            return parse_uri(v, idx)
                .map_err(|r| bad(&r, "a URI looks like spiffe://trust-domain/path"));
        }
        if v.contains('@') {
            return parse_email(v).map_err(|r| bad(&r, "an email looks like name@example.com"));
        }
        if looks_like_ip(v) {
            return Err(bad(
                "not a valid IP address",
                "IPv4 looks like 10.0.0.1, IPv6 like ::1 or [fd00::1]",
            ));
        }
        parse_dns(v, true)
            .map(San::Dns)
            .map_err(|r| bad(&r, "a DNS name looks like api.example.com or *.example.com"))
    }

    /// The type name used in output: `dns`, `ip`, `email`, `uri`.
    pub fn kind(&self) -> &'static str {
        match self {
            San::Dns(_) => "dns",
            San::Ip(_) => "ip",
            San::Email(_) => "email",
            San::Uri(_) => "uri",
        }
    }

    /// The rcgen value for this name.
    pub fn to_rcgen(&self) -> Result<rcgen::SanType> {
        let ia5 = |s: &str| {
            rcgen::string::Ia5String::try_from(s.to_string())
                .map_err(|e| Error::invalid("--san", s, e.to_string(), "use ASCII names"))
        };
        Ok(match self {
            San::Dns(d) => rcgen::SanType::DnsName(ia5(d)?),
            San::Ip(ip) => rcgen::SanType::IpAddress(*ip),
            San::Email(e) => rcgen::SanType::Rfc822Name(ia5(e)?),
            San::Uri(u) => rcgen::SanType::URI(ia5(u)?),
        })
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(s) | San::Email(s) | San::Uri(s) => f.write_str(s),
            San::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

impl serde::Serialize for San {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// True when a value is digits and dots shaped like an IPv4 address, or has a colon: such a
/// value that failed to parse as an IP is a typo, not a DNS name.
fn looks_like_ip(v: &str) -> bool {
    if v.contains(':') {
        return true;
    }
    let labels: Vec<&str> = v.split('.').collect();
    let numeric = |l: &&str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit());
    labels.iter().all(numeric) || (labels.len() == 4 && labels[..3].iter().all(numeric))
}

/// Validates a DNS name (lowercased); `allow_wildcard` permits `*.` as the whole first label.
pub fn parse_dns(v: &str, allow_wildcard: bool) -> std::result::Result<String, String> {
    if !v.is_ascii() {
        return Err("not ASCII: give the IDNA (xn--) form of internationalised names".into());
    }
    let name = v.trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() {
        return Err("empty name".into());
    }
    if name.len() > MAX_DNS_LEN {
        return Err(format!("longer than {MAX_DNS_LEN} characters"));
    }
    let labels: Vec<&str> = name.split('.').collect();
    for (i, label) in labels.iter().enumerate() {
        if *label == "*" {
            if i != 0 || !allow_wildcard {
                return Err("a wildcard is only allowed as the whole leftmost label".into());
            }
            if labels.len() < 3 {
                return Err("a wildcard needs at least two labels after it (*.example.com)".into());
            }
            continue;
        }
        if label.is_empty() {
            return Err("empty label (two dots in a row?)".into());
        }
        if label.len() > 63 {
            return Err(format!("label {label:?} is longer than 63 characters"));
        }
        if label.contains('*') {
            return Err("a wildcard is only allowed as the whole leftmost label".into());
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(format!("character {c:?} is not allowed in a DNS name"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label {label:?} starts or ends with '-'"));
        }
    }
    if labels.len() > 1 && labels[labels.len() - 1].bytes().all(|b| b.is_ascii_digit()) {
        return Err("the last label is numeric (a typo in an IP address?)".into());
    }
    Ok(name)
}

fn parse_email(v: &str) -> std::result::Result<San, String> {
    let (local, domain) = v.rsplit_once('@').ok_or("missing @")?;
    if local.is_empty() || !local.is_ascii() || local.contains(' ') || local.contains('@') {
        return Err("the part before @ must be non-empty ASCII without spaces".into());
    }
    let domain = parse_dns(domain, false)?;
    Ok(San::Email(format!("{local}@{domain}")))
}

/// An RFC 3986 scheme: a letter, then letters, digits, `+`, `-` or `.`.
fn valid_scheme(scheme: &str) -> bool {
    scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

fn parse_uri(v: &str, scheme_end: usize) -> std::result::Result<San, String> {
    let scheme = &v[..scheme_end];
    if !valid_scheme(scheme) {
        return Err(format!("invalid URI scheme {scheme:?}"));
    }
    if !v.is_ascii() || v.contains(' ') {
        return Err("URIs must be ASCII without spaces (percent-encode them)".into());
    }
    let rest = &v[scheme_end + 3..];
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err("the URI has no host".into());
    }
    let scheme = scheme.to_ascii_lowercase();
    if scheme == "spiffe" {
        parse_dns(authority, false).map_err(|r| format!("SPIFFE trust domain: {r}"))?;
    }
    Ok(San::Uri(format!("{scheme}://{rest}")))
}

impl San {
    /// A name whose type is already known (a CSR's or certificate's SAN): validated for that
    /// type, never re-guessed (a URI stays a URI, a DNS name that looks like an IP stays DNS
    /// and is refused as such).
    pub fn typed(kind: &str, v: &str) -> std::result::Result<San, String> {
        if v.chars().any(|c| c.is_control()) {
            return Err("contains control characters".into());
        }
        if v.len() > MAX_SAN_LEN {
            return Err("longer than 2048 characters".into());
        }
        match kind {
            "dns" => parse_dns(v, true).map(San::Dns),
            "email" => parse_email(v),
            "uri" => match v.find("://") {
                Some(idx) => parse_uri(v, idx),
                None => {
                    // scheme:rest without an authority (urn:uuid:…): the scheme must be valid.
                    let (scheme, rest) = v.split_once(':').ok_or("not a URI (no scheme)")?;
                    if !valid_scheme(scheme) || rest.is_empty() || !v.is_ascii() || v.contains(' ')
                    {
                        return Err(format!("not a valid URI: {v:?}"));
                    }
                    Ok(San::Uri(format!("{}:{rest}", scheme.to_ascii_lowercase())))
                }
            },
            _ => Err(format!("unsupported SAN type {kind}")),
        }
    }
}

/// Parses many `--san` values, dropping exact duplicates and keeping the first order.
pub fn parse_all(values: &[String]) -> Result<Vec<San>> {
    let mut out: Vec<San> = Vec::with_capacity(values.len());
    for v in values {
        let san = San::parse(v)?;
        if !out.contains(&san) {
            out.push(san);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_types() {
        assert_eq!(
            San::parse("127.0.0.1").unwrap(),
            San::Ip("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            San::parse("[::1]").unwrap(),
            San::Ip("::1".parse().unwrap())
        );
        assert_eq!(
            San::parse("API.Example.com").unwrap(),
            San::Dns("api.example.com".into())
        );
        assert_eq!(
            San::parse("a@b.example").unwrap(),
            San::Email("a@b.example".into())
        );
        assert_eq!(
            San::parse("spiffe://example.org/ns/a").unwrap(),
            San::Uri("spiffe://example.org/ns/a".into())
        );
        assert_eq!(
            San::parse("*.example.com").unwrap(),
            San::Dns("*.example.com".into())
        );
    }

    #[test]
    fn refuses_bad_names() {
        for bad in [
            "exa mple..com",
            "*",
            "*.com",
            "a.*.example.com",
            "10.0.0.1x",
            "300.1.1.1",
            "1.2.3",
            "::g",
            "-a.example.com",
            "a..b",
            "spiffe://",
            "@example.com",
            "bad\u{7}name",
            "héllo.example",
        ] {
            assert!(San::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
