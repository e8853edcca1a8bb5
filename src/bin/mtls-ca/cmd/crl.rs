//! `mtls-ca crl`.

use std::path::Path;

use mtls_ca::ca::Ca;

use crate::cli::CrlArgs;
use crate::output::Output;
use crate::Outcome;

pub fn run(dir: &Path, a: &CrlArgs, out: &Output) -> anyhow::Result<Outcome> {
    let path = a
        .out
        .clone()
        .unwrap_or_else(|| mtls_ca::ca::layout::crl(dir));
    if a.check {
        let report = mtls_ca::crl::check(dir, &path, super::now())?;
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
            eprintln!("{}: {p}", path.display());
        }
        return Ok(Outcome::CheckFailed);
    }
    let days = super::days(a.days.as_deref())?;
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
