//! `mtls-ca csr`.

use mtls_ca::csr::{self, CsrOptions};

use crate::cli::CsrArgs;
use crate::output::Output;
use crate::Outcome;

pub fn run(a: &CsrArgs, out: &Output) -> anyhow::Result<Outcome> {
    let opts = CsrOptions {
        cn: a.cn.clone(),
        sans: a.san.clone(),
        key_type: a.key_type.parse()?,
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
