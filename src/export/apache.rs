//! `export apache`: an Apache httpd 2.4 `<VirtualHost>` (mod_ssl; mod_proxy and mod_headers with
//! `--upstream`). `SSLVerifyClient require`, `SSLVerifyDepth` = the number of CAs, the CA chain in
//! `SSLCACertificateFile`, one CRL per CA with `SSLCARevocationCheck chain`. Not run by the tests
//! (httpd is not installed there): `apachectl configtest` is the first step printed.

use super::inputs::{split_listen, Inputs, Rendered};
use crate::error::Result;

fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The VirtualHost text.
pub fn config(i: &Inputs) -> String {
    let (host, port) = split_listen(&i.listen);
    let s = i.server();
    let name = s.host().unwrap_or_else(|| host.clone());
    let mut c = String::new();
    c.push_str("# Written by `mtls-ca export apache`: Apache httpd 2.4 with mod_ssl");
    c.push_str(if i.upstream.is_some() {
        ", mod_proxy_http and mod_headers.\n"
    } else {
        " and mod_headers.\n"
    });
    c.push_str(&format!("# Debian: cp {} /etc/apache2/sites-available/ && a2enmod ssl headers{} && a2ensite apache-mtls && apachectl configtest\n\n",
        i.p("apache-mtls.conf"), if i.upstream.is_some() { " proxy proxy_http" } else { "" }));
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    c.push_str(&format!(
        "Listen {addr}\n<VirtualHost {addr}>\n    ServerName {name}\n"
    ));
    c.push_str("    SSLEngine on\n    SSLProtocol -all +TLSv1.2 +TLSv1.3\n");
    c.push_str(&format!(
        "    SSLCertificateFile {}\n",
        q(&i.p("server.fullchain.crt"))
    ));
    c.push_str(&format!(
        "    SSLCertificateKeyFile {}\n",
        q(&i.p("server.key"))
    ));
    c.push_str(&format!(
        "    SSLCACertificateFile {}\n",
        q(&i.p("ca-bundle.pem"))
    ));
    c.push_str("    SSLVerifyClient require\n");
    c.push_str(&format!("    SSLVerifyDepth {}\n", i.verify_depth()));
    if i.crls.is_empty() {
        c.push_str("    # No CRL was given: revoked certificates are accepted. With one CRL per CA:\n    # SSLCARevocationFile /path/to/crls.pem\n    # SSLCARevocationCheck chain\n");
    } else {
        c.push_str(&format!(
            "    SSLCARevocationFile {}\n    SSLCARevocationCheck chain\n",
            q(&i.p("crls.pem"))
        ));
    }
    c.push_str("    SSLOptions +StdEnvVars\n");
    c.push_str(&format!("    CustomLog {} \"%a %t \\\"%r\\\" %>s verify=%{{SSL_CLIENT_VERIFY}}x subject=\\\"%{{SSL_CLIENT_S_DN}}x\\\"\"\n", q(&i.p("apache-access.log"))));
    match &i.upstream {
        None => {
            c.push_str("    # Serves www/index.html with 200 and the verified client subject in a header.\n");
            c.push_str("    Header always set X-SSL-Client-Subject \"%{SSL_CLIENT_S_DN}s\"\n");
            c.push_str(&format!("    DocumentRoot {}\n    <Directory {}>\n        Require all granted\n    </Directory>\n", q(&i.p("www")), q(&i.p("www"))));
        }
        Some(u) => {
            c.push_str(
                "    # The verified client identity; these overwrite anything the client sent.\n",
            );
            c.push_str("    RequestHeader set X-SSL-Client-Verify \"%{SSL_CLIENT_VERIFY}s\"\n");
            c.push_str("    RequestHeader set X-SSL-Client-Subject \"%{SSL_CLIENT_S_DN}s\"\n");
            c.push_str("    RequestHeader set X-SSL-Client-Issuer \"%{SSL_CLIENT_I_DN}s\"\n");
            c.push_str("    RequestHeader set X-SSL-Client-Serial \"%{SSL_CLIENT_M_SERIAL}s\"\n");
            c.push_str("    RequestHeader set X-SSL-Client-Cert \"%{SSL_CLIENT_CERT}s\"\n");
            if u.scheme == "https" {
                c.push_str("    SSLProxyEngine on\n");
            }
            c.push_str(&format!(
                "    ProxyPass \"/\" {}\n    ProxyPassReverse \"/\" {}\n",
                q(&u.url),
                q(&u.url)
            ));
        }
    }
    c.push_str("</VirtualHost>\n");
    c
}

/// Renders the Apache export.
pub fn render(i: &Inputs) -> Result<Rendered> {
    let mut r = Rendered::default();
    super::inputs::add_server_files(i, &mut r.files);
    super::inputs::add_trust_files(i, &mut r.files);
    r.files.public(i.path("apache-mtls.conf"), config(i));
    if i.upstream.is_none() {
        r.files.public(
            i.path("www/index.html"),
            "hello from mtls-ca: your client certificate was verified\n",
        );
    }
    r.start.push(format!(
        "sudo cp {} /etc/apache2/sites-available/apache-mtls.conf",
        super::inputs::sh(&i.p("apache-mtls.conf"))
    ));
    r.start.push(format!("sudo a2enmod ssl headers{} && sudo a2ensite apache-mtls && sudo apachectl configtest && sudo systemctl reload apache2",
        if i.upstream.is_some() { " proxy proxy_http" } else { "" }));
    r.test.push(format!("{}    # -> 200", i.curl_with_client()));
    Ok(r)
}
