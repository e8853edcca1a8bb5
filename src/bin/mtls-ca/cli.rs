//! The command line, as clap definitions: what the user typed, before validation.
//!
//! Each command's `--help` ends with EXAMPLES and EXIT CODES. Validation into library types
//! happens in `cmd/<verb>.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    #[command(subcommand)]
    Ca(CaCommand),
    /// Issue a server or client certificate with a new key.
    #[command(subcommand)]
    Issue(IssueCommand),
    /// List every certificate this CA issued.
    #[command(after_help = LIST_HELP)]
    List(ListArgs),
    /// The whole seed recipe in one command: CA, server and client certificates.
    #[command(after_help = QUICKSTART_HELP)]
    Quickstart(QuickstartArgs),
    /// Describe certificates, chains, CSRs, CRLs, keys, PKCS#12 files or a live server's chain.
    #[command(after_help = crate::cmd::inspect::HELP)]
    Inspect(crate::cmd::inspect::InspectArgs),
    /// Check a certificate the way a rustls peer would, and say how to fix what fails.
    #[command(after_help = crate::cmd::verify::HELP)]
    Verify(crate::cmd::verify::VerifyArgs),
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create a CA (same as `mtls-ca init`).
    #[command(after_help = INIT_HELP)]
    Init(InitArgs),
}

const INIT_HELP: &str = "FILES:\n  DIR/ca.crt, DIR/ca.key (0600), DIR/ca-chain.crt (this CA, then parents, root last), DIR/store.db\n\nEXAMPLES:\n  mtls-ca init\n  mtls-ca init --cn 'Example Root CA' --org Example --key-type ecdsa-p384\n  mtls-ca init --permit-dns example.com --permit-ip 10.0.0.0/8\n  mtls-ca --dir pki/issuing init --parent pki --cn 'Example Issuing CA'\n\nEXIT CODES:\n  0  the CA was created\n  2  usage, input or I/O error (nothing was written)";

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Subject common name of the CA.
    #[arg(long, value_name = "NAME")]
    pub cn: Option<String>,
    /// Subject organisation.
    #[arg(long, value_name = "ORG")]
    pub org: Option<String>,
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
    /// Make an intermediate CA signed by the CA in PARENT_DIR.
    #[arg(long, value_name = "PARENT_DIR")]
    pub parent: Option<PathBuf>,
    /// Replace an existing CA, keeping its files as *.bak.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum IssueCommand {
    /// A TLS server certificate (serverAuth); the CN is added to the SANs.
    #[command(after_help = ISSUE_SERVER_HELP)]
    Server(IssueArgs),
    /// A TLS client certificate (clientAuth).
    #[command(after_help = ISSUE_CLIENT_HELP)]
    Client(IssueArgs),
}

const ISSUE_SERVER_HELP: &str = "FILES:\n  STEM.crt, STEM.key (0600, PKCS#8), STEM.fullchain.crt (leaf + intermediates: serve this one)\n\nSAN TYPES:\n  10.0.0.1, ::1 -> IP   name@example.com -> email   spiffe://td/path -> URI   otherwise DNS\n\nEXAMPLES:\n  mtls-ca issue server --cn api.example.com\n  mtls-ca issue server --cn localhost --san 127.0.0.1 --san ::1 --out certs/server\n  mtls-ca issue server --cn '*.internal.example.com' --days 90\n\nEXIT CODES:\n  0  issued\n  2  usage, input or I/O error (nothing was written)";
const ISSUE_CLIENT_HELP: &str = "FILES:\n  STEM.crt, STEM.key (0600, PKCS#8), STEM.fullchain.crt (leaf + intermediates)\n\nEXAMPLES:\n  mtls-ca issue client --cn billing-service\n  mtls-ca issue client --cn alice --san alice@example.com --out clients/alice\n  mtls-ca issue client --cn payments --san spiffe://example.org/ns/prod/sa/payments\n\nEXIT CODES:\n  0  issued\n  2  usage, input or I/O error (nothing was written)";

#[derive(Debug, Args)]
pub struct IssueArgs {
    /// Subject common name (for servers: the host name, also added as a SAN).
    #[arg(long, value_name = "NAME")]
    pub cn: String,
    /// Subject alternative name: DNS name, IP, email or URI (repeatable).
    #[arg(long, value_name = "VALUE")]
    pub san: Vec<String>,
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
}

const LIST_HELP: &str = "EXAMPLES:\n  mtls-ca list\n  mtls-ca list --status expired\n  mtls-ca --json list | jq '.certificates[] | .serial'\n\nEXIT CODES:\n  0  listed\n  2  usage, input or I/O error";

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only certificates with this status: valid, expired, revoked, superseded.
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,
}

const QUICKSTART_HELP: &str = "Makes OUT/pki (the CA), OUT/server.{crt,key,fullchain.crt} for localhost and 127.0.0.1,\nand OUT/client.{crt,key,fullchain.crt}, then prints the commands that try them.\n\nEXAMPLES:\n  mtls-ca quickstart\n  mtls-ca quickstart --out /tmp/mtls --server api.local --client alice\n\nEXIT CODES:\n  0  everything was created\n  2  usage, input or I/O error";

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
