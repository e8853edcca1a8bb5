//! `export envoy`: a complete Envoy v3 static config (`envoy.yaml`): a listener with a
//! `DownstreamTlsContext` (`require_client_certificate: true`, `trusted_ca` = every CA of the
//! chain, `crl` = one CRL per CA), the client identity forwarded in `x-forwarded-client-cert`
//! (`SANITIZE_SET`) and, without `--upstream`, a direct 200 answer carrying the client subject.
//! Run with `envoy -c DIR/envoy.yaml` (not installed by the tests: they parse the YAML).

use super::inputs::{split_listen, Inputs, Rendered};
use crate::error::Result;

/// A YAML double-quoted scalar (JSON string syntax, which YAML accepts).
pub fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn san_type(san: &str) -> &'static str {
    if san.parse::<std::net::IpAddr>().is_ok() {
        "IP_ADDRESS"
    } else if san.contains("://") {
        "URI"
    } else if san.contains('@') {
        "EMAIL"
    } else {
        "DNS"
    }
}

/// The envoy.yaml text.
pub fn config(i: &Inputs) -> String {
    let (host, port) = split_listen(&i.listen);
    let mut c = String::new();
    c.push_str(&format!("# Written by `mtls-ca export envoy`: a complete static config.\n# Check: envoy --mode validate -c {f}\n# Run: envoy -c {f}\n", f = i.p("envoy.yaml")));
    c.push_str(
        "static_resources:\n  listeners:\n  - name: mtls_ca\n    address:\n      socket_address:\n",
    );
    c.push_str(&format!(
        "        address: {}\n        port_value: {port}\n",
        js(&host)
    ));
    c.push_str("    filter_chains:\n    - filters:\n      - name: envoy.filters.network.http_connection_manager\n        typed_config:\n");
    c.push_str("          \"@type\": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager\n");
    c.push_str("          stat_prefix: mtls_ca\n");
    c.push_str("          # The verified client identity goes upstream in x-forwarded-client-cert (anything the client sent is dropped).\n");
    c.push_str("          forward_client_cert_details: SANITIZE_SET\n");
    c.push_str("          set_current_client_cert_details:\n            subject: true\n            uri: true\n            dns: true\n            cert: false\n");
    c.push_str("          route_config:\n            name: mtls_ca\n            virtual_hosts:\n            - name: all\n              domains: [\"*\"]\n              routes:\n              - match:\n                  prefix: \"/\"\n");
    match &i.upstream {
        None => {
            c.push_str("                direct_response:\n                  status: 200\n                  body:\n                    inline_string: \"hello from envoy: see the x-client-subject header\\n\"\n");
            c.push_str("                response_headers_to_add:\n                - header:\n                    key: x-client-subject\n                    value: \"%DOWNSTREAM_PEER_SUBJECT%\"\n");
        }
        Some(_) => {
            c.push_str("                route:\n                  cluster: upstream\n");
            c.push_str("                request_headers_to_add:\n");
            for (k, v) in [
                ("X-SSL-Client-Verify", "SUCCESS"),
                ("X-SSL-Client-Subject", "%DOWNSTREAM_PEER_SUBJECT%"),
                ("X-SSL-Client-Issuer", "%DOWNSTREAM_PEER_ISSUER%"),
                ("X-SSL-Client-Serial", "%DOWNSTREAM_PEER_SERIAL%"),
                (
                    "X-SSL-Client-Fingerprint",
                    "%DOWNSTREAM_PEER_FINGERPRINT_256%",
                ),
            ] {
                c.push_str(&format!("                - header:\n                    key: {k}\n                    value: {}\n                  append_action: OVERWRITE_IF_EXISTS_OR_ADD\n", js(v)));
            }
        }
    }
    c.push_str("          http_filters:\n          - name: envoy.filters.http.router\n            typed_config:\n              \"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router\n");
    c.push_str("      transport_socket:\n        name: envoy.transport_sockets.tls\n        typed_config:\n");
    c.push_str("          \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext\n");
    c.push_str("          require_client_certificate: true\n          common_tls_context:\n            tls_params:\n              tls_minimum_protocol_version: TLSv1_2\n");
    c.push_str("            tls_certificates:\n            - certificate_chain:\n");
    c.push_str(&format!(
        "                filename: {}\n              private_key:\n                filename: {}\n",
        js(&i.p("server.fullchain.crt")),
        js(&i.p("server.key"))
    ));
    c.push_str("            validation_context:\n              trusted_ca:\n");
    c.push_str(&format!(
        "                filename: {}\n",
        js(&i.p("ca-bundle.pem"))
    ));
    if !i.crls.is_empty() {
        c.push_str("              # One CRL per CA of the chain (Envoy rejects a client whose CA has none).\n");
        c.push_str(&format!(
            "              crl:\n                filename: {}\n",
            js(&i.p("crls.pem"))
        ));
    }
    match &i.client {
        Some(cl) if !cl.sans.is_empty() => {
            c.push_str("              # To admit only certain clients, match their SANs, e.g. the exported client's:\n              # match_typed_subject_alt_names:\n");
            for s in &cl.sans {
                c.push_str(&format!("              # - san_type: {}\n              #   matcher:\n              #     exact: {}\n", san_type(s), js(s)));
            }
        }
        _ => {
            c.push_str("              # To admit only certain clients, add match_typed_subject_alt_names (san_type DNS/URI/EMAIL/IP_ADDRESS).\n");
        }
    }
    if let Some(u) = &i.upstream {
        c.push_str("  clusters:\n  - name: upstream\n    type: STRICT_DNS\n    connect_timeout: 5s\n    load_assignment:\n      cluster_name: upstream\n      endpoints:\n      - lb_endpoints:\n        - endpoint:\n            address:\n              socket_address:\n");
        c.push_str(&format!(
            "                address: {}\n                port_value: {}\n",
            js(&u.host),
            u.port
        ));
        if u.scheme == "https" {
            c.push_str("    transport_socket:\n      name: envoy.transport_sockets.tls\n      typed_config:\n        \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext\n");
            c.push_str(&format!("        sni: {}\n", js(&u.host)));
        }
    }
    c
}

/// Renders the Envoy export.
pub fn render(i: &Inputs) -> Result<Rendered> {
    let mut r = Rendered::default();
    super::inputs::add_server_files(i, &mut r.files);
    super::inputs::add_trust_files(i, &mut r.files);
    r.files.public(i.path("envoy.yaml"), config(i));
    if let Some(cl) = &i.client {
        if cl.sans.is_empty() {
            r.warnings.push(format!(
                "the client certificate {} has no SAN: Envoy's match_typed_subject_alt_names cannot select it; issue clients with --san (e.g. a spiffe:// URI)",
                cl.stem.display()
            ));
        }
    }
    let f = super::inputs::sh(&i.p("envoy.yaml"));
    r.start.push(format!("envoy --mode validate -c {f}"));
    r.start.push(format!("envoy -c {f}"));
    r.test.push(format!(
        "{}    # -> 200, x-client-subject header",
        i.curl_with_client()
    ));
    Ok(r)
}
