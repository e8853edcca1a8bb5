//! The documentation is the contract: every command's `--help` has EXAMPLES and EXIT CODES,
//! docs/cli.md names exactly the flags each command has, and the README's runnable blocks run.
//!
//! Commands are discovered from `mtls-ca --help` (and each group's `--help`), never from a list
//! kept here, so a new command without docs fails these tests.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
#[cfg(feature = "interop")]
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;

/// Flags every command accepts (declared `global` in clap); docs/cli.md documents them once.
const GLOBAL_FLAGS: &[&str] = &["--dir", "--json", "--quiet", "--no-color", "--help"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn help(path: &[String]) -> String {
    let out = Command::new(common::bin())
        .args(path)
        .arg("--help")
        .env_remove("MTLS_CA_DIR")
        .env("NO_COLOR", "1")
        .output()
        .expect("run mtls-ca --help");
    assert!(
        out.status.success(),
        "`mtls-ca {} --help` exited {:?}: {}",
        path.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

/// The names listed under `Commands:` in a help text (without clap's own `help`).
fn subcommands(help: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut inside = false;
    for line in help.lines() {
        if line.trim_end() == "Commands:" {
            inside = true;
            continue;
        }
        if inside {
            // Entries are indented by exactly two spaces; wrapped descriptions by more.
            if line.is_empty() || !line.starts_with("  ") {
                break;
            }
            if line.starts_with("   ") {
                continue;
            }
            let name = line.split_whitespace().next().unwrap_or_default();
            if name != "help" {
                names.push(name.to_string());
            }
        }
    }
    names
}

/// Every command path (`["issue", "server"]`, ...) with its help text, groups included.
fn all_commands() -> BTreeMap<Vec<String>, String> {
    let mut found = BTreeMap::new();
    let mut todo: Vec<Vec<String>> = subcommands(&help(&[]))
        .into_iter()
        .map(|c| vec![c])
        .collect();
    while let Some(path) = todo.pop() {
        let text = help(&path);
        for sub in subcommands(&text) {
            let mut p = path.clone();
            p.push(sub);
            todo.push(p);
        }
        found.insert(path, text);
    }
    assert!(
        found.len() >= 15,
        "discovered only {found:?} commands: has the help format changed?"
    );
    found
}

fn is_group(help: &str) -> bool {
    help.lines().any(|l| l.trim_end() == "Commands:")
}

/// Every `--long-flag` token in a text.
fn long_flags(text: &str) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + 2 < bytes.len() {
        let starts = bytes[i] == b'-'
            && bytes[i + 1] == b'-'
            && bytes[i + 2].is_ascii_lowercase()
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'-'));
        if starts {
            let mut j = i + 2;
            while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'-') {
                j += 1;
            }
            // `--passphrase-*` speaks of a family of flags, not of one.
            if bytes.get(j) != Some(&b'*') {
                flags.insert(text[i..j].trim_end_matches('-').to_string());
            }
            i = j;
        } else {
            i += 1;
        }
    }
    flags
}

/// The long flags a help text declares in its `Options:` section.
fn declared_flags(help: &str) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    let mut inside = false;
    for line in help.lines() {
        if line.trim_end() == "Options:" {
            inside = true;
            continue;
        }
        if inside {
            if line.is_empty() || !line.starts_with(' ') {
                break;
            }
            let t = line.trim_start();
            let t = t.strip_prefix("-q, ").unwrap_or(t);
            let t = t.strip_prefix("-h, ").unwrap_or(t);
            let t = t.strip_prefix("-V, ").unwrap_or(t);
            if let Some(rest) = t.strip_prefix("--") {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                flags.insert(format!("--{name}"));
            }
        }
    }
    flags
}

fn cli_md() -> String {
    std::fs::read_to_string(repo().join("docs/cli.md")).expect("read docs/cli.md")
}

/// docs/cli.md sections: `## `mtls-ca CMD`[, `mtls-ca CMD2`]` headings, each with the command
/// paths it covers, the flags of its first fenced block (the synopsis) and its whole text.
struct Section {
    commands: Vec<Vec<String>>,
    synopsis_flags: BTreeSet<String>,
    text: String,
}

fn cli_sections(md: &str) -> Vec<Section> {
    let mut sections = Vec::new();
    let mut current: Option<(Vec<Vec<String>>, String)> = None;
    let flush = |cur: Option<(Vec<Vec<String>>, String)>, out: &mut Vec<Section>| {
        if let Some((commands, text)) = cur {
            let synopsis = text
                .split("```")
                .nth(1)
                .unwrap_or_else(|| panic!("docs/cli.md: no synopsis block for {commands:?}"));
            out.push(Section {
                commands,
                synopsis_flags: long_flags(synopsis),
                text,
            });
        }
    };
    for line in md.lines() {
        if line.starts_with("## ") {
            flush(current.take(), &mut sections);
            let commands: Vec<Vec<String>> = line
                .split('`')
                .skip(1)
                .step_by(2)
                .filter_map(|c| c.strip_prefix("mtls-ca "))
                .map(|c| c.split_whitespace().map(str::to_string).collect())
                .collect();
            if !commands.is_empty() {
                current = Some((commands, String::new()));
            }
            continue;
        }
        if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    flush(current, &mut sections);
    sections
}

#[test]
fn every_command_help_has_examples_and_exit_codes() {
    let mut missing = Vec::new();
    let top = help(&[]);
    for (name, text) in std::iter::once((vec![], top)).chain(all_commands()) {
        for heading in ["EXAMPLES:", "EXIT CODES:"] {
            if !text.lines().any(|l| l.trim_end() == heading) {
                missing.push(format!(
                    "`mtls-ca {} --help` lacks {heading}",
                    name.join(" ")
                ));
            }
        }
        // Every EXIT CODES section lists 0 and 2 (usage errors are always possible).
        if let Some(codes) = text.split("EXIT CODES:").nth(1) {
            for code in ["0", "2"] {
                if !codes
                    .lines()
                    .any(|l| l.trim_start().starts_with(&format!("{code} ")))
                {
                    missing.push(format!(
                        "`mtls-ca {} --help` EXIT CODES lacks {code}",
                        name.join(" ")
                    ));
                }
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// Problems with one `mtls-ca …` invocation: flags the command it runs does not have.
fn check_invocation(
    invocation: &str,
    commands: &BTreeMap<Vec<String>, String>,
    top: &BTreeSet<String>,
) -> Vec<String> {
    // Only the mtls-ca invocation itself (up to a pipe, a chain, a comment or inline code's end).
    let mut cmd = invocation;
    for stop in [" | ", " && ", " || ", "`", " #", ";", " (", " 2>", " >"] {
        cmd = cmd.split(stop).next().unwrap_or_default();
    }
    let Some(rest) = cmd.trim().strip_prefix("mtls-ca") else {
        return vec![];
    };
    // Which command does it run? The longest known path its first words start with.
    let words: Vec<String> = rest
        .split_whitespace()
        .filter(|w| !w.starts_with('-'))
        .map(str::to_string)
        .collect();
    let Some(target) = commands
        .keys()
        .filter(|p| contains_path(&words, p))
        .max_by_key(|p| p.len())
    else {
        return vec![];
    };
    let declared = declared_flags(&commands[target]);
    long_flags(cmd)
        .into_iter()
        .filter(|f| !declared.contains(f) && !top.contains(f))
        .map(|f| format!("`{}` has no {f}: {}", target.join(" "), invocation.trim()))
        .collect()
}

#[test]
fn help_examples_use_flags_the_command_has() {
    let commands = all_commands();
    let top = declared_flags(&help(&[]));
    let mut wrong = Vec::new();
    for (path, text) in &commands {
        let Some(examples) = text.split("EXAMPLES:").nth(1) else {
            continue;
        };
        let examples = examples.split("\n\n").next().unwrap_or_default();
        for line in examples.lines() {
            for p in check_invocation(line, &commands, &top) {
                wrong.push(format!("`mtls-ca {} --help` example: {p}", path.join(" ")));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn docs_use_flags_the_commands_have() {
    // Every `mtls-ca CMD … --flag` written in README.md and docs/*.md names a flag CMD has.
    let commands = all_commands();
    let top = declared_flags(&help(&[]));
    let mut files = vec![repo().join("README.md")];
    for entry in std::fs::read_dir(repo().join("docs")).expect("read docs/") {
        let path = entry.expect("docs entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    let mut wrong = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read doc");
        for (n, line) in text.lines().enumerate() {
            for (i, _) in line.match_indices("mtls-ca ") {
                for p in check_invocation(&line[i..], &commands, &top) {
                    wrong.push(format!("{}:{}: {p}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// True when `path` occurs in `words` right after global options' values were skipped, e.g.
/// `mtls-ca --dir pki/issuing init` has words `["pki/issuing", "init"]`.
fn contains_path(words: &[String], path: &[String]) -> bool {
    words.windows(path.len()).take(2).any(|w| w == path)
}

#[test]
fn cli_md_documents_every_command_and_exactly_its_flags() {
    let md = cli_md();
    let sections = cli_sections(&md);
    let commands = all_commands();
    let mut problems = Vec::new();

    // Global options: the top-level help's flags, documented in the global section.
    let top = declared_flags(&help(&[]));
    let global_doc = md
        .split("## Global options")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("docs/cli.md has a `## Global options` section");
    for flag in &top {
        if !long_flags(global_doc).contains(flag) {
            problems.push(format!(
                "global option {flag} is not in docs/cli.md's Global options"
            ));
        }
    }

    let mut documented = BTreeSet::new();
    for section in &sections {
        for path in &section.commands {
            documented.insert(path.clone());
            let Some(text) = commands.get(path) else {
                problems.push(format!(
                    "docs/cli.md documents `mtls-ca {}`, which does not exist",
                    path.join(" ")
                ));
                continue;
            };
            let has: BTreeSet<String> = declared_flags(text)
                .into_iter()
                .filter(|f| !GLOBAL_FLAGS.contains(&f.as_str()))
                .collect();
            let doc: BTreeSet<String> = section
                .synopsis_flags
                .iter()
                .filter(|f| !GLOBAL_FLAGS.contains(&f.as_str()))
                .cloned()
                .collect();
            for f in has.difference(&doc) {
                problems.push(format!(
                    "`mtls-ca {} --help` has {f}; docs/cli.md's synopsis does not",
                    path.join(" ")
                ));
            }
            for f in doc.difference(&has) {
                problems.push(format!(
                    "docs/cli.md's synopsis of `mtls-ca {}` has {f}; its --help does not",
                    path.join(" ")
                ));
            }
        }
    }
    for (path, text) in &commands {
        if !is_group(text) && !documented.contains(path) {
            problems.push(format!(
                "`mtls-ca {}` has no `## `mtls-ca {}`` section in docs/cli.md",
                path.join(" "),
                path.join(" ")
            ));
        }
    }

    // Any flag the page mentions anywhere must exist on some command (catches typos in prose).
    let every: BTreeSet<String> = commands
        .values()
        .flat_map(|t| declared_flags(t))
        .chain(top)
        .collect();
    for section in &sections {
        for f in long_flags(&section.text) {
            if !every.contains(&f) {
                problems.push(format!(
                    "docs/cli.md (section {:?}) mentions {f}, which no command has",
                    section.commands
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A fenced block of the README marked runnable, with the exit code its last command documents.
struct Runnable {
    line: usize,
    script: String,
    exit: i32,
}

/// Blocks preceded by `<!-- runnable -->` (or `<!-- runnable exit=N -->`) on the line before
/// their opening fence (```sh or ```console).
fn runnable_blocks(md: &str) -> Vec<Runnable> {
    let lines: Vec<&str> = md.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let marker = lines[i].trim();
        if let Some(attrs) = marker
            .strip_prefix("<!-- runnable")
            .and_then(|r| r.strip_suffix("-->"))
        {
            let exit = attrs
                .split_whitespace()
                .find_map(|a| a.strip_prefix("exit="))
                .map(|n| n.parse().expect("exit=N"))
                .unwrap_or(0);
            let fence = lines.get(i + 1).map(|l| l.trim()).unwrap_or_default();
            assert!(
                fence == "```sh" || fence == "```console",
                "README.md line {}: a runnable marker must precede a ```sh or ```console block",
                i + 1
            );
            let mut script = String::new();
            let mut j = i + 2;
            while j < lines.len() && lines[j].trim() != "```" {
                // ```console blocks: commands start with `$ `, other lines are output.
                if fence == "```console" {
                    if let Some(cmd) = lines[j].strip_prefix("$ ") {
                        script.push_str(cmd);
                        script.push('\n');
                    }
                } else {
                    script.push_str(lines[j]);
                    script.push('\n');
                }
                j += 1;
            }
            blocks.push(Runnable {
                line: i + 1,
                script,
                exit,
            });
            i = j;
        }
        i += 1;
    }
    blocks
}

/// Needs bash, curl, openssl and pkilint: runs only with `--features interop` (scripts/test).
#[cfg(feature = "interop")]
#[test]
fn readme_runnable_blocks_run() {
    let md = std::fs::read_to_string(repo().join("README.md")).expect("read README.md");
    let blocks = runnable_blocks(&md);
    assert!(
        blocks.len() >= 5,
        "README.md has only {} runnable blocks",
        blocks.len()
    );
    let bin_dir = common::bin().parent().unwrap().to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    // The blocks are one tour: they run in order in one directory, each building on the last.
    let dir = common::tempdir();
    for block in &blocks {
        let out = run_block(dir.path(), &path, &block.script);
        assert_eq!(
            out.status.code(),
            Some(block.exit),
            "README.md block at line {} exited {:?}, documented {} (a missing tool: run scripts/test)\n--- script\n{}--- stdout\n{}\n--- stderr\n{}",
            block.line,
            out.status.code(),
            block.exit,
            block.script,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The tour's certificates and CRLs: the first root was rotated away (pki/ca-<prefix>.crt).
    let d = dir.path();
    let old_root = std::fs::read_dir(d.join("pki"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("ca-")
                && name.ends_with(".crt")
                && name != "ca-chain.crt"
                && name != "ca-bundle.crt"
        })
        .expect("the README's `ca rotate` keeps the old root as pki/ca-<prefix>.crt");
    lint_all(
        d,
        &old_root,
        &d.join("pki/issuing/ca.crt"),
        &[
            "api.crt",
            "alice.crt",
            "bulk/svc1.crt",
            "bulk/svc2.crt",
            "web.crt",
        ],
        &["pki/crl.pem", "pki/issuing/crl.pem"],
    );
    common::pkilint_cert(d, &d.join("pki/ca.crt"));
}

/// Every certificate and CRL a test here made passes pkilint and `openssl verify`: `leaves` were
/// issued by `issuing`, which was issued by the root `root` (or is the root).
#[cfg(feature = "interop")]
fn lint_all(dir: &Path, root: &Path, issuing: &Path, leaves: &[&str], crls: &[&str]) {
    common::pkilint_cert(dir, root);
    if issuing != root {
        common::pkilint_cert(dir, issuing);
        common::pkilint_chain(dir, root, issuing);
    }
    let issuing_s = issuing.to_str().unwrap();
    let root_s = root.to_str().unwrap();
    for leaf in leaves {
        let leaf = dir.join(leaf);
        common::pkilint_cert(dir, &leaf);
        common::pkilint_chain(dir, issuing, &leaf);
        let leaf_s = leaf.to_str().unwrap();
        common::openssl(
            dir,
            &["verify", "-CAfile", root_s, "-untrusted", issuing_s, leaf_s],
        )
        .ok();
    }
    for crl in crls {
        common::pkilint_crl(dir, &dir.join(crl));
    }
}

#[cfg(feature = "interop")]
fn run_block(dir: &Path, path: &std::ffi::OsStr, script: &str) -> std::process::Output {
    // Every line but the last must succeed (`set -e`); the block's exit code is the last one's.
    Command::new("bash")
        .arg("-euo")
        .arg("pipefail")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env_remove("MTLS_CA_DIR")
        .env_remove("MTLS_CA_DEBUG")
        .output()
        .expect("run bash")
}

#[test]
fn runnable_marker_parsing() {
    let md = "x\n<!-- runnable -->\n```sh\na\nb\n```\n<!-- runnable exit=1 -->\n```console\n$ c\nout\n```\n```sh\nnot run\n```\n";
    let blocks = runnable_blocks(md);
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].script, "a\nb\n");
    assert_eq!((blocks[0].line, blocks[1].line), (2, 7));
    assert_eq!((blocks[1].script.as_str(), blocks[1].exit), ("c\n", 1));
}

#[test]
fn flag_parsing() {
    assert_eq!(
        long_flags("mtls-ca x --p12-passphrase-env V [--out STEM]... a--b `--json` --passphrase-*"),
        ["--json", "--out", "--p12-passphrase-env"]
            .map(String::from)
            .into()
    );
}

/// docs/cli.md's "Top-level keys" table: each label (`issue --batch`, …) with its keys.
fn documented_json_keys(md: &str) -> BTreeMap<String, BTreeSet<String>> {
    let table = md
        .split("### Top-level keys")
        .nth(1)
        .expect("docs/cli.md has a `### Top-level keys` table")
        .split("\n### ")
        .next()
        .unwrap_or_default();
    let mut rows = BTreeMap::new();
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').collect();
        let ticked = |cell: &str| -> Vec<String> {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect()
        };
        let keys: BTreeSet<String> = ticked(cells[2]).into_iter().collect();
        for label in ticked(cells[1]) {
            rows.insert(label, keys.clone());
        }
    }
    rows
}

fn keys_of(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not a JSON object: {v}"))
        .keys()
        .cloned()
        .collect()
}

#[test]
fn cli_md_json_keys_are_the_real_ones() {
    let documented = documented_json_keys(&cli_md());
    let dir = common::tempdir();
    let d = dir.path();
    let mut real: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut run = |label: &str, args: &[&str], code: i32| {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        let out = common::mtls(d, &full).expect_code(code);
        real.insert(label.to_string(), keys_of(&out.json()));
    };
    /// The arguments with `--dir pki/issuing` (the intermediate) in front.
    fn with<'a>(rest: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec!["--dir", "pki/issuing"];
        v.extend_from_slice(rest);
        v
    }
    run("init", &["init", "--cn", "Example Root CA"], 0);
    run(
        "ca init",
        &with(&[
            "ca",
            "init",
            "--parent",
            "pki",
            "--cn",
            "Example Issuing CA",
        ]),
        0,
    );
    run(
        "issue server",
        &with(&["issue", "server", "--cn", "api.example.com", "--out", "api"]),
        0,
    );
    run(
        "issue client",
        &with(&["issue", "client", "--cn", "alice", "--out", "alice"]),
        0,
    );
    std::fs::write(d.join("hosts.csv"), "svc1.example.com,10.0.0.1,svc1\n").unwrap();
    run(
        "issue --batch",
        &with(&["issue", "server", "--batch", "hosts.csv"]),
        0,
    );
    run(
        "csr",
        &["csr", "--cn", "web.example.com", "--out", "web"],
        0,
    );
    run(
        "sign",
        &with(&["sign", "web.csr", "--profile", "server"]),
        0,
    );
    run("renew", &with(&["renew", "--cert", "api.crt"]), 0);
    run(
        "renew --expiring-within",
        &with(&["renew", "--expiring-within", "1d"]),
        0,
    );
    run("revoke", &with(&["revoke", "--cert", "svc1.crt"]), 0);
    run("crl", &with(&["crl"]), 0);
    run("crl --check", &with(&["crl", "--check"]), 0);
    run("list", &with(&["list"]), 0);
    run("doctor", &with(&["doctor"]), 0);
    run("inspect", &["inspect", "api.fullchain.crt"], 0);
    run(
        "verify",
        &["verify", "api.fullchain.crt", "--host", "api.example.com"],
        0,
    );
    run(
        "export",
        &with(&["export", "curl", "--client", "alice", "--out", "c"]),
        0,
    );
    std::fs::write(
        d.join("err.log"),
        "curl: (58) could not load PEM client certificate\n",
    )
    .unwrap();
    run("explain", &["explain", "err.log"], 1);
    run(
        "quickstart",
        &["quickstart", "--out", "qs", "--server", "qs.example.com"],
        0,
    );

    // probe needs a server: `mtls-ca serve` on a free port.
    let port = common::free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut serve = Command::new(common::bin())
        .args([
            "--dir",
            "pki/issuing",
            "serve",
            "--server",
            "api",
            "--listen",
            &listen,
        ])
        .current_dir(d)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start mtls-ca serve");
    let up = common::poll_until(std::time::Duration::from_secs(10), || {
        std::net::TcpStream::connect(&listen).is_ok()
    });
    if up {
        run(
            "probe",
            &with(&[
                "probe",
                &listen,
                "--servername",
                "api.example.com",
                "--cert",
                "alice.fullchain.crt",
                "--key",
                "alice.key",
            ]),
            0,
        );
    }
    serve.kill().ok();
    serve.wait().ok();
    assert!(up, "mtls-ca serve did not listen on {listen}");

    // pkilint and openssl: only with `--features interop` (scripts/test installs them).
    #[cfg(feature = "interop")]
    {
        lint_all(
            d,
            &d.join("pki/ca.crt"),
            &d.join("pki/issuing/ca.crt"),
            &["api.crt", "alice.crt", "svc1.crt", "web.crt"],
            &["pki/issuing/crl.pem"],
        );
        lint_all(
            d,
            &d.join("qs/pki/ca.crt"),
            &d.join("qs/pki/ca.crt"),
            &["qs/server.crt", "qs/client.crt"],
            &[],
        );
    }

    run("ca rotate", &["ca", "rotate"], 0);
    // The intermediate rotates under the new root; its leaves move over; the overlap ends.
    run(
        "ca rotate --parent",
        &with(&["ca", "rotate", "--parent", "pki"]),
        0,
    );
    run(
        "renew --issuer",
        &with(&["renew", "--issuer", "retired"]),
        0,
    );
    run(
        "ca rotate --finish",
        &with(&["ca", "rotate", "--finish"]),
        0,
    );
    run("man", &["man", "--out", "man"], 0);

    let mut problems = Vec::new();
    for (label, keys) in &real {
        match documented.get(label) {
            None => problems.push(format!("docs/cli.md's key table has no row for `{label}`")),
            Some(doc) if doc != keys => problems.push(format!(
                "`{label}`: docs/cli.md lists {doc:?}, the output has {keys:?}"
            )),
            Some(_) => {}
        }
    }
    for label in documented.keys() {
        if !real.contains_key(label) {
            problems.push(format!(
                "docs/cli.md's key table row `{label}` is not tested here"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn doc_links_resolve() {
    // Every relative link in README.md and docs/*.md names a file that exists, and its
    // #anchor a heading of that file.
    let mut files = vec![repo().join("README.md"), repo().join("CHANGELOG.md")];
    for entry in std::fs::read_dir(repo().join("docs")).expect("read docs/") {
        let path = entry.expect("docs entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    let mut broken = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read doc");
        for (_, rest) in text.match_indices("](").map(|(i, _)| (i, &text[i + 2..])) {
            let Some(target) = rest.split(')').next() else {
                continue;
            };
            if target.contains("://") || target.starts_with("mailto:") || target.contains(' ') {
                continue;
            }
            let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
            let linked = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            if !linked.exists() {
                broken.push(format!("{}: {target}: no such file", file.display()));
                continue;
            }
            if !anchor.is_empty() {
                let body = std::fs::read_to_string(&linked).unwrap_or_default();
                let found = body
                    .lines()
                    .filter_map(|l| l.strip_prefix('#'))
                    .map(|l| slug(l.trim_start_matches('#')))
                    .any(|s| s == anchor);
                if !found {
                    broken.push(format!("{}: {target}: no such heading", file.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}
