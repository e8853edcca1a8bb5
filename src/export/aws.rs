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
    if i.chain.len() > MAX_DEPTH {
        return Err(refuse(
            format!(
                "the chain has {} CA levels (AWS allows {MAX_DEPTH})",
                i.chain.len()
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
                "{} expires in {left} days ({}): AWS gives no warning; renew it and upload a new truststore version before then",
                ca.subject,
                crate::ca::fmt_date(ca.not_after)
            ));
        }
    }
    if let Some(cl) = &i.client {
        let left = (cl.not_after - i.now).whole_days();
        if left < EXPIRY_WARN_DAYS {
            w.push(format!(
                "the client certificate {} expires in {left} days",
                cl.stem.display()
            ));
        }
    }
    Ok(w)
}

/// aws-domain.json: input for `aws apigatewayv2 create-domain-name --cli-input-json`.
pub fn domain_json(i: &Inputs) -> String {
    let domain = i
        .server
        .as_ref()
        .and_then(|s| s.host())
        .unwrap_or_else(|| "api.example.com".into());
    let v = serde_json::json!({
        "DomainName": domain,
        "DomainNameConfigurations": [{
            "CertificateArn": "arn:aws:acm:REGION:ACCOUNT:certificate/CERTIFICATE_ID",
            "EndpointType": "REGIONAL",
            "SecurityPolicy": "TLS_1_2"
        }],
        "MutualTlsAuthentication": {
            "TruststoreUri": "s3://BUCKET/mtls-ca/aws-truststore.pem"
        }
    });
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}

/// aws-commands.sh.
pub fn commands(i: &Inputs) -> String {
    let domain = i
        .server
        .as_ref()
        .and_then(|s| s.host())
        .unwrap_or_else(|| "api.example.com".into());
    format!(
        "#!/bin/sh\n# Written by `mtls-ca export aws`: API Gateway custom domain with mutual TLS.\n\
         # Replace BUCKET, the ACM certificate ARN and API_ID. mTLS needs a Regional custom domain, TLS 1.2.\nset -eu\n\
         BUCKET=\"${{BUCKET:?set BUCKET to your S3 bucket}}\"\n\
         DOMAIN={domain}\n\n\
         # 1. Upload the truststore (root + intermediates). Keep bucket versioning on: each upload is a new truststoreVersion.\n\
         aws s3 cp {pem} \"s3://$BUCKET/mtls-ca/aws-truststore.pem\"\n\n\
         # 2a. HTTP API / WebSocket (apigatewayv2):\n\
         aws apigatewayv2 create-domain-name --cli-input-json file://{json} \\\n\
         \x20 --mutual-tls-authentication \"TruststoreUri=s3://$BUCKET/mtls-ca/aws-truststore.pem\"\n\
         # aws apigatewayv2 update-api --api-id API_ID --disable-execute-api-endpoint\n\n\
         # 2b. REST API (apigateway):\n\
         # aws apigateway create-domain-name --domain-name \"$DOMAIN\" --regional-certificate-arn ARN \\\n\
         #   --endpoint-configuration types=REGIONAL --security-policy TLS_1_2 \\\n\
         #   --mutual-tls-authentication \"truststoreUri=s3://$BUCKET/mtls-ca/aws-truststore.pem\"\n\
         # aws apigateway update-rest-api --rest-api-id API_ID --patch-operations op=replace,path=/disableExecuteApiEndpoint,value=true\n\n\
         # 3. After re-uploading the truststore, point the domain at the new object version:\n\
         # aws apigatewayv2 update-domain-name --domain-name \"$DOMAIN\" --domain-name-configurations ... \\\n\
         #   --mutual-tls-authentication \"TruststoreUri=s3://$BUCKET/mtls-ca/aws-truststore.pem,TruststoreVersion=VERSION_ID\"\n\
         # AWS checks no revocation: reject revoked serials in a Lambda authorizer\n\
         # (requestContext.authentication.clientCert.serialNumber / $context.identity.clientCert).\n",
        pem = i.p("aws-truststore.pem"),
        json = i.p("aws-domain.json"),
    )
}

/// Renders the AWS export.
pub fn render(i: &Inputs) -> Result<Rendered> {
    let pem = i.ca_bundle_pem();
    let mut r = Rendered::default();
    r.warnings.extend(validate(i, &pem)?);
    r.files.public(i.path("aws-truststore.pem"), pem);
    r.files.public(i.path("aws-domain.json"), domain_json(i));
    r.files.public(i.path("aws-commands.sh"), commands(i));
    r.start.push(format!(
        "BUCKET=my-bucket sh {}",
        super::inputs::sh(&i.p("aws-commands.sh"))
    ));
    r.test.push(format!(
        "curl --cert CLIENT.fullchain.crt --key CLIENT.key https://{}/    # no certificate -> 403",
        js(&i
            .server
            .as_ref()
            .and_then(|s| s.host())
            .unwrap_or_else(|| "api.example.com".into()))
        .trim_matches('"')
    ));
    Ok(r)
}
