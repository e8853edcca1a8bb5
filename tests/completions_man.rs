//! What users install: shell completions (`mtls-ca completions SHELL`) complete in a real bash,
//! and every man page of `mtls-ca man --out DIR` renders with man-db's `man -l` without groff
//! warnings, with the EXAMPLES and EXIT CODES sections of the command's `--help`.
use crate::common;
use common::*;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

/// What bash's programmable completion offers for the words of `line` (the last word is the one
/// being completed), with the script of `mtls-ca completions bash` sourced in a fresh bash.
fn bash_complete(script: &Path, line: &str) -> Vec<String> {
    let program = format!(
        r#"source {script}
func="$(complete -p mtls-ca | sed -n 's/.*-F \([^ ]*\) .*/\1/p')"
[ -n "$func" ] || {{ echo "no completion function registered for mtls-ca" >&2; exit 3; }}
COMP_LINE='{line}'
COMP_POINT=${{#COMP_LINE}}
read -r -a COMP_WORDS <<< "$COMP_LINE"
[[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
"$func" mtls-ca "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#,
        script = script.display()
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .stdin(Stdio::null())
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "bash completion of {line:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_commands_subcommands_flags_and_values() {
    let t = tempdir();
    let d = t.path();
    let script = mtls(d, &["completions", "bash"]).ok().stdout;
    std::fs::write(d.join("mtls-ca.bash"), &script).unwrap();
    let s = d.join("mtls-ca.bash");
    assert_eq!(bash_complete(&s, "mtls-ca iss"), ["issue"]);
    assert_eq!(
        bash_complete(&s, "mtls-ca issue se"),
        ["server", "server-client"]
    );
    assert_eq!(bash_complete(&s, "mtls-ca ca ro"), ["rotate"]);
    assert_eq!(
        bash_complete(&s, "mtls-ca issue server --key-t"),
        ["--key-type"]
    );
    let shells: BTreeSet<String> = bash_complete(&s, "mtls-ca completions ")
        .into_iter()
        .filter(|w| !w.starts_with('-'))
        .collect();
    assert_eq!(
        shells,
        ["bash", "elvish", "fish", "powershell", "zsh"]
            .map(String::from)
            .into()
    );
    // Every top-level command is offered.
    let all = bash_complete(&s, "mtls-ca ");
    for cmd in [
        "init",
        "issue",
        "list",
        "export",
        "verify",
        "completions",
        "man",
    ] {
        assert!(all.iter().any(|c| c == cmd), "{cmd} not in {all:?}");
    }
}

#[test]
fn every_shell_gets_a_script_and_unknown_shells_are_refused() {
    let t = tempdir();
    let d = t.path();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef mtls-ca"),
        ("fish", "complete -c mtls-ca"),
        ("elvish", "edit:completion:arg-completer[mtls-ca]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let r = mtls(d, &["completions", shell]).ok();
        assert!(r.stdout.contains(marker), "{shell}: no {marker:?}");
        assert!(
            r.stdout.contains("rotate"),
            "{shell} script lacks `ca rotate`"
        );
        assert!(r.stderr.is_empty(), "{shell}: {}", r.stderr);
    }
    let r = mtls(d, &["completions", "tcsh"]).expect_code(2);
    assert!(r.stderr.contains("tcsh"), "{}", r.stderr);
}

#[test]
fn man_pages_render_with_man_db() {
    let t = tempdir();
    let d = t.path();
    let r = mtls(d, &["--json", "man", "--out", "man"]).ok();
    let written = r.json()["written"].as_array().unwrap().len();
    let pages: BTreeSet<String> = std::fs::read_dir(d.join("man"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(pages.len(), written);
    for want in [
        "mtls-ca.1",
        "mtls-ca-init.1",
        "mtls-ca-ca.1",
        "mtls-ca-ca-init.1",
        "mtls-ca-ca-rotate.1",
        "mtls-ca-issue.1",
        "mtls-ca-issue-server.1",
        "mtls-ca-issue-client.1",
        "mtls-ca-list.1",
        "mtls-ca-export.1",
        "mtls-ca-verify.1",
        "mtls-ca-completions.1",
        "mtls-ca-man.1",
    ] {
        assert!(pages.contains(want), "{want} not in {pages:?}");
    }
    // One page per command of `mtls-ca --help`.
    let help = mtls(d, &["--help"]).ok().stdout;
    let commands: Vec<&str> = help
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap()
        .lines()
        // Command lines are indented by two spaces; wrapped descriptions by more.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 15, "{commands:?}");
    for c in &commands {
        assert!(pages.contains(&format!("mtls-ca-{c}.1")), "no page for {c}");
    }
    for page in &pages {
        let out = Command::new("man")
            .args(["--warnings", "-l"])
            .arg(d.join("man").join(page))
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run man ({e}): run scripts/test, which installs man-db")
            });
        let text = String::from_utf8_lossy(&out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "man -l {page}: {err}");
        assert!(err.trim().is_empty(), "man -l {page} warned:\n{err}");
        for section in ["NAME", "SYNOPSIS", "EXAMPLES", "EXIT CODES", "SEE ALSO"] {
            assert!(
                text.lines().any(|l| l.trim_end() == section),
                "{page} has no {section} section:\n{text}"
            );
        }
    }
    // The rendered examples are the help's, hyphens and all.
    let help = mtls(d, &["issue", "server", "--help"]).ok().stdout;
    let examples: Vec<&str> = help
        .split("EXAMPLES:\n")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap()
        .lines()
        .map(str::trim)
        .collect();
    assert!(!examples.is_empty());
    let out = Command::new("man")
        .args(["-l"])
        .arg(d.join("man/mtls-ca-issue-server.1"))
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "200")
        .env("LANG", "C.UTF-8")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for example in examples {
        assert!(text.contains(example), "{example:?} not in:\n{text}");
    }
}

#[test]
fn man_refuses_to_overwrite_without_force() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["man", "--out", "man"]).ok();
    std::fs::write(d.join("man/mtls-ca-list.1"), "mine").unwrap();
    let before = snapshot(d);
    let r = mtls(d, &["man", "--out", "man"]).expect_code(2);
    assert!(
        r.stderr.contains("already exists") && r.stderr.contains("hint:"),
        "{}",
        r.stderr
    );
    assert_eq!(snapshot(d), before, "a refused run changed files");
    mtls(d, &["man", "--out", "man", "--force"]).ok();
    assert_eq!(
        std::fs::read_to_string(d.join("man/mtls-ca-list.1.bak")).unwrap(),
        "mine"
    );
    assert!(std::fs::read_to_string(d.join("man/mtls-ca-list.1"))
        .unwrap()
        .contains(".SH"));
}
