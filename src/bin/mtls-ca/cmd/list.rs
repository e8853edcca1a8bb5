//! `mtls-ca list`.

use std::path::Path;

use clap::Args;
use mtls_ca::store::{Status, Store};

use crate::output::Output;
use crate::Outcome;

pub const LIST_HELP: &str = "EXAMPLES:\n  mtls-ca list\n  mtls-ca list --status expired\n  mtls-ca list --expiring-within 30d   (CI alarm)\n  mtls-ca list --issuer retired --status valid   (after `ca rotate`: what is left to renew)\n  mtls-ca --json list | jq '.certificates[] | .serial'\n\nEXIT CODES:\n  0  listed\n  1  --expiring-within: some valid certificate expires inside the window\n  2  usage, input or I/O error";

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

pub fn run(dir: &Path, a: &ListArgs, out: &Output) -> anyhow::Result<Outcome> {
    let status = a.status.as_deref().map(Status::parse).transpose()?;
    let within = a
        .expiring_within
        .as_deref()
        .map(|w| mtls_ca::duration::parse("--expiring-within", w))
        .transpose()?;
    let now = super::now();
    let issuers = a
        .issuer
        .as_deref()
        .map(|i| {
            let sel = mtls_ca::ca::overlap::IssuerSel::parse(i)?;
            mtls_ca::lifecycle::issuer_serials(dir, &sel, now)
        })
        .transpose()?;
    // Listing needs no key (and so no passphrase): only the store.
    let store = Store::open_dir(dir, &mtls_ca::store::connect_options())?;
    let entries = match within {
        Some(w) => mtls_ca::lifecycle::expiring(&store, now, w)?
            .into_iter()
            .filter(|e| status.is_none_or(|s| s == e.status))
            .collect(),
        None => store.list(now, status)?,
    };
    let entries: Vec<_> = match &issuers {
        Some(set) => entries
            .into_iter()
            .filter(|e| e.ca_serial.as_ref().is_some_and(|s| set.contains(s)))
            .collect(),
        None => entries,
    };
    let verdict = if within.is_some() && !entries.is_empty() {
        Outcome::CheckFailed
    } else {
        Outcome::Ok
    };
    let several_cas = entries
        .iter()
        .filter_map(|e| e.ca_serial.as_deref())
        .collect::<std::collections::HashSet<_>>()
        .len()
        > 1
        || !mtls_ca::rotate::retired_cert_paths(dir).is_empty();
    if out.json {
        out.json_doc(&serde_json::json!({ "certificates": entries }))?;
        return Ok(verdict);
    }
    if let (Some(w), true) = (&a.expiring_within, entries.is_empty()) {
        out.status(format!("no valid certificate expires within {w}"));
        return Ok(Outcome::Ok);
    }
    let mut text = String::new();
    if entries.is_empty() {
        out.status("no certificates match");
        return Ok(Outcome::Ok);
    }
    let ca_col = |e: &mtls_ca::store::Entry| -> String {
        if !several_cas {
            return String::new();
        }
        let s: String = e
            .ca_serial
            .as_deref()
            .unwrap_or("-")
            .chars()
            .take(16)
            .collect();
        format!("{s:<16}  ")
    };
    text.push_str(&format!(
        "{:<40}  {:<10}  {:<12}  {:<10}  {}SUBJECT / SANS\n",
        "SERIAL",
        "STATUS",
        "PROFILE",
        "EXPIRES",
        if several_cas {
            format!("{:<16}  ", "ISSUED BY CA")
        } else {
            String::new()
        }
    ));
    for e in &entries {
        let status = serde_json::to_value(e.status)?
            .as_str()
            .unwrap_or_default()
            .to_string();
        text.push_str(&format!(
            "{:<40}  {:<10}  {:<12}  {:<10}  {}{}{}\n",
            e.serial,
            status,
            e.profile,
            mtls_ca::ca::fmt_date(e.not_after),
            ca_col(e),
            e.subject,
            if e.sans.is_empty() {
                String::new()
            } else {
                format!(" [{}]", e.sans.join(", "))
            }
        ));
    }
    out.data(text)?;
    if let (Some(w), Outcome::CheckFailed) = (&a.expiring_within, &verdict) {
        out.status(format!(
            "{} valid certificate(s) expire within {w}: renew them with `mtls-ca renew --expiring-within {w}`",
            entries.len()
        ));
    }
    Ok(verdict)
}
