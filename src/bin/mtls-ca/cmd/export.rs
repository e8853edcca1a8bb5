//! `mtls-ca export TARGET` and `mtls-ca export p12`: arguments → an export request, then the
//! plan's warnings, the files written and how to start and test the result. Also the passphrase
//! reading shared with `issue --p12` (file, environment variable, or a prompt on a terminal).

use std::path::{Path, PathBuf};

use clap::Args;
use mtls_ca::export::{self, P12Request, Plan, Request, Target};
use mtls_ca::pkcs12::P12Profile;
use zeroize::Zeroizing;

use crate::output::Output;
use crate::Outcome;

pub const HELP: &str = "TARGETS:\n  servers  nginx haproxy caddy apache envoy traefik   (need --server STEM)\n  cloud    k8s-ingress kong aws\n  clients  curl requests httpx node java               (need --client STEM; java needs a passphrase)\n  files    bundle (ca-bundle.pem, crls.pem, STEM.fullchain.crt, STEM.pem)\n           p12 --client STEM (STEM.p12 next to the stem unless --out DIR)\n\nEvery file a config references is copied into DIR and named by absolute path. Without --upstream\nthe servers answer 200 with the verified client's subject; with it they proxy and pass the client\nidentity (X-SSL-Client-Verify, -Subject, -Issuer, -Serial, -Fingerprint).\n\nEXAMPLES:\n  mtls-ca export nginx --server api --client alice --crl pki/crl.pem --out gw\n  nginx -p $PWD/gw -c $PWD/gw/nginx-main.conf -e stderr\n  mtls-ca export haproxy --server api --listen 0.0.0.0:443 --upstream http://127.0.0.1:8080\n  mtls-ca --dir pki/int export aws --server api --out aws\n  mtls-ca export requests --client alice --out py && python3 py/client_requests.py\n  mtls-ca export p12 --client alice --passphrase-env P12_PASS\n  mtls-ca export java --client alice --passphrase-file pass.txt --p12-legacy\n\nEXIT CODES:\n  0  written\n  2  usage, input or I/O error (nothing was written)";

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// nginx, haproxy, caddy, apache, envoy, traefik, k8s-ingress, kong, aws, curl, requests,
    /// httpx, node, java, bundle or p12.
    #[arg(value_name = "TARGET")]
    pub target: String,
    /// The server certificate stem (STEM.crt, STEM.key, STEM.fullchain.crt).
    #[arg(long, value_name = "STEM")]
    pub server: Option<PathBuf>,
    /// The client certificate stem.
    #[arg(long, value_name = "STEM")]
    pub client: Option<PathBuf>,
    /// A CRL (PEM or DER); give one for every CA of the chain (repeatable).
    #[arg(long, value_name = "FILE")]
    pub crl: Vec<PathBuf>,
    /// Where the server listens (default 127.0.0.1:8443).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Proxy to this URL, passing the client identity in headers.
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// kong: the client certificate stem Kong presents to an https --upstream (the service's
    /// client_certificate; the upstream's certificate is checked against the CA chain).
    #[arg(long, value_name = "STEM", requires = "upstream")]
    pub upstream_client: Option<PathBuf>,
    /// Output directory (default: ./export-TARGET).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace existing files, keeping them as *.bak.
    #[arg(long)]
    pub force: bool,
    /// PKCS#12 with PBE-SHA1-3DES and a SHA-1 MAC (java, p12), for macOS Keychain and old Java.
    #[arg(long)]
    pub p12_legacy: bool,
    /// Read the PKCS#12 passphrase from the first line of FILE (java, p12).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Read the PKCS#12 passphrase from the environment variable VAR (java, p12).
    #[arg(long, value_name = "VAR", conflicts_with = "passphrase_file")]
    pub passphrase_env: Option<String>,
}

pub fn run(dir: &Path, a: &ExportArgs, out: &Output) -> anyhow::Result<Outcome> {
    let profile = if a.p12_legacy {
        P12Profile::Legacy
    } else {
        P12Profile::Modern
    };
    let plan = if a.target.trim().eq_ignore_ascii_case("p12") {
        let Some(stem) = &a.client else {
            return Err(mtls_ca::Error::InvalidValue {
                what: "--client",
                value: String::new(),
                reason: "`export p12` needs the client stem".into(),
                hint: "mtls-ca export p12 --client STEM --passphrase-env VAR".into(),
            }
            .into());
        };
        let stem = absolute(stem)?;
        let out_file = match &a.out {
            Some(d) => absolute(d)?.join(format!("{}.p12", file_name(&stem))),
            None => mtls_ca::ca::layout::with_ext(&stem, "p12"),
        };
        let passphrase = read_passphrase(
            a.passphrase_file.as_deref(),
            a.passphrase_env.as_deref(),
            true,
        )?;
        export::p12_plan(&P12Request {
            ca_dir: dir.to_path_buf(),
            stem,
            out_file,
            passphrase,
            profile,
        })?
    } else {
        let target: Target = a.target.parse()?;
        let passphrase = if target == Target::Java {
            Some(read_passphrase(
                a.passphrase_file.as_deref(),
                a.passphrase_env.as_deref(),
                true,
            )?)
        } else {
            None
        };
        let out_dir = match &a.out {
            Some(d) => absolute(d)?,
            None => absolute(Path::new(&format!("export-{}", target.as_str())))?,
        };
        export::plan(&Request {
            target,
            ca_dir: dir.to_path_buf(),
            server: a.server.as_deref().map(absolute).transpose()?,
            client: a.client.as_deref().map(absolute).transpose()?,
            crls: a.crl.clone(),
            listen: a.listen.clone(),
            upstream: a.upstream.clone(),
            upstream_client: a.upstream_client.as_deref().map(absolute).transpose()?,
            out: out_dir,
            passphrase,
            p12_profile: profile,
            now: super::now(),
        })?
    };
    render(plan, a.force, out)
}

fn render(plan: Plan, force: bool, out: &Output) -> anyhow::Result<Outcome> {
    for w in &plan.warnings {
        out.warn(w);
    }
    let done = plan.commit(force)?;
    if out.json {
        out.json_doc(&serde_json::to_value(&done)?)?;
    }
    out.status(format!("{} {} export", out.bold("wrote"), done.target));
    for w in &done.files {
        out.status(format!("  {}", super::written_line(w)));
    }
    if !done.unchanged.is_empty() {
        out.status(format!(
            "  unchanged (not rewritten, no .bak): {}",
            done.unchanged
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !done.start.is_empty() {
        out.status("start:");
        for s in &done.start {
            out.status(format!("  {s}"));
        }
    }
    if !done.test.is_empty() {
        out.status("test:");
        for s in &done.test {
            out.status(format!("  {s}"));
        }
    }
    for n in &done.notes {
        out.status(format!("note: {n}"));
    }
    Ok(Outcome::Ok)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "client".into())
}

/// An absolute path (relative ones are taken from the current directory).
pub fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    Ok(std::path::absolute(p).map_err(|e| mtls_ca::Error::Io {
        path: p.to_path_buf(),
        source: e,
    })?)
}

/// The PKCS#12 passphrase: from `file` (first line), from the environment variable `env`, or
/// asked twice on a terminal. Never from the command line.
pub fn read_passphrase(
    file: Option<&Path>,
    env: Option<&str>,
    confirm: bool,
) -> anyhow::Result<Zeroizing<String>> {
    let prompt = super::pass::Prompt {
        label: "PKCS#12 passphrase: ",
        confirm,
    };
    let Some(p) = super::pass::read(file, env, Some(prompt))? else {
        return Err(mtls_ca::Error::InvalidValue {
            what: "passphrase",
            value: String::new(),
            reason: "a PKCS#12 file needs a passphrase and stdin is not a terminal".into(),
            hint: "give it with --passphrase-file FILE or --passphrase-env VAR".into(),
        }
        .into());
    };
    let pass = super::pass::text(&p, "the PKCS#12 passphrase")?;
    mtls_ca::pkcs12::check_passphrase(&pass)?;
    Ok(pass)
}

/// `quickstart`'s additions: OUT/client.p12 (modern, random passphrase in OUT/client.p12.pass,
/// both 0600) and an nginx export in OUT/nginx for OUT/server and OUT/client.
pub fn quickstart_extras(
    pki: &Path,
    out_dir: &Path,
    force: bool,
    now: time::OffsetDateTime,
) -> anyhow::Result<(Vec<mtls_ca::files::Written>, export::Exported)> {
    let out_dir = absolute(out_dir)?;
    let mut bytes = [0u8; 12];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| mtls_ca::Error::Crypto("no randomness for the passphrase".into()))?;
    let pass = Zeroizing::new(mtls_ca::x509::hex(&bytes));
    let mut p12 = export::p12_plan(&P12Request {
        ca_dir: pki.to_path_buf(),
        stem: out_dir.join("client"),
        out_file: out_dir.join("client.p12"),
        passphrase: pass.clone(),
        profile: P12Profile::Modern,
    })?;
    p12.files.private(
        out_dir.join("client.p12.pass"),
        Zeroizing::new(format!("{}\n", pass.as_str()).into_bytes()),
    );
    let nginx = export::plan(&Request {
        target: Target::Nginx,
        ca_dir: pki.to_path_buf(),
        server: Some(out_dir.join("server")),
        client: Some(out_dir.join("client")),
        crls: Vec::new(),
        listen: None,
        upstream: None,
        upstream_client: None,
        out: out_dir.join("nginx"),
        passphrase: None,
        p12_profile: P12Profile::Modern,
        now,
    })?;
    // Both plans are checked before either is written.
    nginx.files.check_free(force)?;
    let p12 = p12.commit(force)?;
    let nginx = nginx.commit(force)?;
    Ok((p12.files, nginx))
}
