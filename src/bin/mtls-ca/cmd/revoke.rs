//! `mtls-ca revoke`.

use std::path::{Path, PathBuf};

use clap::Args;
use mtls_ca::lifecycle::{self, Reason, Target};
use mtls_ca::store::Store;

use crate::output::Output;
use crate::Outcome;

pub const REVOKE_HELP: &str = "Recorded in the store at once; publish it with `mtls-ca crl`.\n\nREASONS:\n  unspecified (default), key-compromise, ca-compromise, affiliation-changed, superseded,\n  cessation-of-operation, privilege-withdrawn\n\nEXAMPLES:\n  mtls-ca revoke 3f9a0c12 --reason key-compromise && mtls-ca crl\n  mtls-ca revoke --cert old-client.crt\n\nEXIT CODES:\n  0  revoked (or already revoked)\n  2  unknown serial, usage, input or I/O error";

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Serial of the certificate (hex; a unique prefix of 8+ digits is enough).
    #[arg(
        value_name = "SERIAL",
        conflicts_with = "cert",
        required_unless_present = "cert"
    )]
    pub serial: Option<String>,
    /// The certificate file instead of its serial.
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// Revocation reason.
    #[arg(long, value_name = "REASON", default_value = "unspecified")]
    pub reason: String,
}

pub fn run(dir: &Path, a: &RevokeArgs, out: &Output) -> anyhow::Result<Outcome> {
    let reason = Reason::parse(&a.reason)?;
    let target = match (&a.serial, &a.cert) {
        (Some(s), _) => Target::Serial(s.clone()),
        (None, Some(c)) => Target::Cert(c.clone()),
        (None, None) => unreachable!("clap requires one"),
    };
    // Revocation needs no key: only the store.
    let mut store = Store::open_dir(dir, &mtls_ca::store::connect_options())?;
    let now = super::now();
    let r = lifecycle::revoke(&mut store, &target, reason, now)?;
    if !r.already_revoked && dir.is_dir() {
        mtls_ca::ca::audit::append(
            dir,
            &mtls_ca::ca::audit::Event {
                time: now,
                event: "revoke",
                serial: Some(&r.serial),
                renews: None,
                subject: Some(&r.subject),
                authorised_by: "cli",
                client: None,
            },
        )?;
    }
    if out.json {
        out.json_doc(&serde_json::to_value(&r)?)?;
    }
    if r.already_revoked {
        out.status(format!(
            "already revoked: {} ({}) on {} ({}); nothing changed",
            r.serial,
            r.subject,
            mtls_ca::ca::fmt_date(r.revoked_at),
            r.reason
        ));
    } else {
        out.status(format!(
            "{} {} ({}), reason {}",
            out.bold("revoked"),
            r.serial,
            r.subject,
            r.reason
        ));
        out.status(format!(
            "next: publish it with `mtls-ca --dir {} crl`",
            dir.display()
        ));
    }
    Ok(Outcome::Ok)
}
