//! `mtls-ca serve`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use mtls_ca::ca::layout::{self, with_ext};
use mtls_ca::serve::{self, Event, ServeOptions};
use rustls::pki_types::CertificateRevocationListDer;

use crate::output::Output;
use crate::Outcome;

pub const SERVE_HELP: &str = "Answers every request with the verified client's subject, SANs, serial and issuer, and\nlogs every failed handshake with its reason on stderr. Ctrl-C stops it.\n\nEXAMPLES:\n  mtls-ca serve --server server --listen 127.0.0.1:8443\n  mtls-ca serve --server certs/api --ca pki/ca.crt --optional\n\nEXIT CODES:\n  0  (never: it serves until stopped; Ctrl-C ends it with the signal status, 130)\n  2  usage, input or I/O error (bad files, address in use)";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
    pub listen: String,
    /// Server certificate stem: STEM.fullchain.crt (or STEM.crt) and STEM.key.
    #[arg(long, value_name = "STEM", default_value = "server")]
    pub server: PathBuf,
    /// CA whose client certificates are accepted (default: DIR/ca-chain.crt or DIR/ca.crt).
    #[arg(long, value_name = "FILE")]
    pub ca: Vec<PathBuf>,
    /// CRL(s) to check client certificates against.
    #[arg(long, value_name = "FILE")]
    pub crl: Vec<PathBuf>,
    /// Request a client certificate but let clients without one in.
    #[arg(long)]
    pub optional: bool,
}

pub fn run(dir: &Path, a: &ServeArgs, out: &Output) -> anyhow::Result<Outcome> {
    let listen = a.listen.parse().map_err(|_| mtls_ca::Error::InvalidValue {
        what: "--listen",
        value: a.listen.clone(),
        reason: "not an address:port".into(),
        hint: "e.g. --listen 127.0.0.1:8443".into(),
    })?;
    let stem = &a.server;
    let fullchain = with_ext(stem, "fullchain.crt");
    let cert = if fullchain.exists() {
        fullchain
    } else {
        with_ext(stem, "crt")
    };
    let chain = super::probe::load_certs(&[cert])?;
    let key_pkcs8 = super::probe::load_key(&with_ext(stem, "key"))?;
    let ca_files = if a.ca.is_empty() {
        vec![mtls_ca::ca::overlap::default_trust_file(dir)
            .unwrap_or_else(|| layout::chain_or_cert(dir))]
    } else {
        a.ca.clone()
    };
    let client_cas = super::probe::load_certs(&ca_files)?;
    let mut crls = Vec::new();
    // During a rotation's overlap, the retired CAs' CRLs next to a given one come along.
    for f in &mtls_ca::crl::with_retired_siblings(dir, &a.crl, super::now())? {
        let bytes = mtls_ca::files::read_limited(f, 64 * 1024 * 1024)?;
        for b in mtls_ca::pem::parse_all(&bytes, f)? {
            if b.label == "X509 CRL" {
                crls.push(CertificateRevocationListDer::from(b.der));
            }
        }
    }
    let opts = ServeOptions {
        listen,
        chain,
        key_pkcs8,
        client_cas,
        crls,
        optional: a.optional,
    };
    let quiet = out.quiet;
    let mode = if a.optional { "requests" } else { "requires" };
    serve::serve(
        &opts,
        Arc::new(move |e: Event| {
            let line = match e {
                Event::Listening(addr) => format!(
                    "listening on https://{addr}/ ({mode} a client certificate); Ctrl-C stops"
                ),
                Event::Served {
                    peer,
                    client,
                    request,
                } => match client {
                    Some(c) => format!(
                        "{peer} {request:?} -> 200, client {} (serial {})",
                        c.subject, c.serial
                    ),
                    None => format!("{peer} {request:?} -> 200, no client certificate"),
                },
                Event::HandshakeFailed { peer, reason } => {
                    format!("{peer} handshake failed: {reason}")
                }
            };
            if !quiet || line.contains("failed") {
                say!("{line}");
            }
        }),
    )?;
    Ok(Outcome::Ok)
}
