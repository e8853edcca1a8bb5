//! `mtls-ca init` / `mtls-ca ca init`.

use std::path::Path;

use mtls_ca::ca::{Ca, InitOptions};
use mtls_ca::profile::Constraints;

use crate::cli::InitArgs;
use crate::output::Output;
use crate::Outcome;

pub fn run(dir: &Path, a: &InitArgs, out: &Output) -> anyhow::Result<Outcome> {
    if let Some(existing) = &a.join {
        let joined = mtls_ca::ca::join::join(dir, existing, a.force)?;
        if out.json {
            out.json_doc(&serde_json::to_value(&joined)?)?;
        }
        out.status(format!(
            "joined the CA {} (store {}) in {}",
            joined.subject,
            joined.store,
            dir.display()
        ));
        for f in &joined.files {
            out.status(format!("  wrote    {}", f.display()));
        }
        if joined.needs_key {
            out.status(format!(
                "next: copy ca.key from {} over a secure channel (mode 0600), then `mtls-ca --dir {} list`",
                existing.display(),
                dir.display()
            ));
        }
        return Ok(Outcome::Ok);
    }
    let constraints = Constraints {
        permit_dns: a
            .permit_dns
            .iter()
            .map(|d| Constraints::parse_domain("--permit-dns", d))
            .collect::<Result<_, _>>()?,
        permit_ip: a
            .permit_ip
            .iter()
            .map(|c| Constraints::parse_cidr(c))
            .collect::<Result<_, _>>()?,
        exclude_dns: a
            .exclude_dns
            .iter()
            .map(|d| Constraints::parse_domain("--exclude-dns", d))
            .collect::<Result<_, _>>()?,
        permit_email: a
            .permit_email
            .iter()
            .map(|e| Constraints::parse_email(e))
            .collect::<Result<_, _>>()?,
        exclude_ip: a
            .exclude_ip
            .iter()
            .map(|c| Constraints::parse_exclude_cidr(c))
            .collect::<Result<_, _>>()?,
    };
    let opts = InitOptions {
        subject: super::subject(a.subject.as_deref())?,
        cn: a.cn.clone(),
        org: a.org.clone(),
        key_type: a.key_type.parse()?,
        days: super::days(a.days.as_deref())?,
        pathlen: a.pathlen,
        constraints,
        parent: a.parent.clone(),
        force: a.force,
    };
    let token_key = a
        .key
        .as_deref()
        .map(mtls_ca::pkcs11::Pkcs11Uri::parse)
        .transpose()?;
    let encrypt = if a.encrypt_key {
        Some(super::pass::get(&a.pass, true, None)?)
    } else {
        None
    };
    if a.csr {
        let made = mtls_ca::ca::ceremony::make_csr(
            dir,
            opts.cn.as_deref().unwrap_or("mtls-ca Intermediate CA"),
            &opts.subject,
            opts.key_type,
            encrypt.as_ref(),
        )?;
        if out.json {
            out.json_doc(&serde_json::to_value(&made)?)?;
        }
        out.status(format!(
            "created CA key {} (0600) and CSR {} for {}",
            made.key.display(),
            made.csr.display(),
            made.subject
        ));
        out.status(format!(
            "next: on the root's host, mtls-ca --dir ROOT sign {} --profile intermediate --out STEM; then here: mtls-ca --dir {} init --import-cert STEM.crt",
            made.csr.display(),
            dir.display()
        ));
        return Ok(Outcome::Ok);
    }
    let (_ca, issued) = match (&a.import_cert, &a.import_key) {
        (Some(cert), None) => mtls_ca::ca::ceremony::complete(
            dir,
            cert,
            &mut super::pass::source(&a.pass, super::pass::ca_key(dir)),
            super::now(),
        )?,
        (Some(cert), Some(key)) => mtls_ca::import::import(
            dir,
            &mtls_ca::import::ImportOptions {
                cert: cert.clone(),
                key: key.clone(),
                force: a.force,
            },
            &mut super::pass::source(&a.pass, key.clone()),
            encrypt.as_ref(),
            super::now(),
        )?,
        _ => Ca::init_with_key(
            dir,
            &opts,
            token_key.as_ref(),
            encrypt.as_ref(),
            &mut super::pass::source(
                &a.pass,
                super::pass::ca_key(a.parent.as_deref().unwrap_or(dir)),
            ),
            super::now(),
        )?,
    };
    if out.json {
        out.json_doc(&serde_json::to_value(&issued)?)?;
    }
    let what = if a.import_cert.is_some() {
        "imported CA"
    } else if a.parent.is_some() {
        "intermediate CA"
    } else {
        "root CA"
    };
    super::describe_issued(out, what, &issued);
    out.status(format!(
        "next: mtls-ca --dir {} issue server --cn HOST",
        dir.display()
    ));
    Ok(Outcome::Ok)
}
