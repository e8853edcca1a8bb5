//! The audit log: one JSON line per issuance, renewal, revocation and token use — of the online
//! CA and of the local commands (`issue`, `sign`, `renew`, `revoke`, `token`) — with who
//! authorised it, appended to `DIR/audit.log` (named by [`crate::ca::layout`]).
//!
//! Each event (or batch of events) is one `write(2)` of whole lines to a file opened with
//! `O_APPEND` (mode 0600), so lines of concurrent writers never interleave. Revocations and
//! token events are fsynced before the caller answers. The lines of issuance and renewal are
//! written before the answer (a killed process keeps them) but not fsynced in front of it: the
//! local commands never fsync them ([`append_unsynced`]), the online CA's group commit fsyncs
//! them on a thread of its own right after (`online::commit`). The store holds the durable
//! record of what was issued; the log says who asked. An event never holds a token or a key:
//! tokens appear by their public id only.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use time::OffsetDateTime;

use crate::error::{Error, Result};

/// One event.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Event<'a> {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// `issue` (bootstrap with a token), `renew`, `revoke`, `token_create`, `token_revoke`.
    pub event: &'a str,
    /// The certificate's serial (new one for issue/renew), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<&'a str>,
    /// The serial renewed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renews: Option<&'a str>,
    /// Subject text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<&'a str>,
    /// Who authorised it: `token:<id>`, `cert:<serial>` (mutual TLS), `cli` (a local command).
    pub authorised_by: &'a str,
    /// The client's address, for requests over the network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<&'a str>,
}

/// Appends `ev` to the audit log of the CA directory `dir`.
pub fn append(dir: &Path, ev: &Event<'_>) -> Result<()> {
    append_many(dir, std::slice::from_ref(ev))
}

/// Appends `evs` to the audit log of `dir` with one write and one fsync; nothing to do for
/// none. (The online CA's group commit writes unsynced and fsyncs on a thread of its own:
/// `online::commit`.)
pub fn append_many(dir: &Path, evs: &[Event<'_>]) -> Result<()> {
    write_lines(dir, evs, true)
}

/// Appends `evs` with one write and no fsync: for the local commands that issue, whose record
/// of each certificate is the store's (already durable) and whose time is what CI pays per
/// certificate. A killed process keeps the lines (they are in the kernel); only a power loss
/// right after the command can lose them, never the store's record.
pub fn append_unsynced(dir: &Path, evs: &[Event<'_>]) -> Result<()> {
    write_lines(dir, evs, false)
}

fn write_lines(dir: &Path, evs: &[Event<'_>], fsync: bool) -> Result<()> {
    if evs.is_empty() {
        return Ok(());
    }
    let path = crate::ca::layout::audit_log(dir);
    let mut lines = Vec::new();
    for ev in evs {
        serde_json::to_writer(&mut lines, ev).map_err(|e| {
            Error::io(
                &path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })?;
        lines.push(b'\n');
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(crate::files::PRIVATE)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    f.write_all(&lines).map_err(|e| Error::io(&path, e))?;
    if fsync {
        f.sync_data().map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}
