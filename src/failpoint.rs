//! Fault injection for tests: named points at every write step of the commands that change a CA
//! directory (init, issue, batch, renew, revoke, crl, ca rotate, ca cross-sign, store migrate), so tests can fail, kill or
//! delay the process exactly there and check what a crash leaves behind.
//!
//! Compiled only into debug/test builds (`debug_assertions`); in a release build [`hit`] is an
//! empty inline function and [`configure`] does nothing. The library never reads the environment
//! itself: the binary reads `MTLS_CA_FAILPOINT=NAME[:ACTION]` (debug builds only) and passes it to
//! [`configure`]. ACTION is `error` (the default: the step fails with an I/O error), `exit` (the
//! process exits with status 3 at once, no clean-up), `kill` (SIGKILL to itself) or `sleep-MS`
//! (pauses MS milliseconds, then continues). `NAME@N` fires at the N-th hit only (1-based);
//! several points may be given separated by commas.

use std::path::Path;

use crate::error::Result;

#[cfg(debug_assertions)]
mod imp {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;

    pub(super) struct Point {
        pub name: String,
        pub nth: Option<usize>,
        pub action: String,
        pub hits: AtomicUsize,
    }

    pub(super) static POINTS: OnceLock<Vec<Point>> = OnceLock::new();

    pub(super) fn parse(spec: &str) -> Vec<Point> {
        spec.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                let (name, action) = s.trim().split_once(':').unwrap_or((s.trim(), "error"));
                let (name, nth) = match name.split_once('@') {
                    Some((n, k)) => (n, k.parse().ok()),
                    None => (name, None),
                };
                Point {
                    name: name.to_string(),
                    nth,
                    action: action.to_string(),
                    hits: AtomicUsize::new(0),
                }
            })
            .collect()
    }

    pub(super) fn fired(name: &str) -> Option<&'static str> {
        let points = POINTS.get()?;
        for p in points {
            if p.name == name {
                let n = p.hits.fetch_add(1, Ordering::SeqCst) + 1;
                if p.nth.is_none_or(|k| k == n) {
                    return Some(p.action.as_str());
                }
            }
        }
        None
    }
}

/// Sets the failpoints of this process from a `NAME[:ACTION][,…]` specification (the value of
/// `MTLS_CA_FAILPOINT`, read by the binary). Only the first call counts. No-op in release builds.
pub fn configure(spec: &str) {
    #[cfg(debug_assertions)]
    {
        let _ = imp::POINTS.set(imp::parse(spec));
    }
    #[cfg(not(debug_assertions))]
    let _ = spec;
}

/// Marks the write step `name`; when a failpoint is set there, fails, exits, kills or pauses as
/// configured. `path` names the file the step is about (for the error message).
#[inline]
pub fn hit(name: &str, path: &Path) -> Result<()> {
    #[cfg(debug_assertions)]
    {
        if let Some(action) = imp::fired(name) {
            match action {
                "exit" => std::process::exit(3),
                "kill" => {
                    let _ = rustix::process::kill_process(
                        rustix::process::getpid(),
                        rustix::process::Signal::KILL,
                    );
                    std::process::exit(137);
                }
                a if a.starts_with("sleep-") => {
                    let ms = a["sleep-".len()..].parse().unwrap_or(1000);
                    std::thread::sleep(std::time::Duration::from_millis(ms));
                }
                _ => {
                    return Err(crate::error::Error::io(
                        path,
                        std::io::Error::other(format!("injected failure at {name}")),
                    ))
                }
            }
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = (name, path);
    Ok(())
}
