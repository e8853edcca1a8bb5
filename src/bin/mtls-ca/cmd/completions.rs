//! `mtls-ca completions SHELL`: the shell completion script, generated from the same clap
//! definitions as `--help` (clap_complete), printed on stdout.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::output::Output;
use crate::Outcome;

pub const HELP: &str = "INSTALL:\n  bash  mtls-ca completions bash > ~/.local/share/bash-completion/completions/mtls-ca\n  zsh   mtls-ca completions zsh > ~/.zfunc/_mtls-ca   (with fpath+=~/.zfunc before compinit)\n  fish  mtls-ca completions fish > ~/.config/fish/completions/mtls-ca.fish\n  The Debian package installs them system-wide.\n\nEXAMPLES:\n  mtls-ca completions bash > ~/.local/share/bash-completion/completions/mtls-ca\n  source <(mtls-ca completions bash)\n  mtls-ca completions powershell >> $PROFILE\n\nEXIT CODES:\n  0  the script was printed\n  2  usage error (unknown shell)";

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_name = "SHELL")]
    pub shell: Shell,
}

/// Prints the script for `a.shell` (`--json` does not apply: the script is the data).
pub fn run(a: &CompletionsArgs, out: &Output) -> anyhow::Result<Outcome> {
    let mut script = Vec::new();
    clap_complete::generate(
        a.shell,
        &mut crate::cli::Cli::command(),
        "mtls-ca",
        &mut script,
    );
    let mut script = String::from_utf8(script)?;
    if a.shell == Shell::Bash {
        // clap_complete's bash script spells the state of a hyphenated binary two ways
        // (`mtls__ca__subcmd__issue` in its dispatch loop, `mtls__subcmd__ca__subcmd__issue` in
        // the case arms), so nothing past the first word completes: clap-rs/clap#6421. Use the
        // loop's spelling in the arms too (tests/completions_man.rs pins the result).
        script = script.replace("mtls__subcmd__ca", "mtls__ca");
    }
    out.data(script)?;
    Ok(Outcome::Ok)
}
