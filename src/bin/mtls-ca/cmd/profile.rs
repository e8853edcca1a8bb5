//! `mtls-ca profile list|show`: the leaf profiles of a CA, built-in and from `profiles.toml`.

use std::path::Path;

use clap::{Args, Subcommand};
use mtls_ca::ca::profiles::{FileProfile, Profiles};

use crate::output::Output;
use crate::Outcome;

pub const HELP: &str = "Profiles are the built-in server, client and server-client, and those DIR/profiles.toml\ndefines (key usage, extended key usages, validity, key types, allowed names: docs/profiles.md).\n\nEXAMPLES:\n  mtls-ca profile list\n  mtls-ca profile show mesh\n  mtls-ca --json profile show mesh | jq .policy\n\nEXIT CODES:\n  0  listed\n  2  unknown profile, a bad profiles.toml, usage or I/O error";

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// List every leaf profile: built-in and from DIR/profiles.toml.
    #[command(after_help = HELP)]
    List,
    /// Show one profile: key usage, extended key usages, validity, key types, allowed names.
    #[command(after_help = HELP)]
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The profile name.
    #[arg(value_name = "NAME")]
    pub name: String,
}

pub fn run(dir: &Path, c: &ProfileCommand, out: &Output) -> anyhow::Result<Outcome> {
    // profiles.toml is read even without a CA (to check a file before the CA exists).
    let profiles = Profiles::load(dir)?;
    match c {
        ProfileCommand::List => {
            let all = profiles.all();
            if out.json {
                out.json_doc(&serde_json::json!({
                    "file": profiles.path,
                    "profiles": all,
                }))?;
                return Ok(Outcome::Ok);
            }
            let mut text = format!(
                "{:<16}  {:<8}  {:<9}  EXTENDED KEY USAGE\n",
                "NAME", "SOURCE", "VALIDITY"
            );
            for p in &all {
                text.push_str(&format!(
                    "{:<16}  {:<8}  {:<9}  {}\n",
                    p.name,
                    if p.builtin { "built-in" } else { "file" },
                    validity(p),
                    ekus(p)
                ));
            }
            out.data(text)?;
        }
        ProfileCommand::Show(a) => {
            let p = profiles.describe(&a.name)?;
            if out.json {
                out.json_doc(&serde_json::to_value(&p)?)?;
                return Ok(Outcome::Ok);
            }
            out.data(show(&p, &profiles))?;
        }
    }
    Ok(Outcome::Ok)
}

fn validity(p: &FileProfile) -> String {
    match (p.default_days, p.max_days) {
        (Some(d), Some(m)) => format!("{d}d/{m}d"),
        (Some(d), None) => format!("{d}d"),
        (None, Some(m)) => format!("365d/{m}d"),
        (None, None) => "365d".into(),
    }
}

fn ekus(p: &FileProfile) -> String {
    p.extended_key_usage
        .iter()
        .map(|e| e.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn show(p: &FileProfile, profiles: &Profiles) -> String {
    let mut s = String::new();
    let mut line = |k: &str, v: String| s.push_str(&format!("{k:<20}{v}\n"));
    line("name", p.name.clone());
    line(
        "source",
        if p.builtin {
            "built-in".into()
        } else {
            profiles.path.display().to_string()
        },
    );
    if let Some(d) = &p.description {
        line("description", d.clone());
    }
    line(
        "names like",
        if p.kind.is_server() {
            "a server: the CN is a host name or IP, added to the SANs".into()
        } else {
            "a client: any CN, SANs optional".into()
        },
    );
    line(
        "key usage",
        p.key_usage
            .iter()
            .map(|k| match k.as_str() {
                "keyEncipherment" | "dataEncipherment" => format!("{k} (RSA keys only)"),
                "keyAgreement" => format!("{k} (ECDSA keys only)"),
                _ => k.clone(),
            })
            .collect::<Vec<_>>()
            .join(", "),
    );
    line(
        "extended key usage",
        p.extended_key_usage
            .iter()
            .map(|e| {
                if e.name == e.oid {
                    e.oid.clone()
                } else {
                    format!("{} ({})", e.name, e.oid)
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
    );
    line(
        "default validity",
        p.default_days
            .map_or("365 days (capped by max)".into(), |d| format!("{d} days")),
    );
    line(
        "max validity",
        p.max_days
            .map_or("none (capped by the CA)".into(), |d| format!("{d} days")),
    );
    line(
        "key types",
        if p.key_types.is_empty() {
            "any".into()
        } else {
            p.key_types
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    match &p.policy {
        None => line("policy", "any name".into()),
        Some(pol) => {
            line("policy", "only these names (any other is refused):".into());
            for (kind, pats) in pol {
                line(&format!("  {kind}"), pats.join(", "));
            }
        }
    }
    s
}
