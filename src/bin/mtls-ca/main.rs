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
mod cli_lifecycle;
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

fn main() -> ExitCode {
    // Fault injection for the crash tests (debug builds only; see mtls_ca::failpoint).
    #[cfg(debug_assertions)]
    if let Some(spec) = std::env::var_os("MTLS_CA_FAILPOINT") {
        mtls_ca::failpoint::configure(&spec.to_string_lossy());
    }
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let out = output::Output::new(cli.global.json, cli.global.quiet, cli.global.no_color);
    match cmd::run(&cli, &out) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::CheckFailed) => ExitCode::from(1),
        Err(e) => report(&e),
    }
}

fn report(e: &anyhow::Error) -> ExitCode {
    // A reader that went away (`mtls-ca list | head`) is not an error.
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        if io.kind() == std::io::ErrorKind::BrokenPipe {
            return ExitCode::SUCCESS;
        }
    }
    say!("error: {}", one_line(&e.to_string()));
    if let Some(lib) = e.downcast_ref::<mtls_ca::Error>() {
        if let Some(h) = lib.hint() {
            say!("hint: {}", one_line(&h));
        }
    }
    if std::env::var_os("MTLS_CA_DEBUG").is_some_and(|v| v != "0") {
        for cause in e.chain().skip(1) {
            say!("  caused by: {cause}");
        }
    }
    ExitCode::from(2)
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
