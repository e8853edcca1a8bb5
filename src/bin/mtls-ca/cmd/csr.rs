//! `mtls-ca csr`.

use std::path::PathBuf;

use clap::Args;
use mtls_ca::csr::{self, CsrOptions};
use mtls_ca::keys::KeyType;

use crate::output::Output;
use crate::Outcome;

pub const CSR_HELP: &str = "FILES:\n  STEM.key (0600, PKCS#8: keep it on this host), STEM.csr (send it to the CA)\n\nEXAMPLES:\n  mtls-ca csr --cn api.example.com --san 10.0.0.5 --out api\n  mtls-ca csr --cn billing --key-type ed25519\n\nEXIT CODES:\n  0  written\n  2  usage, input or I/O error (nothing was written)";

#[derive(Debug, Args)]
pub struct CsrArgs {
    /// Subject common name.
    #[arg(long, value_name = "NAME")]
    pub cn: String,
    /// Subject alternative name to request (repeatable).
    #[arg(long, value_name = "VALUE")]
    pub san: Vec<String>,
    /// Key type: ecdsa-p256 (default), ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096.
    #[arg(long, value_name = "T", default_value = "ecdsa-p256", value_parser = super::parse::key_type)]
    pub key_type: KeyType,
    /// Output stem (default: the CN made filename-safe).
    #[arg(long, value_name = "STEM")]
    pub out: Option<PathBuf>,
    /// Replace existing files, keeping them as *.bak.
    #[arg(long)]
    pub force: bool,
}

pub fn run(a: &CsrArgs, out: &Output) -> anyhow::Result<Outcome> {
    let opts = CsrOptions {
        cn: a.cn.clone(),
        sans: a.san.clone(),
        key_type: a.key_type,
        stem: a
            .out
            .clone()
            .unwrap_or_else(|| super::issue::default_stem(&a.cn)),
        force: a.force,
    };
    let made = csr::make(&opts)?;
    if out.json {
        out.json_doc(&serde_json::to_value(&made)?)?;
    }
    out.status(format!(
        "{} key and CSR for {}",
        out.bold("created"),
        if made.sans.is_empty() {
            made.cn.clone()
        } else {
            made.sans.join(", ")
        }
    ));
    out.status(format!(
        "  key      {} (0600, keep it on this host)",
        made.key.display()
    ));
    out.status(format!("  csr      {}", made.csr.display()));
    out.status(format!(
        "next: mtls-ca sign {} --profile server|client",
        made.csr.display()
    ));
    Ok(Outcome::Ok)
}
