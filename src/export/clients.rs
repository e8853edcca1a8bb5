//! Client-side exports: `curl` (`curl.sh`), `requests` (`client_requests.py`), `httpx`
//! (`client_httpx.py`), `node` (`client.mjs`) and `java` (a PKCS#12 keystore, a truststore,
//! `MtlsClient.java` and the keytool commands in `java-commands.sh`).
//!
//! Each is a working program that takes the URL as its first argument (default: the `--listen`
//! address with a name from the server certificate) and uses copies of the client certificate
//! chain (`STEM.fullchain.crt`: Go and others need the intermediates), the key (0600) and the CA
//! bundle inside the output directory.

use super::inputs::{sh, Inputs, Rendered, Target};
use crate::error::Result;

/// A string literal for Python, JavaScript or Java (JSON syntax, a subset of all three for
/// paths and URLs).
fn lit(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The env variable Java's MtlsClient and the keytool commands read the passphrase from.
pub const JAVA_PASS_ENV: &str = "MTLS_CA_P12_PASSWORD";

struct Paths {
    fullchain: String,
    key: String,
    ca: String,
}

fn add_client_files(i: &Inputs, r: &mut Rendered) -> Paths {
    let c = i.client();
    let fullchain = format!("{}.fullchain.crt", c.name);
    let key = format!("{}.key", c.name);
    r.files
        .public(i.path(&format!("{}.crt", c.name)), c.cert_pem());
    r.files.public(i.path(&fullchain), c.fullchain_pem());
    r.files.private(i.path(&key), c.key_pem());
    r.files.public(i.path("ca-bundle.pem"), i.ca_bundle_pem());
    Paths {
        fullchain: i.p(&fullchain),
        key: i.p(&key),
        ca: i.p("ca-bundle.pem"),
    }
}

fn curl(i: &Inputs, p: &Paths) -> String {
    format!(
        "#!/bin/sh\n# Written by `mtls-ca export curl`. Usage: sh curl.sh [URL]\n\
         # With the PKCS#12 file instead: curl --cert-type P12 --cert FILE.p12:PASSPHRASE --cacert CA URL\n\
         exec curl --fail --show-error --silent --cert {} --key {} --cacert {} \"${{1:-{}}}\"\n",
        sh(&p.fullchain),
        sh(&p.key),
        sh(&p.ca),
        i.url()
    )
}

/// The end of both Python clients: print the answer, exit 0 only on HTTP 200.
const PY_EXIT: &str = "print(response.status_code)\n\
                       print(response.text, end=\"\")\n\
                       sys.exit(0 if response.status_code == 200 else 1)\n";

/// The URL, certificate, key and CA file of a Python client, as Python literals.
fn py_literals(i: &Inputs, p: &Paths) -> (String, String, String, String) {
    (lit(&i.url()), lit(&p.fullchain), lit(&p.key), lit(&p.ca))
}

fn requests(i: &Inputs, p: &Paths) -> String {
    let (url, cert, key, ca) = py_literals(i, p);
    let exit = PY_EXIT;
    format!(
        "#!/usr/bin/env python3\n\"\"\"Written by `mtls-ca export requests`. Usage: python3 client_requests.py [URL]\n\n\
         requests needs the key unencrypted; the certificate file carries the intermediates.\n\"\"\"\n\
         import sys\n\nimport requests\n\n\
         URL = sys.argv[1] if len(sys.argv) > 1 else {url}\n\
         CERT = ({cert}, {key})\n\
         CA = {ca}\n\n\
         response = requests.get(URL, cert=CERT, verify=CA, timeout=10)\n\
         {exit}",
    )
}

fn httpx(i: &Inputs, p: &Paths) -> String {
    let (url, cert, key, ca) = py_literals(i, p);
    let exit = PY_EXIT;
    format!(
        "#!/usr/bin/env python3\n\"\"\"Written by `mtls-ca export httpx`. Usage: python3 client_httpx.py [URL]\n\n\
         httpx >= 0.28 takes an ssl.SSLContext as `verify=` (the `cert=` argument is deprecated).\n\"\"\"\n\
         import ssl\nimport sys\n\nimport httpx\n\n\
         URL = sys.argv[1] if len(sys.argv) > 1 else {url}\n\n\
         context = ssl.create_default_context(cafile={ca})\n\
         context.load_cert_chain({cert}, {key})\n\n\
         with httpx.Client(verify=context, timeout=10) as client:\n\
         \x20   response = client.get(URL)\n\
         {exit}",
    )
}

fn node(i: &Inputs, p: &Paths) -> String {
    format!(
        "// Written by `mtls-ca export node`. Usage: node client.mjs [URL]\n\
         // With the PKCS#12 file instead: new https.Agent({{ pfx: fs.readFileSync(P12), passphrase }})\n\
         import fs from \"node:fs\";\nimport https from \"node:https\";\n\n\
         const url = process.argv[2] ?? {url};\n\
         const agent = new https.Agent({{\n\
         \x20 cert: fs.readFileSync({cert}),\n\
         \x20 key: fs.readFileSync({key}),\n\
         \x20 ca: fs.readFileSync({ca}),\n}});\n\n\
         https\n  .get(url, {{ agent }}, (res) => {{\n\
         \x20   let body = \"\";\n\
         \x20   res.setEncoding(\"utf8\");\n\
         \x20   res.on(\"data\", (chunk) => (body += chunk));\n\
         \x20   res.on(\"end\", () => {{\n\
         \x20     console.log(res.statusCode);\n\
         \x20     process.stdout.write(body);\n\
         \x20     process.exitCode = res.statusCode === 200 ? 0 : 1;\n\
         \x20   }});\n  }})\n\
         \x20 .on(\"error\", (err) => {{\n    console.error(err.message);\n    process.exitCode = 1;\n  }});\n",
        url = lit(&i.url()),
        cert = lit(&p.fullchain),
        key = lit(&p.key),
        ca = lit(&p.ca)
    )
}

fn java_program(i: &Inputs, keystore: &str, truststore: &str) -> String {
    format!(
        "// Written by `mtls-ca export java`. Usage ({env} holds the passphrase):\n\
         //   {env}=... java MtlsClient.java [URL]\n\
         import java.io.FileInputStream;\nimport java.net.URI;\nimport java.net.http.HttpClient;\n\
         import java.net.http.HttpRequest;\nimport java.net.http.HttpResponse;\nimport java.security.KeyStore;\n\
         import javax.net.ssl.KeyManagerFactory;\nimport javax.net.ssl.SSLContext;\nimport javax.net.ssl.TrustManagerFactory;\n\n\
         public class MtlsClient {{\n\
         \x20   public static void main(String[] args) throws Exception {{\n\
         \x20       String url = args.length > 0 ? args[0] : {url};\n\
         \x20       String pass = System.getenv({env_lit});\n\
         \x20       if (pass == null) {{\n\
         \x20           System.err.println(\"set {env} to the PKCS#12 passphrase\");\n\
         \x20           System.exit(2);\n\
         \x20       }}\n\
         \x20       char[] pw = pass.toCharArray();\n\
         \x20       KeyStore keyStore = KeyStore.getInstance(\"PKCS12\");\n\
         \x20       try (FileInputStream in = new FileInputStream({ks})) {{\n\
         \x20           keyStore.load(in, pw);\n\
         \x20       }}\n\
         \x20       KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());\n\
         \x20       kmf.init(keyStore, pw);\n\
         \x20       KeyStore trustStore = KeyStore.getInstance(\"PKCS12\");\n\
         \x20       try (FileInputStream in = new FileInputStream({ts})) {{\n\
         \x20           trustStore.load(in, pw);\n\
         \x20       }}\n\
         \x20       TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());\n\
         \x20       tmf.init(trustStore);\n\
         \x20       SSLContext ssl = SSLContext.getInstance(\"TLS\");\n\
         \x20       ssl.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);\n\
         \x20       HttpClient client = HttpClient.newBuilder().sslContext(ssl).build();\n\
         \x20       HttpResponse<String> response = client.send(\n\
         \x20           HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString());\n\
         \x20       System.out.println(response.statusCode());\n\
         \x20       System.out.print(response.body());\n\
         \x20       System.exit(response.statusCode() == 200 ? 0 : 1);\n\
         \x20   }}\n}}\n",
        env = JAVA_PASS_ENV,
        env_lit = lit(JAVA_PASS_ENV),
        url = lit(&i.url()),
        ks = lit(keystore),
        ts = lit(truststore),
    )
}

fn java_commands(i: &Inputs, keystore: &str, truststore: &str) -> String {
    let mut c = format!(
        "#!/bin/sh\n# Written by `mtls-ca export java`. The passphrase is read from ${env}.\nset -eu\n\
         : \"${{{env}:?set {env} to the PKCS#12 passphrase}}\"\n\n\
         # What the keystore and truststore hold:\n\
         keytool -list -v -storetype PKCS12 -keystore {ks} -storepass:env {env} | grep -E 'Alias|Entry type|Owner|Certificate chain length'\n\
         keytool -list -storetype PKCS12 -keystore {ts} -storepass:env {env}\n\n\
         # The same truststore built with keytool (one -importcert per CA):\n",
        env = JAVA_PASS_ENV,
        ks = sh(keystore),
        ts = sh(truststore),
    );
    for n in 0..i.chain.len() {
        c.push_str(&format!(
            "# keytool -importcert -noprompt -alias mtls-ca-{n} -file {} -storetype PKCS12 -keystore truststore-keytool.p12 -storepass:env {JAVA_PASS_ENV}\n",
            sh(&i.p(&format!("ca-{n}.crt")))
        ));
    }
    c.push_str(&format!(
        "\n# Call the server:\njava {} \"${{1:-{}}}\"\n\n\
         # Or any Java program with the JSSE system properties:\n\
         # java -Djavax.net.ssl.keyStore={ks} -Djavax.net.ssl.keyStoreType=PKCS12 -Djavax.net.ssl.keyStorePassword=... \\\n\
         #      -Djavax.net.ssl.trustStore={ts} -Djavax.net.ssl.trustStoreType=PKCS12 -Djavax.net.ssl.trustStorePassword=... App\n",
        sh(&i.p("MtlsClient.java")),
        i.url(),
        ks = sh(keystore),
        ts = sh(truststore),
    ));
    c
}

/// Renders a client export.
pub fn render(t: Target, i: &Inputs) -> Result<Rendered> {
    let mut r = Rendered::default();
    let c = i.client();
    match t {
        Target::Curl => {
            let p = add_client_files(i, &mut r);
            r.files.public(i.path("curl.sh"), curl(i, &p));
            r.start.push(format!("sh {} [URL]", sh(&i.p("curl.sh"))));
        }
        Target::Requests => {
            let p = add_client_files(i, &mut r);
            r.files
                .public(i.path("client_requests.py"), requests(i, &p));
            r.start
                .push(format!("python3 {} [URL]", sh(&i.p("client_requests.py"))));
        }
        Target::Httpx => {
            let p = add_client_files(i, &mut r);
            r.files.public(i.path("client_httpx.py"), httpx(i, &p));
            r.start.push(format!(
                "python3 {} [URL]    # needs httpx >= 0.28",
                sh(&i.p("client_httpx.py"))
            ));
        }
        Target::Node => {
            let p = add_client_files(i, &mut r);
            r.files.public(i.path("client.mjs"), node(i, &p));
            r.start
                .push(format!("node {} [URL]", sh(&i.p("client.mjs"))));
        }
        Target::Java => {
            let pass = i.passphrase.as_ref().expect("checked by plan()");
            let ks_name = format!("{}.p12", c.name);
            let mut chain = c.intermediates.clone();
            if let Some(root) = i.chain.last() {
                if !chain.contains(&root.der) {
                    chain.push(root.der.clone());
                }
            }
            let alias = c.cn.clone().unwrap_or_else(|| c.name.clone());
            let p12 =
                crate::pkcs12::build(&c.der, &chain, &c.key_pkcs8, &alias, pass, i.p12_profile)?;
            crate::pkcs12::check(&p12, pass)?;
            let trust: Vec<(String, Vec<u8>)> = i
                .chain
                .iter()
                .enumerate()
                .map(|(n, ca)| (format!("mtls-ca-{n}"), ca.der.clone()))
                .collect();
            let ts = crate::pkcs12::truststore(&trust, pass, i.p12_profile)?;
            r.files.private(i.path(&ks_name), p12);
            r.files.public(i.path("truststore.p12"), ts.to_vec());
            for (n, ca) in i.chain.iter().enumerate() {
                r.files.public(
                    i.path(&format!("ca-{n}.crt")),
                    crate::pem::encode("CERTIFICATE", &ca.der),
                );
            }
            let (ks, tsp) = (i.p(&ks_name), i.p("truststore.p12"));
            r.files
                .public(i.path("MtlsClient.java"), java_program(i, &ks, &tsp));
            r.files
                .public(i.path("java-commands.sh"), java_commands(i, &ks, &tsp));
            r.notes.push(format!(
                "{} is PKCS#12 {} ({}); for macOS Keychain or Java older than 8u301 use --p12-legacy",
                ks,
                i.p12_profile.as_str(),
                i.p12_profile.describe()
            ));
            r.start.push(format!(
                "export {JAVA_PASS_ENV}=...   # the passphrase you gave"
            ));
            r.start
                .push(format!("java {} [URL]", sh(&i.p("MtlsClient.java"))));
            r.test.push(format!(
                "sh {}    # keytool -list, then the call",
                sh(&i.p("java-commands.sh"))
            ));
        }
        _ => unreachable!("not a client target"),
    }
    Ok(r)
}
