//! `export aws`: an API Gateway truststore (`aws-truststore.pem`: the root and every
//! intermediate), checked against AWS's limits before anything is written — at most 1,000
//! certificates and 1 MB, chains of at most four CAs, no Ed25519, RSA ≥ 2048 / ECDSA ≥ 256,
//! SHA-256 or stronger signatures — plus the CLI commands (`aws-commands.sh`) and the
//! `--cli-input-json` document (`aws-domain.json`) for a Regional custom domain with mutual TLS.
//! AWS raises no alarm when a truststore certificate nears expiry, so mtls-ca warns at 90 days.

use std::path::Path;

use super::envoy::js;
use super::inputs::{Inputs, Rendered};
use crate::error::{Error, Result};
use crate::x509;

/// AWS: at most this many certificates in a truststore.
pub const MAX_CERTS: usize = 1000;
/// AWS: at most this many bytes.
pub const MAX_BYTES: usize = 1024 * 1024;
/// AWS: at most this many CA levels.
pub const MAX_DEPTH: usize = 4;
/// Warn when a truststore certificate expires within this many days.
pub const EXPIRY_WARN_DAYS: i64 = 90;

const STRONG_SIGS: [&str; 7] = [
    "1.2.840.113549.1.1.11", // sha256WithRSAEncryption
    "1.2.840.113549.1.1.12", // sha384WithRSAEncryption
    "1.2.840.113549.1.1.13", // sha512WithRSAEncryption
    "1.2.840.113549.1.1.10", // RSASSA-PSS
    "1.2.840.10045.4.3.2",   // ecdsa-with-SHA256
    "1.2.840.10045.4.3.3",   // ecdsa-with-SHA384
    "1.2.840.10045.4.3.4",   // ecdsa-with-SHA512
];

fn refuse(what: String, hint: &str) -> Error {
    Error::invalid("truststore", "aws", what, hint.to_string())
}

/// Checks the chain against AWS's truststore rules; returns the warnings.
pub fn validate(i: &Inputs, pem: &str) -> Result<Vec<String>> {
    use x509_parser::public_key::PublicKey;
    let mut w = Vec::new();
    if i.chain.len() > MAX_CERTS {
        return Err(refuse(
            format!("{} certificates (AWS allows {MAX_CERTS})", i.chain.len()),
            "split the truststore",
        ));
    }
    if pem.len() > MAX_BYTES {
        return Err(refuse(
            format!("{} bytes (AWS allows 1 MB)", pem.len()),
            "trust fewer CAs",
        ));
    }
    if i.verify_depth() > MAX_DEPTH {
        return Err(refuse(
            format!(
                "the chain has {} CA levels (AWS allows {MAX_DEPTH})",
                i.verify_depth()
            ),
            "issue client certificates from a CA at most four levels deep",
        ));
    }
    for ca in &i.chain {
        let c = x509::parse_cert(&ca.der, Path::new("<ca>"))?;
        let sig = c.signature_algorithm.algorithm.to_id_string();
        if !STRONG_SIGS.contains(&sig.as_str()) {
            let what = if sig == "1.3.101.112" {
                format!(
                    "{} is Ed25519: AWS API Gateway accepts only RSA and ECDSA",
                    ca.subject
                )
            } else {
                format!(
                    "{} is signed with {sig}: AWS needs SHA-256 or stronger",
                    ca.subject
                )
            };
            return Err(refuse(
                what,
                "re-create the CA with --key-type ecdsa-p256 (or rsa-2048 or larger)",
            ));
        }
        match c.public_key().parsed() {
            Ok(PublicKey::RSA(r)) if r.key_size() < 2048 => {
                return Err(refuse(
                    format!("{} has an RSA key below 2048 bits", ca.subject),
                    "use RSA 2048+ or ECDSA",
                ));
            }
            Ok(PublicKey::RSA(_)) | Ok(PublicKey::EC(_)) => {}
            _ => {
                return Err(refuse(
                    format!(
                        "{} has a key type AWS does not accept (only RSA and ECDSA)",
                        ca.subject
                    ),
                    "re-create the CA with --key-type ecdsa-p256 (or rsa-2048 or larger)",
                ));
            }
        }
        let left = (ca.not_after - i.now).whole_days();
        if left < EXPIRY_WARN_DAYS {
            w.push(format!(
                "{} expires in {} ({}): AWS gives no warning; renew it and upload a new truststore version before then",
                ca.subject,
                crate::inspect::days_text(left),
                crate::ca::fmt_date(ca.not_after)
            ));
        }
    }
    if let Some(cl) = &i.client {
        let left = (cl.not_after - i.now).whole_days();
        if left < EXPIRY_WARN_DAYS {
            w.push(format!(
                "the client certificate {} expires in {}",
                cl.stem.display(),
                crate::inspect::days_text(left)
            ));
        }
    }
    Ok(w)
}

/// The custom domain: the `--server` certificate's first name (never a silent default).
fn domain(i: &Inputs) -> Result<String> {
    i.server.as_ref().and_then(|s| s.host()).ok_or_else(|| {
        Error::invalid(
            "--server",
            "",
            "export aws needs the custom domain's certificate: the domain name comes from it",
            "pass --server STEM (the server certificate for the API's custom domain, e.g. issue server --cn api.example.com)",
        )
    })
}

/// aws-domain.json: input for `aws apigatewayv2 create-domain-name --cli-input-json`; the ARNs
/// are filled in by aws-commands.sh (it refuses to run with a placeholder left).
pub fn domain_json(i: &Inputs) -> Result<String> {
    let v = serde_json::json!({
        "DomainName": domain(i)?,
        "DomainNameConfigurations": [{
            "CertificateArn": "CERTIFICATE_ARN",
            "EndpointType": "REGIONAL",
            "SecurityPolicy": "TLS_1_2",
            "OwnershipVerificationCertificateArn": "OWNERSHIP_VERIFICATION_CERTIFICATE_ARN"
        }],
        "MutualTlsAuthentication": {
            "TruststoreUri": "s3://BUCKET/mtls-ca/aws-truststore.pem"
        }
    });
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    Ok(s)
}

/// aws-commands.sh: a runnable script. It refuses to start while a value is missing (naming
/// it), imports the server certificate into ACM (it is private-CA issued), gets the public
/// ownership-verification certificate AWS requires for imported certificates on mTLS domains,
/// creates the Regional domain with the truststore, maps the API, and disables the default
/// execute-api endpoint unless KEEP_EXECUTE_API_ENDPOINT=1.
pub fn commands(i: &Inputs) -> Result<String> {
    let domain = domain(i)?;
    let q = super::inputs::sh;
    Ok(format!(
        r#"#!/bin/sh
# Written by `mtls-ca export aws`: API Gateway (HTTP API) custom domain {domain} with mutual TLS.
# Needs: aws CLI v2 with credentials. Set the values below in the environment, then run:
#   BUCKET=my-bucket API_ID=a1b2c3 sh {script}
# Options: STAGE (default $default), KEEP_EXECUTE_API_ENDPOINT=1 keeps https://API_ID.execute-api…
# (by default it is disabled: clients could otherwise bypass mutual TLS through it),
# OWNERSHIP_VERIFICATION_CERTIFICATE_ARN (an issued public ACM certificate for {domain};
# without it one is requested and the script waits for its DNS validation).
set -eu

missing=""
[ -n "${{BUCKET:-}}" ] || missing="$missing BUCKET (the S3 bucket for the truststore)"
[ -n "${{API_ID:-}}" ] || missing="$missing API_ID (the HTTP API to serve on {domain})"
if [ -n "$missing" ]; then
  echo "error: aws-commands.sh: missing value:$missing" >&2
  echo "hint: set it in the environment, e.g. BUCKET=my-bucket API_ID=a1b2c3 sh $0" >&2
  exit 2
fi
case "$BUCKET$API_ID" in
  *BUCKET*|*API_ID*|*REGION*|*ACCOUNT*)
    echo "error: aws-commands.sh: a placeholder is still set (BUCKET=$BUCKET API_ID=$API_ID)" >&2
    echo "hint: give the real bucket name and API id" >&2
    exit 2;;
esac
DOMAIN={domain_q}
STAGE="${{STAGE:-\$default}}"

# 1. The truststore (root + intermediates). Keep bucket versioning on: each upload is a new version.
aws s3 cp {pem} "s3://$BUCKET/mtls-ca/aws-truststore.pem"

# 2. The server certificate is issued by a private CA: import it into ACM.
CERT_ARN=$(aws acm import-certificate --certificate fileb://{crt} --private-key fileb://{key} \
  --certificate-chain fileb://{chain} --query CertificateArn --output text)

# 3. AWS requires an ownership-verification certificate (public, ACM-issued, for the same domain)
#    for an imported certificate on a domain with mutual TLS.
OWN_ARN="${{OWNERSHIP_VERIFICATION_CERTIFICATE_ARN:-}}"
if [ -z "$OWN_ARN" ]; then
  OWN_ARN=$(aws acm request-certificate --domain-name "$DOMAIN" --validation-method DNS \
    --query CertificateArn --output text)
  echo "create the DNS validation record ACM asks for (aws acm describe-certificate --certificate-arn $OWN_ARN); waiting" >&2
  aws acm wait certificate-validated --certificate-arn "$OWN_ARN"
fi

# 4. The Regional custom domain with mutual TLS.
aws apigatewayv2 create-domain-name --domain-name "$DOMAIN" \
  --domain-name-configurations "CertificateArn=$CERT_ARN,EndpointType=REGIONAL,SecurityPolicy=TLS_1_2,OwnershipVerificationCertificateArn=$OWN_ARN" \
  --mutual-tls-authentication "TruststoreUri=s3://$BUCKET/mtls-ca/aws-truststore.pem"

# 5. Serve the API on it.
aws apigatewayv2 create-api-mapping --domain-name "$DOMAIN" --api-id "$API_ID" --stage "$STAGE"

# 6. Close the default endpoint, which does not ask for a client certificate.
if [ "${{KEEP_EXECUTE_API_ENDPOINT:-0}}" != 1 ]; then
  aws apigatewayv2 update-api --api-id "$API_ID" --disable-execute-api-endpoint
fi

# After re-uploading the truststore, point the domain at the new object version:
#   aws apigatewayv2 update-domain-name --domain-name "$DOMAIN" --domain-name-configurations ... \
#     --mutual-tls-authentication "TruststoreUri=s3://$BUCKET/mtls-ca/aws-truststore.pem,TruststoreVersion=VERSION_ID"
# AWS checks no revocation: reject revoked serials in a Lambda authorizer
# (requestContext.authentication.clientCert.serialNumber).
echo "done: https://$DOMAIN/ with mutual TLS (truststore s3://$BUCKET/mtls-ca/aws-truststore.pem)"
"#,
        script = i.p("aws-commands.sh"),
        domain_q = q(&domain),
        pem = q(&i.p("aws-truststore.pem")),
        crt = q(&i.p("server.crt")),
        key = q(&i.p("server.key")),
        chain = q(&i.p("server-chain.pem")),
    ))
}

/// Renders the AWS export.
pub fn render(i: &Inputs) -> Result<Rendered> {
    let pem = i.ca_bundle_pem();
    let mut r = Rendered::default();
    r.warnings.extend(validate(i, &pem)?);
    r.files.public(i.path("aws-truststore.pem"), pem);
    let domain = domain(i)?;
    r.files.public(i.path("aws-domain.json"), domain_json(i)?);
    r.files.public(i.path("aws-commands.sh"), commands(i)?);
    let s = i.server();
    r.files.public(i.path("server.crt"), s.cert_pem());
    r.files.private(i.path("server.key"), s.key_pem());
    let chain: String = s
        .intermediates
        .iter()
        .map(|c| crate::pem::encode("CERTIFICATE", c))
        .collect();
    r.files.public(
        i.path("server-chain.pem"),
        if chain.is_empty() {
            i.ca_bundle_pem()
        } else {
            chain
        },
    );
    r.start.push(format!(
        "BUCKET=my-bucket API_ID=a1b2c3 sh {}",
        super::inputs::sh(&i.p("aws-commands.sh"))
    ));
    r.test.push(format!(
        "curl --cert CLIENT.fullchain.crt --key CLIENT.key https://{}/    # no certificate -> 403",
        js(&domain).trim_matches('"')
    ));
    Ok(r)
}
