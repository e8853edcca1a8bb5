//! `mtls-ca probe`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mtls_ca::probe::{self, ProbeOptions};
use rustls::pki_types::CertificateDer;

use crate::cli::ProbeArgs;
use crate::output::Output;
use crate::Outcome;

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
        let d = mtls_ca::ca::layout::cert(dir);
        if d.exists() {
            vec![d]
        } else {
            vec![]
        }
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
    let opts = ProbeOptions {
        target,
        servername: a.servername.clone(),
        roots,
        client,
        timeout: Duration::from_secs_f64(a.timeout),
        resumption: !a.no_resumption,
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
            "{label}[{i}] {} (issuer {}, expires in {} days){}\n",
            c.subject,
            c.issuer,
            c.expires_in_days,
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
