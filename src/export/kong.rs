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

/// The `certificates` id of the server certificate (UUIDv5 of "certificate:" + DER), so a
/// re-run updates the same entity.
pub fn cert_id(der: &[u8]) -> uuid::Uuid {
    let mut name = b"certificate:".to_vec();
    name.extend_from_slice(der);
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, &name)
}

/// The id of the mtls-auth plugin on the service (fixed, so the Admin API script upserts it).
pub fn plugin_id() -> uuid::Uuid {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        b"mtls-ca:mtls-auth:mtls-ca-upstream",
    )
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
    if i.server.is_some() || i.upstream_client.is_some() {
        c.push_str("certificates:\n");
    }
    // The server certificate and the names Kong serves it for (SNIs); the upstream client
    // certificate has no SNIs (Kong presents it, never serves it).
    for (leaf, snis) in [(&i.server, true), (&i.upstream_client, false)] {
        let Some(leaf) = leaf else { continue };
        c.push_str(&format!("- id: {}\n  cert: |\n", cert_id(&leaf.der)));
        for line in leaf.fullchain_pem().lines() {
            c.push_str(&format!("    {line}\n"));
        }
        c.push_str("  key: |\n");
        for line in String::from_utf8_lossy(&leaf.key_pem()).lines() {
            c.push_str(&format!("    {line}\n"));
        }
        if snis {
            c.push_str("  snis:\n");
            for n in leaf.host_names() {
                c.push_str(&format!("  - name: {}\n", js(&n)));
            }
        }
        c.push_str("  tags:\n  - mtls-ca\n");
    }
    c.push_str("services:\n- name: mtls-ca-upstream\n");
    c.push_str(&format!("  url: {}\n", js(&upstream(i))));
    if let Some(uc) = &i.upstream_client {
        // Mutual TLS to the upstream: present this certificate, check the upstream's against
        // the CA chain.
        c.push_str(&format!(
            "  client_certificate:\n    id: {}\n  tls_verify: true\n  tls_verify_depth: {}\n  ca_certificates:\n",
            cert_id(&uc.der),
            i.verify_depth()
        ));
        for ca in &i.chain {
            c.push_str(&format!("  - {}\n", ca_id(&ca.der)));
        }
    }
    c.push_str("  routes:\n  - name: mtls-ca\n    paths:\n    - /\n    protocols:\n    - https\n");
    c.push_str(&format!(
        "  plugins:\n  - name: mtls-auth\n    id: {}\n    config:\n      ca_certificates:\n",
        plugin_id()
    ));
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
    let mut service_tls = String::new();
    if let Some(uc) = &i.upstream_client {
        c.push_str(&format!(
            "curl -fsS -X PUT \"$KONG_ADMIN/certificates/{}\" --data-urlencode {} --data-urlencode {} --data 'tags[]=mtls-ca'\n",
            cert_id(&uc.der),
            super::inputs::sh(&format!("cert@{}", i.p("upstream-client.fullchain.crt"))),
            super::inputs::sh(&format!("key@{}", i.p("upstream-client.key"))),
        ));
        service_tls = format!(
            " --data client_certificate.id={} --data tls_verify=true --data tls_verify_depth={}",
            cert_id(&uc.der),
            i.verify_depth()
        );
        for ca in &i.chain {
            service_tls.push_str(&format!(" --data 'ca_certificates[]={}'", ca_id(&ca.der)));
        }
    }
    c.push_str(&format!(
        "curl -fsS -X PUT \"$KONG_ADMIN/services/mtls-ca-upstream\" --data {}{service_tls}\n",
        super::inputs::sh(&format!("url={}", upstream(i)))
    ));
    c.push_str("curl -fsS -X PUT \"$KONG_ADMIN/services/mtls-ca-upstream/routes/mtls-ca\" --data 'paths[]=/' --data 'protocols[]=https'\n");
    let ids: Vec<String> = i
        .chain
        .iter()
        .map(|ca| format!("--data 'config.ca_certificates[]={}'", ca_id(&ca.der)))
        .collect();
    c.push_str(&format!(
        "curl -fsS -X PUT \"$KONG_ADMIN/plugins/{}\" --data name=mtls-auth --data service.name=mtls-ca-upstream {} --data config.skip_consumer_lookup=true\n",
        plugin_id(),
        ids.join(" ")
    ));
    if let Some(srv) = &i.server {
        let snis: Vec<String> = srv
            .host_names()
            .iter()
            .map(|n| format!("--data {}", super::inputs::sh(&format!("snis[]={n}"))))
            .collect();
        c.push_str(&format!(
            "curl -fsS -X PUT \"$KONG_ADMIN/certificates/{}\" --data-urlencode {} --data-urlencode {} {} --data 'tags[]=mtls-ca'\n",
            cert_id(&srv.der),
            super::inputs::sh(&format!("cert@{}", i.p("server.fullchain.crt"))),
            super::inputs::sh(&format!("key@{}", i.p("server.key"))),
            snis.join(" ")
        ));
    }
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
    if let Some(uc) = &i.upstream_client {
        r.files
            .public(i.path("upstream-client.fullchain.crt"), uc.fullchain_pem());
        r.files.private(i.path("upstream-client.key"), uc.key_pem());
    }
    if i.server.is_some() || i.upstream_client.is_some() {
        if i.server.is_some() {
            super::inputs::add_server_files(i, &mut r.files);
        }
        // kong.yaml holds a private key: private.
        r.files.private(
            i.path("kong.yaml"),
            zeroize::Zeroizing::new(deck(i).into_bytes()),
        );
    } else {
        r.files.public(i.path("kong.yaml"), deck(i));
    }
    if i.server.is_none() {
        r.notes.push("no --server given: Kong serves its default certificate; pass --server STEM to export yours with its SNIs".into());
    }
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
