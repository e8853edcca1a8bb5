//! `mtls-ca issue server|client`.

use std::path::{Path, PathBuf};

use mtls_ca::ca::{Ca, IssueOptions};
use mtls_ca::profile::Profile;

use crate::cli::{IssueArgs, IssueCommand};
use crate::output::Output;
use crate::Outcome;

pub fn run(dir: &Path, c: &IssueCommand, out: &Output) -> anyhow::Result<Outcome> {
    let (profile, a) = match c {
        IssueCommand::Server(a) => (Profile::Server, a),
        IssueCommand::Client(a) => (Profile::Client, a),
    };
    let opts = options(profile, a)?;
    // --p12: the passphrase is read and STEM.p12 checked free before anything is issued.
    let p12 = if a.p12 {
        let pass = super::export::read_passphrase(
            a.p12_passphrase_file.as_deref(),
            a.p12_passphrase_env.as_deref(),
            true,
        )?;
        let file = mtls_ca::export::with_ext(&opts.stem, "p12");
        if !opts.force && std::fs::symlink_metadata(&file).is_ok() {
            return Err(mtls_ca::Error::FileExists { path: file }.into());
        }
        Some((pass, file))
    } else {
        None
    };
    let mut ca = Ca::open_with(
        dir,
        &mut super::pass::source(&a.pass, super::pass::ca_key(dir)),
    )?;
    let mut issued = ca.issue(&opts, super::now())?;
    if let Some((passphrase, out_file)) = p12 {
        let profile = if a.p12_legacy {
            mtls_ca::pkcs12::P12Profile::Legacy
        } else {
            mtls_ca::pkcs12::P12Profile::Modern
        };
        let plan = mtls_ca::export::p12_plan(&mtls_ca::export::P12Request {
            ca_dir: dir.to_path_buf(),
            stem: opts.stem.clone(),
            out_file,
            passphrase,
            profile,
        })?;
        issued.warnings.extend(plan.warnings.clone());
        issued.written.extend(plan.commit(opts.force)?.files);
    }
    if out.json {
        out.json_doc(&serde_json::to_value(&issued)?)?;
    }
    super::describe_issued(out, &format!("{} certificate", profile.as_str()), &issued);
    Ok(Outcome::Ok)
}

/// Validated issue options from the arguments.
pub fn options(profile: Profile, a: &IssueArgs) -> anyhow::Result<IssueOptions> {
    Ok(IssueOptions {
        profile,
        cn: a.cn.clone(),
        sans: a.san.clone(),
        days: a
            .days
            .as_deref()
            .map(|d| mtls_ca::duration::parse_days("--days", d))
            .transpose()?,
        key_type: a.key_type.parse()?,
        stem: a.out.clone().unwrap_or_else(|| default_stem(&a.cn)),
        force: a.force,
        allow_long_validity: a.allow_long_validity,
    })
}

/// The CN made filename-safe (`*.example.com` → `wildcard.example.com`).
pub fn default_stem(cn: &str) -> PathBuf {
    let s: String = cn
        .replace('*', "wildcard")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.').to_string();
    PathBuf::from(if s.is_empty() { "cert".to_string() } else { s })
}
