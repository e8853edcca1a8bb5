//! `mtls-ca sign`.

use std::path::Path;

use mtls_ca::ca::Ca;
use mtls_ca::csr::{self, SignOptions};
use mtls_ca::profile::Profile;

use crate::cli::SignArgs;
use crate::output::Output;
use crate::Outcome;

pub fn run(dir: &Path, a: &SignArgs, out: &Output) -> anyhow::Result<Outcome> {
    let profile = match a.profile.as_str() {
        "server" => Profile::Server,
        "client" => Profile::Client,
        "server-client" => Profile::ServerClient,
        "intermediate" => {
            let mut ca = Ca::open_with(
                dir,
                &mut super::pass::source(&a.pass, super::pass::ca_key(dir)),
            )?;
            let stem = a.out.clone().unwrap_or_else(|| a.csr.with_extension(""));
            let days = a
                .days
                .as_deref()
                .map(|d| mtls_ca::duration::parse_days("--days", d))
                .transpose()?;
            let issued = mtls_ca::ca::ceremony::sign_intermediate(
                &mut ca,
                &a.csr,
                a.pathlen,
                days,
                &stem,
                a.force,
                super::now(),
            )?;
            if out.json {
                out.json_doc(&serde_json::to_value(&issued)?)?;
            }
            super::describe_issued(out, "intermediate CA (from CSR)", &issued);
            return Ok(Outcome::Ok);
        }
        other => {
            return Err(mtls_ca::Error::InvalidValue {
                what: "--profile",
                value: other.into(),
                reason: "unknown profile".into(),
                hint: "use --profile server, client or server-client".into(),
            }
            .into())
        }
    };
    let opts = SignOptions {
        csr: a.csr.clone(),
        profile,
        sans: a.san.clone(),
        days: super::days(a.days.as_deref())?,
        valid: None,
        stem: a.out.clone(),
        force: a.force,
        allow_long_validity: a.allow_long_validity,
    };
    let mut ca = Ca::open_with(
        dir,
        &mut super::pass::source(&a.pass, super::pass::ca_key(dir)),
    )?;
    let issued = csr::sign(&mut ca, &opts, super::now())?;
    if out.json {
        out.json_doc(&serde_json::to_value(&issued)?)?;
    }
    super::describe_issued(
        out,
        &format!("{} certificate (from CSR)", profile.as_str()),
        &issued,
    );
    Ok(Outcome::Ok)
}
