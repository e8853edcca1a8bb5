//! The command line, as clap definitions: what the user typed, before validation.
//!
//! Each command's `--help` ends with EXAMPLES and EXIT CODES. Validation into library types
//! happens in `cmd/<verb>.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::cmd::{
    completions, crl, cross_sign, csr, doctor, explain, export, init, inspect, issue, list, man,
    probe, profile, quickstart, renew, revoke, rotate, serve, sign, store, verify,
};

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
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    /// Create a CA (root, or intermediate with --parent) in --dir.
    #[command(after_help = init::INIT_HELP)]
    Init(init::InitArgs),
    /// CA operations (`ca init` is `init`).
    #[command(subcommand, after_help = CA_HELP)]
    Ca(CaCommand),
    /// Issue a server or client certificate with a new key.
    #[command(after_help = issue::ISSUE_HELP)]
    Issue(issue::IssueTop),
    /// List every certificate this CA issued.
    #[command(after_help = list::LIST_HELP)]
    List(list::ListArgs),
    /// Make a key and a certificate signing request (the key stays on this host).
    #[command(after_help = csr::CSR_HELP)]
    Csr(csr::CsrArgs),
    /// Sign a CSR as a server or client certificate.
    #[command(after_help = sign::SIGN_HELP)]
    Sign(sign::SignArgs),
    /// List and show certificate profiles (built-in and from DIR/profiles.toml).
    #[command(subcommand, after_help = profile::HELP)]
    Profile(profile::ProfileCommand),
    /// Renew a certificate (or every one expiring soon).
    #[command(after_help = renew::RENEW_HELP)]
    Renew(renew::RenewArgs),
    /// Revoke a certificate.
    #[command(after_help = revoke::REVOKE_HELP)]
    Revoke(revoke::RevokeArgs),
    /// Make (or check) the certificate revocation list.
    #[command(after_help = crl::CRL_HELP)]
    Crl(crl::CrlArgs),
    /// A CA, a server and a client certificate in one command: a working mTLS setup.
    #[command(after_help = quickstart::QUICKSTART_HELP)]
    Quickstart(quickstart::QuickstartArgs),
    /// Diagnose a live TLS endpoint: does mutual TLS work, and if not, why.
    #[command(after_help = probe::PROBE_HELP)]
    Probe(probe::ProbeArgs),
    /// Run a test HTTPS server that demands a client certificate and says who the client is.
    #[command(after_help = serve::SERVE_HELP)]
    Serve(serve::ServeArgs),
    /// Turn gateway logs and client errors into causes and fixes.
    #[command(after_help = explain::EXPLAIN_HELP)]
    Explain(explain::ExplainArgs),
    /// Write a ready-to-run gateway config, client snippet, bundle or PKCS#12 file.
    #[command(after_help = export::HELP)]
    Export(export::ExportArgs),
    /// Describe certificates, chains, CSRs, CRLs, keys, PKCS#12 files or a live server's chain.
    #[command(after_help = inspect::HELP)]
    Inspect(inspect::InspectArgs),
    /// Check a certificate the way a rustls peer would, and say how to fix what fails.
    #[command(after_help = verify::HELP)]
    Verify(verify::VerifyArgs),
    /// Store operations: move the records between SQLite and PostgreSQL.
    #[command(subcommand, after_help = store::HELP)]
    Store(store::StoreCommand),
    /// Check a CA directory (interrupted changes, temp files, permissions, store, files, CRLs).
    #[command(after_help = doctor::HELP)]
    Doctor(doctor::DoctorArgs),
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell.
    #[command(after_help = completions::HELP)]
    Completions(completions::CompletionsArgs),
    /// Write the man pages: mtls-ca.1 and one page per command.
    #[command(after_help = man::HELP)]
    Man(man::ManArgs),
    /// One-time bootstrap tokens for `ca serve` (create, list, revoke).
    #[command(subcommand, after_help = crate::cmd::token::HELP)]
    Token(crate::cmd::token::TokenCommand),
    /// Keep a certificate fresh from `ca serve`: bootstrap with a token, renew over mutual TLS.
    #[command(after_help = crate::cmd::agent::HELP)]
    Agent(crate::cmd::agent::AgentArgs),
}

const CA_HELP: &str = "EXAMPLES:\n  mtls-ca ca init --cn 'Example Root CA'\n  mtls-ca --dir pki/issuing ca init --parent pki\n\nEXIT CODES:\n  0  success\n  2  usage, input or I/O error (nothing was written)";

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum CaCommand {
    /// Create a CA (same as `mtls-ca init`).
    #[command(after_help = init::INIT_HELP)]
    Init(init::InitArgs),
    /// Replace the CA by a new one, keeping the old one for verification and CRLs.
    #[command(after_help = rotate::ROTATE_HELP)]
    Rotate(rotate::RotateArgs),
    /// Sign the current root with the retired one, for clients that trust only the old root.
    #[command(after_help = cross_sign::HELP)]
    CrossSign(cross_sign::CrossSignArgs),
    /// Run the CA online: token bootstrap, mTLS renewal, CRL and OCSP over HTTP(S).
    #[command(after_help = crate::cmd::serve_ca::HELP)]
    Serve(crate::cmd::serve_ca::ServeCaArgs),
}
