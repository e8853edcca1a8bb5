//! `mtls-ca revoke`.

use std::path::Path;

use mtls_ca::lifecycle::{self, Reason, Target};
use mtls_ca::store::Store;

use crate::cli::RevokeArgs;
use crate::output::Output;
use crate::Outcome;

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
