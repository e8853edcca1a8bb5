//! `mtls-ca probe`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use mtls_ca::probe::{self, ProbeOptions};
use rustls::pki_types::CertificateDer;

use crate::output::Output;
use crate::Outcome;

pub const PROBE_HELP: &str = "Reports TLS version, cipher, the server chain (judged against --ca), whether the server\nasks for a client certificate and which CAs it accepts, whether ours was accepted, and\nsession resumption; then each problem with its fix.\n\nEXAMPLES:\n  mtls-ca probe https://api.example.com --ca pki/ca.crt --cert client.crt --key client.key\n  mtls-ca probe 127.0.0.1:8443 --servername localhost --ca pki/ca.crt\n  mtls-ca --json probe api.example.com:443 --cert c.crt --key c.key | jq .diagnosis\n  mtls-ca probe https://api.example.com --p12 alice.p12 --passphrase-env P12_PASS\n  mtls-ca probe https://api.example.com:8443 --resolve api.example.com:8443:127.0.0.1 --cert c.crt --key c.key\n\nEXIT CODES:\n  0  mutual TLS works end to end\n  1  a problem was found (see the diagnosis)\n  2  the probe could not run (bad arguments, connection refused, timeout)";

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// https://HOST[:PORT][/PATH] or HOST:PORT.
    pub target: String,
    /// CA certificate(s) to judge the server chain with (default: DIR/ca.crt when present).
    #[arg(long, value_name = "FILE")]
    pub ca: Vec<PathBuf>,
    /// Client certificate (a fullchain file sends the intermediates too).
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Client private key.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Client certificate, chain and key from a PKCS#12 file.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["cert", "key"])]
    pub p12: Option<PathBuf>,
    /// Read the PKCS#12 passphrase from the first line of FILE.
    #[arg(long, value_name = "FILE", requires = "p12")]
    pub passphrase_file: Option<PathBuf>,
    /// Read the PKCS#12 passphrase from the environment variable VAR.
    #[arg(
        long,
        value_name = "VAR",
        requires = "p12",
        conflicts_with = "passphrase_file"
    )]
    pub passphrase_env: Option<String>,
    /// SNI and the name the server certificate must match (default: the host).
    #[arg(long, value_name = "NAME")]
    pub servername: Option<String>,
    /// Give up after this many seconds in all.
    #[arg(long, value_name = "S", default_value = "10")]
    pub timeout: f64,
    /// HTTP path to request (default: the URL's path or /).
    #[arg(long, value_name = "PATH")]
    pub http_path: Option<String>,
    /// Do not try a second, resumed connection.
    #[arg(long)]
    pub no_resumption: bool,
    /// Connect to ADDR for HOST:PORT, as curl's --resolve (SNI and Host stay HOST; repeatable).
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    pub resolve: Vec<String>,
    /// CRLs to check our client certificate against when the server refuses it (repeatable).
    #[arg(long, value_name = "FILE")]
    pub crl: Vec<PathBuf>,
}

pub fn run(dir: &Path, a: &ProbeArgs, out: &Output) -> anyhow::Result<Outcome> {
    let mut target = probe::parse_target(&a.target)?;
    if let Some(p) = &a.http_path {
        target.path = p.clone();
    }
    if !(a.timeout > 0.0 && a.timeout <= 3600.0) {
        return Err(mtls_ca::Error::InvalidValue {
            what: "--timeout",
            value: a.timeout.to_string(),
            reason: "must be between 0 and 3600 seconds".into(),
            hint: "e.g. --timeout 5".into(),
        }
        .into());
    }
    let ca_files: Vec<PathBuf> = if a.ca.is_empty() {
        mtls_ca::ca::overlap::default_trust_file(dir)
            .into_iter()
            .collect()
    } else {
        a.ca.clone()
    };
    let roots = load_certs(&ca_files)?;
    let client = match (&a.cert, &a.key, &a.p12) {
        (Some(c), Some(k), _) => Some((load_certs(std::slice::from_ref(c))?, load_key(k)?)),
        (_, _, Some(p12)) => {
            let pass = super::export::read_passphrase(
                a.passphrase_file.as_deref(),
                a.passphrase_env.as_deref(),
                false,
            )?;
            let bytes = mtls_ca::files::read_limited(p12, 16 * 1024 * 1024)?;
            let (certs, key) = mtls_ca::inspect::pkcs12_identity(&bytes, p12, Some(&pass))?;
            Some((
                certs.into_iter().map(CertificateDer::from).collect(),
                key.to_vec(),
            ))
        }
        _ => None,
    };
    let resolve = a
        .resolve
        .iter()
        .map(|r| probe::parse_resolve(r))
        .collect::<Result<Vec<_>, _>>()?;
    let mut crls = Vec::new();
    for c in &a.crl {
        crls.extend(mtls_ca::verify::read_crls(c)?);
    }
    // The CA directory's certificates (its chain and the issuing CAs below it), to tell why the
    // server refused our client certificate.
    let fix = mtls_ca::diagnose::finding::FixContext::discover(dir);
    let mut client_trust: Vec<CertificateDer<'static>> = Vec::new();
    for c in &fix.cas {
        client_trust.push(CertificateDer::from(c.cert.clone()));
        let chain = c.dir.join("ca-chain.crt");
        if chain.is_file() {
            client_trust.extend(load_certs(&[chain])?);
        }
    }
    let opts = ProbeOptions {
        target,
        servername: a.servername.clone(),
        roots,
        client,
        timeout: Duration::from_secs_f64(a.timeout),
        resumption: !a.no_resumption,
        resolve,
        client_trust,
        crls,
        client_label: a
            .cert
            .as_ref()
            .or(a.p12.as_ref())
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        fix,
    };
    let report = probe::probe(&opts, super::now())?;
    if out.json {
        out.json_doc(&serde_json::to_value(&report)?)?;
    } else {
        out.data(render(&report, out))?;
    }
    Ok(if report.ok() {
        Outcome::Ok
    } else {
        Outcome::CheckFailed
    })
}

/// Reads every certificate of the given files.
pub fn load_certs(files: &[PathBuf]) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let mut out = Vec::new();
    for f in files {
        for der in mtls_ca::x509::read_certs(f)? {
            out.push(CertificateDer::from(der));
        }
    }
    Ok(out)
}

/// Reads a private key in any supported format, as PKCS#8 DER.
pub fn load_key(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = zeroize::Zeroizing::new(mtls_ca::files::read_limited(path, 1024 * 1024)?);
    let key = mtls_ca::keys::load_private_key(&bytes, path)?;
    Ok(key.serialized_der().to_vec())
}

fn render(r: &probe::ProbeReport, out: &Output) -> String {
    let mut s = String::new();
    let verdict = if r.ok() {
        "mutual TLS works".to_string()
    } else {
        format!(
            "problem found ({} finding{})",
            r.diagnosis.len(),
            if r.diagnosis.len() == 1 { "" } else { "s" }
        )
    };
    s.push_str(&format!("{} {}: {verdict}\n", out.bold("probe"), r.target));
    if let (Some(v), Some(c)) = (&r.tls_version, &r.cipher_suite) {
        s.push_str(&format!(
            "  tls        {v}, {c}{}{}\n",
            r.alpn
                .as_ref()
                .map(|a| format!(", alpn {a}"))
                .unwrap_or_default(),
            r.handshake_ms
                .map(|m| format!(", handshake {m} ms"))
                .unwrap_or_default()
        ));
    } else {
        s.push_str("  tls        handshake did not complete\n");
    }
    for (i, c) in r.server_chain.iter().enumerate() {
        let label = if i == 0 {
            "  server     "
        } else {
            "             "
        };
        s.push_str(&format!(
            "{label}[{i}] {} (issuer {}, expires in {}){}\n",
            c.subject,
            c.issuer,
            mtls_ca::inspect::days_text(c.expires_in_days),
            if c.sans.is_empty() {
                String::new()
            } else {
                format!(" [{}]", c.sans.join(", "))
            }
        ));
    }
    match r.server_chain_valid {
        Some(true) => s.push_str("  chain      trusted\n"),
        Some(false) => s.push_str("  chain      NOT trusted\n"),
        None => {}
    }
    s.push_str(&format!(
        "  client     {}\n",
        if r.client_cert_requested {
            "the server asks for a certificate"
        } else {
            "the server does not ask for a certificate"
        }
    ));
    for ca in &r.acceptable_client_cas {
        s.push_str(&format!("             accepts {ca}\n"));
    }
    s.push_str(&format!(
        "             {}\n",
        match (r.client_cert_sent, r.client_cert_accepted) {
            (true, Some(true)) => "ours was sent and accepted",
            (true, Some(false)) => "ours was sent and REJECTED",
            (true, None) => "ours was sent",
            (false, _) => "none was sent",
        }
    ));
    if let Some(a) = &r.alert {
        s.push_str(&format!("  alert      {a}\n"));
    }
    if let Some(h) = r.http_status {
        s.push_str(&format!("  http       {h}\n"));
    }
    if let Some(res) = r.resumed {
        s.push_str(&format!(
            "  resumption {}{}\n",
            if res { "yes" } else { "no" },
            match (res, r.handshake_ms, r.resumed_handshake_ms) {
                (true, Some(a), Some(b)) => format!(" (handshake {b} ms instead of {a} ms)"),
                _ => String::new(),
            }
        ));
    }
    for f in &r.diagnosis {
        s.push_str(&format!(
            "\n{} [{}] {}\n  fix: {}\n",
            out.bold("problem"),
            f.code_str(),
            f.message,
            f.hint
        ));
    }
    for w in &r.warnings {
        s.push_str(&format!("warning: {w}\n"));
    }
    s
}
