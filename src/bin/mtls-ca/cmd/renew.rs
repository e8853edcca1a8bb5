//! `mtls-ca renew`.

use std::path::Path;

use mtls_ca::ca::Ca;
use mtls_ca::lifecycle::{self, RenewOptions, Target};

use crate::cli::RenewArgs;
use crate::output::Output;
use crate::Outcome;

pub fn run(dir: &Path, a: &RenewArgs, out: &Output) -> anyhow::Result<Outcome> {
    let days = super::days(a.days.as_deref())?;
    if let Some(w) = &a.expiring_within {
        let within = mtls_ca::duration::parse("--expiring-within", w)?;
        let mut ca = Ca::open_with(
            dir,
            &mut super::pass::source(&a.pass, super::pass::ca_key(dir)),
        )?;
        let items = lifecycle::renew_expiring(
            &mut ca,
            within,
            a.out_dir.as_deref(),
            a.rekey,
            days,
            super::now(),
        )?;
        let failed = items.iter().filter(|i| i.error.is_some()).count();
        let failure = (failed > 0).then(|| crate::Failure {
            code: "renew_failed",
            message: format!("{failed} of {} renewals failed (see above)", items.len()),
            hint: Some(
                "fix what each failed renewal names, then run the same command again".into(),
            ),
            reported: out.json,
        });
        if out.json {
            let mut doc = serde_json::json!({ "renewed": items });
            if let Some(f) = &failure {
                doc["error"] = f.json();
            }
            out.json_doc(&doc)?;
        }
        if items.is_empty() {
            out.status(format!(
                "nothing to renew: no valid certificate expires within {w}"
            ));
        }
        for i in &items {
            match (&i.renewed, &i.error) {
                (Some(n), _) => {
                    super::describe_issued(out, &format!("successor of {}", i.serial), n)
                }
                (_, Some(e)) => {
                    eprintln!("error: renewing {} ({}): {e}", i.serial, i.subject);
                    if let Some(h) = &i.hint {
                        eprintln!("hint: {h}");
                    }
                }
                _ => {}
            }
        }
        if let Some(f) = failure {
            return Err(f.into());
        }
        return Ok(Outcome::Ok);
    }
    let target = match (&a.serial, &a.cert) {
        (Some(s), None) => Target::Serial(s.clone()),
        (None, Some(c)) => Target::Cert(c.clone()),
        _ => {
            return Err(mtls_ca::Error::InvalidValue {
                what: "renew",
                value: String::new(),
                reason: "say which certificate to renew".into(),
                hint: "give a SERIAL, --cert FILE, or --expiring-within DURATION".into(),
            }
            .into())
        }
    };
    let opts = RenewOptions {
        target,
        rekey: a.rekey,
        days,
        stem: a.out.clone(),
        allow_long_validity: a.allow_long_validity,
    };
    let mut ca = Ca::open_with(
        dir,
        &mut super::pass::source(&a.pass, super::pass::ca_key(dir)),
    )?;
    let issued = lifecycle::renew(&mut ca, &opts, super::now())?;
    if out.json {
        out.json_doc(&serde_json::to_value(&issued)?)?;
    }
    super::describe_issued(out, "renewed certificate", &issued);
    Ok(Outcome::Ok)
}
