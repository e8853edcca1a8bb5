//! `mtls-ca ca cross-sign`: the retired root signs the current one, for clients that trust only
//! the old root.

use std::path::{Path, PathBuf};

use clap::Args;
use mtls_ca::ca::cross_sign::{self, CrossSignOptions};
use mtls_ca::ca::Ca;

use crate::output::Output;
use crate::Outcome;

pub const HELP: &str = "After `ca rotate`, the old root's key signs a CA certificate with the new root's subject and\nkey (same SKI, pathLen and name constraints; never outliving either root), recorded in the\nstore as issued by the old root. Servers that add it to their chain (leaf, cross-signed) are\naccepted by clients that trust only the old root; clients that trust the new root ignore it.\n\nFILES:\n  STEM.crt (default DIR/cross-signed-<first 16 hex digits of the old root's serial>.crt)\n\nEXAMPLES:\n  mtls-ca ca rotate && mtls-ca ca cross-sign\n  mtls-ca ca cross-sign --by 3f9a0c12 --out pki/cross --days 365\n  cat api.fullchain.crt pki/cross-signed-*.crt > api.bridge.crt   (serve this during the move)\n\nEXIT CODES:\n  0  cross-signed\n  2  no retired root, usage, input or I/O error (nothing was written)";

#[derive(Debug, Args)]
pub struct CrossSignArgs {
    /// The retired root that signs: a prefix of its serial (default: the only unexpired one).
    #[arg(long, value_name = "SERIAL")]
    pub by: Option<String>,
    /// Validity in days (default: until the first of the two roots expires).
    #[arg(long, value_name = "N", value_parser = super::parse::days)]
    pub days: Option<u32>,
    /// Output stem: STEM.crt.
    #[arg(long, value_name = "STEM")]
    pub out: Option<PathBuf>,
    /// Replace an existing STEM.crt, keeping it as *.bak.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub pass: super::pass::PassArgs,
}

pub fn run(dir: &Path, a: &CrossSignArgs, out: &Output) -> anyhow::Result<Outcome> {
    let opts = CrossSignOptions {
        by: a.by.clone(),
        days: a.days,
        stem: a.out.clone(),
        force: a.force,
    };
    let mut ca = Ca::open_with(
        dir,
        &mut super::pass::source(&a.pass, super::pass::ca_key(dir)),
    )?;
    let r = cross_sign::cross_sign(&mut ca, &opts, super::now())?;
    if out.json {
        out.json_doc(&serde_json::to_value(&r)?)?;
    }
    super::describe_issued(
        out,
        &format!("cross-signed root CA (by {})", r.signed_by),
        &r.certificate,
    );
    out.status(format!(
        "next: append {} to a server's fullchain for clients that trust only {}",
        r.certificate.files.cert.display(),
        r.old_root.display()
    ));
    Ok(Outcome::Ok)
}
