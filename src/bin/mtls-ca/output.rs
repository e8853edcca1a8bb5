//! How the CLI talks: status lines on stderr (unless `-q`), data on stdout, JSON when asked,
//! colour only on a terminal without NO_COLOR.

use std::io::{IsTerminal, Write};

/// Where and how to print.
pub struct Output {
    pub json: bool,
    pub quiet: bool,
    pub color: bool,
}

impl Output {
    pub fn new(json: bool, quiet: bool, no_color: bool) -> Output {
        let color = !no_color
            && !json
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::io::stderr().is_terminal();
        Output { json, quiet, color }
    }

    /// A status line on stderr.
    pub fn status(&self, line: impl AsRef<str>) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "{}", line.as_ref());
        }
    }

    /// A warning on stderr (shown even with -q).
    pub fn warn(&self, line: impl AsRef<str>) {
        let prefix = paint(self.color, "33", "warning:");
        let _ = writeln!(std::io::stderr(), "{prefix} {}", line.as_ref());
    }

    /// Bold text for headings when colour is on.
    pub fn bold(&self, s: &str) -> String {
        paint(self.color, "1", s)
    }

    /// Whether data on stdout may be coloured: colour is on and stdout is a terminal too.
    pub fn stdout_color(&self) -> bool {
        self.color && std::io::stdout().is_terminal()
    }

    /// Data on stdout (ignored when the reader went away).
    pub fn data(&self, text: impl AsRef<str>) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_ref().as_bytes())?;
        out.flush()
    }

    /// The one JSON document of a `--json` run.
    pub fn json_doc(&self, value: &serde_json::Value) -> std::io::Result<()> {
        let mut s = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".into());
        s.push('\n');
        self.data(s)
    }
}

/// `s` in the ANSI colour/style `code` (SGR, e.g. `31;1`) when `on`: the one place the binary
/// writes escape codes.
pub fn paint(on: bool, code: &str, s: &str) -> String {
    if on {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}
