//! `export kong`: a decK file (`kong.yaml`, `_format_version: "3.0"`) with one `ca_certificates`
//! entry per CA of the chain — ids are UUIDv5 (namespace OID, name = the certificate's DER) so
//! that re-running is idempotent — a service, a route and the `mtls-auth` plugin (Kong
//! Enterprise) listing those ids; `kong-admin.sh` does the same through the Admin API with curl;
//! `kong-oss.conf` is the open-source fallback (nginx directives injected through kong.conf).

use super::envoy::js;
use super::inputs::{Inputs, Rendered};
use crate::error::{Error, Result};

/// The `ca_certificates` id of a CA certificate: UUIDv5(NAMESPACE_OID, DER).
pub fn ca_id(der: &[u8]) -> uuid::Uuid {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, der)
}

fn upstream(i: &Inputs) -> String {
    i.upstream
        .as_ref()
        .map(|u| u.url.clone())
        .unwrap_or_else(|| "http://127.0.0.1:8080".into())
}

/// kong.yaml.
pub fn deck(i: &Inputs) -> String {
    let mut c = String::new();
    c.push_str(&format!("# Written by `mtls-ca export kong`: a decK file.\n# Apply: deck gateway sync {}   (decK >= 1.28; older: deck sync -s FILE)\n", i.p("kong.yaml")));
    c.push_str("_format_version: \"3.0\"\nca_certificates:\n");
    for ca in &i.chain {
        c.push_str(&format!(
            "- id: {}\n  # {}\n  cert: |\n",
            ca_id(&ca.der),
            ca.subject.replace('\n', " ")
        ));
        for line in crate::pem::encode("CERTIFICATE", &ca.der).lines() {
            c.push_str(&format!("    {line}\n"));
        }
        c.push_str("  tags:\n  - mtls-ca\n");
    }
    c.push_str("services:\n- name: mtls-ca-upstream\n");
    c.push_str(&format!("  url: {}\n", js(&upstream(i))));
    c.push_str("  routes:\n  - name: mtls-ca\n    paths:\n    - /\n    protocols:\n    - https\n");
    c.push_str("  plugins:\n  - name: mtls-auth\n    config:\n      ca_certificates:\n");
    for ca in &i.chain {
        c.push_str(&format!("      - {}\n", ca_id(&ca.der)));
    }
    c.push_str("      # Without consumers, any certificate from these CAs is admitted; set false to map SAN/CN to consumers.\n");
    c.push_str("      skip_consumer_lookup: true\n      revocation_check_mode: IGNORE_CA_ERROR\n");
    c
}

/// kong-admin.sh.
pub fn admin_script(i: &Inputs) -> String {
    let mut c = String::from("#!/bin/sh\n# Written by `mtls-ca export kong`: the same as kong.yaml, through the Admin API.\nset -eu\nKONG_ADMIN=\"${KONG_ADMIN:-http://localhost:8001}\"\n\n");
    for (n, ca) in i.chain.iter().enumerate() {
        c.push_str(&format!(
            "curl -fsS -X PUT \"$KONG_ADMIN/ca_certificates/{}\" --data-urlencode {} --data 'tags[]=mtls-ca'\n",
            ca_id(&ca.der),
            super::inputs::sh(&format!("cert@{}", i.p(&format!("ca-{n}.crt"))))
        ));
    }
    c.push_str(&format!(
        "curl -fsS -X PUT \"$KONG_ADMIN/services/mtls-ca-upstream\" --data {}\n",
        super::inputs::sh(&format!("url={}", upstream(i)))
    ));
    c.push_str("curl -fsS -X PUT \"$KONG_ADMIN/services/mtls-ca-upstream/routes/mtls-ca\" --data 'paths[]=/' --data 'protocols[]=https'\n");
    let ids: Vec<String> = i
        .chain
        .iter()
        .map(|ca| format!("--data 'config.ca_certificates[]={}'", ca_id(&ca.der)))
        .collect();
    c.push_str(&format!(
        "curl -fsS -X POST \"$KONG_ADMIN/services/mtls-ca-upstream/plugins\" --data name=mtls-auth {} --data config.skip_consumer_lookup=true\n",
        ids.join(" ")
    ));
    c
}

/// kong-oss.conf.
pub fn oss_conf(i: &Inputs) -> String {
    format!(
        "# Written by `mtls-ca export kong`: open-source Kong has no mtls-auth plugin.\n\
         # Fallback: let Kong's nginx verify clients on the proxy listener. Add to kong.conf, then `kong restart`.\n\
         # Every route then requires a client certificate (nginx answers HTTP 400 without one).\n\
         nginx_proxy_ssl_client_certificate = {}\n\
         nginx_proxy_ssl_verify_client = on\n\
         nginx_proxy_ssl_verify_depth = {}\n{}",
        i.p("ca-bundle.pem"),
        i.verify_depth(),
        if i.crls.is_empty() { String::new() } else { format!("nginx_proxy_ssl_crl = {}\n", i.p("crls.pem")) }
    )
}

/// Renders the Kong export.
pub fn render(i: &Inputs) -> Result<Rendered> {
    for ca in &i.chain {
        if ca.not_after <= i.now {
            return Err(Error::invalid(
                "CA",
                ca.subject.clone(),
                "expired: Kong refuses an expired CA certificate",
                "renew the CA before exporting it to Kong",
            ));
        }
    }
    let mut r = Rendered::default();
    super::inputs::add_trust_files(i, &mut r.files);
    for (n, ca) in i.chain.iter().enumerate() {
        r.files.public(
            i.path(&format!("ca-{n}.crt")),
            crate::pem::encode("CERTIFICATE", &ca.der),
        );
    }
    r.files.public(i.path("kong.yaml"), deck(i));
    r.files.public(i.path("kong-admin.sh"), admin_script(i));
    r.files.public(i.path("kong-oss.conf"), oss_conf(i));
    if let Some(cl) = &i.client {
        if cl.sans.is_empty() {
            r.warnings.push(format!(
                "the client certificate {} has no SAN: Kong's mtls-auth maps consumers by SAN (then CN); issue clients with --san",
                cl.stem.display()
            ));
        }
    }
    if i.upstream.is_none() {
        r.notes.push(
            "no --upstream given: the service points at http://127.0.0.1:8080; pass --upstream URL"
                .into(),
        );
    }
    r.notes.push(format!(
        "open-source Kong has no mtls-auth plugin: use {} instead",
        i.p("kong-oss.conf")
    ));
    r.start.push(format!(
        "deck gateway sync {}",
        super::inputs::sh(&i.p("kong.yaml"))
    ));
    r.start.push(format!(
        "sh {}    # or: the Admin API with curl",
        super::inputs::sh(&i.p("kong-admin.sh"))
    ));
    r.test.push(format!(
        "{}    # -> 200 (no certificate -> 401)",
        i.curl_with_client()
    ));
    Ok(r)
}
