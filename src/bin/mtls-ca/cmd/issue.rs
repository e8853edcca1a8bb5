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
        IssueCommand::ServerClient(a) => (Profile::ServerClient, a),
    };
    if let Some(file) = &a.batch {
        return batch(dir, profile, a, file, out);
    }
    let opts = options(profile, a)?;
    // --p12: the passphrase is read and STEM.p12 checked free before anything is issued.
    let p12 = if a.p12 {
        let pass = super::export::read_passphrase(
            a.p12_passphrase_file.as_deref(),
            a.p12_passphrase_env.as_deref(),
            true,
        )?;
        let file = mtls_ca::ca::layout::with_ext(&opts.stem, "p12");
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
        issued.files.p12 = Some(out_file.clone());
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
    let cn = a.cn.clone().unwrap_or_default();
    Ok(IssueOptions {
        subject: super::subject(a.subject.as_deref())?,
        profile,
        cn: cn.clone(),
        sans: a.san.clone(),
        days: super::days(a.days.as_deref())?,
        valid: None,
        key_type: a.key_type.parse()?,
        stem: a.out.clone().unwrap_or_else(|| default_stem(&cn)),
        force: a.force,
        allow_long_validity: a.allow_long_validity,
    })
}

/// The CN made filename-safe (`*.example.com` → `wildcard.example.com`).
pub fn default_stem(cn: &str) -> PathBuf {
    mtls_ca::batch::default_stem(cn)
}

/// `issue client|server --batch FILE`: bulk issuance with a progress line on a terminal.
fn batch(
    dir: &Path,
    profile: Profile,
    a: &IssueArgs,
    file: &Path,
    out: &Output,
) -> anyhow::Result<Outcome> {
    use std::io::{IsTerminal, Read, Write};
    let text = if file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .take(mtls_ca::batch::MAX_BATCH_BYTES)
            .read_to_string(&mut s)
            .map_err(|e| mtls_ca::Error::Io {
                path: file.to_path_buf(),
                source: e,
            })?;
        s
    } else {
        let bytes = mtls_ca::files::read_limited(file, mtls_ca::batch::MAX_BATCH_BYTES)?;
        String::from_utf8(bytes).map_err(|_| mtls_ca::Error::BadFile {
            path: file.to_path_buf(),
            reason: "not UTF-8 text".into(),
            hint: "give a CSV or JSON-lines file".into(),
        })?
    };
    let items = mtls_ca::batch::parse(&text, file, a.out_dir.as_deref())?;
    let opts = mtls_ca::batch::BatchOptions {
        profile,
        key_type: a.key_type.parse()?,
        days: super::days(a.days.as_deref())?,
        force: a.force,
        chunk: a.chunk,
        threads: a.threads,
    };
    let mut ca = Ca::open_with(
        dir,
        &mut super::pass::source(&a.pass, super::pass::ca_key(dir)),
    )?;
    let tty = !out.quiet && !out.json && std::io::stderr().is_terminal();
    let mut progress = |done: usize, total: usize| {
        if tty {
            let _ = write!(std::io::stderr(), "\r  issued {done}/{total}");
        }
    };
    let summary = ca.issue_batch(&items, file, &opts, super::now(), &mut progress);
    if tty {
        say!();
    }
    let summary = summary?;
    if out.json {
        out.json_doc(&serde_json::to_value(&summary)?)?;
    }
    out.status(format!(
        "{} {} {} certificates in {} chunk(s), valid until {}",
        out.bold("created"),
        summary.issued,
        profile.as_str(),
        summary.chunks,
        mtls_ca::ca::fmt_date(summary.not_after)
    ));
    for w in &summary.warnings {
        out.warn(w);
    }
    Ok(Outcome::Ok)
}
