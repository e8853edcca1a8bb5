//! One module per command: turn parsed arguments into library requests, call, render.

pub mod agent;
pub mod completions;
pub mod crl;
pub mod cross_sign;
pub mod csr;
pub mod doctor;
pub mod explain;
pub mod export;
pub mod init;
pub mod inspect;
pub mod issue;
pub mod list;
pub mod man;
pub mod parse;
pub mod pass;
mod pkcs11_env;
pub mod probe;
pub mod profile;
pub mod quickstart;
pub mod renew;
pub mod revoke;
pub mod rotate;
pub mod serve;
pub mod serve_ca;
pub mod sign;
pub mod store;
mod store_env;
pub mod token;
pub mod verify;

use crate::cli::{CaCommand, Cli, Command};
use crate::output::Output;
use crate::Outcome;

/// Runs the chosen command.
pub fn run(cli: &Cli, out: &Output) -> anyhow::Result<Outcome> {
    let dir = &cli.global.dir;
    let init_url = match &cli.command {
        Command::Init(a) | Command::Ca(CaCommand::Init(a)) => a.store.as_deref(),
        _ => None,
    };
    store_env::set(init_url)?;
    pkcs11_env::set();
    // A change of the CA directory a crash interrupted (init, ca rotate) is completed or undone
    // before any command reads the directory.
    if dir.is_dir()
        && !matches!(
            cli.command,
            Command::Explain(_)
                | Command::Inspect(_)
                | Command::Csr(_)
                | Command::Quickstart(_)
                | Command::Doctor(_)
                | Command::Agent(_)
        )
    {
        if let Some(r) = mtls_ca::ca::recover(dir)? {
            out.warn(match r {
                mtls_ca::ca::journal::Recovered::Completed { op } => {
                    format!("completed an interrupted `{op}` in {}", dir.display())
                }
                mtls_ca::ca::journal::Recovered::Undone => {
                    format!("undid an interrupted change in {}", dir.display())
                }
            });
        }
    }
    match &cli.command {
        Command::Init(a) | Command::Ca(CaCommand::Init(a)) => init::run(dir, a, out),
        Command::Issue(c) => issue::run(dir, c, out),
        Command::List(a) => list::run(dir, a, out),
        Command::Quickstart(a) => quickstart::run(a, out),
        Command::Probe(a) => probe::run(dir, a, out),
        Command::Serve(a) => serve::run(dir, a, out),
        Command::Explain(a) => explain::run(dir, a, out),
        Command::Csr(a) => csr::run(a, out),
        Command::Sign(a) => sign::run(dir, a, out),
        Command::Renew(a) => renew::run(dir, a, out),
        Command::Profile(c) => profile::run(dir, c, out),
        Command::Revoke(a) => revoke::run(dir, a, out),
        Command::Crl(a) => crl::run(dir, a, out),
        Command::Ca(CaCommand::Rotate(a)) => rotate::run(dir, a, out),
        Command::Ca(CaCommand::CrossSign(a)) => cross_sign::run(dir, a, out),
        Command::Export(a) => export::run(dir, a, out),
        Command::Inspect(a) => inspect::run(a, out),
        Command::Verify(a) => verify::run(dir, a, out),
        Command::Store(c) => store::run(dir, c, out),
        Command::Doctor(a) => doctor::run(dir, a, out),
        Command::Completions(a) => completions::run(a, out),
        Command::Man(a) => man::run(a, out),
        Command::Token(c) => token::run(dir, c, out),
        Command::Ca(CaCommand::Serve(a)) => serve_ca::run(dir, a, out),
        Command::Agent(a) => agent::run(a, out),
    }
}

/// The current time: the one place the binary reads the clock.
pub fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// One audit-log line per certificate issued or renewed by a local command (`authorised_by:
/// "cli"`), as the online CA writes for its own (docs/fleet.md). `(serial, subject, renews)`
/// each. The certificates are committed and written by then, so a log that cannot be appended
/// to is a warning, not a failure; the line is not fsynced (see `audit::append_unsynced`).
pub fn audit(
    dir: &std::path::Path,
    out: &Output,
    event: &str,
    certs: &[(&str, &str, Option<&str>)],
) {
    let now = now();
    let evs: Vec<mtls_ca::ca::audit::Event<'_>> = certs
        .iter()
        .map(|(serial, subject, renews)| mtls_ca::ca::audit::Event {
            time: now,
            event,
            serial: Some(serial),
            renews: *renews,
            subject: Some(subject),
            authorised_by: "cli",
            client: None,
        })
        .collect();
    if let Err(e) = mtls_ca::ca::audit::append_unsynced(dir, &evs) {
        out.warn(format!("could not append to the audit log: {e}"));
    }
}

/// Human status lines for a new certificate: what, for which names, until when, where.
pub fn describe_issued(out: &Output, what: &str, i: &mtls_ca::ca::Issued) {
    let names = if i.sans.is_empty() {
        i.subject.clone()
    } else {
        i.sans.join(", ")
    };
    out.status(format!("{} {what} for {names}", out.bold("created")));
    out.status(format!("  subject  {}", i.subject));
    out.status(format!("  serial   {}", i.serial));
    out.status(format!(
        "  valid    {} → {} ({}, {})",
        mtls_ca::ca::fmt_date(i.not_before),
        mtls_ca::ca::fmt_date(i.not_after),
        match i.not_after - i.not_before {
            // Short-lived (--valid 30m): hours and minutes, not "0 days".
            d if d.whole_days() == 0 =>
                format!("{}h{:02}m", d.whole_hours(), d.whole_minutes() % 60),
            d => mtls_ca::inspect::days_text(d.whole_days()),
        },
        i.key_type
    ));
    for (n, w) in i.written.iter().enumerate() {
        let label = if n == 0 { "  wrote   " } else { "          " };
        out.status(format!("{label}{}", written_line(w)));
    }
    for w in &i.warnings {
        out.warn(w);
    }
}

/// One written file for status output: its path, `(0600, keep it secret)` for private files, and
/// where `--force` kept the previous one.
pub fn written_line(w: &mtls_ca::files::Written) -> String {
    let mode = if w.mode == mtls_ca::files::PRIVATE {
        " (0600, keep it secret)"
    } else {
        ""
    };
    let bak = w
        .backup
        .as_ref()
        .map(|b| format!(" (previous kept as {})", b.display()))
        .unwrap_or_default();
    format!("{}{mode}{bak}", w.path.display())
}

/// `--subject 'O=…,OU=…'` parsed (RFC 4514); no flag is an empty subject (the CN alone).
pub fn subject(v: Option<&str>) -> anyhow::Result<mtls_ca::subject::Subject> {
    Ok(v.map(mtls_ca::subject::Subject::parse)
        .transpose()?
        .unwrap_or_default())
}

/// A bad value of the binary's own flags, as the library reports its own (`invalid`, exit 2).
pub fn invalid(
    what: &str,
    value: impl Into<String>,
    reason: impl Into<String>,
    hint: impl Into<String>,
) -> anyhow::Error {
    anyhow::Error::new(crate::Failure {
        code: "invalid_value",
        message: format!("{what} {:?}: {}", value.into(), reason.into()),
        hint: Some(hint.into()),
        reported: false,
    })
}
