//! `mtls-ca crl`.

use std::path::{Path, PathBuf};

use clap::Args;
use mtls_ca::ca::Ca;

use crate::output::Output;
use crate::Outcome;

pub const CRL_HELP: &str = "v2 CRL with a strictly increasing CRL number, AKI and reason codes. After `ca rotate`,\nunexpired retired CAs get their own CRL next to it (crl-<serial prefix>.pem).\n\nEXAMPLES:\n  mtls-ca crl                       (DIR/crl.pem, nextUpdate in 7 days)\n  mtls-ca crl --days 2 --out /etc/nginx/crl.pem\n  mtls-ca crl --check || mtls-ca crl   (cron: refresh when stale)\n\nEXIT CODES:\n  0  written (--check: fresh)\n  1  --check: missing, expired, or expiring within a day\n  2  usage, input or I/O error";

#[derive(Debug, Args)]
pub struct CrlArgs {
    /// nextUpdate in N days (default 7).
    #[arg(long, value_name = "N", value_parser = super::parse::days)]
    pub days: Option<u32>,
    /// Where to write (default DIR/crl.pem).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Only check the CRL's freshness and signature: exit 1 when missing, expired or stale.
    #[arg(long)]
    pub check: bool,
    #[command(flatten)]
    pub pass: super::pass::PassArgs,
}

pub fn run(dir: &Path, a: &CrlArgs, out: &Output) -> anyhow::Result<Outcome> {
    let path = a
        .out
        .clone()
        .unwrap_or_else(|| mtls_ca::ca::layout::crl(dir));
    if a.check {
        let report = mtls_ca::crl::check_set(dir, &path, super::now())?;
        if out.json {
            out.json_doc(&serde_json::to_value(&report)?)?;
        }
        if report.ok {
            out.status(format!(
                "{}: fresh, CRL number {}, next update {}",
                path.display(),
                report
                    .number
                    .map_or_else(|| "?".to_string(), |n| n.to_string()),
                report
                    .next_update
                    .map(mtls_ca::ca::fmt_date)
                    .unwrap_or_default()
            ));
            return Ok(Outcome::Ok);
        }
        for p in &report.problems {
            say!("{}: {p}", path.display());
        }
        return Ok(Outcome::CheckFailed);
    }
    let days = a.days;
    let mut ca = Ca::open_with(
        dir,
        &mut super::pass::source(&a.pass, super::pass::ca_key(dir)),
    )?;
    let made = mtls_ca::crl::generate(&mut ca, days, &path, super::now())?;
    if out.json {
        out.json_doc(&serde_json::json!({ "crls": made }))?;
    }
    for m in &made {
        out.status(format!(
            "{} CRL #{} of {} listing {} revoked certificate(s)",
            out.bold("wrote"),
            m.number,
            m.issuer,
            m.revoked
        ));
        out.status(format!("  file     {}", m.path.display()));
        out.status(format!(
            "  next     {} (refresh before then: `mtls-ca crl --check || mtls-ca crl` from cron)",
            m.next_update
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        ));
    }
    Ok(Outcome::Ok)
}
