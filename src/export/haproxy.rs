//! `export haproxy`: a complete `haproxy.cfg`, runnable with `haproxy -db -f DIR/haproxy.cfg`.
//!
//! `bind … ssl crt server.pem` (leaf + intermediates + key in one 0600 file), `ca-file
//! ca-bundle.pem`, `verify required`, `crl-file crls.pem` (one CRL per CA), TLS 1.2+. Unlike
//! nginx, HAProxy refuses a missing or bad client certificate in the handshake with a TLS alert.
//! Without `--upstream` it answers `200 hello <subject>` itself (`http-request return`).

use super::inputs::{curl_without_cert, sh, split_listen, Inputs, Rendered};
use crate::error::Result;
use zeroize::Zeroizing;

fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The config text.
pub fn config(i: &Inputs) -> String {
    let (host, port) = split_listen(&i.listen);
    let bind = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut c = String::new();
    c.push_str(&format!(
        "# Written by `mtls-ca export haproxy`: a complete config.\n\
         # Check: haproxy -c -f {f}\n# Run in the foreground: haproxy -db -f {f}\n\n",
        f = i.p("haproxy.cfg")
    ));
    c.push_str("global\n    log stderr format raw local0 info\n    ssl-default-bind-options ssl-min-ver TLSv1.2\n\n");
    c.push_str("defaults\n    mode http\n    log global\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n\n");
    c.push_str("frontend mtls_ca\n");
    let mut bind_line = format!(
        "    bind {bind} ssl crt {} ca-file {} verify required",
        q(&i.p("server.pem")),
        q(&i.p("ca-bundle.pem"))
    );
    if !i.crls.is_empty() {
        bind_line.push_str(&format!(" crl-file {}", q(&i.p("crls.pem"))));
    }
    c.push_str(&bind_line);
    c.push('\n');
    if i.crls.is_empty() {
        c.push_str("    # No CRL was given: revoked certificates are accepted. Add `crl-file CRLS.pem` (one CRL per CA).\n");
    }
    c.push_str("    log-format \"%ci:%cp [%tr] %ft %ST %{+Q}r verify=%[ssl_c_verify] subject=%{+Q}[ssl_c_s_dn] serial=%[ssl_c_serial,hex]\"\n");
    match &i.upstream {
        None => {
            c.push_str("    http-request return status 200 content-type text/plain lf-string \"hello %[ssl_c_s_dn]\\n\"\n");
        }
        Some(u) => {
            c.push_str(
                "    # The verified client identity; these overwrite anything the client sent.\n",
            );
            c.push_str("    http-request set-header X-SSL-Client-Verify SUCCESS if { ssl_c_used } { ssl_c_verify 0 }\n");
            c.push_str("    http-request set-header X-SSL-Client-Subject %{+Q}[ssl_c_s_dn]\n");
            c.push_str("    http-request set-header X-SSL-Client-Issuer %{+Q}[ssl_c_i_dn]\n");
            c.push_str("    http-request set-header X-SSL-Client-Serial %[ssl_c_serial,hex]\n");
            c.push_str("    http-request set-header X-SSL-Client-Fingerprint %[ssl_c_sha1,hex]\n");
            c.push_str("    default_backend upstream\n\nbackend upstream\n");
            let mut server = format!("    server app {}", u.authority());
            if u.scheme == "https" {
                server.push_str(&format!(
                    " ssl verify required ca-file @system-ca sni str({})",
                    u.host
                ));
            }
            c.push_str(&server);
            c.push('\n');
        }
    }
    c
}

/// Renders the HAProxy export.
pub fn render(i: &Inputs) -> Result<Rendered> {
    let mut r = Rendered::default();
    let s = i.server();
    let mut pem = s.fullchain_pem().into_bytes();
    pem.extend_from_slice(&s.key_pem());
    r.files.private(i.path("server.pem"), Zeroizing::new(pem));
    super::inputs::add_trust_files(i, &mut r.files);
    r.files.public(i.path("haproxy.cfg"), config(i));
    let f = sh(&i.p("haproxy.cfg"));
    r.start
        .push(format!("haproxy -c -f {f}    # check the config"));
    r.start.push(format!(
        "haproxy -db -f {f}   # run in the foreground (Ctrl-C stops)"
    ));
    r.test.push(format!(
        "{}    # -> 200 hello <client subject>",
        i.curl_with_client()
    ));
    r.test.push(format!(
        "{}    # no certificate -> TLS alert (handshake failure / certificate required)",
        curl_without_cert(i)
    ));
    Ok(r)
}
