//! `mtls-ca list`.

use std::path::Path;

use mtls_ca::store::{Status, Store};

use crate::cli::ListArgs;
use crate::output::Output;
use crate::Outcome;

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
    let ca_key = mtls_ca::ca::layout::key_location(dir);
    if out.json {
        let mut doc = serde_json::json!({ "certificates": entries });
        if let Some(k) = &ca_key {
            doc["ca_key"] = serde_json::json!(k);
        }
        out.json_doc(&doc)?;
        return Ok(verdict);
    }
    if let Some(k) = &ca_key {
        out.status(format!("CA key: {k}"));
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
