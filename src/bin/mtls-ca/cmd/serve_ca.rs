//! `mtls-ca ca serve`: the CA of --dir online (HTTPS, optional plain HTTP for public data).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use mtls_ca::ca::Ca;
use mtls_ca::online::server::{self, ServeEvent, ServeOptions};
use mtls_ca::pki::aia::PublicUrls;

use crate::cmd::pass::PassArgs;
use crate::output::Output;
use crate::Outcome;

pub const HELP: &str = "ENDPOINTS (HTTPS):\n  POST /v1/sign    {\"token\", \"csr\"}: a first certificate for the token's names\n  POST /v1/renew   {\"csr\"} over mutual TLS with the current certificate: its successor\n  GET  /v1/ca      the trust bundle (PEM)\n  GET  /v1/crl     the CRL (DER; PEM with ?format=pem)\n  GET|POST /v1/ocsp  OCSP responder (RFC 6960)\n  GET  /healthz, /metrics (Prometheus)\nThe plain-HTTP listener (--http-listen) serves /v1/ca, /v1/crl, /v1/ocsp and /healthz only.\n\nFILES:\n  DIR/serve/server.{crt,key,fullchain.crt} (issued on first start, renewed by the server),\n  DIR/audit.log (one JSON line per issuance, renewal, revocation, token use)\n\nEXAMPLES:\n  mtls-ca ca serve --listen 0.0.0.0:8443 --http-listen 0.0.0.0:8080 --public-url http://ca.example.com:8080\n  mtls-ca ca serve --listen 127.0.0.1:8443 --valid 24h\n\nEXIT CODES:\n  0  stopped by SIGINT/SIGTERM\n  2  usage, input or I/O error (address in use, no CA)";

#[derive(Debug, Args)]
pub struct ServeCaArgs {
    /// HTTPS address to listen on.
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Plain-HTTP address for the CA bundle, CRL and OCSP (what CRL and OCSP clients fetch).
    #[arg(long, value_name = "ADDR")]
    pub http_listen: Option<SocketAddr>,
    /// Base URL put into issued certificates as CRL distribution point and AIA (OCSP, caIssuers).
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// The server's own certificate stem (default: DIR/serve/server, issued when missing).
    #[arg(long, value_name = "STEM")]
    pub server: Option<PathBuf>,
    /// Validity of certificates bought with a token that sets none: 30m, 12h, 90d.
    #[arg(long, value_name = "DURATION", default_value = "30d")]
    pub valid: String,
    /// Requests per second allowed per client (sustained; bursts of 4x).
    #[arg(long, value_name = "N", default_value = "5")]
    pub rate: u32,
    /// Largest request body, bytes.
    #[arg(long, value_name = "BYTES", default_value = "65536")]
    pub max_body: usize,
    /// Runtime threads (default: the machine's cores, at most 64). The server signs on twice
    /// as many copies of the CA (at most 32) and admits 12 connections per thread at once.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Log every request (method, path, status, client, time) on stderr.
    #[arg(long)]
    pub log_requests: bool,
    #[command(flatten)]
    pub pass: PassArgs,
}

pub fn run(dir: &Path, a: &ServeCaArgs, out: &Output) -> anyhow::Result<Outcome> {
    let mut opts = ServeOptions::new(a.listen);
    opts.http_listen = a.http_listen;
    opts.public_url = a
        .public_url
        .as_deref()
        .map(|u| PublicUrls::parse("--public-url", u))
        .transpose()?;
    opts.server_stem = a.server.clone();
    opts.default_valid = mtls_ca::duration::parse("--valid", &a.valid)?;
    if a.rate == 0 {
        return Err(super::invalid(
            "--rate",
            "0",
            "must be at least 1",
            "use e.g. --rate 5",
        ));
    }
    opts.rate = f64::from(a.rate);
    opts.burst = f64::from(a.rate) * 4.0;
    opts.max_body = a.max_body.max(1024);
    if let Some(t) = a.threads {
        if !(1..=256).contains(&t) {
            return Err(super::invalid(
                "--threads",
                t.to_string(),
                "must be 1 to 256",
                "use e.g. --threads 4 (the default is the machine's cores)",
            ));
        }
        opts.threads = t;
    }
    let ca = Ca::open_with(
        dir,
        &mut super::pass::source(&a.pass, super::pass::ca_key(dir)),
    )?;
    let quiet = out.quiet;
    let log = a.log_requests;
    let events: server::Events = Arc::new(move |e| match e {
        ServeEvent::Listening { https, http } => {
            if !quiet {
                say!("listening on https://{https}");
                if let Some(h) = http {
                    say!("listening on http://{h} (CA bundle, CRL, OCSP only)");
                }
            }
        }
        ServeEvent::ServerCert {
            serial,
            not_after,
            what,
        } => {
            if !quiet {
                say!(
                    "server certificate {what}: serial {serial}, valid until {}",
                    mtls_ca::ca::fmt_date(not_after)
                );
            }
        }
        ServeEvent::Request {
            method,
            path,
            status,
            client,
            code,
            ms,
        } => {
            if log || (status >= 400 && !quiet) {
                say!(
                    "{client} {method} {path} {status}{} {ms:.1}ms",
                    code.map(|c| format!(" {c}")).unwrap_or_default()
                );
            }
        }
        ServeEvent::CaReloaded { serial, changed } => {
            if !quiet {
                if changed {
                    say!(
                        "the CA was rotated: now issuing from CA {serial}, trusting the new bundle"
                    );
                } else {
                    say!("the CA bundle changed: now trusting the new bundle (CA {serial})");
                }
            }
        }
        ServeEvent::Warning(w) => say!("warning: {w}"),
    });
    server::serve(ca, opts, super::now, events)?;
    Ok(Outcome::Ok)
}
