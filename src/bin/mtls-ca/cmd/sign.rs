//! `mtls-ca sign`.

use std::path::{Path, PathBuf};

use clap::Args;
use mtls_ca::ca::Ca;
use mtls_ca::csr::{self, SignOptions};
use mtls_ca::profile::Profile;

use crate::output::Output;
use crate::Outcome;

pub const SIGN_HELP: &str = "Verifies the CSR's signature and takes only its public key, subject CN and SANs;\nthe profile decides every extension (a CSR asking for CA:TRUE gets a leaf).\n\nFILES:\n  STEM.crt, STEM.fullchain.crt (default STEM: the CSR path without .csr)\n\nEXAMPLES:\n  mtls-ca sign api.csr --profile server\n  mtls-ca sign api.csr --profile server --san api.example.com --days 90\n  mtls-ca sign alice.csr --profile client --out clients/alice\n\nEXIT CODES:\n  0  signed\n  2  bad CSR, usage, input or I/O error (nothing was written)";

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The CSR file (PEM or DER).
    #[arg(value_name = "CSR")]
    pub csr: PathBuf,
    /// server, client, server-client, intermediate (the CSR of a new CA, see `init`), or a
    /// profile of DIR/profiles.toml.
    #[arg(long, value_name = "PROFILE")]
    pub profile: String,
    /// With --profile intermediate: allow N CAs below the new one (default 0).
    #[arg(long, value_name = "N")]
    pub pathlen: Option<u8>,
    /// Approved SAN (repeatable): requested SANs not listed are left out.
    #[arg(long, value_name = "VALUE")]
    pub san: Vec<String>,
    /// Validity in days (default 365, capped by the CA's own expiry).
    #[arg(long, value_name = "N", value_parser = super::parse::days)]
    pub days: Option<u32>,
    /// Validity as a duration: 30m, 12h, 90d (instead of --days; short-lived certificates).
    #[arg(long, value_name = "DURATION", value_parser = super::parse::valid, conflicts_with = "days")]
    pub valid: Option<time::Duration>,
    /// Output stem.
    #[arg(long, value_name = "STEM")]
    pub out: Option<PathBuf>,
    /// Replace existing files, keeping them as *.bak.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub signing: super::pass::SigningArgs,
}

pub fn run(dir: &Path, a: &SignArgs, out: &Output) -> anyhow::Result<Outcome> {
    let mut file_profile = None;
    let profile = match a.profile.as_str() {
        "server" => Profile::Server,
        "client" => Profile::Client,
        "server-client" => Profile::ServerClient,
        "intermediate" => {
            let mut ca = Ca::open_with(
                dir,
                &mut super::pass::source(&a.signing.pass, super::pass::ca_key(dir)),
            )?;
            let stem = a.out.clone().unwrap_or_else(|| a.csr.with_extension(""));
            let days = a.days;
            let issued = mtls_ca::ca::ceremony::sign_intermediate(
                &mut ca,
                &a.csr,
                a.pathlen,
                days,
                &stem,
                a.force,
                super::now(),
            )?;
            super::audit(dir, out, "issue", &[(&issued.serial, &issued.subject, None)]);
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
        days: a.days,
        valid: a.valid,
        stem: a.out.clone(),
        force: a.force,
        allow_long_validity: a.signing.allow_long_validity,
    };
    let mut ca = Ca::open_with(
        dir,
        &mut super::pass::source(&a.signing.pass, super::pass::ca_key(dir)),
    )?;
    let issued = csr::sign_with(&mut ca, &opts, file_profile.as_ref(), super::now())?;
    super::audit(
        dir,
        out,
        "issue",
        &[(&issued.serial, &issued.subject, None)],
    );
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
