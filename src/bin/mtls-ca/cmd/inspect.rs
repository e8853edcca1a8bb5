//! `mtls-ca inspect`: read files, stdin or a live server, describe with the library, render.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use mtls_ca::fetch::Target;
use mtls_ca::inspect::{self, CertInfo, Inspection, Name, Object};

use crate::output::{paint, Output};
use crate::Outcome;

pub const HELP: &str = "INPUTS:\n  FILE      PEM (any number of blocks, text around them) or DER: certificates, chains, CSRs,\n            CRLs, private keys (type and size only), PKCS#12\n  -         standard input\n  HOST:PORT, https://HOST[:PORT]   the chain a live server presents (not trusted, only shown)\n\nEXAMPLES:\n  mtls-ca inspect server.crt\n  mtls-ca inspect server.fullchain.crt client.p12 --passphrase-env P12_PASS\n  mtls-ca inspect api.example.com:443\n  cat ca.crt | mtls-ca inspect -\n  mtls-ca --json inspect pki/crl.pem | jq '.objects[0].next_update'\n\nEXIT CODES:\n  0  every input was read (warnings may have been printed)\n  2  an input is unreadable, not one of the kinds above, or the server could not be reached";

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Files, `-` for stdin, HOST:PORT or https://HOST[:PORT].
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// Read the PKCS#12 password from this file (first line).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Read the PKCS#12 password from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub passphrase_env: Option<String>,
    /// Seconds to wait for a live server (connect, and each read or write).
    #[arg(long, value_name = "S", default_value = "10")]
    pub timeout: u64,
}

fn read_stdin() -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::io::stdin()
        .take(inspect::MAX_INPUT + 1)
        .read_to_end(&mut buf)?;
    Ok(buf)
}

pub fn run(a: &InspectArgs, out: &Output) -> anyhow::Result<Outcome> {
    let pass = super::pass::read(
        a.passphrase_file.as_deref(),
        a.passphrase_env.as_deref(),
        None,
    )?
    .map(|p| super::pass::text(&p, "the PKCS#12 passphrase"))
    .transpose()?;
    let now = super::now();
    let mut results: Vec<Inspection> = Vec::new();
    for input in &a.inputs {
        let r = if input == "-" {
            inspect::inspect_bytes(
                &read_stdin()?,
                "-",
                pass.as_deref().map(|s| s.as_str()),
                now,
            )?
        } else if std::path::Path::new(input).exists() {
            inspect::inspect_file(
                std::path::Path::new(input),
                pass.as_deref().map(|s| s.as_str()),
                now,
            )?
        } else if let Some(t) = Target::parse(input) {
            let certs = mtls_ca::fetch::fetch_chain(&t, Duration::from_secs(a.timeout.max(1)))?;
            let mut pem = String::new();
            for c in &certs {
                pem.push_str(&mtls_ca::pem::encode("CERTIFICATE", c));
            }
            inspect::inspect_bytes(pem.as_bytes(), &t.to_string(), None, now)?
        } else {
            inspect::inspect_file(std::path::Path::new(input), None, now)?
        };
        results.push(r);
    }
    if out.json {
        let mut objects = Vec::new();
        let mut warnings = Vec::new();
        for r in &results {
            for o in &r.objects {
                let mut v = serde_json::to_value(o)?;
                if let Some(m) = v.as_object_mut() {
                    m.insert("source".into(), serde_json::Value::String(r.source.clone()));
                }
                objects.push(v);
            }
            for w in &r.warnings {
                warnings.push(format!("{}: {w}", r.source));
            }
        }
        out.json_doc(&serde_json::json!({ "objects": objects, "warnings": warnings }))?;
        return Ok(Outcome::Ok);
    }
    let color = out.stdout_color();
    let mut text = String::new();
    for r in &results {
        render(&mut text, r, color);
    }
    out.data(text)?;
    Ok(Outcome::Ok)
}

fn line(text: &mut String, label: &str, value: &str) {
    text.push_str(&format!("  {label:<13}{value}\n"));
}

fn warn(text: &mut String, color: bool, w: &str) {
    text.push_str(&format!("  {} {w}\n", paint(color, "33", "warning:")));
}

/// SANs grouped by type: `DNS: a, b; IP: 10.0.0.1`.
pub fn names_by_type(names: &[Name]) -> String {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for n in names {
        let label = match n.kind.as_str() {
            "dns" => "DNS",
            "ip" => "IP",
            "email" => "email",
            "uri" => "URI",
            "dirname" => "DirName",
            _ => "other",
        };
        match groups.iter_mut().find(|(l, _)| l == label) {
            Some((_, v)) => v.push(&n.value),
            None => groups.push((label.to_string(), vec![&n.value])),
        }
    }
    groups
        .iter()
        .map(|(l, v)| format!("{l}: {}", v.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

fn render(text: &mut String, r: &Inspection, color: bool) {
    let n = r.objects.len();
    for (i, o) in r.objects.iter().enumerate() {
        let kind = match o {
            Object::Certificate(c) if c.is_ca => "CA certificate",
            Object::Certificate(_) => "certificate",
            Object::Csr(_) => "certificate signing request",
            Object::Crl(_) => "CRL",
            Object::PrivateKey(_) => "private key",
            Object::Pkcs12(_) => "PKCS#12",
        };
        let pos = if n > 1 {
            format!(" {} of {n}", i + 1)
        } else {
            String::new()
        };
        text.push_str(&paint(color, "1", &format!("{}: {kind}{pos}", r.source)));
        text.push('\n');
        match o {
            Object::Certificate(c) => render_cert(text, c, color),
            Object::Csr(c) => {
                line(text, "subject", &c.subject);
                line(text, "SANs", &or_none(&names_by_type(&c.sans)));
                line(
                    text,
                    "key",
                    &format!("{} ({} bits)", c.key_type, c.key_bits),
                );
                line(
                    text,
                    "signature",
                    &format!(
                        "{} ({})",
                        c.signature_algorithm,
                        if c.signature_valid {
                            "verifies"
                        } else {
                            "DOES NOT VERIFY"
                        }
                    ),
                );
                for w in &c.warnings {
                    warn(text, color, w);
                }
            }
            Object::Crl(c) => {
                line(text, "issuer", &c.issuer);
                line(text, "this update", &ts(c.this_update));
                line(
                    text,
                    "next update",
                    &c.next_update.map(ts).unwrap_or_else(|| "(none)".into()),
                );
                if let Some(n) = &c.crl_number {
                    line(text, "CRL number", n);
                }
                if let Some(a) = &c.authority_key_id {
                    line(text, "AKI", a);
                }
                line(text, "signature", &c.signature_algorithm);
                line(text, "revoked", &c.revoked.len().to_string());
                for rv in &c.revoked {
                    text.push_str(&format!(
                        "    {}  {}{}\n",
                        rv.serial,
                        mtls_ca::ca::fmt_date(rv.revoked_at),
                        rv.reason
                            .as_ref()
                            .map(|r| format!("  {r}"))
                            .unwrap_or_default()
                    ));
                }
                for w in &c.warnings {
                    warn(text, color, w);
                }
            }
            Object::PrivateKey(k) => {
                line(text, "format", &k.format);
                match (&k.key_type, k.key_bits) {
                    (Some(t), Some(b)) => line(text, "key", &format!("{t} ({b} bits)")),
                    _ => line(text, "key", "encrypted, type unknown without passphrase"),
                }
                if let Some(fp) = &k.public_key_sha256 {
                    line(text, "public key", &format!("SHA-256 {fp}"));
                }
                if let Some(m) = &k.matches_certificate {
                    line(text, "belongs to", m);
                }
                for w in k.warnings.iter().filter(|w| !w.starts_with("encrypted")) {
                    warn(text, color, w);
                }
            }
            Object::Pkcs12(p) => {
                line(text, "certificates", &p.certificates.len().to_string());
                line(text, "keys", &p.keys.len().to_string());
                if !p.friendly_names.is_empty() {
                    line(text, "names", &p.friendly_names.join(", "));
                }
                line(text, "iterations", &p.max_iterations.to_string());
                for k in &p.keys {
                    line(
                        text,
                        "key",
                        &format!(
                            "{} ({} bits){}",
                            k.key_type.as_deref().unwrap_or("unknown"),
                            k.key_bits.unwrap_or(0),
                            k.matches_certificate
                                .as_ref()
                                .map(|m| format!(", belongs to {m}"))
                                .unwrap_or_default()
                        ),
                    );
                    for w in &k.warnings {
                        warn(text, color, w);
                    }
                }
                for w in &p.warnings {
                    warn(text, color, w);
                }
                for (j, c) in p.certificates.iter().enumerate() {
                    text.push_str(&format!(
                        "  -- certificate {} of {}\n",
                        j + 1,
                        p.certificates.len()
                    ));
                    render_cert(text, c, color);
                }
            }
        }
    }
    for w in &r.warnings {
        warn(text, color, w);
    }
}

fn or_none(s: &str) -> String {
    if s.is_empty() {
        "(none)".into()
    } else {
        s.to_string()
    }
}

fn render_cert(text: &mut String, c: &CertInfo, color: bool) {
    line(text, "subject", &c.subject);
    line(text, "issuer", &c.issuer);
    line(text, "serial", &c.serial);
    let left = if c.expires_in_days < 0 {
        paint(
            color,
            "31",
            &format!("expired {} ago", inspect::days_text(c.expires_in_days)),
        )
    } else if c.expires_in_days < inspect::EXPIRY_WARNING_DAYS {
        paint(
            color,
            "33",
            &format!("expires in {}", inspect::days_text(c.expires_in_days)),
        )
    } else {
        format!("expires in {}", inspect::days_text(c.expires_in_days))
    };
    line(
        text,
        "valid",
        &format!("{} → {} ({left})", ts(c.not_before), ts(c.not_after)),
    );
    line(text, "SANs", &or_none(&names_by_type(&c.sans)));
    line(
        text,
        "key",
        &format!("{} ({} bits)", c.key_type, c.key_bits),
    );
    let kind = if c.is_ca {
        match c.path_len {
            Some(p) => format!("CA (pathlen {p})"),
            None => "CA (no pathlen limit)".into(),
        }
    } else {
        "leaf (CA:FALSE)".into()
    };
    line(
        text,
        "type",
        &format!("{kind}{}", if c.self_signed { ", self-signed" } else { "" }),
    );
    line(text, "key usage", &or_none(&c.key_usage.join(", ")));
    line(
        text,
        "EKU",
        &c.extended_key_usage
            .as_ref()
            .map(|e| or_none(&e.join(", ")))
            .unwrap_or_else(|| "(none)".into()),
    );
    if let Some(nc) = &c.name_constraints {
        if !nc.permitted.is_empty() {
            line(text, "permitted", &names_by_type(&nc.permitted));
        }
        if !nc.excluded.is_empty() {
            line(text, "excluded", &names_by_type(&nc.excluded));
        }
    }
    line(text, "signature", &c.signature_algorithm);
    line(text, "SHA-256", &c.sha256_fingerprint);
    line(text, "SHA-1", &c.sha1_fingerprint);
    if let Some(s) = &c.subject_key_id {
        line(text, "SKI", s);
    }
    if let Some(s) = &c.authority_key_id {
        line(text, "AKI", s);
    }
    for w in &c.warnings {
        warn(text, color, w);
    }
}

fn ts(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}
