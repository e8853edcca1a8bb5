//! `mtls-ca serve`.

use std::path::Path;
use std::sync::Arc;

use mtls_ca::ca::layout::{self, with_ext};
use mtls_ca::serve::{self, Event, ServeOptions};
use rustls::pki_types::CertificateRevocationListDer;

use crate::cli::ServeArgs;
use crate::output::Output;
use crate::Outcome;

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
        vec![layout::chain_or_cert(dir)]
    } else {
        a.ca.clone()
    };
    let client_cas = super::probe::load_certs(&ca_files)?;
    let mut crls = Vec::new();
    for f in &a.crl {
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
                eprintln!("{line}");
            }
        }),
    )?;
    Ok(Outcome::Ok)
}
