//! `mtls-ca list`.

use std::path::Path;

use mtls_ca::ca::Ca;
use mtls_ca::store::Status;

use crate::cli::ListArgs;
use crate::output::Output;
use crate::Outcome;

pub fn run(dir: &Path, a: &ListArgs, out: &Output) -> anyhow::Result<Outcome> {
    let status = a.status.as_deref().map(Status::parse).transpose()?;
    let mut ca = Ca::open(dir)?;
    let entries = ca.store().list(super::now(), status)?;
    if out.json {
        out.json_doc(&serde_json::json!({ "certificates": entries }))?;
        return Ok(Outcome::Ok);
    }
    let mut text = String::new();
    if entries.is_empty() {
        out.status("no certificates match");
        return Ok(Outcome::Ok);
    }
    text.push_str(&format!(
        "{:<40}  {:<10}  {:<12}  {:<10}  SUBJECT / SANS\n",
        "SERIAL", "STATUS", "PROFILE", "EXPIRES"
    ));
    for e in &entries {
        let status = serde_json::to_value(e.status)?
            .as_str()
            .unwrap_or_default()
            .to_string();
        text.push_str(&format!(
            "{:<40}  {:<10}  {:<12}  {:<10}  {}{}\n",
            e.serial,
            status,
            e.profile,
            mtls_ca::ca::fmt_date(e.not_after),
            e.subject,
            if e.sans.is_empty() {
                String::new()
            } else {
                format!(" [{}]", e.sans.join(", "))
            }
        ));
    }
    out.data(text)?;
    Ok(Outcome::Ok)
}
