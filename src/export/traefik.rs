//! `export traefik`: Traefik v2/v3 static config (`traefik.yml`: an entry point and the file
//! provider) and dynamic config (`traefik-dynamic.yml`: the server certificate, a TLS option with
//! `clientAuth.caFiles` + `RequireAndVerifyClientCert`, a router and the `passTLSClientCert`
//! middleware that sends the client identity upstream). Traefik reads no CRL and cannot answer by
//! itself: without `--upstream` the service points at http://127.0.0.1:8080 (a placeholder).

use super::envoy::js;
use super::inputs::{Inputs, Rendered};
use crate::error::Result;

/// The placeholder upstream when none is given.
pub const PLACEHOLDER_UPSTREAM: &str = "http://127.0.0.1:8080";

/// traefik.yml.
pub fn static_config(i: &Inputs) -> String {
    format!(
        "# Written by `mtls-ca export traefik`: static configuration.\n# Run: traefik --configFile={}\n\
         entryPoints:\n  mtls:\n    address: {}\nproviders:\n  file:\n    filename: {}\n    watch: true\nlog:\n  level: INFO\naccessLog: {{}}\n",
        i.p("traefik.yml"),
        js(&i.listen),
        js(&i.p("traefik-dynamic.yml"))
    )
}

/// traefik-dynamic.yml.
pub fn dynamic_config(i: &Inputs) -> String {
    let upstream = i
        .upstream
        .as_ref()
        .map(|u| u.url.clone())
        .unwrap_or_else(|| PLACEHOLDER_UPSTREAM.into());
    let mut c = String::new();
    c.push_str("# Written by `mtls-ca export traefik`: dynamic configuration (file provider).\n");
    c.push_str("tls:\n  certificates:\n");
    c.push_str(&format!(
        "  - certFile: {}\n    keyFile: {}\n",
        js(&i.p("server.fullchain.crt")),
        js(&i.p("server.key"))
    ));
    c.push_str("  stores:\n    default:\n      defaultCertificate:\n");
    c.push_str(&format!(
        "        certFile: {}\n        keyFile: {}\n",
        js(&i.p("server.fullchain.crt")),
        js(&i.p("server.key"))
    ));
    c.push_str("  options:\n    mtls:\n      minVersion: VersionTLS12\n      sniStrict: false\n      clientAuth:\n        caFiles:\n");
    c.push_str(&format!("        - {}\n", js(&i.p("ca-bundle.pem"))));
    c.push_str("        clientAuthType: RequireAndVerifyClientCert\n");
    c.push_str("http:\n  routers:\n    mtls:\n      rule: \"PathPrefix(`/`)\"\n      entryPoints:\n      - mtls\n      service: upstream\n      middlewares:\n      - client-identity\n      tls:\n        options: mtls\n");
    c.push_str("  middlewares:\n    client-identity:\n      # Sends X-Forwarded-Tls-Client-Cert-Info (subject, issuer, serial, validity) upstream.\n      passTLSClientCert:\n        pem: false\n        info:\n          serialNumber: true\n          notAfter: true\n          sans: true\n          subject:\n            commonName: true\n            organization: true\n            serialNumber: true\n          issuer:\n            commonName: true\n            organization: true\n");
    c.push_str("  services:\n    upstream:\n      loadBalancer:\n        servers:\n");
    c.push_str(&format!("        - url: {}\n", js(&upstream)));
    c
}

/// Renders the Traefik export.
pub fn render(i: &Inputs) -> Result<Rendered> {
    let mut r = Rendered::default();
    super::inputs::add_server_files(i, &mut r.files);
    super::inputs::add_trust_files(i, &mut r.files);
    r.files.public(i.path("traefik.yml"), static_config(i));
    r.files
        .public(i.path("traefik-dynamic.yml"), dynamic_config(i));
    if i.upstream.is_none() {
        r.warnings.push(format!(
            "Traefik cannot answer requests by itself: the service points at {PLACEHOLDER_UPSTREAM}; pass --upstream URL"
        ));
    }
    r.start.push(format!(
        "traefik --configFile={}",
        super::inputs::sh(&i.p("traefik.yml"))
    ));
    r.test.push(format!(
        "{}    # -> the upstream's answer",
        i.curl_with_client()
    ));
    Ok(r)
}
