//! `mtls-ca sign`.

use std::path::Path;

use mtls_ca::ca::Ca;
use mtls_ca::csr::{self, SignOptions};
use mtls_ca::profile::Profile;

use crate::cli::SignArgs;
use crate::output::Output;
use crate::Outcome;

pub fn run(dir: &Path, a: &SignArgs, out: &Output) -> anyhow::Result<Outcome> {
    let mut file_profile = None;
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
        other => match mtls_ca::ca::profiles::resolve(dir, other)? {
            mtls_ca::ca::profiles::Resolved::File(f) => {
                let kind = f.kind;
                file_profile = Some(*f);
                kind
            }
            mtls_ca::ca::profiles::Resolved::Builtin(p) => {
                return Err(mtls_ca::Error::InvalidValue {
                    what: "--profile",
                    value: p.as_str().into(),
                    reason: "a root is made with `mtls-ca init`, not from a CSR".into(),
                    hint: "use --profile server, client, server-client, intermediate or a profile of profiles.toml".into(),
                }
                .into())
            }
        },
    };
    let opts = SignOptions {
        csr: a.csr.clone(),
        profile,
        sans: a.san.clone(),
        days: super::days(a.days.as_deref())?,
        stem: a.out.clone(),
        force: a.force,
        allow_long_validity: a.allow_long_validity,
    };
    let mut ca = Ca::open_with(
        dir,
        &mut super::pass::source(&a.pass, super::pass::ca_key(dir)),
    )?;
    let issued = csr::sign_with(&mut ca, &opts, file_profile.as_ref(), super::now())?;
    if out.json {
        out.json_doc(&serde_json::to_value(&issued)?)?;
    }
    super::describe_issued(
        out,
        &format!(
            "{} certificate (from CSR)",
            issued.file_profile.as_deref().unwrap_or(profile.as_str())
        ),
        &issued,
    );
    Ok(Outcome::Ok)
}
