//! `mtls-ca init` / `mtls-ca ca init`.

use std::path::{Path, PathBuf};

use clap::Args;
use mtls_ca::ca::{Ca, InitOptions};
use mtls_ca::keys::KeyType;
use mtls_ca::profile::Constraints;

use crate::output::Output;
use crate::Outcome;

pub const INIT_HELP: &str = "FILES:\n  DIR/ca.crt, DIR/ca.key (0600), DIR/ca-chain.crt (this CA, then parents, root last), DIR/store.db,\n  DIR/ca-bundle.crt (root CAs: the CAs to trust; `ca rotate` adds the new one)\n\nEXAMPLES:\n  mtls-ca init\n  mtls-ca init --cn 'Example Root CA' --org Example --key-type ecdsa-p384\n  mtls-ca init --permit-dns example.com --permit-ip 10.0.0.0/8\n  mtls-ca --dir pki/issuing init --parent pki --cn 'Example Issuing CA'\n  mtls-ca init --encrypt-key --passphrase-file /run/secrets/ca-pass\n  mtls-ca init --import-cert old/ca.crt --import-key old/ca.key\n  MTLS_CA_STORE_PASSWORD_FILE=/run/secrets/pg mtls-ca init --store postgres://ca@db.internal/mtls?sslmode=require\n  mtls-ca --dir /etc/mtls-ca init --join /mnt/ca-host-1   (then bring ca.key over a secure channel)\n\nEXIT CODES:\n  0  the CA was created\n  2  usage, input or I/O error (nothing was written)";

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Subject common name of the CA.
    #[arg(long, value_name = "NAME")]
    pub cn: Option<String>,
    /// Subject organisation.
    #[arg(long, value_name = "ORG")]
    pub org: Option<String>,
    /// More subject attributes, RFC 4514 (most specific first): 'OU=Security,O=Acme,C=US'.
    #[arg(long, value_name = "DN", conflicts_with = "org")]
    pub subject: Option<String>,
    /// Key type: ecdsa-p256 (default), ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096.
    #[arg(long, value_name = "T", default_value = "ecdsa-p256", value_parser = super::parse::key_type)]
    pub key_type: KeyType,
    /// Validity in days (root: 3650; intermediate: 1826, capped by the parent).
    #[arg(long, value_name = "N", value_parser = super::parse::days)]
    pub days: Option<u32>,
    /// Allow at most N CAs below this one (intermediate default: 0).
    #[arg(long, value_name = "N")]
    pub pathlen: Option<u8>,
    /// Only names in this domain may be certified (repeatable).
    #[arg(long, value_name = "DOMAIN")]
    pub permit_dns: Vec<String>,
    /// Only addresses in this range may be certified (repeatable).
    #[arg(long, value_name = "CIDR")]
    pub permit_ip: Vec<String>,
    /// Names in this domain may never be certified (repeatable).
    #[arg(long, value_name = "DOMAIN")]
    pub exclude_dns: Vec<String>,
    /// Only these e-mail addresses may be certified: a@example.com, example.com or .example.com (repeatable).
    #[arg(long, value_name = "MAILBOX|DOMAIN")]
    pub permit_email: Vec<String>,
    /// Addresses in this range may never be certified (repeatable).
    #[arg(long, value_name = "CIDR")]
    pub exclude_ip: Vec<String>,
    /// Make an intermediate CA signed by the CA in PARENT_DIR.
    #[arg(long, value_name = "PARENT_DIR")]
    pub parent: Option<PathBuf>,
    /// Replace an existing CA, keeping its files as *.bak.
    #[arg(long)]
    pub force: bool,
    /// Encrypt ca.key (PKCS#8, PBKDF2-SHA256 600k + AES-256-CBC) with a passphrase.
    #[arg(long)]
    pub encrypt_key: bool,
    /// Adopt an existing CA certificate (with --import-key) instead of creating one; without
    /// --import-key, complete a CA started with --csr (its key is DIR/ca.key).
    #[arg(long, value_name = "FILE")]
    pub import_cert: Option<PathBuf>,
    /// Offline-root ceremony: only write DIR/ca.key and DIR/ca.csr for the root to sign.
    #[arg(long, conflicts_with_all = ["import_cert", "parent"])]
    pub csr: bool,
    /// The private key of --import-cert (PKCS#8, SEC1 or PKCS#1; encrypted PKCS#8 too).
    #[arg(long, value_name = "FILE", requires = "import_cert")]
    pub import_key: Option<PathBuf>,
    /// Keep the CA's records in this PostgreSQL database (shared by several hosts) instead of
    /// DIR/store.db; recorded in DIR/store.url without the password.
    #[arg(long, value_name = "URL", value_parser = parse_store_url)]
    pub store: Option<String>,
    /// Set up DIR as another host of the CA in EXISTING_DIR (which uses a PostgreSQL store):
    /// copies its certificates and store URL, nothing secret.
    #[arg(long, value_name = "EXISTING_DIR", conflicts_with_all = ["store", "parent", "import_cert", "cn", "org", "encrypt_key"])]
    pub join: Option<PathBuf>,
    #[command(flatten)]
    pub pass: super::pass::PassArgs,
}

fn parse_store_url(s: &str) -> Result<String, String> {
    if mtls_ca::store::postgres::is_url(s) {
        Ok(s.to_string())
    } else {
        Err(
            "use postgres://USER@HOST:PORT/DATABASE (store.db in the CA directory is the default)"
                .into(),
        )
    }
}

pub fn run(dir: &Path, a: &InitArgs, out: &Output) -> anyhow::Result<Outcome> {
    if let Some(existing) = &a.join {
        let joined = mtls_ca::ca::join::join(dir, existing, a.force)?;
        if out.json {
            out.json_doc(&serde_json::to_value(&joined)?)?;
        }
        out.status(format!(
            "joined the CA {} (store {}) in {}",
            joined.subject,
            joined.store,
            dir.display()
        ));
        for f in &joined.files {
            out.status(format!("  wrote    {}", f.display()));
        }
        if joined.needs_key {
            out.status(format!(
                "next: copy ca.key from {} over a secure channel (mode 0600), then `mtls-ca --dir {} list`",
                existing.display(),
                dir.display()
            ));
        }
        return Ok(Outcome::Ok);
    }
    let constraints = Constraints {
        permit_dns: a
            .permit_dns
            .iter()
            .map(|d| Constraints::parse_domain("--permit-dns", d))
            .collect::<Result<_, _>>()?,
        permit_ip: a
            .permit_ip
            .iter()
            .map(|c| Constraints::parse_cidr(c))
            .collect::<Result<_, _>>()?,
        exclude_dns: a
            .exclude_dns
            .iter()
            .map(|d| Constraints::parse_domain("--exclude-dns", d))
            .collect::<Result<_, _>>()?,
        permit_email: a
            .permit_email
            .iter()
            .map(|e| Constraints::parse_email(e))
            .collect::<Result<_, _>>()?,
        exclude_ip: a
            .exclude_ip
            .iter()
            .map(|c| Constraints::parse_exclude_cidr(c))
            .collect::<Result<_, _>>()?,
    };
    let opts = InitOptions {
        subject: super::subject(a.subject.as_deref())?,
        cn: a.cn.clone(),
        org: a.org.clone(),
        key_type: a.key_type,
        days: a.days,
        pathlen: a.pathlen,
        constraints,
        parent: a.parent.clone(),
        force: a.force,
    };
    let encrypt = if a.encrypt_key {
        Some(super::pass::get(&a.pass, true, None)?)
    } else {
        None
    };
    if a.csr {
        let made = mtls_ca::ca::ceremony::make_csr(
            dir,
            opts.cn.as_deref().unwrap_or("mtls-ca Intermediate CA"),
            &opts.subject,
            opts.key_type,
            encrypt.as_ref(),
        )?;
        if out.json {
            out.json_doc(&serde_json::to_value(&made)?)?;
        }
        out.status(format!(
            "created CA key {} (0600) and CSR {} for {}",
            made.key.display(),
            made.csr.display(),
            made.subject
        ));
        out.status(format!(
            "next: on the root's host, mtls-ca --dir ROOT sign {} --profile intermediate --out STEM; then here: mtls-ca --dir {} init --import-cert STEM.crt",
            made.csr.display(),
            dir.display()
        ));
        return Ok(Outcome::Ok);
    }
    let (_ca, issued) = match (&a.import_cert, &a.import_key) {
        (Some(cert), None) => mtls_ca::ca::ceremony::complete(
            dir,
            cert,
            &mut super::pass::source(&a.pass, super::pass::ca_key(dir)),
            super::now(),
        )?,
        (Some(cert), Some(key)) => mtls_ca::import::import(
            dir,
            &mtls_ca::import::ImportOptions {
                cert: cert.clone(),
                key: key.clone(),
                force: a.force,
            },
            &mut super::pass::source(&a.pass, key.clone()),
            encrypt.as_ref(),
            super::now(),
        )?,
        _ => Ca::init_with(
            dir,
            &opts,
            encrypt.as_ref(),
            &mut super::pass::source(
                &a.pass,
                super::pass::ca_key(a.parent.as_deref().unwrap_or(dir)),
            ),
            super::now(),
        )?,
    };
    if out.json {
        out.json_doc(&serde_json::to_value(&issued)?)?;
    }
    let what = if a.import_cert.is_some() {
        "imported CA"
    } else if a.parent.is_some() {
        "intermediate CA"
    } else {
        "root CA"
    };
    super::describe_issued(out, what, &issued);
    out.status(format!(
        "next: mtls-ca --dir {} issue server --cn HOST",
        dir.display()
    ));
    Ok(Outcome::Ok)
}
