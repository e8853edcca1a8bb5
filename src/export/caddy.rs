//! `export caddy`: a complete Caddyfile for Caddy 2.6 (Debian 12), runnable with
//! `caddy run --config DIR/Caddyfile --adapter caddyfile`.
//!
//! `tls CERT KEY { client_auth { mode require_and_verify; trusted_ca_cert_file … } }` with one
//! `trusted_ca_cert_file` per CA (Caddy 2.6 predates `trust_pool`), `admin off`, storage inside
//! DIR. Caddy 2.6 reads no CRL files: when CRLs are given, the serials they revoke are refused
//! with HTTP 403 by a matcher on `{http.request.tls.client.serial}` (a snapshot: export again
//! after each new CRL).

use super::inputs::{curl_without_cert, sh, split_listen, Inputs, Rendered};
use crate::error::Result;

fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The file name of the n-th CA copy Caddy trusts.
pub fn ca_file(n: usize) -> String {
    format!("ca-{n}.crt")
}

/// The Caddyfile text.
pub fn config(i: &Inputs) -> String {
    let (host, port) = split_listen(&i.listen);
    let s = i.server();
    let mut c = String::new();
    c.push_str(&format!(
        "# Written by `mtls-ca export caddy` for Caddy 2.6 (Caddyfile syntax of Debian 12's caddy).\n\
         # Run in the foreground: caddy run --config {f} --adapter caddyfile\n\n",
        f = i.p("Caddyfile")
    ));
    c.push_str(&format!(
        "{{\n\tadmin off\n\tauto_https disable_redirects\n\tstorage file_system {{\n\t\troot {}\n\t}}\n\
         \t# Clients that connect by IP send no SNI; Caddy would answer 421. This server has one site\n\
         \t# and every connection must present a verified client certificate, so this is safe here.\n\
         \tservers {{\n\t\tstrict_sni_host insecure_off\n\t}}\n}}\n\n",
        q(&i.p("caddy-data"))
    ));
    let _ = s;
    c.push_str(&format!("https://:{port} {{\n"));
    if host != "0.0.0.0" && host != "::" {
        c.push_str(&format!("\tbind {host}\n"));
    }
    c.push_str(&format!(
        "\ttls {} {} {{\n\t\tprotocols tls1.2 tls1.3\n\t\tclient_auth {{\n\t\t\tmode require_and_verify\n",
        q(&i.p("server.fullchain.crt")),
        q(&i.p("server.key"))
    ));
    for n in 0..i.chain.len() {
        c.push_str(&format!(
            "\t\t\ttrusted_ca_cert_file {}\n",
            q(&i.p(&ca_file(n)))
        ));
    }
    c.push_str("\t\t}\n\t}\n");
    c.push_str(&format!(
        "\tlog {{\n\t\toutput file {}\n\t}}\n",
        q(&i.p("caddy-access.log"))
    ));
    let revoked: Vec<String> = i
        .crls
        .iter()
        .flat_map(|c| c.revoked_decimal.iter().cloned())
        .collect();
    if !revoked.is_empty() {
        c.push_str(
            "\t# Serials revoked by the CRLs given to `mtls-ca export` (Caddy 2.6 reads no CRL).\n",
        );
        c.push_str(&format!(
            "\t@revoked vars {{http.request.tls.client.serial}} {}\n",
            revoked.join(" ")
        ));
        c.push_str("\trespond @revoked \"client certificate revoked\n\" 403\n");
    }
    match &i.upstream {
        None => {
            c.push_str("\trespond \"hello {http.request.tls.client.subject}\n\" 200\n");
        }
        Some(u) => {
            c.push_str(&format!("\treverse_proxy {} {{\n", q(&u.url)));
            c.push_str(
                "\t\t# The verified client identity; these overwrite anything the client sent.\n",
            );
            c.push_str("\t\theader_up X-SSL-Client-Verify SUCCESS\n");
            c.push_str("\t\theader_up X-SSL-Client-Subject {http.request.tls.client.subject}\n");
            c.push_str("\t\theader_up X-SSL-Client-Issuer {http.request.tls.client.issuer}\n");
            c.push_str("\t\theader_up X-SSL-Client-Serial {http.request.tls.client.serial}\n");
            c.push_str(
                "\t\theader_up X-SSL-Client-Fingerprint {http.request.tls.client.fingerprint}\n",
            );
            c.push_str("\t}\n");
        }
    }
    c.push_str("}\n");
    c
}

/// Renders the Caddy export.
pub fn render(i: &Inputs) -> Result<Rendered> {
    let mut r = Rendered::default();
    super::inputs::add_server_files(i, &mut r.files);
    super::inputs::add_trust_files(i, &mut r.files);
    for (n, ca) in i.chain.iter().enumerate() {
        r.files.public(
            i.path(&ca_file(n)),
            crate::pem::encode("CERTIFICATE", &ca.der),
        );
    }
    r.files.public(i.path("Caddyfile"), config(i));
    if !i.crls.is_empty() {
        r.warnings.push(
            "Caddy 2.6 reads no CRL: the serials revoked by the given CRLs are refused with HTTP 403 by the Caddyfile; export again after each new CRL".into(),
        );
    }
    let f = sh(&i.p("Caddyfile"));
    r.start.push(format!(
        "caddy validate --config {f} --adapter caddyfile   # check the config"
    ));
    r.start.push(format!(
        "caddy run --config {f} --adapter caddyfile        # run in the foreground"
    ));
    r.test.push(format!(
        "{}    # -> 200 hello <client subject>",
        i.curl_with_client()
    ));
    r.test.push(format!(
        "{}    # no certificate -> TLS alert",
        curl_without_cert(i)
    ));
    Ok(r)
}
