//! What every target renderer shares: the checked [`Inputs`] (CA chain, leaves, CRLs, listen
//! address, upstream), the [`Target`] list, what a renderer returns ([`Rendered`]) and the small
//! helpers the configs have in common (shell quoting, listen addresses, the files every server
//! target copies). The renderers (one file per target) and [`super::plan`] use this module; it
//! uses none of them.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::ca::layout::with_ext;
use crate::error::{Error, Result};
use crate::files::FileSet;
use crate::keys::KeyType;
use crate::pkcs12::P12Profile;

/// Default `--listen` address of the server targets.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";
/// A CRL whose nextUpdate is closer than this many days draws a warning (`mtls-ca crl` makes
/// them for 7 days, and `crl --check` asks for a new one a day before nextUpdate).
pub const CRL_WARN_DAYS: i64 = 2;

/// What `export` can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// nginx `server {}` block (+ a runnable main config).
    Nginx,
    /// A complete haproxy.cfg.
    Haproxy,
    /// A complete Caddyfile.
    Caddy,
    /// An Apache httpd VirtualHost.
    Apache,
    /// An Envoy static config.
    Envoy,
    /// Traefik static + dynamic config.
    Traefik,
    /// ingress-nginx: Secrets + Ingress.
    K8sIngress,
    /// Kong: decK file + Admin API commands.
    Kong,
    /// AWS API Gateway: truststore + CLI commands.
    Aws,
    /// curl command.
    Curl,
    /// Python requests script.
    Requests,
    /// Python httpx script.
    Httpx,
    /// Node.js script.
    Node,
    /// Java keystore + truststore + client program.
    Java,
    /// Plain PEM bundles.
    Bundle,
}

impl Target {
    /// Every target, in `--help` order.
    pub const ALL: [Target; 15] = [
        Target::Nginx,
        Target::Haproxy,
        Target::Caddy,
        Target::Apache,
        Target::Envoy,
        Target::Traefik,
        Target::K8sIngress,
        Target::Kong,
        Target::Aws,
        Target::Curl,
        Target::Requests,
        Target::Httpx,
        Target::Node,
        Target::Java,
        Target::Bundle,
    ];

    /// The name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Nginx => "nginx",
            Target::Haproxy => "haproxy",
            Target::Caddy => "caddy",
            Target::Apache => "apache",
            Target::Envoy => "envoy",
            Target::Traefik => "traefik",
            Target::K8sIngress => "k8s-ingress",
            Target::Kong => "kong",
            Target::Aws => "aws",
            Target::Curl => "curl",
            Target::Requests => "requests",
            Target::Httpx => "httpx",
            Target::Node => "node",
            Target::Java => "java",
            Target::Bundle => "bundle",
        }
    }

    /// A TLS server that verifies clients (needs `--server`).
    pub fn is_server(self) -> bool {
        matches!(
            self,
            Target::Nginx
                | Target::Haproxy
                | Target::Caddy
                | Target::Apache
                | Target::Envoy
                | Target::Traefik
        )
    }

    /// A TLS client (needs `--client`).
    pub fn is_client(self) -> bool {
        matches!(
            self,
            Target::Curl | Target::Requests | Target::Httpx | Target::Node | Target::Java
        )
    }

    /// Checks CRLs from files, and then needs one for every CA of the chain (else every
    /// handshake fails with "unable to get certificate CRL").
    pub fn needs_crl_per_ca(self) -> bool {
        matches!(
            self,
            Target::Nginx | Target::Haproxy | Target::Apache | Target::Envoy | Target::K8sIngress
        )
    }

    /// Takes CRL files at all.
    pub fn supports_crl(self) -> bool {
        self.needs_crl_per_ca() || matches!(self, Target::Bundle | Target::Caddy)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Target {
    type Err = Error;

    fn from_str(s: &str) -> Result<Target> {
        let norm = s.trim().to_ascii_lowercase();
        let alias = match norm.as_str() {
            "k8s" | "ingress" | "ingress-nginx" | "kubernetes" => "k8s-ingress",
            "python" | "python-requests" => "requests",
            "nodejs" => "node",
            "apigateway" | "aws-apigateway" | "api-gateway" => "aws",
            "httpd" | "apache2" => "apache",
            other => other,
        };
        Target::ALL
            .into_iter()
            .find(|t| t.as_str() == alias)
            .ok_or_else(|| {
                Error::invalid(
                    "TARGET",
                    s,
                    "unknown export target",
                    format!(
                        "use one of: {}, p12",
                        Target::ALL.map(|t| t.as_str()).join(", ")
                    ),
                )
            })
    }
}

/// What `export` was asked to do.
#[derive(Debug, Clone)]
pub struct Request {
    /// The target.
    pub target: Target,
    /// The CA directory (its `ca-chain.crt`, or `ca.crt`, is the trust).
    pub ca_dir: PathBuf,
    /// `--server STEM` (absolute).
    pub server: Option<PathBuf>,
    /// `--client STEM` (absolute).
    pub client: Option<PathBuf>,
    /// `--crl FILE`s (PEM or DER).
    pub crls: Vec<PathBuf>,
    /// `--listen ADDR` (default 127.0.0.1:8443).
    pub listen: Option<String>,
    /// `--upstream URL`: proxy there instead of answering.
    pub upstream: Option<String>,
    /// `--upstream-client STEM` (absolute; kong): the client certificate the gateway presents
    /// to an https upstream.
    pub upstream_client: Option<PathBuf>,
    /// `--out DIR`, absolute.
    pub out: PathBuf,
    /// PKCS#12 passphrase (java).
    pub passphrase: Option<Zeroizing<String>>,
    /// PKCS#12 profile (java).
    pub p12_profile: P12Profile,
    /// The time the checks are made at.
    pub now: OffsetDateTime,
}

/// A certificate of the CA chain.
#[derive(Debug, Clone)]
pub struct CaCert {
    /// DER.
    pub der: Vec<u8>,
    /// Subject DN text.
    pub subject: String,
    /// Self-signed (the root).
    pub is_root: bool,
    /// notAfter.
    pub not_after: OffsetDateTime,
    /// Index in [`Inputs::chain`] of the CA that signed it (None for a root).
    pub parent: Option<usize>,
    /// A retired CA of a rotation (still trusted during the overlap).
    pub retired: bool,
}

/// A server or client certificate with its key and chain, read from a stem.
#[derive(Debug)]
pub struct Leaf {
    /// The stem as given (absolute).
    pub stem: PathBuf,
    /// The file name part of the stem (`server`, `alice`).
    pub name: String,
    /// The leaf (DER).
    pub der: Vec<u8>,
    /// The intermediates from STEM.fullchain.crt (DER, after the leaf).
    pub intermediates: Vec<Vec<u8>>,
    /// The key as PKCS#8 DER.
    pub key_pkcs8: Zeroizing<Vec<u8>>,
    /// The key type.
    pub key_type: KeyType,
    /// Subject DN text.
    pub subject: String,
    /// Subject CN, if any.
    pub cn: Option<String>,
    /// SANs as text.
    pub sans: Vec<String>,
    /// Serial, lowercase hex.
    pub serial: String,
    /// notAfter.
    pub not_after: OffsetDateTime,
    /// Index in the CA chain of its issuer.
    pub issuer_index: usize,
}

impl Leaf {
    /// The key as PKCS#8 PEM.
    pub fn key_pem(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(crate::pem::encode("PRIVATE KEY", &self.key_pkcs8).into_bytes())
    }

    /// Leaf + intermediates, PEM.
    pub fn fullchain_pem(&self) -> String {
        let mut s = crate::pem::encode("CERTIFICATE", &self.der);
        for c in &self.intermediates {
            s.push_str(&crate::pem::encode("CERTIFICATE", c));
        }
        s
    }

    /// The leaf alone, PEM.
    pub fn cert_pem(&self) -> String {
        crate::pem::encode("CERTIFICATE", &self.der)
    }

    /// The first DNS or IP SAN (what a client connects to).
    pub fn host(&self) -> Option<String> {
        self.host_names().into_iter().find(|s| !s.starts_with("*."))
    }

    /// The DNS and IP SANs, keeping only characters that are safe in any config file.
    pub fn host_names(&self) -> Vec<String> {
        self.sans
            .iter()
            .filter(|s| {
                !s.is_empty()
                    && s.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*' | ':' | '_')
                    })
            })
            .cloned()
            .collect()
    }
}

/// A CRL given with `--crl`.
#[derive(Debug, Clone)]
pub struct Crl {
    /// Where it came from.
    pub path: PathBuf,
    /// DER.
    pub der: Vec<u8>,
    /// Index in the CA chain of its issuer.
    pub issuer_index: usize,
    /// nextUpdate.
    pub next_update: Option<OffsetDateTime>,
    /// The revoked serials, in decimal (how Go servers print them).
    pub revoked_decimal: Vec<String>,
}

/// Everything read and checked, handed to the target renderers.
#[derive(Debug)]
pub struct Inputs {
    /// Every CA the directory trusts: the issuing CA and its parents (root last), then the
    /// retired CAs of a rotation while the overlap lasts; each once. `parent` links each to its
    /// issuer ([`Inputs::path_from`]).
    pub chain: Vec<CaCert>,
    /// `--server`.
    pub server: Option<Leaf>,
    /// `--client`.
    pub client: Option<Leaf>,
    /// CRLs, one per CA at most, in chain order.
    pub crls: Vec<Crl>,
    /// The output directory (absolute).
    pub out: PathBuf,
    /// `--listen` (or the default).
    pub listen: String,
    /// `--upstream`.
    pub upstream: Option<Upstream>,
    /// `--upstream-client` (kong).
    pub upstream_client: Option<Leaf>,
    /// PKCS#12 passphrase (java).
    pub passphrase: Option<Zeroizing<String>>,
    /// PKCS#12 profile (java).
    pub p12_profile: P12Profile,
    /// The checks' time.
    pub now: OffsetDateTime,
    /// What was read beyond what was asked (e.g. a retired CA's CRL next to a given one).
    pub notes: Vec<String>,
}

/// A parsed `--upstream URL`.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// As given.
    pub url: String,
    /// http or https.
    pub scheme: String,
    /// Host name or IP (no brackets).
    pub host: String,
    /// Port (default for the scheme if absent).
    pub port: u16,
    /// The path part (starting with `/`), may be empty.
    pub path: String,
}

impl Upstream {
    /// Parses `http(s)://HOST[:PORT][/PATH]`.
    pub fn parse(url: &str) -> Result<Upstream> {
        let bad = |why: &str| {
            Error::invalid(
                "--upstream",
                url,
                why.to_string(),
                "give a URL such as http://127.0.0.1:8080 or https://app.internal:8443",
            )
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(bad("the scheme must be http or https"));
        }
        let (hostport, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if hostport.is_empty()
            || hostport.contains('@')
            || url
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "$\"'\\{}<>;`".contains(c))
        {
            return Err(bad(
                "no host, user info, or characters a config cannot quote ($ \" ' \\ {} ; spaces)",
            ));
        }
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            let (h, p) = h.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            (h.to_string(), p.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        let port = match port {
            Some(p) => p.parse::<u16>().map_err(|_| bad("bad port"))?,
            None if scheme == "https" => 443,
            None => 80,
        };
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'))
        {
            return Err(bad("bad host"));
        }
        Ok(Upstream {
            url: url.to_string(),
            scheme,
            host,
            port,
            path: path.to_string(),
        })
    }

    /// `host:port`, IPv6 in brackets.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl Inputs {
    /// The trust bundle: every CA of the chain (issuing CA first, root last), PEM.
    pub fn ca_bundle_pem(&self) -> String {
        self.chain
            .iter()
            .map(|c| crate::pem::encode("CERTIFICATE", &c.der))
            .collect()
    }

    /// The root of the issuing CA alone, PEM.
    pub fn root_pem(&self) -> String {
        if self.chain.is_empty() {
            return String::new();
        }
        self.path_from(0)
            .last()
            .map(|i| crate::pem::encode("CERTIFICATE", &self.chain[*i].der))
            .unwrap_or_default()
    }

    /// Every CRL, PEM, in chain order.
    pub fn crls_pem(&self) -> String {
        self.crls
            .iter()
            .map(|c| crate::pem::encode("X509 CRL", &c.der))
            .collect()
    }

    /// The verify depth a server needs for clients of this CA: the number of CAs above a leaf
    /// on the longest path to a root (nginx counts the CAs above the leaf; 1 would reject a leaf
    /// under an intermediate).
    pub fn verify_depth(&self) -> usize {
        (0..self.chain.len())
            .map(|i| self.path_from(i).len())
            .max()
            .unwrap_or(1)
            .max(1)
    }

    /// The indices of CA `i` and its parents, root last.
    pub fn path_from(&self, i: usize) -> Vec<usize> {
        let mut out = vec![i];
        let mut cur = i;
        while let Some(p) = self.chain.get(cur).and_then(|c| c.parent) {
            if out.contains(&p) {
                break;
            }
            out.push(p);
            cur = p;
        }
        out
    }

    /// A path inside the output directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.out.join(name)
    }

    /// A path inside the output directory, as text for a config file.
    pub fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// The `--server` leaf (targets that need one check it is there first).
    pub fn server(&self) -> &Leaf {
        self.server.as_ref().expect("checked by plan()")
    }

    /// The `--client` leaf (targets that need one check it is there first).
    pub fn client(&self) -> &Leaf {
        self.client.as_ref().expect("checked by plan()")
    }

    /// The URL a client calls: `https://HOST:PORT/` with the port of `--listen` and, when a
    /// server certificate is known, a name it is valid for.
    pub fn url(&self) -> String {
        let (lhost, port) = split_listen(&self.listen);
        let host = match &self.server {
            Some(s) => {
                if s.sans.iter().any(|n| n == &lhost) {
                    lhost
                } else {
                    s.host().unwrap_or(lhost)
                }
            }
            None => lhost,
        };
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        format!("https://{host}:{port}/")
    }

    /// Shell-ready curl with the client certificate (or placeholders when none was given).
    pub fn curl_with_client(&self) -> String {
        let url = self.url();
        let extra = self.resolve_flag();
        match &self.client {
            Some(c) => format!(
                "curl {extra}--cert {} --key {} --cacert {} {url}",
                sh(&with_ext(&c.stem, "fullchain.crt").display().to_string()),
                sh(&with_ext(&c.stem, "key").display().to_string()),
                sh(&self.p("ca-bundle.pem")),
            ),
            None => format!(
                "curl {extra}--cert CLIENT.fullchain.crt --key CLIENT.key --cacert {} {url}",
                sh(&self.p("ca-bundle.pem"))
            ),
        }
    }

    /// `--resolve NAME:PORT:IP ` when the URL names a host that is not the listen address.
    fn resolve_flag(&self) -> String {
        let (lhost, port) = split_listen(&self.listen);
        let url = self.url();
        let host = url
            .trim_start_matches("https://")
            .rsplit_once(':')
            .map(|(h, _)| h.to_string())
            .unwrap_or_default();
        if host == lhost || host.starts_with('[') || lhost == "0.0.0.0" || lhost == "::" {
            String::new()
        } else {
            format!("--resolve {host}:{port}:{lhost} ")
        }
    }
}

/// `(host, port)` of a listen address; `8443` alone means 127.0.0.1:8443.
pub fn split_listen(listen: &str) -> (String, u16) {
    if let Ok(p) = listen.parse::<u16>() {
        return ("127.0.0.1".into(), p);
    }
    if let Some(rest) = listen.strip_prefix('[') {
        if let Some((h, p)) = rest.split_once("]:") {
            return (h.to_string(), p.parse().unwrap_or(8443));
        }
    }
    match listen.rsplit_once(':') {
        Some((h, p)) => (
            if h.is_empty() { "0.0.0.0" } else { h }.to_string(),
            p.parse().unwrap_or(8443),
        ),
        None => (listen.to_string(), 8443),
    }
}

/// Refuses a `--listen` that is not an address with a port.
pub(crate) fn check_listen(listen: &str) -> Result<()> {
    let bad = || {
        Error::invalid(
            "--listen",
            listen,
            "not an address with a port",
            "give HOST:PORT such as 127.0.0.1:8443, 0.0.0.0:443 or [::1]:8443",
        )
    };
    if listen.parse::<u16>().is_ok() {
        return Ok(());
    }
    let ok = if listen.starts_with('[') {
        listen.parse::<std::net::SocketAddr>().is_ok()
    } else {
        match listen.rsplit_once(':') {
            Some((h, p)) => {
                p.parse::<u16>().is_ok()
                    && h.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
            }
            None => false,
        }
    };
    if ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// Single-quotes a string for a POSIX shell when it needs it.
pub fn sh(s: &str) -> String {
    if !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '-' | '_' | ':' | '=' | '@' | ',')
        })
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// What a renderer adds to a plan.
#[derive(Debug, Default)]
pub struct Rendered {
    /// Files.
    pub files: FileSet,
    /// Warnings.
    pub warnings: Vec<String>,
    /// Start commands.
    pub start: Vec<String>,
    /// Test commands.
    pub test: Vec<String>,
    /// Notes.
    pub notes: Vec<String>,
}

/// Adds the copies of the trust bundle and CRLs every server target references.
pub fn add_trust_files(i: &Inputs, files: &mut FileSet) {
    files.public(i.path("ca-bundle.pem"), i.ca_bundle_pem());
    if !i.crls.is_empty() {
        files.public(i.path("crls.pem"), i.crls_pem());
    }
}

/// Adds `server.fullchain.crt` and `server.key` (0600) to `files`.
pub fn add_server_files(i: &Inputs, files: &mut FileSet) {
    let s = i.server();
    files.public(i.path("server.fullchain.crt"), s.fullchain_pem());
    files.private(i.path("server.key"), s.key_pem());
}

/// The headers that carry the client identity upstream, as (name, meaning).
pub const IDENTITY_HEADERS: [(&str, &str); 5] = [
    ("X-SSL-Client-Verify", "verify status (SUCCESS)"),
    ("X-SSL-Client-Subject", "subject DN"),
    ("X-SSL-Client-Issuer", "issuer DN"),
    ("X-SSL-Client-Serial", "serial (hex)"),
    ("X-SSL-Client-Fingerprint", "fingerprint"),
];

/// A test line that says what to expect from a client that presents no certificate.
pub fn curl_without_cert(i: &Inputs) -> String {
    format!(
        "curl {}--cacert {} {}",
        i.resolve_flag(),
        sh(&i.p("ca-bundle.pem")),
        i.url()
    )
}
