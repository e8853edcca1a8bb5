//! `mtls-ca man --out DIR`: man pages generated from the same clap definitions as `--help`
//! (clap_mangen): `mtls-ca.1` and one `mtls-ca-<command>.1` per subcommand (nested ones as
//! `mtls-ca-issue-server.1`), with the FILES, EXAMPLES and EXIT CODES sections of each command's
//! help as man sections. Written like every other output: all or nothing, no overwrite without
//! `--force`.

use std::path::PathBuf;

use clap::{Args, CommandFactory};
use mtls_ca::files::FileSet;
use roff::{roman, Roff};

use crate::output::Output;
use crate::Outcome;

pub const HELP: &str = "FILES:\n  DIR/mtls-ca.1, DIR/mtls-ca-<command>.1 for every command and subcommand\n\nEXAMPLES:\n  mtls-ca man --out man && man -l man/mtls-ca-issue.1\n  sudo mtls-ca man --out /usr/local/share/man/man1 --force\n\nEXIT CODES:\n  0  the pages were written\n  2  usage or I/O error, or a page exists without --force (nothing was written)";

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write the pages into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace existing pages (the previous ones are kept as NAME.bak).
    #[arg(long)]
    pub force: bool,
}

pub fn run(a: &ManArgs, out: &Output) -> anyhow::Result<Outcome> {
    let mut set = FileSet::new();
    for (name, page) in pages()? {
        set.public(a.out.join(name), page);
    }
    let written = set.commit(a.force)?;
    if out.json {
        out.json_doc(&serde_json::json!({ "written": written }))?;
    } else {
        out.status(format!(
            "{} {} man pages in {}",
            out.bold("wrote"),
            written.len(),
            a.out.display()
        ));
        for w in &written {
            out.status(format!("  {}", super::written_line(w)));
        }
        out.status(format!(
            "  read one with: man -l {}",
            a.out.join("mtls-ca.1").display()
        ));
    }
    Ok(Outcome::Ok)
}

/// Every page as (file name, roff text): the top-level page first, then every visible
/// subcommand, depth first.
pub fn pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = crate::cli::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    collect(&cmd, &mut pages)?;
    Ok(pages)
}

fn collect(cmd: &clap::Command, pages: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
    pages.push(page(cmd)?);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect(sub, pages)?;
    }
    Ok(())
}

/// One page: clap_mangen's sections, then the command's after-help split into its own
/// sections (`EXAMPLES:` becomes `.SH EXAMPLES`, its lines kept as written).
fn page(cmd: &clap::Command) -> std::io::Result<(String, Vec<u8>)> {
    let man = clap_mangen::Man::new(cmd.clone())
        .manual("mtls-ca manual")
        .source(format!("mtls-ca {}", env!("CARGO_PKG_VERSION")));
    let mut buf = Vec::new();
    man.render_title(&mut buf)?;
    man.render_name_section(&mut buf)?;
    man.render_synopsis_section(&mut buf)?;
    man.render_description_section(&mut buf)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut buf)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut buf)?;
    }
    if let Some(extra) = cmd.get_after_long_help().or(cmd.get_after_help()) {
        buf.extend(
            after_help_sections(&extra.to_string())
                .render()
                .into_bytes(),
        );
    }
    let mut see_also = Roff::new();
    see_also.control("SH", ["SEE ALSO"]);
    let parent = man_name(cmd)
        .rsplit_once('-')
        .map(|(p, _)| p.to_string())
        .filter(|p| p.starts_with("mtls-ca"));
    let mut refs: Vec<String> = parent.into_iter().collect();
    refs.extend(
        cmd.get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(man_name),
    );
    if refs.is_empty() {
        refs.push("mtls-ca".into());
    }
    let refs: Vec<String> = refs.iter().map(|r| format!("{r}(1)")).collect();
    see_also.text([roman(refs.join(", "))]);
    buf.extend(see_also.render().into_bytes());
    Ok((format!("{}.1", man_name(cmd)), buf))
}

/// `mtls-ca`, `mtls-ca-issue`, `mtls-ca-issue-server`: the page name (clap's display name of a
/// built subcommand).
fn man_name(cmd: &clap::Command) -> String {
    cmd.get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_string()
}

/// `HEADING:` lines of a help text start a section; the lines under one are kept as written
/// (no filling), their two-space indent dropped.
fn after_help_sections(text: &str) -> Roff {
    let mut roff = Roff::new();
    let mut open = false;
    for line in text.lines() {
        let heading = line
            .strip_suffix(':')
            .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_uppercase() || c == ' '));
        if let Some(h) = heading {
            if open {
                roff.control("fi", []);
            }
            roff.control("SH", [h]);
            roff.control("nf", []);
            open = true;
        } else if open {
            roff.text([roman(line.strip_prefix("  ").unwrap_or(line))]);
        } else if !line.trim().is_empty() {
            // Text before any heading: one filled paragraph per line.
            roff.control("PP", []);
            roff.text([roman(line)]);
        }
    }
    if open {
        roff.control("fi", []);
    }
    roff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_a_page_with_examples_and_exit_codes() {
        let pages = pages().unwrap();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        for want in [
            "mtls-ca.1",
            "mtls-ca-init.1",
            "mtls-ca-issue.1",
            "mtls-ca-issue-server.1",
            "mtls-ca-ca-rotate.1",
            "mtls-ca-man.1",
            "mtls-ca-completions.1",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("-help")), "{names:?}");
        for (name, page) in &pages {
            let text = String::from_utf8_lossy(page);
            for section in ["NAME", "SYNOPSIS", "EXAMPLES", "EXIT CODES", "SEE ALSO"] {
                assert!(
                    text.contains(&format!(".SH \"{section}\""))
                        || text.contains(&format!(".SH {section}\n")),
                    "{name} has no {section} section:\n{text}"
                );
            }
        }
    }

    #[test]
    fn help_sections_become_man_sections() {
        let r = after_help_sections("EXAMPLES:\n  mtls-ca init\n  .hidden\n\nEXIT CODES:\n  0  ok")
            .render();
        // (roff spells a hyphen-minus `\-`, so that man renders it as one.)
        assert!(r.contains(".SH EXAMPLES\n.nf\nmtls\\-ca init\n"), "{r}");
        // A line starting with a dot is escaped, not taken as a roff request.
        assert!(!r.contains("\n.hidden"), "{r}");
        assert!(r.contains(".SH \"EXIT CODES\"\n.nf\n0  ok\n.fi"), "{r}");
        assert_eq!(man_name(&clap::Command::new("x")), "x");
    }
}
