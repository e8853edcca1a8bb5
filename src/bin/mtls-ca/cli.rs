//! The command line, as clap definitions: what the user typed, before validation.
//!
//! Each command's `--help` ends with EXAMPLES and EXIT CODES. Validation into library types
//! happens in `cmd/<verb>.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use crate::cli_lifecycle::*;

/// mtls-ca: a certificate authority for mutual TLS.
#[derive(Debug, Parser)]
#[command(
    name = "mtls-ca",
    version,
    about = "A certificate authority for mutual TLS: CA, server and client certificates, safe files.",
    after_help = "EXAMPLES:\n  mtls-ca quickstart\n  mtls-ca init --cn 'Example Root CA'\n  mtls-ca issue server --cn api.example.com --san 10.0.0.5\n  mtls-ca issue client --cn billing-service --san spiffe://example.org/billing\n  mtls-ca list --status valid\n\nEXIT CODES:\n  0  success\n  1  a check ran and failed\n  2  usage, input or I/O error (nothing was written)"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The CA directory.
    #[arg(
        long,
        global = true,
        env = "MTLS_CA_DIR",
        default_value = "pki",
        value_name = "DIR"
    )]
    pub dir: PathBuf,
    /// Print exactly one JSON document on stdout (status lines stay on stderr).
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing but errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Never use colour (NO_COLOR is honoured too).
    #[arg(long, global = true)]
    pub no_color: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a CA (root, or intermediate with --parent) in --dir.
    #[command(after_help = INIT_HELP)]
    Init(InitArgs),
    /// CA operations (`ca init` is `init`).
    #[command(subcommand, after_help = CA_HELP)]
    Ca(CaCommand),
    /// Issue a server or client certificate with a new key.
    #[command(subcommand, after_help = ISSUE_HELP)]
    Issue(IssueCommand),
    /// List every certificate this CA issued.
    #[command(after_help = LIST_HELP)]
    List(ListArgs),
    /// Make a key and a certificate signing request (the key stays on this host).
    #[command(after_help = CSR_HELP)]
    Csr(CsrArgs),
    /// Sign a CSR as a server or client certificate.
    #[command(after_help = SIGN_HELP)]
    Sign(SignArgs),
    /// Renew a certificate (or every one expiring soon).
    #[command(after_help = RENEW_HELP)]
    Renew(RenewArgs),
    /// Revoke a certificate.
    #[command(after_help = REVOKE_HELP)]
    Revoke(RevokeArgs),
    /// Make (or check) the certificate revocation list.
    #[command(after_help = CRL_HELP)]
    Crl(CrlArgs),
    /// A CA, a server and a client certificate in one command: a working mTLS setup.
    #[command(after_help = QUICKSTART_HELP)]
    Quickstart(QuickstartArgs),
    /// Diagnose a live TLS endpoint: does mutual TLS work, and if not, why.
    #[command(after_help = PROBE_HELP)]
    Probe(ProbeArgs),
    /// Run a test HTTPS server that demands a client certificate and says who the client is.
    #[command(after_help = SERVE_HELP)]
    Serve(ServeArgs),
    /// Turn gateway logs and client errors into causes and fixes.
    #[command(after_help = EXPLAIN_HELP)]
    Explain(ExplainArgs),
    /// Write a ready-to-run gateway config, client snippet, bundle or PKCS#12 file.
    #[command(after_help = crate::cmd::export::HELP)]
    Export(crate::cmd::export::ExportArgs),
    /// Describe certificates, chains, CSRs, CRLs, keys, PKCS#12 files or a live server's chain.
    #[command(after_help = crate::cmd::inspect::HELP)]
    Inspect(crate::cmd::inspect::InspectArgs),
    /// Check a certificate the way a rustls peer would, and say how to fix what fails.
    #[command(after_help = crate::cmd::verify::HELP)]
    Verify(crate::cmd::verify::VerifyArgs),
    /// Check a CA directory (interrupted changes, temp files, permissions, store, files, CRLs).
    #[command(after_help = crate::cmd::doctor::HELP)]
    Doctor(crate::cmd::doctor::DoctorArgs),
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell.
    #[command(after_help = crate::cmd::completions::HELP)]
    Completions(crate::cmd::completions::CompletionsArgs),
    /// Write the man pages: mtls-ca.1 and one page per command.
    #[command(after_help = crate::cmd::man::HELP)]
    Man(crate::cmd::man::ManArgs),
    /// One-time bootstrap tokens for `ca serve` (create, list, revoke).
    #[command(subcommand, after_help = crate::cmd::token::HELP)]
    Token(crate::cmd::token::TokenCommand),
    /// Keep a certificate fresh from `ca serve`: bootstrap with a token, renew over mutual TLS.
    #[command(after_help = crate::cmd::agent::HELP)]
    Agent(crate::cmd::agent::AgentArgs),
}

const CA_HELP: &str = "EXAMPLES:\n  mtls-ca ca init --cn 'Example Root CA'\n  mtls-ca --dir pki/issuing ca init --parent pki\n\nEXIT CODES:\n  0  success\n  2  usage, input or I/O error (nothing was written)";
const ISSUE_HELP: &str = "EXAMPLES:\n  mtls-ca issue server --cn api.example.com --san 10.0.0.5\n  mtls-ca issue client --cn billing-service --san spiffe://example.org/billing\n\nEXIT CODES:\n  0  issued\n  2  usage, input or I/O error (nothing was written)";

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum CaCommand {
    /// Create a CA (same as `mtls-ca init`).
    #[command(after_help = INIT_HELP)]
    Init(InitArgs),
    /// Replace the CA by a new one, keeping the old one for verification and CRLs.
    #[command(after_help = ROTATE_HELP)]
    Rotate(RotateArgs),
    /// Run the CA online: token bootstrap, mTLS renewal, CRL and OCSP over HTTP(S).
    #[command(after_help = crate::cmd::serve_ca::HELP)]
    Serve(crate::cmd::serve_ca::ServeCaArgs),
}

const INIT_HELP: &str = "FILES:\n  DIR/ca.crt, DIR/ca.key (0600), DIR/ca-chain.crt (this CA, then parents, root last), DIR/store.db,\n  DIR/ca-bundle.crt (root CAs: the CAs to trust; `ca rotate` adds the new one)\n\nEXAMPLES:\n  mtls-ca init\n  mtls-ca init --cn 'Example Root CA' --org Example --key-type ecdsa-p384\n  mtls-ca init --permit-dns example.com --permit-ip 10.0.0.0/8\n  mtls-ca --dir pki/issuing init --parent pki --cn 'Example Issuing CA'\n  mtls-ca init --encrypt-key --passphrase-file /run/secrets/ca-pass\n  mtls-ca init --import-cert old/ca.crt --import-key old/ca.key\n  MTLS_CA_STORE_PASSWORD_FILE=/run/secrets/pg mtls-ca init --store postgres://ca@db.internal/mtls?sslmode=require\n  mtls-ca --dir /etc/mtls-ca init --join /mnt/ca-host-1   (then bring ca.key over a secure channel)\n\nEXIT CODES:\n  0  the CA was created\n  2  usage, input or I/O error (nothing was written)";

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Subject common name of the CA.
    #[arg(long, value_name = "NAME")]
    pub cn: Option<String>,
    /// Subject organisation.
    #[arg(long, value_name = "ORG")]
    pub org: Option<String>,
    /// More subject attributes, RFC 4514 (most specific first): 'OU=Security,O=Acme,C=US'.
    #[arg(long, value_name = "DN", conflicts_with = "org")]
    pub subject: Option<String>,
    /// Key type: ecdsa-p256 (default), ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096.
    #[arg(long, value_name = "T", default_value = "ecdsa-p256")]
    pub key_type: String,
    /// Validity in days (root: 3650; intermediate: 1826, capped by the parent).
    #[arg(long, value_name = "N")]
    pub days: Option<String>,
    /// Allow at most N CAs below this one (intermediate default: 0).
    #[arg(long, value_name = "N")]
    pub pathlen: Option<u8>,
    /// Only names in this domain may be certified (repeatable).
    #[arg(long, value_name = "DOMAIN")]
    pub permit_dns: Vec<String>,
    /// Only addresses in this range may be certified (repeatable).
    #[arg(long, value_name = "CIDR")]
    pub permit_ip: Vec<String>,
    /// Names in this domain may never be certified (repeatable).
    #[arg(long, value_name = "DOMAIN")]
    pub exclude_dns: Vec<String>,
    /// Only these e-mail addresses may be certified: a@example.com, example.com or .example.com (repeatable).
    #[arg(long, value_name = "MAILBOX|DOMAIN")]
    pub permit_email: Vec<String>,
    /// Addresses in this range may never be certified (repeatable).
    #[arg(long, value_name = "CIDR")]
    pub exclude_ip: Vec<String>,
    /// Make an intermediate CA signed by the CA in PARENT_DIR.
    #[arg(long, value_name = "PARENT_DIR")]
    pub parent: Option<PathBuf>,
    /// Replace an existing CA, keeping its files as *.bak.
    #[arg(long)]
    pub force: bool,
    /// Encrypt ca.key (PKCS#8, PBKDF2-SHA256 600k + AES-256-CBC) with a passphrase.
    #[arg(long)]
    pub encrypt_key: bool,
    /// Adopt an existing CA certificate (with --import-key) instead of creating one; without
    /// --import-key, complete a CA started with --csr (its key is DIR/ca.key).
    #[arg(long, value_name = "FILE")]
    pub import_cert: Option<PathBuf>,
    /// Offline-root ceremony: only write DIR/ca.key and DIR/ca.csr for the root to sign.
    #[arg(long, conflicts_with_all = ["import_cert", "parent"])]
    pub csr: bool,
    /// The private key of --import-cert (PKCS#8, SEC1 or PKCS#1; encrypted PKCS#8 too).
    #[arg(long, value_name = "FILE", requires = "import_cert")]
    pub import_key: Option<PathBuf>,
    /// Keep the CA's records in this PostgreSQL database (shared by several hosts) instead of
    /// DIR/store.db; recorded in DIR/store.url without the password.
    #[arg(long, value_name = "URL", value_parser = parse_store_url)]
    pub store: Option<String>,
    /// Set up DIR as another host of the CA in EXISTING_DIR (which uses a PostgreSQL store):
    /// copies its certificates and store URL, nothing secret.
    #[arg(long, value_name = "EXISTING_DIR", conflicts_with_all = ["store", "parent", "import_cert", "cn", "org", "encrypt_key"])]
    pub join: Option<PathBuf>,
    #[command(flatten)]
    pub pass: PassArgs,
}

#[derive(Debug, Subcommand)]
pub enum IssueCommand {
    /// A TLS server certificate (serverAuth); the CN is added to the SANs.
    #[command(after_help = ISSUE_SERVER_HELP)]
    Server(IssueArgs),
    /// A TLS client certificate (clientAuth).
    #[command(after_help = ISSUE_CLIENT_HELP)]
    Client(IssueArgs),
    /// A dual-use certificate (serverAuth + clientAuth), e.g. a service in a mesh; the CN is added to the SANs.
    #[command(after_help = ISSUE_SERVER_CLIENT_HELP)]
    ServerClient(IssueArgs),
}

const ISSUE_SERVER_HELP: &str = "FILES:\n  STEM.crt, STEM.key (0600, PKCS#8), STEM.fullchain.crt (leaf + intermediates: serve this one)\n\nSAN TYPES:\n  10.0.0.1, ::1 -> IP   name@example.com -> email   spiffe://td/path -> URI   otherwise DNS\n\nEXAMPLES:\n  mtls-ca issue server --cn api.example.com\n  mtls-ca issue server --cn localhost --san 127.0.0.1 --san ::1 --out certs/server\n  mtls-ca issue server --cn '*.internal.example.com' --days 90\n\nEXIT CODES:\n  0  issued\n  2  usage, input or I/O error (nothing was written)";
const ISSUE_SERVER_CLIENT_HELP: &str = "FILES:\n  STEM.crt, STEM.key (0600, PKCS#8), STEM.fullchain.crt (leaf + intermediates)\n\nEXAMPLES:\n  mtls-ca issue server-client --cn payments.mesh.example.com\n  mtls-ca issue server-client --cn orders.internal --san spiffe://example.org/ns/prod/sa/orders\n\nEXIT CODES:\n  0  issued\n  2  usage, input or I/O error (nothing was written)";
const ISSUE_CLIENT_HELP: &str = "FILES:\n  STEM.crt, STEM.key (0600, PKCS#8), STEM.fullchain.crt (leaf + intermediates), STEM.p12 (0600) with --p12\n\nEXAMPLES:\n  mtls-ca issue client --cn alice --p12 --p12-passphrase-env P12_PASS\n  mtls-ca issue client --cn billing-service\n  mtls-ca issue client --cn alice --san alice@example.com --out clients/alice\n  mtls-ca issue client --cn payments --san spiffe://example.org/ns/prod/sa/payments\n\nEXIT CODES:\n  0  issued\n  2  usage, input or I/O error (nothing was written)";

#[derive(Debug, Args)]
pub struct IssueArgs {
    /// Subject common name (for servers: the host name, also added as a SAN).
    #[arg(long, value_name = "NAME", required_unless_present = "batch")]
    pub cn: Option<String>,
    /// Issue one certificate per line of FILE (CSV cn,sans,out or JSON lines; - for stdin).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["cn", "san", "out", "p12"])]
    pub batch: Option<PathBuf>,
    /// With --batch: put the files under DIR (relative out columns are joined to it).
    #[arg(long, value_name = "DIR", requires = "batch")]
    pub out_dir: Option<PathBuf>,
    /// With --batch: lines per chunk (one store transaction and all-or-nothing files each).
    #[arg(long, value_name = "N", requires = "batch", default_value_t = 1000)]
    pub chunk: usize,
    /// With --batch: signing threads (default: one per core).
    #[arg(long, value_name = "N", requires = "batch", default_value_t = 0)]
    pub threads: usize,
    /// Subject alternative name: DNS name, IP, email or URI (repeatable).
    #[arg(long, value_name = "VALUE")]
    pub san: Vec<String>,
    /// Subject attributes besides the CN, RFC 4514 (most specific first): 'OU=Payments,O=Acme,C=US'.
    #[arg(long, value_name = "DN", conflicts_with = "batch")]
    pub subject: Option<String>,
    /// Validity in days (default 365, capped by the CA's own expiry).
    #[arg(long, value_name = "N")]
    pub days: Option<String>,
    /// Key type: ecdsa-p256 (default), ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096.
    #[arg(long, value_name = "T", default_value = "ecdsa-p256")]
    pub key_type: String,
    /// Output stem (default: the CN made filename-safe, in the current directory).
    #[arg(long, value_name = "STEM")]
    pub out: Option<PathBuf>,
    /// Replace existing files, keeping them as *.bak.
    #[arg(long)]
    pub force: bool,
    /// Permit server certificates valid for more than 825 days.
    #[arg(long)]
    pub allow_long_validity: bool,
    #[command(flatten)]
    pub pass: PassArgs,
    /// Also write STEM.p12 (PKCS#12: key, certificate, chain), protected by a passphrase.
    #[arg(long)]
    pub p12: bool,
    /// Make the PKCS#12 file with PBE-SHA1-3DES and a SHA-1 MAC (macOS Keychain, old Java).
    #[arg(long, requires = "p12")]
    pub p12_legacy: bool,
    /// Read the PKCS#12 passphrase from the first line of FILE.
    #[arg(long = "p12-passphrase-file", value_name = "FILE", requires = "p12")]
    pub p12_passphrase_file: Option<PathBuf>,
    /// Read the PKCS#12 passphrase from the environment variable VAR.
    #[arg(
        long = "p12-passphrase-env",
        value_name = "VAR",
        requires = "p12",
        conflicts_with = "p12_passphrase_file"
    )]
    pub p12_passphrase_env: Option<String>,
}

const LIST_HELP: &str = "EXAMPLES:\n  mtls-ca list\n  mtls-ca list --status expired\n  mtls-ca list --expiring-within 30d   (CI alarm)\n  mtls-ca list --issuer retired --status valid   (after `ca rotate`: what is left to renew)\n  mtls-ca --json list | jq '.certificates[] | .serial'\n\nEXIT CODES:\n  0  listed\n  1  --expiring-within: some valid certificate expires inside the window\n  2  usage, input or I/O error";

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only certificates with this status: valid, expired, revoked, superseded.
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,
    /// Only valid certificates expiring within DURATION (30d, 12h…); exit 1 when there are any.
    #[arg(long, value_name = "DURATION")]
    pub expiring_within: Option<String>,
    /// Only certificates issued by current, retired, or the CA whose serial or key id starts
    /// with PREFIX.
    #[arg(long, value_name = "ISSUER")]
    pub issuer: Option<String>,
}

const QUICKSTART_HELP: &str = "Makes OUT/pki (the CA), OUT/server.{crt,key,fullchain.crt} for localhost and 127.0.0.1,\nOUT/client.{crt,key,fullchain.crt}, OUT/client.p12 (passphrase in OUT/client.p12.pass) and an nginx\nconfig in OUT/nginx, then prints the commands (openssl or nginx, curl, Python) that try them.\n\nEXAMPLES:\n  mtls-ca quickstart\n  mtls-ca quickstart --out /tmp/mtls --server api.local --client alice\n\nEXIT CODES:\n  0  everything was created\n  2  usage, input or I/O error";

#[derive(Debug, Args)]
pub struct QuickstartArgs {
    /// Where to put everything.
    #[arg(long, value_name = "DIR", default_value = "mtls-quickstart")]
    pub out: PathBuf,
    /// Server host name (also gets 127.0.0.1 and ::1).
    #[arg(long, value_name = "NAME", default_value = "localhost")]
    pub server: String,
    /// Client name.
    #[arg(long, value_name = "NAME", default_value = "client")]
    pub client: String,
    /// Key type for every key.
    #[arg(long, value_name = "T", default_value = "ecdsa-p256")]
    pub key_type: String,
    /// Replace existing files, keeping them as *.bak.
    #[arg(long)]
    pub force: bool,
}

const PROBE_HELP: &str = "Reports TLS version, cipher, the server chain (judged against --ca), whether the server\nasks for a client certificate and which CAs it accepts, whether ours was accepted, and\nsession resumption; then each problem with its fix.\n\nEXAMPLES:\n  mtls-ca probe https://api.example.com --ca pki/ca.crt --cert client.crt --key client.key\n  mtls-ca probe 127.0.0.1:8443 --servername localhost --ca pki/ca.crt\n  mtls-ca --json probe api.example.com:443 --cert c.crt --key c.key | jq .diagnosis\n  mtls-ca probe https://api.example.com --p12 alice.p12 --passphrase-env P12_PASS\n  mtls-ca probe https://api.example.com:8443 --resolve api.example.com:8443:127.0.0.1 --cert c.crt --key c.key\n\nEXIT CODES:\n  0  mutual TLS works end to end\n  1  a problem was found (see the diagnosis)\n  2  the probe could not run (bad arguments, connection refused, timeout)";

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// https://HOST[:PORT][/PATH] or HOST:PORT.
    pub target: String,
    /// CA certificate(s) to judge the server chain with (default: DIR/ca.crt when present).
    #[arg(long, value_name = "FILE")]
    pub ca: Vec<PathBuf>,
    /// Client certificate (a fullchain file sends the intermediates too).
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Client private key.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Client certificate, chain and key from a PKCS#12 file.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["cert", "key"])]
    pub p12: Option<PathBuf>,
    /// Read the PKCS#12 passphrase from the first line of FILE.
    #[arg(long, value_name = "FILE", requires = "p12")]
    pub passphrase_file: Option<PathBuf>,
    /// Read the PKCS#12 passphrase from the environment variable VAR.
    #[arg(
        long,
        value_name = "VAR",
        requires = "p12",
        conflicts_with = "passphrase_file"
    )]
    pub passphrase_env: Option<String>,
    /// SNI and the name the server certificate must match (default: the host).
    #[arg(long, value_name = "NAME")]
    pub servername: Option<String>,
    /// Give up after this many seconds in all.
    #[arg(long, value_name = "S", default_value = "10")]
    pub timeout: f64,
    /// HTTP path to request (default: the URL's path or /).
    #[arg(long, value_name = "PATH")]
    pub http_path: Option<String>,
    /// Do not try a second, resumed connection.
    #[arg(long)]
    pub no_resumption: bool,
    /// Connect to ADDR for HOST:PORT, as curl's --resolve (SNI and Host stay HOST; repeatable).
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    pub resolve: Vec<String>,
    /// CRLs to check our client certificate against when the server refuses it (repeatable).
    #[arg(long, value_name = "FILE")]
    pub crl: Vec<PathBuf>,
}

const SERVE_HELP: &str = "Answers every request with the verified client's subject, SANs, serial and issuer, and\nlogs every failed handshake with its reason on stderr. Ctrl-C stops it.\n\nEXAMPLES:\n  mtls-ca serve --server server --listen 127.0.0.1:8443\n  mtls-ca serve --server certs/api --ca pki/ca.crt --optional\n\nEXIT CODES:\n  0  (never: it serves until stopped; Ctrl-C ends it with the signal status, 130)\n  2  usage, input or I/O error (bad files, address in use)";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
    pub listen: String,
    /// Server certificate stem: STEM.fullchain.crt (or STEM.crt) and STEM.key.
    #[arg(long, value_name = "STEM", default_value = "server")]
    pub server: PathBuf,
    /// CA whose client certificates are accepted (default: DIR/ca-chain.crt or DIR/ca.crt).
    #[arg(long, value_name = "FILE")]
    pub ca: Vec<PathBuf>,
    /// CRL(s) to check client certificates against.
    #[arg(long, value_name = "FILE")]
    pub crl: Vec<PathBuf>,
    /// Request a client certificate but let clients without one in.
    #[arg(long)]
    pub optional: bool,
}

const EXPLAIN_HELP: &str = "Reads nginx error/access logs, HAProxy logs, curl and Python error output, Kong and AWS API\nGateway answers; groups every mTLS failure line by cause, counts it, and says how to fix it.\nLines it does not recognise are counted, never guessed at.\n\nEXAMPLES:\n  mtls-ca explain /var/log/nginx/error.log\n  journalctl -u haproxy | mtls-ca explain -\n  curl ... 2>&1 | mtls-ca explain\n\nEXIT CODES:\n  0  no mTLS failures found\n  1  mTLS failures found (see the findings)\n  2  the input could not be read";

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Log file, or - for standard input (the default).
    #[arg(default_value = "-")]
    pub file: PathBuf,
}

fn parse_store_url(s: &str) -> Result<String, String> {
    if mtls_ca::store::postgres::is_url(s) {
        Ok(s.to_string())
    } else {
        Err(
            "use postgres://USER@HOST:PORT/DATABASE (store.db in the CA directory is the default)"
                .into(),
        )
    }
}
