//! `mtls-ca renew`.

use std::path::{Path, PathBuf};

use clap::Args;
use mtls_ca::ca::Ca;
use mtls_ca::lifecycle::{self, RenewOptions, Target};

use crate::output::Output;
use crate::Outcome;

pub const RENEW_HELP: &str = "Same subject, SANs and profile; new serial; the old certificate is recorded as superseded.\nA new key of the same type is made (renewing with the old key does not recover from a leak);\n--reuse-key keeps it, with a warning. A CSR-signed certificate keeps its public key (the CA\nnever held the key). Without --out the new files replace the old ones\n(which are kept as *.bak).\n\nEXAMPLES:\n  mtls-ca renew 3f9a0c12\n  mtls-ca renew --cert api.example.com.crt --reuse-key\n  mtls-ca renew --expiring-within 30d            (for cron)\n  mtls-ca renew --expiring-within 30d --out-dir renewed/\n  mtls-ca renew --issuer retired                 (after `ca rotate`: move leaves to the new CA)\n\nEXIT CODES:\n  0  renewed (or nothing was due)\n  2  unknown serial, usage, input or I/O error";

#[derive(Debug, Args)]
pub struct RenewArgs {
    /// Serial of the certificate (hex; a unique prefix of 8+ digits is enough).
    #[arg(value_name = "SERIAL", conflicts_with_all = ["cert", "expiring_within", "issuer"])]
    pub serial: Option<String>,
    /// The certificate file instead of its serial.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["expiring_within", "issuer"])]
    pub cert: Option<PathBuf>,
    /// Renew every valid certificate expiring within DURATION (e.g. 30d).
    #[arg(long, value_name = "DURATION")]
    pub expiring_within: Option<String>,
    /// Renew every valid certificate issued by current, retired, or the CA whose serial or key
    /// id starts with PREFIX (after `ca rotate`: `--issuer retired`).
    #[arg(long, value_name = "ISSUER", conflicts_with_all = ["serial", "cert"])]
    pub issuer: Option<String>,
    /// With --expiring-within or --issuer: write successors into DIR instead of over the old
    /// files.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Make a new key of the same type (the default; kept for scripts).
    #[arg(long, conflicts_with = "reuse_key")]
    pub rekey: bool,
    /// Keep the old key (warns: a leaked key stays usable).
    #[arg(long)]
    pub reuse_key: bool,
    /// Validity in days (default: the old certificate's).
    #[arg(long, value_name = "N", value_parser = super::parse::days)]
    pub days: Option<u32>,
    /// Validity as a duration: 30m, 12h, 90d (instead of --days; short-lived certificates).
    #[arg(long, value_name = "DURATION", value_parser = super::parse::valid, conflicts_with_all = ["days", "expiring_within", "issuer"])]
    pub valid: Option<time::Duration>,
    /// Output stem (single renewal).
    #[arg(long, value_name = "STEM", conflicts_with_all = ["expiring_within", "issuer"])]
    pub out: Option<PathBuf>,
    /// With --out: replace files already there, keeping them as *.bak.
    #[arg(long, requires = "out")]
    pub force: bool,
    #[command(flatten)]
    pub signing: super::pass::SigningArgs,
}

pub fn run(dir: &Path, a: &RenewArgs, out: &Output) -> anyhow::Result<Outcome> {
    let days = a.days;
    if a.out_dir.is_some() && a.expiring_within.is_none() && a.issuer.is_none() {
        return Err(mtls_ca::Error::InvalidValue {
            what: "--out-dir",
            value: a
                .out_dir
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            reason: "--out-dir is for renewing several certificates".into(),
            hint: "add --expiring-within DURATION or --issuer ISSUER, or use --out STEM for one"
                .into(),
        }
        .into());
    }
    if a.expiring_within.is_some() || a.issuer.is_some() {
        let within = a
            .expiring_within
            .as_deref()
            .map(|w| mtls_ca::duration::parse("--expiring-within", w))
            .transpose()?;
        let issuer = a
            .issuer
            .as_deref()
            .map(mtls_ca::ca::overlap::IssuerSel::parse)
            .transpose()?;
        if let Some(sel) = &issuer {
            // A bad --issuer is refused before the key is unlocked.
            lifecycle::issuer_serials(dir, sel, super::now())?;
        }
        let w = a.expiring_within.clone().unwrap_or_default();
        let mut ca = Ca::open_with(
            dir,
            &mut super::pass::source(&a.signing.pass, super::pass::ca_key(dir)),
        )?;
        let items = lifecycle::renew_selected(
            &mut ca,
            within,
            issuer.as_ref(),
            a.out_dir.as_deref(),
            a.reuse_key,
            days,
            super::now(),
        )?;
        let renewed: Vec<(&str, &str, Option<&str>)> = items
            .iter()
            .filter_map(|i| {
                let n = i.renewed.as_ref()?;
                Some((
                    n.serial.as_str(),
                    n.subject.as_str(),
                    Some(i.serial.as_str()),
                ))
            })
            .collect();
        super::audit(dir, out, "renew", &renewed);
        let failed = items.iter().filter(|i| i.error.is_some()).count();
        let failure = (failed > 0).then(|| crate::Failure {
            code: "renew_failed",
            message: format!("{failed} of {} renewals failed (see above)", items.len()),
            hint: Some(
                "fix what each failed renewal names, then run the same command again".into(),
            ),
            reported: out.json,
        });
        if out.json {
            let mut doc = serde_json::json!({ "renewed": items });
            if let Some(f) = &failure {
                doc["error"] = f.json();
            }
            out.json_doc(&doc)?;
        }
        if items.is_empty() {
            let mut what = String::from("nothing to renew: no valid certificate");
            if let Some(i) = &a.issuer {
                what.push_str(&format!(" of issuer {i}"));
            }
            if within.is_some() {
                what.push_str(&format!(" expires within {w}"));
            }
            out.status(what);
        }
        for i in &items {
            match (&i.renewed, &i.error) {
                (Some(n), _) => {
                    super::describe_issued(out, &format!("successor of {}", i.serial), n)
                }
                (_, Some(e)) => {
                    say!("error: renewing {} ({}): {e}", i.serial, i.subject);
                    if let Some(h) = &i.hint {
                        say!("hint: {h}");
                    }
                }
                _ => {}
            }
        }
        if let Some(f) = failure {
            return Err(f.into());
        }
        return Ok(Outcome::Ok);
    }
    let target = match (&a.serial, &a.cert) {
        (Some(s), None) => Target::Serial(s.clone()),
        (None, Some(c)) => Target::Cert(c.clone()),
        _ => {
            return Err(mtls_ca::Error::InvalidValue {
                what: "renew",
                value: String::new(),
                reason: "say which certificate to renew".into(),
                hint: "give a SERIAL, --cert FILE, or --expiring-within DURATION".into(),
            }
            .into())
        }
    };
    let opts = RenewOptions {
        target,
        reuse_key: a.reuse_key,
        days,
        valid: a.valid,
        stem: a.out.clone(),
        allow_long_validity: a.signing.allow_long_validity,
        force: a.force,
    };
    let mut ca = Ca::open_with(
        dir,
        &mut super::pass::source(&a.signing.pass, super::pass::ca_key(dir)),
    )?;
    let issued = lifecycle::renew(&mut ca, &opts, super::now())?;
    super::audit(
        dir,
        out,
        "renew",
        &[(&issued.serial, &issued.subject, issued.renews.as_deref())],
    );
    if out.json {
        out.json_doc(&serde_json::to_value(&issued)?)?;
    }
    super::describe_issued(out, "renewed certificate", &issued);
    Ok(Outcome::Ok)
}
