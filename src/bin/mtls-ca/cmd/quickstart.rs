//! `mtls-ca quickstart`: a CA, a server and a client certificate (a working mTLS setup) in one
//! command.

use std::path::PathBuf;

use clap::Args;
use mtls_ca::ca::{Ca, InitOptions, IssueOptions};
use mtls_ca::keys::KeyType;
use mtls_ca::profile::{Constraints, Profile};

use crate::output::Output;
use crate::Outcome;

pub const QUICKSTART_HELP: &str = "Makes OUT/pki (the CA), OUT/server.{crt,key,fullchain.crt} for localhost and 127.0.0.1,\nOUT/client.{crt,key,fullchain.crt}, OUT/client.p12 (passphrase in OUT/client.p12.pass) and an nginx\nconfig in OUT/nginx, then prints the commands (openssl or nginx, curl, Python) that try them.\n\nEXAMPLES:\n  mtls-ca quickstart\n  mtls-ca quickstart --out /tmp/mtls --server api.local --client alice\n\nEXIT CODES:\n  0  everything was created\n  2  usage, input or I/O error";

#[derive(Debug, Args)]
pub struct QuickstartArgs {
    /// Where to put everything.
    #[arg(long, value_name = "DIR", default_value = "mtls-quickstart")]
    pub out: PathBuf,
    /// Server host name (also gets 127.0.0.1 and ::1).
    #[arg(long, value_name = "NAME", default_value = "localhost")]
    pub server: String,
    /// Client name.
    #[arg(long, value_name = "NAME", default_value = "client")]
    pub client: String,
    /// Key type for every key.
    #[arg(long, value_name = "T", default_value = "ecdsa-p256", value_parser = super::parse::key_type)]
    pub key_type: KeyType,
    /// Replace existing files, keeping them as *.bak.
    #[arg(long)]
    pub force: bool,
}

pub fn run(a: &QuickstartArgs, out: &Output) -> anyhow::Result<Outcome> {
    let key_type = a.key_type;
    let now = super::now();
    let pki = a.out.join("pki");
    let (mut ca, ca_issued) = Ca::init(
        &pki,
        &InitOptions {
            subject: Default::default(),
            cn: Some("mtls-ca Quickstart Root CA".into()),
            org: None,
            key_type,
            days: None,
            pathlen: None,
            constraints: Constraints::default(),
            parent: None,
            force: a.force,
        },
        now,
    )?;
    let server = ca.issue(
        &IssueOptions {
            subject: Default::default(),
            profile: Profile::Server,
            cn: a.server.clone(),
            sans: vec!["127.0.0.1".into(), "::1".into()],
            days: None,
            valid: None,
            key_type,
            stem: a.out.join("server"),
            force: a.force,
            allow_long_validity: false,
        },
        now,
    )?;
    let client = ca.issue(
        &IssueOptions {
            subject: Default::default(),
            profile: Profile::Client,
            cn: a.client.clone(),
            sans: Vec::new(),
            days: None,
            valid: None,
            key_type,
            stem: a.out.join("client"),
            force: a.force,
            allow_long_validity: false,
        },
        now,
    )?;
    // The client as PKCS#12 (random passphrase in client.p12.pass, 0600) and an nginx config.
    let (p12_written, nginx) = super::export::quickstart_extras(&pki, &a.out, a.force, now)?;
    let d = a.out.display();
    let host = server
        .sans
        .first()
        .cloned()
        .unwrap_or_else(|| "localhost".into());
    let next = vec![
        format!(
            "openssl s_server -accept 8443 -www -cert {d}/server.fullchain.crt -key {d}/server.key -CAfile {d}/pki/ca.crt -Verify 1 -verify_return_error"
        ),
        format!(
            "curl --cert {d}/client.crt --key {d}/client.key --cacert {d}/pki/ca.crt https://{host}:8443/"
        ),
        format!(
            "python3 -c \"import requests; print(requests.get('https://{host}:8443/', cert=('{d}/client.crt', '{d}/client.key'), verify='{d}/pki/ca.crt').status_code)\""
        ),
    ];
    let mut next = next;
    next.extend(nginx.start.iter().cloned());
    next.push(format!(
        "curl --cert-type P12 --cert {d}/client.p12:\"$(cat {d}/client.p12.pass)\" --cacert {d}/pki/ca.crt https://{host}:8443/"
    ));
    if out.json {
        out.json_doc(&serde_json::json!({
            "ca": ca_issued, "server": server, "client": client, "next_steps": next,
            "p12": p12_written, "nginx": nginx,
        }))?;
    }
    super::describe_issued(out, "root CA", &ca_issued);
    super::describe_issued(out, "server certificate", &server);
    super::describe_issued(out, "client certificate", &client);
    for w in &p12_written {
        out.status(format!("wrote {}", super::written_line(w)));
    }
    out.status(format!(
        "wrote an nginx config in {}/nginx",
        a.out.display()
    ));
    out.status("");
    out.status("try it: start a server that demands a client certificate (terminal 1):");
    out.status(format!("  {}", next[0]));
    out.status("then call it with the client certificate (terminal 2):");
    out.status(format!("  {}", next[1]));
    out.status(format!("  {}", next[2]));
    out.status(format!("  {}", next[next.len() - 1]));
    out.status("or serve the same certificates with nginx:");
    for s in &nginx.start {
        out.status(format!("  {s}"));
    }
    Ok(Outcome::Ok)
}
