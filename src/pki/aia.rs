//! Where a certificate says its revocation status and its issuer are published: the CRL
//! distribution point and the Authority Information Access extension (OCSP responder and
//! caIssuers), as the online CA (`ca serve --public-url`) puts them into the leaves it issues.
//! Also the AlgorithmIdentifier of a CA key's signatures, for the OCSP responses it signs.
//!
//! The AIA is encoded with RustCrypto's `x509-cert` types (no hand-written DER).

use der07::Encode;
use x509_cert02::ext::pkix::name::GeneralName;
use x509_cert02::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax};

use crate::error::{Error, Result};
use crate::keys::KeyType;

/// id-pe-authorityInfoAccess.
const AIA_OID: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
/// id-ad-ocsp.
const AD_OCSP: &str = "1.3.6.1.5.5.7.48.1";
/// id-ad-caIssuers.
const AD_CA_ISSUERS: &str = "1.3.6.1.5.5.7.48.2";

/// The URLs a leaf carries: CRL at `BASE/v1/crl`, OCSP at `BASE/v1/ocsp`, the issuer at
/// `BASE/v1/ca`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrls {
    /// The base URL without a trailing slash (`http://ca.example.com:8080`).
    pub base: String,
}

impl PublicUrls {
    /// Checks and keeps a base URL: `http://` or `https://`, a host, no query or fragment.
    pub fn parse(flag: &'static str, url: &str) -> Result<PublicUrls> {
        let base = url.trim().trim_end_matches('/').to_string();
        let rest = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"));
        let ok = rest.is_some_and(|r| {
            !r.is_empty()
                && !r.starts_with('/')
                && r.is_ascii()
                && !r.contains(['?', '#', ' ', '"', '<', '>', '\\'])
        });
        if !ok {
            return Err(Error::invalid(
                flag,
                url,
                "not an http:// or https:// base URL",
                "give the URL clients reach the CA at, e.g. http://ca.example.com:8080 (CRL and OCSP clients mostly speak plain http)",
            ));
        }
        Ok(PublicUrls { base })
    }

    /// `BASE/v1/crl`.
    pub fn crl(&self) -> String {
        format!("{}/v1/crl", self.base)
    }

    /// `BASE/v1/ocsp`.
    pub fn ocsp(&self) -> String {
        format!("{}/v1/ocsp", self.base)
    }

    /// `BASE/v1/ca`.
    pub fn ca_issuers(&self) -> String {
        format!("{}/v1/ca", self.base)
    }

    /// Adds the CRL distribution point and the AIA extension to `params`.
    pub fn apply(&self, params: &mut rcgen::CertificateParams) -> Result<()> {
        params.crl_distribution_points = vec![rcgen::CrlDistributionPoint {
            uris: vec![self.crl()],
        }];
        params
            .custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                AIA_OID,
                self.aia_der()?,
            ));
        Ok(())
    }

    /// The AuthorityInfoAccessSyntax value, DER.
    fn aia_der(&self) -> Result<Vec<u8>> {
        let desc =
            |oid: &str, url: String| -> std::result::Result<AccessDescription, der07::Error> {
                Ok(AccessDescription {
                    access_method: der07::asn1::ObjectIdentifier::new_unwrap(oid),
                    access_location: GeneralName::UniformResourceIdentifier(
                        der07::asn1::Ia5String::new(&url)?,
                    ),
                })
            };
        let build = || -> std::result::Result<Vec<u8>, der07::Error> {
            AuthorityInfoAccessSyntax(vec![
                desc(AD_OCSP, self.ocsp())?,
                desc(AD_CA_ISSUERS, self.ca_issuers())?,
            ])
            .to_der()
        };
        build().map_err(|e| {
            Error::invalid(
                "--public-url",
                self.base.as_str(),
                format!("cannot be encoded in a certificate ({e})"),
                "use a plain ASCII URL",
            )
        })
    }
}

/// The DER AlgorithmIdentifier of the signatures a CA key of type `kt` makes (as rcgen/ring
/// sign with it: ECDSA with the curve's hash, Ed25519, RSA PKCS#1 v1.5 with SHA-256).
pub fn sig_alg_der(kt: KeyType) -> Vec<u8> {
    match kt {
        // SEQUENCE { OID ecdsa-with-SHA256 }
        KeyType::EcdsaP256 => vec![
            0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
        ],
        // SEQUENCE { OID ecdsa-with-SHA384 }
        KeyType::EcdsaP384 => vec![
            0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03,
        ],
        // SEQUENCE { OID id-Ed25519 }
        KeyType::Ed25519 => vec![0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70],
        // SEQUENCE { OID sha256WithRSAEncryption, NULL }
        KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => vec![
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05,
            0x00,
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_derived() {
        let u = PublicUrls::parse("--public-url", "http://ca.example:8080/").unwrap();
        assert_eq!(u.crl(), "http://ca.example:8080/v1/crl");
        assert_eq!(u.ocsp(), "http://ca.example:8080/v1/ocsp");
        assert_eq!(u.ca_issuers(), "http://ca.example:8080/v1/ca");
        for bad in [
            "ftp://x",
            "http://",
            "http:///x",
            "ca.example",
            "http://a b",
        ] {
            assert!(PublicUrls::parse("--public-url", bad).is_err(), "{bad}");
        }
        let der = u.aia_der().unwrap();
        assert_eq!(der[0], 0x30);
        assert!(der.windows(4).any(|w| w == b"ocsp"));
    }
}
