//! `mtls-ca ca rotate`.

use std::path::Path;

use mtls_ca::ca::Ca;
use mtls_ca::rotate::{self, RotateOptions};

use crate::cli::RotateArgs;
use crate::output::Output;
use crate::Outcome;

pub fn run(dir: &Path, a: &RotateArgs, out: &Output) -> anyhow::Result<Outcome> {
    if a.finish {
        return finish(dir, a, out);
    }
    let opts = RotateOptions {
        days: super::days(a.days.as_deref())?,
        key_type: a.key_type.as_deref().map(str::parse).transpose()?,
    };
    let mut ca = Ca::open_with(
        dir,
        &mut super::pass::source(&a.pass, super::pass::ca_key(dir)),
    )?;
    let r = match &a.parent {
        Some(p) => {
            let mut parent =
                Ca::open_with(p, &mut super::pass::source(&a.pass, super::pass::ca_key(p)))?;
            rotate::rotate_intermediate(&mut ca, &mut parent, &opts, super::now())?
        }
        None => rotate::rotate(&mut ca, &opts, super::now())?,
    };
    if out.json {
        out.json_doc(&serde_json::to_value(&r)?)?;
    }
    let what = if a.parent.is_some() {
        "intermediate CA (rotation)"
    } else {
        "root CA (rotation)"
    };
    super::describe_issued(out, what, &r.new_ca);
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
        "  `mtls-ca --dir {d} crl` (one CRL per CA), then `mtls-ca --dir {d} renew --issuer retired`, then `mtls-ca --dir {d} ca rotate --finish`",
        d = dir.display()
    ));
    Ok(Outcome::Ok)
}

fn finish(dir: &Path, a: &RotateArgs, out: &Output) -> anyhow::Result<Outcome> {
    let crl = dir.join(mtls_ca::crl::CRL_FILE);
    let f = mtls_ca::ca::overlap::finish(dir, &crl, a.force, super::now())?;
    if out.json {
        out.json_doc(&serde_json::to_value(&f)?)?;
    }
    for c in &f.finished {
        out.status(format!(
            "{} the overlap of retired CA {} ({})",
            out.bold("ended"),
            c.serial,
            c.subject
        ));
        for m in &c.moved_to {
            out.status(format!("  moved to {}", m.display()));
        }
        if !c.still_valid.is_empty() {
            out.warn(format!(
                "--force: {} certificate(s) of this CA are still valid and are no longer trusted by gateways using {}",
                c.still_valid.len(),
                f.bundle.display()
            ));
        }
    }
    out.status(format!(
        "  {} now holds only the current CA{}",
        f.bundle.display(),
        if f.crls.is_empty() {
            ""
        } else {
            " (and the CRL file only its CRLs)"
        }
    ));
    out.status(format!(
        "next: re-export the gateway configs (`mtls-ca --dir {} export TARGET ... --force`) and reload them",
        dir.display()
    ));
    Ok(Outcome::Ok)
}
