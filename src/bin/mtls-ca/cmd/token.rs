//! `mtls-ca token create|list|revoke`: one-time bootstrap tokens for `ca serve`'s /v1/sign.

use std::path::Path;

use clap::{Args, Subcommand};
use mtls_ca::ca::audit;
use mtls_ca::online::token::{self, TokenRequest};
use mtls_ca::store::Store;

use crate::output::Output;
use crate::Outcome;

pub const HELP: &str = "A token buys one certificate from `mtls-ca ca serve` (POST /v1/sign) for exactly the names\nand profile fixed here. It works once, expires (--ttl), and is stored only as its SHA-256.\n\nEXAMPLES:\n  mtls-ca token create --cn web-1.example.com --san 10.0.0.7 --profile server --ttl 15m\n  mtls-ca --json token create --cn billing --profile client | jq -r .token\n  mtls-ca token list\n  mtls-ca token revoke 3f2a9c41d0e8b7a6\n\nEXIT CODES:\n  0  done\n  2  usage, input or I/O error (nothing was changed)";

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a one-time bootstrap token for one certificate (printed once).
    #[command(after_help = HELP)]
    Create(CreateArgs),
    /// List tokens: id, names, expiry, used or revoked (never the tokens themselves).
    #[command(after_help = HELP)]
    List,
    /// Revoke an unused token by its id (from `token list`; 8 digits are enough).
    #[command(after_help = HELP)]
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Subject common name of the certificate the token buys.
    #[arg(long, value_name = "NAME")]
    pub cn: String,
    /// A further subject alternative name (repeatable).
    #[arg(long, value_name = "V")]
    pub san: Vec<String>,
    /// server, client, or a profile of DIR/profiles.toml (its name policy is enforced).
    #[arg(long, value_name = "P", default_value = "server")]
    pub profile: String,
    /// How long the token works: 15m (default), 12h, 7d.
    #[arg(long, value_name = "DURATION", default_value = "15m")]
    pub ttl: String,
    /// Validity of the certificate it buys: 30m, 12h, 90d (default: the server's --valid).
    #[arg(long, value_name = "DURATION")]
    pub valid: Option<String>,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The token's id (from `token list`).
    #[arg(value_name = "ID")]
    pub id: String,
}

pub fn run(dir: &Path, c: &TokenCommand, out: &Output) -> anyhow::Result<Outcome> {
    let mut store = Store::open_dir(dir, &mtls_ca::store::connect_options())?;
    let now = super::now();
    match c {
        TokenCommand::Create(a) => {
            let (profile, file_profile) = match mtls_ca::ca::profiles::resolve(dir, &a.profile)? {
                mtls_ca::ca::profiles::Resolved::Builtin(p) => (p, None),
                mtls_ca::ca::profiles::Resolved::File(f) => (f.kind, Some(*f)),
            };
            let req = TokenRequest {
                cn: a.cn.clone(),
                sans: a.san.clone(),
                profile,
                file_profile,
                ttl: mtls_ca::duration::parse("--ttl", &a.ttl)?,
                valid: a
                    .valid
                    .as_deref()
                    .map(|v| mtls_ca::duration::parse("--valid", v))
                    .transpose()?,
            };
            let made = token::create(&mut store, &req, now)?;
            let by = "cli";
            let subject = format!("CN={}", a.cn);
            audit::append(
                dir,
                &audit::Event {
                    time: now,
                    event: "token_create",
                    serial: None,
                    renews: None,
                    subject: Some(&subject),
                    authorised_by: by,
                    client: None,
                },
            )?;
            if out.json {
                out.json_doc(&serde_json::json!({
                    "token": made.token,
                    "id": made.id,
                    "expires_at": made.expires_at.format(&time::format_description::well_known::Rfc3339)?,
                }))?;
            } else {
                out.data(format!("{}\n", made.token))?;
                out.status(format!(
                    "token {} for {} ({}), works once until {}",
                    made.id,
                    a.cn,
                    a.profile,
                    mtls_ca::ca::fmt_date(made.expires_at)
                ));
            }
            Ok(Outcome::Ok)
        }
        TokenCommand::List => {
            let rows = store.token_list()?;
            if out.json {
                out.json_doc(&serde_json::json!({ "tokens": rows }))?;
                return Ok(Outcome::Ok);
            }
            if rows.is_empty() {
                out.status("no tokens");
            }
            for t in rows {
                let state = if t.revoked_at.is_some() {
                    "revoked".to_string()
                } else if let Some(u) = t.used_at {
                    format!(
                        "used {} by {}",
                        mtls_ca::ca::fmt_date(u),
                        t.used_by.unwrap_or_default()
                    )
                } else if t.expires_at <= now {
                    "expired".to_string()
                } else {
                    format!("unused, expires {}", mtls_ca::ca::fmt_date(t.expires_at))
                };
                let mut names = vec![t.cn.clone()];
                names.extend(t.sans.iter().cloned());
                out.data(format!(
                    "{}  {:<7} {}  {}\n",
                    t.id,
                    t.profile,
                    names.join(","),
                    state
                ))?;
            }
            Ok(Outcome::Ok)
        }
        TokenCommand::Revoke(a) => {
            let ids = store.token_revoke(a.id.trim(), now)?;
            match ids.len() {
                1 => {
                    audit::append(
                        dir,
                        &audit::Event {
                            time: now,
                            event: "token_revoke",
                            serial: None,
                            renews: None,
                            subject: Some(&format!("token:{}", ids[0])),
                            authorised_by: "cli",
                            client: None,
                        },
                    )?;
                    if out.json {
                        out.json_doc(&serde_json::json!({ "revoked": ids[0] }))?;
                    }
                    out.status(format!("{} token {}", out.bold("revoked"), ids[0]));
                    Ok(Outcome::Ok)
                }
                0 => Err(super::invalid(
                    "ID",
                    a.id.clone(),
                    "no unused, unrevoked token has this id",
                    "copy the id from `mtls-ca token list` (at least 8 hex digits)",
                )),
                n => Err(super::invalid(
                    "ID",
                    a.id.clone(),
                    format!("matches {n} tokens"),
                    "give more digits of the id",
                )),
            }
        }
    }
}
