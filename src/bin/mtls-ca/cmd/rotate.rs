//! `mtls-ca ca rotate`.

use std::path::Path;

use mtls_ca::ca::Ca;
use mtls_ca::rotate::{self, RotateOptions};

use crate::cli::RotateArgs;
use crate::output::Output;
use crate::Outcome;

pub fn run(dir: &Path, a: &RotateArgs, out: &Output) -> anyhow::Result<Outcome> {
    let opts = RotateOptions {
        days: super::days(a.days.as_deref())?,
        key_type: a.key_type.as_deref().map(str::parse).transpose()?,
    };
    let mut ca = Ca::open_with(
        dir,
        &mut super::pass::source(&a.pass, super::pass::ca_key(dir)),
    )?;
    let r = rotate::rotate(&mut ca, &opts, super::now())?;
    if out.json {
        out.json_doc(&serde_json::to_value(&r)?)?;
    }
    super::describe_issued(out, "root CA (rotation)", &r.new_ca);
    out.status(format!(
        "old CA {} kept as {} and {}",
        r.old_serial,
        r.old_cert.display(),
        r.old_key.display()
    ));
    out.status(format!(
        "next: make gateways trust {} (old and new CAs) until every old certificate is renewed:",
        r.bundle.display()
    ));
    out.status(format!(
        "  `mtls-ca --dir {} list` shows which CA issued each certificate; renew the old CA's with `mtls-ca renew SERIAL`",
        dir.display()
    ));
    Ok(Outcome::Ok)
}
