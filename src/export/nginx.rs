//! `export nginx`: an http-level `server {}` block (`nginx.conf`) plus a tiny complete main
//! config (`nginx-main.conf`) that includes it, so the result runs as written with
//! `nginx -p DIR -c DIR/nginx-main.conf -e stderr`.
//!
//! The block serves `server.fullchain.crt`, asks for client certificates from `ca-bundle.pem`
//! (`ssl_client_certificate`, so clients see the acceptable CA names), `ssl_verify_client on`,
//! `ssl_verify_depth` = the number of CAs in the chain (nginx's default of 1 rejects a leaf under
//! an intermediate), `ssl_crl crls.pem` (one CRL per CA), TLS 1.2+, a shared session cache and
//! tickets, and a log format with `$ssl_client_verify`. Nginx answers a missing or bad client
//! certificate with HTTP 400 after the handshake.

use super::inputs::{
    add_server_files, add_trust_files, curl_without_cert, sh, split_listen, Inputs, Rendered,
};
use crate::error::Result;

/// Double-quotes a value for nginx.
pub fn q(s: &str) -> String {
    q_path(s)
}

fn q_path(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The `server {}` block (with its `log_format`, which lives at http level too).
pub fn server_block(i: &Inputs) -> String {
    let s = i.server();
    let (host, port) = split_listen(&i.listen);
    let listen = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut names: Vec<String> = s.host_names();
    if names.is_empty() {
        names.push("_".into());
    }
    let mut c = String::new();
    c.push_str(&format!(
        "# Written by `mtls-ca export nginx`: an http-level server block.\n\
         # Include it from the http {{}} block of your nginx.conf:  include {};\n\
         # or run it as is: nginx -p {d} -c {d}/nginx-main.conf -e stderr\n\n",
        q_path(&i.p("nginx.conf")),
        d = i.out.display()
    ));
    c.push_str(
        "log_format mtls_ca '$remote_addr [$time_local] \"$request\" $status '\n\
         \x20                  'ssl_client_verify=$ssl_client_verify subject=\"$ssl_client_s_dn\" '\n\
         \x20                  'issuer=\"$ssl_client_i_dn\" serial=$ssl_client_serial $ssl_protocol $ssl_session_reused';\n\n",
    );
    c.push_str("server {\n");
    c.push_str(&format!("    listen {listen} ssl;\n"));
    c.push_str(&format!("    server_name {};\n\n", names.join(" ")));
    c.push_str(&format!(
        "    ssl_certificate {};\n",
        q_path(&i.p("server.fullchain.crt"))
    ));
    c.push_str(&format!(
        "    ssl_certificate_key {};\n",
        q_path(&i.p("server.key"))
    ));
    c.push_str("    ssl_protocols TLSv1.2 TLSv1.3;\n\n");
    c.push_str("    # Client certificates: every CA of the chain is trusted, and its names are sent to clients.\n");
    c.push_str(&format!(
        "    ssl_client_certificate {};\n",
        q_path(&i.p("ca-bundle.pem"))
    ));
    c.push_str("    ssl_verify_client on;\n");
    c.push_str(&format!(
        "    # {} CA(s) above a client certificate: the default depth of 1 would reject it.\n    ssl_verify_depth {};\n",
        i.chain.len(),
        i.verify_depth()
    ));
    if i.crls.is_empty() {
        c.push_str("    # No CRL was given: revoked certificates are accepted. With one CRL per CA:\n    # ssl_crl /path/to/crls.pem;\n");
    } else {
        c.push_str(
            "    # One CRL per CA of the chain; an expired CRL makes nginx reject every client.\n",
        );
        c.push_str(&format!("    ssl_crl {};\n", q_path(&i.p("crls.pem"))));
    }
    c.push_str("\n    # Resumption: a shared cache (IDs) and tickets.\n");
    c.push_str("    ssl_session_cache shared:mtls_ca:10m;\n    ssl_session_timeout 1h;\n    ssl_session_tickets on;\n\n");
    c.push_str(&format!(
        "    access_log {} mtls_ca;\n",
        q_path(&i.p("access.log"))
    ));
    c.push_str(&format!(
        "    # \"client SSL certificate verify error\" lines are logged at info level.\n    error_log {} info;\n\n",
        q_path(&i.p("error.log"))
    ));
    c.push_str("    location / {\n");
    match &i.upstream {
        None => {
            c.push_str("        default_type text/plain;\n");
            c.push_str("        return 200 \"hello $ssl_client_s_dn\\n\";\n");
        }
        Some(u) => {
            c.push_str(&format!("        proxy_pass {};\n", q(&u.url)));
            c.push_str("        proxy_set_header Host $host;\n");
            c.push_str("        # The verified client identity; these overwrite anything the client sent.\n");
            c.push_str("        proxy_set_header X-SSL-Client-Verify $ssl_client_verify;\n");
            c.push_str("        proxy_set_header X-SSL-Client-Subject $ssl_client_s_dn;\n");
            c.push_str("        proxy_set_header X-SSL-Client-Issuer $ssl_client_i_dn;\n");
            c.push_str("        proxy_set_header X-SSL-Client-Serial $ssl_client_serial;\n");
            c.push_str(
                "        proxy_set_header X-SSL-Client-Fingerprint $ssl_client_fingerprint;\n",
            );
            c.push_str("        proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;\n");
        }
    }
    c.push_str("    }\n}\n");
    c
}

/// A complete main config that runs the block in the foreground with everything in DIR.
pub fn main_config(i: &Inputs) -> String {
    let tmp = q_path(&i.p("nginx-temp"));
    format!(
        "# Written by `mtls-ca export nginx`: a complete nginx main config around nginx.conf.\n\
         # Run in the foreground: nginx -p {d} -c {d}/nginx-main.conf -e stderr\n\
         daemon off;\n\
         worker_processes 1;\n\
         pid {pid};\n\
         error_log {err} info;\n\n\
         events {{\n    worker_connections 256;\n}}\n\n\
         http {{\n\
         \x20   client_body_temp_path {tmp};\n\
         \x20   proxy_temp_path {tmp};\n\
         \x20   fastcgi_temp_path {tmp};\n\
         \x20   uwsgi_temp_path {tmp};\n\
         \x20   scgi_temp_path {tmp};\n\
         \x20   include {conf};\n\
         }}\n",
        d = i.out.display(),
        pid = q_path(&i.p("nginx.pid")),
        err = q_path(&i.p("error.log")),
        conf = q_path(&i.p("nginx.conf")),
    )
}

/// Renders the nginx export.
pub fn render(i: &Inputs) -> Result<Rendered> {
    let mut r = Rendered::default();
    add_server_files(i, &mut r.files);
    add_trust_files(i, &mut r.files);
    r.files.public(i.path("nginx.conf"), server_block(i));
    r.files.public(i.path("nginx-main.conf"), main_config(i));
    let d = sh(&i.out.display().to_string());
    let main = sh(&i.p("nginx-main.conf"));
    r.start.push(format!(
        "nginx -t -p {d} -c {main} -e stderr   # check the config"
    ));
    r.start.push(format!(
        "nginx -p {d} -c {main} -e stderr      # run in the foreground (Ctrl-C stops)"
    ));
    r.test.push(format!(
        "{}    # -> 200 hello <client subject>",
        i.curl_with_client()
    ));
    r.test.push(format!(
        "{}    # no certificate -> HTTP 400",
        curl_without_cert(i)
    ));
    r.notes.push(format!(
        "to use your own nginx: add `include {};` inside its http {{}} block, then `nginx -t && nginx -s reload`",
        i.p("nginx.conf")
    ));
    r.notes.push(format!(
        "handshake verdicts are in {} ($ssl_client_verify) and {}",
        i.p("access.log"),
        i.p("error.log")
    ));
    Ok(r)
}
