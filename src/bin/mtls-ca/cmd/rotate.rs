//! `mtls-ca ca rotate`.

use std::path::{Path, PathBuf};

use clap::Args;
use mtls_ca::ca::Ca;
use mtls_ca::keys::KeyType;
use mtls_ca::rotate::{self, RotateOptions};

use crate::output::Output;
use crate::Outcome;

pub const ROTATE_HELP: &str = "A planned CA rollover. The old CA is kept as DIR/ca-<serial prefix>.crt/.key and stays\ntrusted for verification, export and the CRLs of what it issued; DIR/ca-bundle.crt holds the\nnew CA and every unexpired old one: give it to gateways as the trusted client CA during the\noverlap. New certificates come from the new CA; move the old ones with\n`mtls-ca renew --issuer retired`, then end the overlap with `ca rotate --finish`.\nAn intermediate rotates with --parent (the new one is signed by the same parent).\n\nEXAMPLES:\n  mtls-ca ca rotate\n  mtls-ca ca rotate --days 1825 --key-type ecdsa-p384\n  mtls-ca --dir pki/int ca rotate --parent pki\n  mtls-ca renew --issuer retired && mtls-ca ca rotate --finish\n\nEXIT CODES:\n  0  rotated (--finish: the overlap ended)\n  2  usage, input or I/O error; --finish refused while retired CAs have valid leaves";

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// End the overlap: drop the retired CAs from ca-bundle.crt and the CRL set (refused while
    /// they have valid leaves that were not renewed, unless --force).
    #[arg(long, conflicts_with_all = ["days", "key_type", "parent"])]
    pub finish: bool,
    /// With --finish: end the overlap even though retired CAs still have valid leaves.
    #[arg(long, requires = "finish")]
    pub force: bool,
    /// Rotate an intermediate: the directory of the CA that signs the new one (the same parent).
    #[arg(long, value_name = "PARENT_DIR")]
    pub parent: Option<PathBuf>,
    /// Validity of the new CA in days (default 3650).
    #[arg(long, value_name = "N", value_parser = super::parse::days)]
    pub days: Option<u32>,
    /// Key type of the new CA (default: the old CA's).
    #[arg(long, value_name = "T", value_parser = super::parse::key_type)]
    pub key_type: Option<KeyType>,
    #[command(flatten)]
    pub pass: super::pass::PassArgs,
}

pub fn run(dir: &Path, a: &RotateArgs, out: &Output) -> anyhow::Result<Outcome> {
    if a.finish {
        return finish(dir, a, out);
    }
    let opts = RotateOptions {
        days: a.days,
        key_type: a.key_type,
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
        if let Some(crl) = &c.still_signs_crl {
            out.status(format!(
                "  still signs its CRL {} while a root it cross-signed is valid (or a certificate it issued is revoked and unexpired): `mtls-ca --dir {} crl` keeps it fresh",
                crl.display(),
                dir.display()
            ));
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
