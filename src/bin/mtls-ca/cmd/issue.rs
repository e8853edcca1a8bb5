//! `mtls-ca issue server|client|server-client`, and `mtls-ca issue --profile NAME` with a profile
//! of the CA's `profiles.toml`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use mtls_ca::ca::profiles::{self, FileProfile};
use mtls_ca::ca::{Ca, IssueOptions};
use mtls_ca::keys::KeyType;
use mtls_ca::profile::Profile;

use crate::output::Output;
use crate::Outcome;

pub const ISSUE_HELP: &str = "EXAMPLES:\n  mtls-ca issue server --cn api.example.com --san 10.0.0.5\n  mtls-ca issue client --cn billing-service --san spiffe://example.org/billing\n  mtls-ca issue --profile mesh --cn orders.mesh.example.com   (a profile of DIR/profiles.toml)\n\nEXIT CODES:\n  0  issued\n  2  usage, input or I/O error (nothing was written)";

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

pub const ISSUE_SERVER_HELP: &str = "FILES:\n  STEM.crt, STEM.key (0600, PKCS#8), STEM.fullchain.crt (leaf + intermediates: serve this one)\n\nSAN TYPES:\n  10.0.0.1, ::1 -> IP   name@example.com -> email   spiffe://td/path -> URI   otherwise DNS\n\nEXAMPLES:\n  mtls-ca issue server --cn api.example.com\n  mtls-ca issue server --cn localhost --san 127.0.0.1 --san ::1 --out certs/server\n  mtls-ca issue server --cn '*.internal.example.com' --days 90\n\nEXIT CODES:\n  0  issued\n  2  usage, input or I/O error (nothing was written)";

pub const ISSUE_SERVER_CLIENT_HELP: &str = "FILES:\n  STEM.crt, STEM.key (0600, PKCS#8), STEM.fullchain.crt (leaf + intermediates)\n\nEXAMPLES:\n  mtls-ca issue server-client --cn payments.mesh.example.com\n  mtls-ca issue server-client --cn orders.internal --san spiffe://example.org/ns/prod/sa/orders\n\nEXIT CODES:\n  0  issued\n  2  usage, input or I/O error (nothing was written)";

pub const ISSUE_CLIENT_HELP: &str = "FILES:\n  STEM.crt, STEM.key (0600, PKCS#8), STEM.fullchain.crt (leaf + intermediates), STEM.p12 (0600) with --p12\n\nEXAMPLES:\n  mtls-ca issue client --cn alice --p12 --p12-passphrase-env P12_PASS\n  mtls-ca issue client --cn billing-service\n  mtls-ca issue client --cn alice --san alice@example.com --out clients/alice\n  mtls-ca issue client --cn payments --san spiffe://example.org/ns/prod/sa/payments\n\nEXIT CODES:\n  0  issued\n  2  usage, input or I/O error (nothing was written)";

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
    /// Subject attributes besides the CN, RFC 4514 (most specific first): 'OU=Payments,O=Acme,C=US'
    /// (with --batch: the same for every line).
    #[arg(long, value_name = "DN")]
    pub subject: Option<String>,
    /// Validity in days (default 365, capped by the CA's own expiry).
    #[arg(long, value_name = "N", value_parser = super::parse::days)]
    pub days: Option<u32>,
    /// Validity as a duration: 30m, 12h, 90d (instead of --days; short-lived certificates).
    #[arg(long, value_name = "DURATION", value_parser = super::parse::valid, conflicts_with_all = ["days", "batch"])]
    pub valid: Option<time::Duration>,
    /// Key type: ecdsa-p256 (default), ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096.
    #[arg(long, value_name = "T", default_value = "ecdsa-p256", value_parser = super::parse::key_type)]
    pub key_type: KeyType,
    /// Output stem (default: the CN made filename-safe, in the current directory).
    #[arg(long, value_name = "STEM")]
    pub out: Option<PathBuf>,
    /// Replace existing files, keeping them as *.bak.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub signing: super::pass::SigningArgs,
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

/// `issue KIND …` or `issue --profile NAME …`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct IssueTop {
    #[command(subcommand)]
    pub kind: Option<IssueCommand>,
    /// Issue with this profile of DIR/profiles.toml (see `mtls-ca profile list`).
    #[arg(long, value_name = "NAME", required = true)]
    pub profile: Option<String>,
    #[command(flatten)]
    pub args: IssueArgs,
}

pub fn run(dir: &Path, top: &IssueTop, out: &Output) -> anyhow::Result<Outcome> {
    let (profile, a, file_profile) = match (&top.kind, &top.profile) {
        (Some(IssueCommand::Server(a)), _) => (Profile::Server, a, None),
        (Some(IssueCommand::Client(a)), _) => (Profile::Client, a, None),
        (Some(IssueCommand::ServerClient(a)), _) => (Profile::ServerClient, a, None),
        (None, name) => {
            let name = name.as_deref().unwrap_or_default();
            match profiles::resolve(dir, name)? {
                profiles::Resolved::File(f) => (f.kind, &top.args, Some(*f)),
                profiles::Resolved::Builtin(p) if p.is_leaf() => (p, &top.args, None),
                profiles::Resolved::Builtin(p) => {
                    return Err(mtls_ca::Error::InvalidValue {
                        what: "--profile",
                        value: p.as_str().into(),
                        reason: "issue makes leaves only".into(),
                        hint: "use `mtls-ca init --parent` for an intermediate CA".into(),
                    }
                    .into())
                }
            }
        }
    };
    if let Some(file) = &a.batch {
        return batch(dir, profile, a, file, file_profile, out);
    }
    let opts = options(profile, a)?;
    // --p12: the passphrase is read and STEM.p12 checked free before anything is issued.
    let p12 = if a.p12 {
        let pass = super::export::read_passphrase(
            a.p12_passphrase_file.as_deref(),
            a.p12_passphrase_env.as_deref(),
            true,
        )?;
        let file = mtls_ca::ca::layout::with_ext(&opts.stem, "p12");
        if !opts.force && std::fs::symlink_metadata(&file).is_ok() {
            return Err(mtls_ca::Error::FileExists { path: file }.into());
        }
        Some((pass, file))
    } else {
        None
    };
    let mut ca = Ca::open_with(
        dir,
        &mut super::pass::source(&a.signing.pass, super::pass::ca_key(dir)),
    )?;
    let mut issued = ca.issue_with(&opts, file_profile.as_ref(), super::now())?;
    super::audit(
        dir,
        out,
        "issue",
        &[(&issued.serial, &issued.subject, None)],
    );
    if let Some((passphrase, out_file)) = p12 {
        issued.files.p12 = Some(out_file.clone());
        let profile = if a.p12_legacy {
            mtls_ca::pkcs12::P12Profile::Legacy
        } else {
            mtls_ca::pkcs12::P12Profile::Modern
        };
        let plan = mtls_ca::export::p12_plan(&mtls_ca::export::P12Request {
            ca_dir: dir.to_path_buf(),
            stem: opts.stem.clone(),
            out_file,
            passphrase,
            profile,
        })?;
        issued.warnings.extend(plan.warnings.clone());
        issued.written.extend(plan.commit(opts.force)?.files);
    }
    if out.json {
        out.json_doc(&serde_json::to_value(&issued)?)?;
    }
    let what = match &issued.file_profile {
        Some(n) => format!("{n} certificate"),
        None => format!("{} certificate", profile.as_str()),
    };
    super::describe_issued(out, &what, &issued);
    Ok(Outcome::Ok)
}

/// Validated issue options from the arguments.
pub fn options(profile: Profile, a: &IssueArgs) -> anyhow::Result<IssueOptions> {
    let cn = a.cn.clone().unwrap_or_default();
    Ok(IssueOptions {
        subject: super::subject(a.subject.as_deref())?,
        profile,
        cn: cn.clone(),
        sans: a.san.clone(),
        days: a.days,
        valid: a.valid,
        key_type: a.key_type,
        stem: a.out.clone().unwrap_or_else(|| default_stem(&cn)),
        force: a.force,
        allow_long_validity: a.signing.allow_long_validity,
    })
}

/// The CN made filename-safe (`*.example.com` → `wildcard.example.com`).
pub fn default_stem(cn: &str) -> PathBuf {
    mtls_ca::batch::default_stem(cn)
}

/// `issue client|server --batch FILE`: bulk issuance with a progress line on a terminal.
fn batch(
    dir: &Path,
    profile: Profile,
    a: &IssueArgs,
    file: &Path,
    file_profile: Option<FileProfile>,
    out: &Output,
) -> anyhow::Result<Outcome> {
    use std::io::{IsTerminal, Read, Write};
    let text = if file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .take(mtls_ca::batch::MAX_BATCH_BYTES)
            .read_to_string(&mut s)
            .map_err(|e| mtls_ca::Error::Io {
                path: file.to_path_buf(),
                source: e,
            })?;
        s
    } else {
        let bytes = mtls_ca::files::read_limited(file, mtls_ca::batch::MAX_BATCH_BYTES)?;
        String::from_utf8(bytes).map_err(|_| mtls_ca::Error::BadFile {
            path: file.to_path_buf(),
            reason: "not UTF-8 text".into(),
            hint: "give a CSV or JSON-lines file".into(),
        })?
    };
    let items = mtls_ca::batch::parse(&text, file, a.out_dir.as_deref())?;
    let opts = mtls_ca::batch::BatchOptions {
        profile,
        key_type: a.key_type,
        days: a.days,
        force: a.force,
        chunk: a.chunk,
        threads: a.threads,
        subject: super::subject(a.subject.as_deref())?,
        file_profile,
    };
    let mut ca = Ca::open_with(
        dir,
        &mut super::pass::source(&a.signing.pass, super::pass::ca_key(dir)),
    )?;
    let tty = !out.quiet && !out.json && std::io::stderr().is_terminal();
    let mut progress = |done: usize, total: usize| {
        if tty {
            let _ = write!(std::io::stderr(), "\r  issued {done}/{total}");
        }
    };
    let summary = ca.issue_batch(&items, file, &opts, super::now(), &mut progress);
    if tty {
        say!();
    }
    let summary = summary?;
    let lines: Vec<(&str, String)> = summary
        .certificates
        .iter()
        .map(|c| (c.serial.as_str(), format!("CN={}", c.cn)))
        .collect();
    let lines: Vec<(&str, &str, Option<&str>)> =
        lines.iter().map(|(s, n)| (*s, n.as_str(), None)).collect();
    super::audit(dir, out, "issue", &lines);
    if out.json {
        out.json_doc(&serde_json::to_value(&summary)?)?;
    }
    out.status(format!(
        "{} {} {} certificates in {} chunk(s), valid until {}",
        out.bold("created"),
        summary.issued,
        summary.file_profile.as_deref().unwrap_or(profile.as_str()),
        summary.chunks,
        mtls_ca::ca::fmt_date(summary.not_after)
    ));
    for w in &summary.warnings {
        out.warn(w);
    }
    Ok(Outcome::Ok)
}
