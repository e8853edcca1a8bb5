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
        other => {
            return Err(mtls_ca::Error::InvalidValue {
                what: "--profile",
                value: other.into(),
                reason: "unknown profile".into(),
                hint: "use --profile server or --profile client".into(),
            }
            .into())
        }
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
