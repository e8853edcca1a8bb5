//! `mtls-ca explain`.

use std::io::{BufRead, BufReader, Read};

use std::path::PathBuf;

use clap::Args;
use mtls_ca::explain;

use crate::output::Output;
use crate::Outcome;

pub const EXPLAIN_HELP: &str = "Reads nginx error/access logs, HAProxy logs, curl and Python error output, Kong and AWS API\nGateway answers; groups every mTLS failure line by cause, counts it, and says how to fix it.\nLines it does not recognise are counted, never guessed at.\n\nEXAMPLES:\n  mtls-ca explain /var/log/nginx/error.log\n  journalctl -u haproxy | mtls-ca explain -\n  curl ... 2>&1 | mtls-ca explain\n\nEXIT CODES:\n  0  no mTLS failures found\n  1  mTLS failures found (see the findings)\n  2  the input could not be read";

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Log file, or - for standard input (the default).
    #[arg(default_value = "-")]
    pub file: PathBuf,
}

/// Lines longer than this are cut (a log line is never this long; binary input might be).
const MAX_LINE: usize = 64 * 1024;

pub fn run(dir: &std::path::Path, a: &ExplainArgs, out: &Output) -> anyhow::Result<Outcome> {
    let path = &a.file;
    let reader: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).map_err(|e| mtls_ca::Error::Io {
            path: path.clone(),
            source: e,
        })?)
    };
    let mut lines = Vec::new();
    let mut r = BufReader::new(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = r
            .by_ref()
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut buf)
            .map_err(|e| mtls_ca::Error::Io {
                path: path.clone(),
                source: e,
            })?;
        if n == 0 {
            break;
        }
        if buf.contains(&0) {
            return Err(mtls_ca::Error::BadFile {
                path: path.clone(),
                reason: "binary data (NUL bytes), not a log".into(),
                hint: "give a text log file (nginx error.log, HAProxy log, curl output), or - for stdin".into(),
            }
            .into());
        }
        lines.push(String::from_utf8_lossy(&buf).trim_end().to_string());
    }
    let ctx = mtls_ca::diagnose::finding::FixContext::new(dir);
    let e = explain::explain_lines_with(lines.iter().map(String::as_str), &ctx);
    if out.json {
        out.json_doc(&serde_json::to_value(&e)?)?;
    } else {
        let mut s = String::new();
        s.push_str(&format!(
            "{} lines read: {} about mTLS failures, {} successful, {} not recognised\n",
            e.lines, e.matched, e.ok, e.unrecognised
        ));
        for f in &e.findings {
            s.push_str(&format!(
                "\n{} x{} [{}] ({}; the {} must act)\n  cause: {}\n  fix:   {}\n{}  e.g. line {}: {}\n",
                out.bold("finding"),
                f.count,
                f.code(),
                f.source,
                f.finding.side.as_str(),
                f.finding.message,
                f.finding.hint,
                f.finding
                    .command
                    .as_ref()
                    .map(|c| format!("  run:   {c}\n"))
                    .unwrap_or_default(),
                f.lines[0],
                f.sample
            ));
        }
        out.data(s)?;
    }
    Ok(if e.findings.is_empty() {
        Outcome::Ok
    } else {
        Outcome::CheckFailed
    })
}
