//! `mtls-ca agent`: keep STEM.pem/.crt/.key/.fullchain.crt fresh from `mtls-ca ca serve`.

use std::path::PathBuf;
use std::time::Duration as StdDuration;

use clap::Args;
use mtls_ca::online::agent::{self, AgentError, AgentOptions, Outcome as Done};

use crate::output::Output;
use crate::Outcome;

pub const HELP: &str = "Without STEM.crt the agent bootstraps with --token (a new key and a CSR for --cn/--san);\nwith it, it renews over mutual TLS once two thirds of the lifetime have passed (less a\nper-certificate jitter), with a new key each time, then runs --exec. Without --once it keeps\nrunning: it sleeps until the next renewal, and retries with backoff while the CA is down,\nwarning as expiry nears.\n\nEXAMPLES:\n  mtls-ca agent --server https://ca.example.com:8443 --ca ca.crt --out /etc/nginx/tls/web \\\n      --token mtca_… --cn web-1.example.com --exec 'nginx -s reload'\n  mtls-ca agent --server https://ca.example.com:8443 --ca ca.crt --out /etc/nginx/tls/web --once\n\nEXIT CODES:\n  0  renewed, bootstrapped, or not due yet (--once)\n  1  renewal was needed and failed (CA down or refused), or --exec failed\n  2  usage, input or I/O error";

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The CA's HTTPS URL (https://host:port of `ca serve --listen`).
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// Output stem: STEM.pem (chain and key in one file, 0600), STEM.crt, STEM.key (0600),
    /// STEM.fullchain.crt.
    #[arg(long, value_name = "STEM")]
    pub out: PathBuf,
    /// The CA bundle that verifies the server (from `mtls-ca export bundle` or DIR/ca-bundle.crt).
    #[arg(long, value_name = "FILE")]
    pub ca: PathBuf,
    /// Bootstrap token (from `mtls-ca token create`), used when STEM.crt does not exist.
    #[arg(long, value_name = "T", env = "MTLS_CA_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The CN the token was made for (bootstrap).
    #[arg(long, value_name = "NAME")]
    pub cn: Option<String>,
    /// A SAN the token was made for (bootstrap; repeatable).
    #[arg(long, value_name = "V")]
    pub san: Vec<String>,
    /// Key type of new keys: ecdsa-p256 (default), ecdsa-p384, ed25519, rsa-2048, …
    #[arg(long, value_name = "T", default_value = "ecdsa-p256")]
    pub key_type: String,
    /// Command run (with sh -c) after each new certificate, e.g. 'nginx -s reload'.
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
    /// Run once and exit (for cron and CI).
    #[arg(long)]
    pub once: bool,
    /// Renew now, whatever the certificate's age.
    #[arg(long)]
    pub force: bool,
    /// Fraction of the lifetime after which to renew (0.1 to 0.95).
    #[arg(long, value_name = "F", default_value = "0.6667")]
    pub renew_at: f64,
}

pub fn run(a: &AgentArgs, out: &Output) -> anyhow::Result<Outcome> {
    if !(0.1..=0.95).contains(&a.renew_at) {
        return Err(super::invalid(
            "--renew-at",
            a.renew_at.to_string(),
            "must be between 0.1 and 0.95",
            "the default 0.6667 renews after two thirds of the lifetime",
        ));
    }
    let mut opts = AgentOptions {
        server: a.server.clone(),
        out: a.out.clone(),
        ca_file: a.ca.clone(),
        token: a.token.clone(),
        cn: a.cn.clone(),
        sans: a.san.clone(),
        key_type: a.key_type.parse()?,
        fraction: a.renew_at,
        force: a.force,
    };
    let mut backoff = 5u64;
    loop {
        let now = super::now();
        match agent::run_once(&opts, now) {
            Ok(done) => {
                backoff = 5;
                report(out, &done)?;
                let fresh = !matches!(done, Done::NotDue { .. });
                if fresh {
                    if let Some(cmd) = &a.exec {
                        let st = std::process::Command::new("sh").arg("-c").arg(cmd).status();
                        match st {
                            Ok(s) if s.success() => out.status(format!("ran: {cmd}")),
                            Ok(s) => {
                                out.warn(format!("--exec {cmd:?} failed ({s})"));
                                if a.once {
                                    return Ok(Outcome::CheckFailed);
                                }
                            }
                            Err(e) => {
                                out.warn(format!("--exec {cmd:?} could not run ({e})"));
                                if a.once {
                                    return Ok(Outcome::CheckFailed);
                                }
                            }
                        }
                    }
                }
                if a.once {
                    return Ok(Outcome::Ok);
                }
                // The token and --force are for the first run only.
                opts.token = None;
                opts.force = false;
                let wait = match agent::current(&opts.out, opts.fraction)? {
                    Some(c) => (c.renew_at - super::now()).whole_seconds().clamp(1, 3600),
                    None => 60,
                };
                std::thread::sleep(StdDuration::from_secs(wait as u64));
            }
            Err(AgentError::Local(e)) => return Err(e.into()),
            Err(e) => {
                let expiry = agent::current(&opts.out, opts.fraction).ok().flatten();
                if let AgentError::Refused { hint: Some(h), .. } = &e {
                    out.warn(format!("{e} (hint: {h})"));
                } else {
                    out.warn(e.to_string());
                }
                if let Some(c) = &expiry {
                    let left = c.not_after - now;
                    if left <= (c.not_after - c.not_before) / 6 {
                        out.warn(format!(
                            "CERTIFICATE {} EXPIRES {} ({} left) AND COULD NOT BE RENEWED",
                            c.serial,
                            mtls_ca::ca::fmt_date(c.not_after),
                            if left.is_negative() {
                                "none".to_string()
                            } else {
                                format!("{}m", left.whole_minutes())
                            }
                        ));
                    }
                }
                if a.once {
                    return Ok(Outcome::CheckFailed);
                }
                std::thread::sleep(StdDuration::from_secs(backoff));
                backoff = (backoff * 2).min(300);
            }
        }
    }
}

fn report(out: &Output, d: &Done) -> anyhow::Result<()> {
    if out.json {
        out.json_doc(&serde_json::to_value(d)?)?;
    }
    match d {
        Done::Bootstrapped { serial, not_after } => out.status(format!(
            "{} certificate {serial}, valid until {not_after}",
            out.bold("bootstrapped")
        )),
        Done::Renewed {
            serial,
            previous,
            not_after,
        } => out.status(format!(
            "{} {previous} → {serial}, valid until {not_after}",
            out.bold("renewed")
        )),
        Done::NotDue {
            serial, renew_at, ..
        } => out.status(format!(
            "certificate {serial} is not due: renewal at {}",
            mtls_ca::ca::fmt_date(*renew_at)
        )),
    }
    Ok(())
}
