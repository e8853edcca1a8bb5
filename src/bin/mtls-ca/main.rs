//! The `mtls-ca` binary: parse the command line, call the library, print, exit 0/1/2.
#![forbid(unsafe_code)]

/// `eprintln!` that never panics: with stderr a closed pipe, an error still exits 2 (not
/// SIGABRT from a panic in a release build).
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

mod cli;
mod cmd;
mod output;

use std::process::ExitCode;

use clap::Parser;

/// What a command reports back to `main`.
pub enum Outcome {
    /// Everything fine: exit 0.
    Ok,
    /// A check ran and failed: exit 1.
    CheckFailed,
}

/// A failure of the binary itself (not of the library), with a stable code for `--json`.
#[derive(Debug)]
pub struct Failure {
    /// Stable snake_case name, like [`mtls_ca::Error::code`].
    pub code: &'static str,
    /// What failed.
    pub message: String,
    /// What to do.
    pub hint: Option<String>,
    /// The command already printed its one JSON document (with this error in it).
    pub reported: bool,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

impl Failure {
    /// The `{"code", "message", "hint"}` object of the `--json` error document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "code": self.code,
            "message": one_line(&self.message),
            "hint": self.hint.as_deref().map(one_line),
        })
    }
}

fn main() -> ExitCode {
    // Fault injection for the crash tests (debug builds only; see mtls_ca::failpoint).
    #[cfg(debug_assertions)]
    if let Some(spec) = std::env::var_os("MTLS_CA_FAILPOINT") {
        mtls_ca::failpoint::configure(&spec.to_string_lossy());
    }
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return usage_error(&e),
    };
    let out = output::Output::new(cli.global.json, cli.global.quiet, cli.global.no_color);
    match cmd::run(&cli, &out) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::CheckFailed) => ExitCode::from(1),
        Err(e) => report(&e, &out),
    }
}

/// A command line clap refused (exit 2), or `--help`/`--version` (exit 0). With `--json`
/// anywhere on the command line, a refused one also prints the error document on stdout.
fn usage_error(e: &clap::Error) -> ExitCode {
    let json = std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json");
    // A value a `cmd::parse` value parser refused: the library's own error, reported as if the
    // command had found it (same lines, same `--json` code).
    if let Some(lib) = std::error::Error::source(e).and_then(|s| s.downcast_ref::<mtls_ca::Error>())
    {
        let out = output::Output::new(json, false, true);
        return report_failure(
            Failure {
                code: lib.code(),
                message: lib.to_string(),
                hint: lib.hint(),
                reported: false,
            },
            &out,
        );
    }
    let _ = e.print();
    if !e.use_stderr() {
        return ExitCode::SUCCESS;
    }
    if json {
        let text = e.render().to_string();
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let usage = lines
            .iter()
            .find_map(|l| l.strip_prefix("Usage: "))
            .unwrap_or("mtls-ca [OPTIONS] <COMMAND>");
        let message =
            if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                "a subcommand is required".to_string()
            } else {
                // "error: the following required arguments were not provided:" + the arguments.
                let first = lines.first().copied().unwrap_or("invalid command line");
                let mut m = first.trim_start_matches("error: ").to_string();
                if m.ends_with(':') {
                    let rest: Vec<&str> = lines[1..]
                        .iter()
                        .take_while(|l| !l.starts_with("Usage: ") && !l.starts_with("tip: "))
                        .copied()
                        .collect();
                    m = format!("{m} {}", rest.join(", "));
                }
                m
            };
        let tip = lines.iter().find_map(|l| l.strip_prefix("tip: "));
        let f = Failure {
            code: "usage",
            message,
            hint: Some(match tip {
                Some(t) => t.to_string(),
                None => format!("usage: {usage} (more with --help)"),
            }),
            reported: false,
        };
        let out = output::Output::new(true, true, true);
        let _ = out.json_doc(&serde_json::json!({ "error": f.json() }));
    }
    ExitCode::from(2)
}

fn report(e: &anyhow::Error, out: &output::Output) -> ExitCode {
    // A reader that went away (`mtls-ca list | head`) is not an error.
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        if io.kind() == std::io::ErrorKind::BrokenPipe {
            return ExitCode::SUCCESS;
        }
    }
    let code = report_failure(failure_of(e), out);
    if std::env::var_os("MTLS_CA_DEBUG").is_some_and(|v| v != "0") {
        for cause in e.chain().skip(1) {
            say!("  caused by: {cause}");
        }
    }
    code
}

/// Prints `error:` and `hint:` (and the `--json` error document unless the command printed its
/// own), then exits 2.
fn report_failure(failure: Failure, out: &output::Output) -> ExitCode {
    say!("error: {}", one_line(&failure.message));
    if let Some(h) = &failure.hint {
        say!("hint: {}", one_line(h));
    }
    if out.json && !failure.reported {
        let _ = out.json_doc(&serde_json::json!({ "error": failure.json() }));
    }
    ExitCode::from(2)
}

/// The code, message and hint of any error a command returns (typed: the library's variant,
/// the binary's own [`Failure`], or an I/O error of the output).
fn failure_of(e: &anyhow::Error) -> Failure {
    if let Some(lib) = e.downcast_ref::<mtls_ca::Error>() {
        return Failure {
            code: lib.code(),
            message: e.to_string(),
            hint: lib.hint(),
            reported: false,
        };
    }
    if let Some(f) = e.downcast_ref::<Failure>() {
        return Failure {
            code: f.code,
            message: f.message.clone(),
            hint: f.hint.clone(),
            reported: f.reported,
        };
    }
    let code = if e.downcast_ref::<std::io::Error>().is_some() {
        "io"
    } else {
        "internal"
    };
    Failure {
        code,
        message: e.to_string(),
        hint: None,
        reported: false,
    }
}

/// Error text on one line, control characters escaped.
fn one_line(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}
