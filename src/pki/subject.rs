//! Subject distinguished names: parsing `--subject 'O=Acme,OU=Payments,C=US'` (RFC 4514) and
//! printing a certificate's name so that no value can read as another attribute.
//!
//! `--subject` is an RFC 4514 string: most specific attribute first, `\`-escapes (`\,`, `\+`,
//! `\"`, `\\`, `\<`, `\>`, `\;`, `\=`, `\#`, a leading or trailing `\ `, and `\XX` hex pairs).
//! The CN is never part of it (it comes from `--cn`) and goes last in the certificate (most
//! specific), so the certificate's name in RFC 4514 form is `CN=<cn>,<subject>` — what nginx
//! shows as `$ssl_client_s_dn`. Attribute types: C (two capital letters), ST, L, O, OU. Values
//! are 1–64 characters; control characters, bidirectional controls and zero-width characters
//! (which make two different names look alike) are refused, in the CN too.
//!
//! [`display`] prints a parsed name in certificate order (`C=US, O=Acme, CN=alice`, the format
//! mtls-ca always used) with RFC 4514 escaping in the values, so a CN `x, CN=admin` prints as
//! `CN=x\, CN\=admin`, never as two attributes.

use rcgen::{DistinguishedName, DnType, DnValue};
use x509_parser::x509::X509Name;

use crate::error::{Error, Result};

/// One attribute of `--subject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Attr {
    /// countryName.
    C,
    /// stateOrProvinceName.
    ST,
    /// localityName.
    L,
    /// organizationName.
    O,
    /// organizationalUnitName.
    OU,
}

impl Attr {
    fn parse(s: &str) -> Option<Attr> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "C" => Attr::C,
            "ST" => Attr::ST,
            "L" => Attr::L,
            "O" => Attr::O,
            "OU" => Attr::OU,
            _ => return None,
        })
    }

    /// The RFC 4514 short name.
    pub fn as_str(self) -> &'static str {
        match self {
            Attr::C => "C",
            Attr::ST => "ST",
            Attr::L => "L",
            Attr::O => "O",
            Attr::OU => "OU",
        }
    }

    fn dn_type(self) -> DnType {
        match self {
            Attr::C => DnType::CountryName,
            Attr::ST => DnType::StateOrProvinceName,
            Attr::L => DnType::LocalityName,
            Attr::O => DnType::OrganizationName,
            Attr::OU => DnType::OrganizationalUnitName,
        }
    }
}

/// The attributes of a subject besides the CN, in certificate (DER) order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    /// (type, value), least specific first (the order they appear in the certificate).
    pub attrs: Vec<(Attr, String)>,
}

/// Longest attribute value accepted.
pub const MAX_VALUE: usize = 64;

/// Why a character may not appear in a name: control, bidirectional control or zero-width.
pub fn forbidden_char(c: char) -> Option<&'static str> {
    match c {
        '\u{200E}'
        | '\u{200F}'
        | '\u{061C}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}' => Some("a bidirectional control character"),
        '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{180E}' => {
            Some("a zero-width character")
        }
        c if c.is_control() => Some("a control character"),
        _ => None,
    }
}

/// Checks one value of a name (CN or attribute) for characters that hide what it says.
pub fn check_chars(what: &'static str, v: &str) -> Result<()> {
    if let Some((c, why)) = v.chars().find_map(|c| forbidden_char(c).map(|w| (c, w))) {
        return Err(Error::invalid(
            what,
            v.escape_default().to_string(),
            format!("contains {why} (U+{:04X})", c as u32),
            "remove it: such characters make two different names look the same",
        ));
    }
    Ok(())
}

impl Subject {
    /// Parses an RFC 4514 string (most specific attribute first).
    pub fn parse(s: &str) -> Result<Subject> {
        let bad = |r: String, hint: &str| Error::invalid("--subject", s, r, hint);
        const HINT: &str =
            "give attributes such as 'OU=Payments,O=Acme,C=US' (escape , + \" \\ < > ; with \\)";
        check_chars("--subject", s)?;
        let mut rdns: Vec<String> = Vec::new();
        let mut cur = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    cur.push('\\');
                    match chars.next() {
                        Some(n) => cur.push(n),
                        None => return Err(bad("ends with a lone backslash".into(), HINT)),
                    }
                }
                ',' => rdns.push(std::mem::take(&mut cur)),
                '+' => {
                    return Err(bad(
                        "multi-valued attributes (+) are not supported".into(),
                        "give each attribute on its own, separated by commas",
                    ))
                }
                c => cur.push(c),
            }
        }
        rdns.push(cur);
        let mut attrs = Vec::new();
        for rdn in &rdns {
            let (ty, raw) = rdn
                .split_once('=')
                .ok_or_else(|| bad(format!("{:?} is not TYPE=VALUE", rdn.trim()), HINT))?;
            let ty_name = ty.trim();
            let attr = match Attr::parse(ty_name) {
                Some(a) => a,
                None if ty_name.eq_ignore_ascii_case("CN") => {
                    return Err(bad(
                        "the CN is not part of --subject".into(),
                        "give the common name with --cn",
                    ))
                }
                None => {
                    return Err(bad(
                        format!("unsupported attribute type {ty_name:?}"),
                        "use C, ST, L, O and OU",
                    ))
                }
            };
            let value = unescape(raw.trim_start()).map_err(|r| bad(r, HINT))?;
            if value.is_empty() || value.trim().is_empty() {
                return Err(bad(format!("{} has an empty value", attr.as_str()), HINT));
            }
            if value.chars().count() > MAX_VALUE {
                return Err(bad(
                    format!("{} is longer than 64 characters", attr.as_str()),
                    "shorten the value",
                ));
            }
            if attr == Attr::C
                && !(value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase()))
            {
                return Err(bad(
                    format!("C={value} is not a two-letter country code"),
                    "use an ISO 3166 code such as C=US or C=DE",
                ));
            }
            attrs.push((attr, value));
        }
        // RFC 4514 lists the most specific first; the certificate holds the least specific first.
        attrs.reverse();
        Ok(Subject { attrs })
    }

    /// The C/ST/L/O/OU attributes of a certificate's name (renewal keeps them), in order.
    pub fn from_name(name: &X509Name<'_>) -> Subject {
        let mut attrs = Vec::new();
        for a in name.iter_attributes() {
            let attr = match a.attr_type().to_id_string().as_str() {
                "2.5.4.6" => Attr::C,
                "2.5.4.8" => Attr::ST,
                "2.5.4.7" => Attr::L,
                "2.5.4.10" => Attr::O,
                "2.5.4.11" => Attr::OU,
                _ => continue,
            };
            if let Ok(v) = a.as_str() {
                attrs.push((attr, v.to_string()));
            }
        }
        Subject { attrs }
    }

    /// True when there are no attributes.
    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty()
    }

    /// The RFC 4514 form (most specific first), with escaping.
    pub fn to_rfc4514(&self) -> String {
        self.attrs
            .iter()
            .rev()
            .map(|(a, v)| format!("{}={}", a.as_str(), escape(v)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The distinguished name: these attributes, then `CN=cn` last.
    pub fn to_dn(&self, cn: &str) -> DistinguishedName {
        let mut dn = DistinguishedName::new();
        for (a, v) in &self.attrs {
            let value = match a {
                Attr::C => rcgen::string::PrintableString::try_from(v.clone())
                    .map(DnValue::PrintableString)
                    .unwrap_or_else(|_| DnValue::Utf8String(v.clone())),
                _ => DnValue::Utf8String(v.clone()),
            };
            dn.push(a.dn_type(), value);
        }
        dn.push(DnType::CommonName, cn);
        dn
    }
}

fn unescape(raw: &str) -> std::result::Result<String, String> {
    if raw.starts_with('#') {
        return Err("hex-encoded (#…) values are not supported".into());
    }
    let bytes = raw.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    // Trailing unescaped spaces are not part of the value (RFC 4514).
    let mut end = bytes.len();
    while end > 0 && bytes[end - 1] == b' ' && !(end >= 2 && bytes[end - 2] == b'\\') {
        end -= 1;
    }
    while i < end {
        let b = bytes[i];
        if b == b'\\' {
            let n = *bytes.get(i + 1).ok_or("ends with a lone backslash")?;
            if n.is_ascii_hexdigit() {
                let h = bytes
                    .get(i + 2)
                    .filter(|h| h.is_ascii_hexdigit())
                    .ok_or("a \\ escape must be a special character or two hex digits")?;
                let hex = [n, *h];
                let s = std::str::from_utf8(&hex).map_err(|e| e.to_string())?;
                out.push(u8::from_str_radix(s, 16).map_err(|e| e.to_string())?);
                i += 3;
                continue;
            }
            if !matches!(
                n,
                b',' | b'+' | b'"' | b'\\' | b'<' | b'>' | b';' | b'=' | b' ' | b'#'
            ) {
                return Err(format!("\\{} is not a valid escape", n as char));
            }
            out.push(n);
            i += 2;
            continue;
        }
        if matches!(b, b'"' | b';' | b'<' | b'>') {
            return Err(format!("{:?} must be escaped with a backslash", b as char));
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "the \\XX escapes do not form UTF-8".into())
}

/// RFC 4514 escaping of one value.
pub fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let n = v.chars().count();
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == n - 1 && c == ' ');
        // Control and bidi characters are left to the caller's terminal escaping (`inspect`
        // shows them as `\u{1b}`); mtls-ca never puts them in a name it issues.
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A parsed name in certificate order, `TYPE=value` joined by `, ` (`+` inside a multi-valued
/// RDN), each value RFC 4514-escaped: unambiguous whatever the values hold.
pub fn display(name: &X509Name<'_>) -> String {
    let mut rdns = Vec::new();
    for rdn in name.iter() {
        let parts: Vec<String> = rdn
            .iter()
            .map(|a| {
                let oid = a.attr_type().to_id_string();
                let ty = match oid.as_str() {
                    "2.5.4.3" => "CN".to_string(),
                    "2.5.4.6" => "C".into(),
                    "2.5.4.7" => "L".into(),
                    "2.5.4.8" => "ST".into(),
                    "2.5.4.9" => "STREET".into(),
                    "2.5.4.10" => "O".into(),
                    "2.5.4.11" => "OU".into(),
                    "2.5.4.5" => "serialNumber".into(),
                    "0.9.2342.19200300.100.1.25" => "DC".into(),
                    "0.9.2342.19200300.100.1.1" => "UID".into(),
                    "1.2.840.113549.1.9.1" => "emailAddress".into(),
                    other => other.to_string(),
                };
                let value = match a.as_str() {
                    Ok(s) => escape(s),
                    Err(_) => format!(
                        "#{}",
                        a.attr_value()
                            .data
                            .iter()
                            .map(|b| format!("{b:02x}"))
                            .collect::<String>()
                    ),
                };
                format!("{ty}={value}")
            })
            .collect();
        rdns.push(parts.join("+"));
    }
    rdns.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc4514_order_and_escapes() {
        let s = Subject::parse("OU=Payments,O=Acme\\, Inc.,C=US").unwrap();
        assert_eq!(
            s.attrs,
            vec![
                (Attr::C, "US".into()),
                (Attr::O, "Acme, Inc.".into()),
                (Attr::OU, "Payments".into())
            ]
        );
        assert_eq!(s.to_rfc4514(), "OU=Payments,O=Acme\\, Inc.,C=US");
        assert_eq!(Subject::parse("O=Caf\\C3\\A9").unwrap().attrs[0].1, "Café");
        for bad in [
            "CN=x",
            "O=",
            "O",
            "X=1",
            "C=usa",
            "O=a+OU=b",
            "O=a\\",
            "O=#04",
            "O=a\u{202E}b",
            "O=a\u{200B}b",
            "O=a;b",
        ] {
            assert!(Subject::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn escape_keeps_one_attribute_one_attribute() {
        assert_eq!(escape("x, CN=admin"), "x\\, CN\\=admin");
        assert_eq!(escape(" lead"), "\\ lead");
        assert_eq!(escape("#x"), "\\#x");
    }
}
