//! `mtls-ca doctor [--repair]`: check a CA directory, say what is wrong and how to fix it.

use std::path::Path;

use clap::Args;

use crate::output::Output;
use crate::Outcome;

pub const HELP: &str = "Checks: an interrupted init or ca rotate, leftover temporary files (they may hold private\nkeys), permissions and ownership, ca.crt not a CA or not matching ca.key or not the store's CA,\nthe store's integrity, certificates recorded without their files, certificate files of this CA\nwithout a record, CRLs past their nextUpdate. Run it when no other mtls-ca command is running.\n\nEXAMPLES:\n  mtls-ca doctor\n  mtls-ca doctor --repair\n  mtls-ca --json doctor | jq '.findings[] | .code'\n\nEXIT CODES:\n  0  nothing wrong (or everything found was repaired)\n  1  something is wrong: see the findings and their fixes\n  2  usage, input or I/O error";

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Complete or undo an interrupted init/rotation and remove leftover temporary files.
    #[arg(long)]
    pub repair: bool,
}

pub fn run(dir: &Path, a: &DoctorArgs, out: &Output) -> anyhow::Result<Outcome> {
    if !dir.is_dir() {
        return Err(mtls_ca::Error::NoCa {
            dir: dir.to_path_buf(),
            missing: dir.to_path_buf(),
        }
        .into());
    }
    let report = mtls_ca::ca::doctor::run(dir, a.repair, super::now())?;
    if out.json {
        out.json_doc(&serde_json::to_value(&report)?)?;
    } else {
        for f in &report.findings {
            let mark = if f.repaired { "repaired" } else { "problem " };
            out.status(format!(
                "{mark} [{}] {}: {}",
                f.code,
                f.path.display(),
                f.message
            ));
            if !f.repaired {
                out.status(format!("  fix: {}", f.fix));
            }
        }
        if report.findings.is_empty() {
            out.status(format!("{}: no problems found", dir.display()));
        } else if report.ok {
            out.status(format!("{}: everything found was repaired", dir.display()));
        }
    }
    Ok(if report.ok {
        Outcome::Ok
    } else {
        Outcome::CheckFailed
    })
}
