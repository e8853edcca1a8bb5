//! `mtls-ca renew`.

use std::path::Path;

use mtls_ca::ca::Ca;
use mtls_ca::lifecycle::{self, RenewOptions, Target};

use crate::cli::RenewArgs;
use crate::output::Output;
use crate::Outcome;

pub fn run(dir: &Path, a: &RenewArgs, out: &Output) -> anyhow::Result<Outcome> {
    let days = super::days(a.days.as_deref())?;
    if a.out_dir.is_some() && a.expiring_within.is_none() && a.issuer.is_none() {
        return Err(mtls_ca::Error::InvalidValue {
            what: "--out-dir",
            value: a
                .out_dir
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            reason: "--out-dir is for renewing several certificates".into(),
            hint: "add --expiring-within DURATION or --issuer ISSUER, or use --out STEM for one"
                .into(),
        }
        .into());
    }
    if a.expiring_within.is_some() || a.issuer.is_some() {
        let within = a
            .expiring_within
            .as_deref()
            .map(|w| mtls_ca::duration::parse("--expiring-within", w))
            .transpose()?;
        let issuer = a
            .issuer
            .as_deref()
            .map(mtls_ca::ca::overlap::IssuerSel::parse)
            .transpose()?;
        if let Some(sel) = &issuer {
            // A bad --issuer is refused before the key is unlocked.
            lifecycle::issuer_serials(dir, sel, super::now())?;
        }
        let w = a.expiring_within.clone().unwrap_or_default();
        let mut ca = Ca::open_with(
            dir,
            &mut super::pass::source(&a.pass, super::pass::ca_key(dir)),
        )?;
        let items = lifecycle::renew_selected(
            &mut ca,
            within,
            issuer.as_ref(),
            a.out_dir.as_deref(),
            a.reuse_key,
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
            let mut what = String::from("nothing to renew: no valid certificate");
            if let Some(i) = &a.issuer {
                what.push_str(&format!(" of issuer {i}"));
            }
            if within.is_some() {
                what.push_str(&format!(" expires within {w}"));
            }
            out.status(what);
        }
        for i in &items {
            match (&i.renewed, &i.error) {
                (Some(n), _) => {
                    super::describe_issued(out, &format!("successor of {}", i.serial), n)
                }
                (_, Some(e)) => {
                    say!("error: renewing {} ({}): {e}", i.serial, i.subject);
                    if let Some(h) = &i.hint {
                        say!("hint: {h}");
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
        reuse_key: a.reuse_key,
        days,
        valid: None,
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
