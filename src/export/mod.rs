//! `export TARGET`: everything a gateway or a client needs, written into one directory.
//!
//! [`plan`] reads the inputs (the CA chain from the CA directory, `--server`/`--client` stems,
//! `--crl` files), checks them (key matches certificate, issuer is in the CA chain, CRLs cover the
//! chain and are current, target limits), and returns a [`Plan`]: the files to write (a
//! [`FileSet`], all or nothing), the target-specific warnings, and the commands to start and test
//! the result. [`Plan::commit`] writes it. Every config refers to the copies inside the output
//! directory by absolute path, so the directory is self-contained.
//!
//! One file per target renders the config: [`nginx`], [`haproxy`], [`caddy`], [`apache`],
//! [`envoy`], [`traefik`], [`k8s`], [`kong`], [`aws`], [`clients`] (curl, requests, httpx, node,
//! java) and [`bundle`]. What each product expects, and how
//! each export is used, is in `docs/gateways.md`.

pub mod apache;
pub mod aws;
pub mod bundle;
pub mod caddy;
pub mod clients;
pub mod envoy;
pub mod haproxy;
pub mod inputs;
pub mod k8s;
pub mod kong;
pub mod nginx;
pub mod traefik;

use std::path::{Path, PathBuf};

use rcgen::PublicKeyData;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::files::{FileSet, Written};
use crate::keys::KeyType;
use crate::pkcs12::P12Profile;
use crate::x509;

pub use crate::ca::layout::with_ext;
pub use inputs::{
    add_server_files, add_trust_files, curl_without_cert, sh, split_listen, CaCert, Crl, Inputs,
    Leaf, Rendered, Request, Target, Upstream, CRL_WARN_DAYS, DEFAULT_LISTEN, IDENTITY_HEADERS,
};

/// The files, warnings and instructions of an export, before anything is written.
#[derive(Debug)]
pub struct Plan {
    /// The target (`p12` for PKCS#12 files).
    pub target: String,
    /// What will be written.
    pub files: FileSet,
    /// Things the user must know before using the result.
    pub warnings: Vec<String>,
    /// How to start the server (or run the client).
    pub start: Vec<String>,
    /// How to test it.
    pub test: Vec<String>,
    /// Notes (where to put the files, what to replace).
    pub notes: Vec<String>,
}

/// The outcome of an export, for rendering.
#[derive(Debug, serde::Serialize)]
pub struct Exported {
    /// The target (`p12` for PKCS#12 files).
    pub target: String,
    /// Files written.
    pub files: Vec<Written>,
    /// Files `--force` left alone because their contents would not change.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unchanged: Vec<PathBuf>,
    /// Warnings.
    pub warnings: Vec<String>,
    /// Start commands.
    pub start: Vec<String>,
    /// Test commands.
    pub test: Vec<String>,
    /// Notes.
    pub notes: Vec<String>,
}

impl Plan {
    /// Writes every file, or none (`force`: existing files are kept as `*.bak`, except those
    /// whose contents would not change: they are left alone, so a re-run makes no `.bak`).
    pub fn commit(mut self, force: bool) -> Result<Exported> {
        let unchanged = if force {
            self.files.drop_unchanged()
        } else {
            Vec::new()
        };
        let files = self.files.commit(force)?;
        Ok(Exported {
            target: self.target,
            files,
            unchanged,
            warnings: self.warnings,
            start: self.start,
            test: self.test,
            notes: self.notes,
        })
    }
}

/// Reads and checks the inputs, then renders the target: nothing is written yet.
pub fn plan(req: &Request) -> Result<Plan> {
    let inputs = read_inputs(req)?;
    let mut warnings = common_warnings(req.target, &inputs);
    let r = match req.target {
        Target::Nginx => nginx::render(&inputs)?,
        Target::Haproxy => haproxy::render(&inputs)?,
        Target::Caddy => caddy::render(&inputs)?,
        Target::Apache => apache::render(&inputs)?,
        Target::Envoy => envoy::render(&inputs)?,
        Target::Traefik => traefik::render(&inputs)?,
        Target::K8sIngress => k8s::render(&inputs)?,
        Target::Kong => kong::render(&inputs)?,
        Target::Aws => aws::render(&inputs)?,
        Target::Curl | Target::Requests | Target::Httpx | Target::Node | Target::Java => {
            clients::render(req.target, &inputs)?
        }
        Target::Bundle => bundle::render(&inputs)?,
    };
    warnings.extend(r.warnings);
    let mut notes = inputs.notes.clone();
    notes.extend(r.notes);
    Ok(Plan {
        target: req.target.as_str().into(),
        files: r.files,
        warnings,
        start: r.start,
        test: r.test,
        notes,
    })
}

fn read_inputs(req: &Request) -> Result<Inputs> {
    let t = req.target;
    let need =
        |flag: &'static str, what: &str| {
            Error::invalid(
                flag,
                "",
                format!("`export {t}` needs {what}"),
                format!(
                "issue one first (`mtls-ca issue {} --cn NAME --out STEM`) and pass {flag} STEM",
                if flag == "--server" { "server" } else { "client" }
            ),
            )
        };
    if t.is_server() && req.server.is_none() {
        return Err(need("--server", "the server certificate it presents"));
    }
    if t.is_client() && req.client.is_none() {
        return Err(need("--client", "the client certificate it presents"));
    }
    if t == Target::Bundle && req.server.is_none() && req.client.is_none() {
        return Err(need("--server", "a --server or --client stem"));
    }
    if t == Target::Java && req.passphrase.is_none() {
        return Err(Error::invalid(
            "passphrase",
            "",
            "the Java keystore and truststore need a passphrase",
            "give one with --passphrase-file FILE or --passphrase-env VAR (or type it at the prompt)",
        ));
    }
    let listen = req.listen.clone().unwrap_or_else(|| DEFAULT_LISTEN.into());
    inputs::check_listen(&listen)?;
    let upstream = req.upstream.as_deref().map(Upstream::parse).transpose()?;
    let chain = read_trust(&req.ca_dir, req.now)?;
    let server = req
        .server
        .as_deref()
        .map(|s| read_leaf(s, "--server", &chain, &req.ca_dir))
        .transpose()?;
    let client = req
        .client
        .as_deref()
        .map(|s| read_leaf(s, "--client", &chain, &req.ca_dir))
        .transpose()?;
    let upstream_client = read_upstream_client(req, upstream.as_ref(), &chain)?;
    let mut crls = read_crls(&req.crls, &chain, req.now)?;
    // The CRL set `mtls-ca crl` writes: a retired CA's CRL lies next to the current CA's
    // (`crl-<serial prefix>.pem` beside `crl.pem`), so `--crl pki/crl.pem` brings it along.
    let mut notes = Vec::new();
    if !req.crls.is_empty() {
        let mut extra = Vec::new();
        for (i, ca) in chain.iter().enumerate() {
            if !ca.retired || crls.iter().any(|c| c.issuer_index == i) {
                continue;
            }
            let prefix = ca_prefix(ca);
            if let Some(p) = req
                .crls
                .iter()
                .map(|given| crate::crl::retired_crl_path(given, &prefix))
                .find(|p| p.exists() && !req.crls.contains(p))
            {
                extra.push(p);
            }
        }
        if !extra.is_empty() {
            let found = read_crls(&extra, &chain, req.now)?;
            for c in &found {
                notes.push(format!(
                    "added {} (the CRL of the retired CA {}, made by `mtls-ca crl` next to the one given)",
                    c.path.display(),
                    chain[c.issuer_index].subject
                ));
            }
            for c in found {
                if !crls.iter().any(|x| x.issuer_index == c.issuer_index) {
                    crls.push(c);
                }
            }
            crls.sort_by_key(|c| c.issuer_index);
        }
    }
    if !req.crls.is_empty() && t.needs_crl_per_ca() {
        for (i, ca) in chain.iter().enumerate() {
            if !crls.iter().any(|c| c.issuer_index == i) {
                let hint = if ca.retired {
                    format!(
                        "run `mtls-ca --dir {d} crl` (one CRL per CA of the overlap) and pass --crl {}",
                        crate::crl::retired_crl_path(
                            &req.ca_dir.join(crate::crl::CRL_FILE),
                            &ca_prefix(ca)
                        )
                        .display(),
                        d = req.ca_dir.display()
                    )
                } else {
                    "make one in that CA's directory with `mtls-ca --dir CA_DIR crl` (or `openssl ca -gencrl`) and pass every CRL with --crl".to_string()
                };
                return Err(Error::invalid(
                    "--crl",
                    req.crls
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    format!(
                        "no CRL for the CA {:?}: {t} needs one for every CA of the chain, or it rejects every client (\"unable to get certificate CRL\")",
                        ca.subject
                    ),
                    hint,
                ));
            }
        }
    }
    Ok(Inputs {
        chain,
        server,
        client,
        crls,
        out: req.out.clone(),
        listen,
        upstream,
        upstream_client,
        passphrase: req.passphrase.clone(),
        p12_profile: req.p12_profile,
        now: req.now,
        notes,
    })
}

/// `--upstream-client STEM`: only for Kong (a service's `client_certificate`), only with an
/// https `--upstream`, and only a certificate with clientAuth (the upstream would refuse it).
fn read_upstream_client(
    req: &Request,
    upstream: Option<&Upstream>,
    chain: &[CaCert],
) -> Result<Option<Leaf>> {
    let Some(stem) = &req.upstream_client else {
        return Ok(None);
    };
    let flag = "--upstream-client";
    let value = stem.display().to_string();
    if req.target != Target::Kong {
        return Err(Error::invalid(
            flag,
            value,
            format!("`export {}` has no upstream client certificate", req.target),
            "use it with `export kong` (Kong presents it to the upstream service)",
        ));
    }
    if upstream.is_none_or(|u| u.scheme != "https") {
        return Err(Error::invalid(
            flag,
            value,
            "a client certificate is only presented over TLS: the upstream is not https",
            "pass --upstream https://HOST:PORT/ as well",
        ));
    }
    let leaf = read_leaf(stem, flag, chain, &req.ca_dir)?;
    let cert_path = with_ext(stem, "crt");
    let client_auth = x509::parse_cert(&leaf.der, &cert_path)?
        .extended_key_usage()
        .ok()
        .flatten()
        .is_some_and(|e| e.value.client_auth || e.value.any);
    if !client_auth {
        return Err(Error::bad_file(
            &cert_path,
            "has no clientAuth extended key usage: the upstream would refuse it as a client certificate",
            "issue one with `mtls-ca issue client` (or server-client) and pass that stem",
        ));
    }
    Ok(Some(leaf))
}

/// Reads `DIR/ca-chain.crt` (or `DIR/ca.crt`): the CA, then its parents, root last.
pub fn read_ca_chain(dir: &Path) -> Result<Vec<CaCert>> {
    let path = crate::ca::layout::chain_or_cert(dir);
    let cert_path = crate::ca::layout::cert(dir);
    let path = if path.exists() {
        path
    } else {
        return Err(Error::NoCa {
            dir: dir.to_path_buf(),
            missing: cert_path,
        });
    };
    let ders = x509::read_certs(&path)?;
    let mut out = Vec::new();
    for der in ders {
        let c = x509::parse_cert(&der, &path)?;
        if !c.is_ca() {
            return Err(Error::bad_file(
                &path,
                format!("{} is not a CA certificate", c.subject()),
                "the CA directory must hold ca.crt / ca-chain.crt made by `mtls-ca init`",
            ));
        }
        let is_root = c.subject().as_raw() == c.issuer().as_raw();
        let n = out.len();
        out.push(CaCert {
            subject: c.subject().to_string(),
            is_root,
            not_after: x509::validity(&c).1,
            der: der.clone(),
            parent: None,
            retired: false,
        });
        if n > 0 {
            out[n - 1].parent = Some(n);
        }
    }
    for w in out.windows(2) {
        let child = x509::parse_cert(&w[0].der, &path)?;
        let parent = x509::parse_cert(&w[1].der, &path)?;
        if child.issuer().as_raw() != parent.subject().as_raw()
            || child.verify_signature(Some(parent.public_key())).is_err()
        {
            return Err(Error::bad_file(
                &path,
                format!("{} is not signed by {}", w[0].subject, w[1].subject),
                "ca-chain.crt must list this CA then its parents, root last",
            ));
        }
    }
    Ok(out)
}

/// Every CA a CA directory trusts (see [`Inputs::chain`]): its chain (`ca-chain.crt`), then the
/// retired CAs of a rotation that have not expired (each linked to its parent when the chain's
/// parent signed it).
pub fn read_trust(dir: &Path, now: OffsetDateTime) -> Result<Vec<CaCert>> {
    let mut out = read_ca_chain(dir)?;
    if !dir.join(crate::ca::CA_CERT).exists() {
        return Ok(out);
    }
    for m in crate::ca::overlap::retired(dir, now)? {
        if out.iter().any(|c| c.der == m.der) {
            continue;
        }
        // The retired CA, then those of its parents not trusted yet (root last), linked.
        let mut prev: Option<usize> = None;
        for der in std::iter::once(&m.der).chain(m.parents.iter()) {
            let idx = match out.iter().position(|c| &c.der == der) {
                Some(i) => i,
                None => {
                    let c = x509::parse_cert(der, &m.cert_path)?;
                    out.push(CaCert {
                        subject: c.subject().to_string(),
                        is_root: c.subject().as_raw() == c.issuer().as_raw(),
                        not_after: x509::validity(&c).1,
                        der: der.clone(),
                        parent: None,
                        retired: true,
                    });
                    out.len() - 1
                }
            };
            if let Some(p) = prev {
                if out[p].parent.is_none() && p != idx {
                    out[p].parent = Some(idx);
                }
            }
            prev = Some(idx);
        }
    }
    Ok(out)
}

/// The serial prefix of a CA certificate, as in `ca-<prefix>.crt` and `crl-<prefix>.pem`.
fn ca_prefix(ca: &CaCert) -> String {
    x509::parse_cert(&ca.der, Path::new("<ca>"))
        .map(|c| {
            crate::ca::overlap::prefix_of(&crate::serial::Serial::from_bytes(c.raw_serial()).hex())
        })
        .unwrap_or_default()
}

fn read_leaf(stem: &Path, flag: &'static str, chain: &[CaCert], ca_dir: &Path) -> Result<Leaf> {
    let cert_path = with_ext(stem, "crt");
    let key_path = with_ext(stem, "key");
    let fc_path = with_ext(stem, "fullchain.crt");
    for p in [&cert_path, &key_path, &fc_path] {
        if !p.exists() {
            return Err(Error::bad_file(
                p,
                format!(
                    "missing: {flag} {} needs STEM.crt, STEM.key and STEM.fullchain.crt",
                    stem.display()
                ),
                "give the --out STEM used with `mtls-ca issue` (without .crt), or re-issue the certificate",
            ));
        }
    }
    let der = x509::read_certs(&cert_path)?.remove(0);
    let full = x509::read_certs(&fc_path)?;
    if full.first() != Some(&der) {
        return Err(Error::bad_file(
            &fc_path,
            format!("does not start with {}", cert_path.display()),
            "the fullchain file must be the leaf then its intermediates; re-issue or rebuild it",
        ));
    }
    let key_bytes = Zeroizing::new(crate::files::read_limited(&key_path, 1024 * 1024)?);
    let key = crate::keys::load_private_key(&key_bytes, &key_path)?;
    let cert = x509::parse_cert(&der, &cert_path)?;
    if cert.public_key().raw != key.subject_public_key_info().as_slice() {
        return Err(Error::KeyMismatch {
            key: key_path,
            cert: cert_path,
        });
    }
    let key_type = KeyType::of(&key)?;
    let issuer_index = chain
        .iter()
        .position(|ca| {
            x509::parse_cert(&ca.der, Path::new("<ca>"))
                .map(|c| {
                    c.subject().as_raw() == cert.issuer().as_raw()
                        && cert.verify_signature(Some(c.public_key())).is_ok()
                })
                .unwrap_or(false)
        })
        .ok_or_else(|| {
            Error::bad_file(
                &cert_path,
                format!(
                    "not issued by the CA in {} (its issuer is {})",
                    ca_dir.display(),
                    cert.issuer()
                ),
                "pass --dir with the CA directory that issued it",
            )
        })?;
    let mut path = vec![issuer_index];
    while let Some(p) = path.last().and_then(|i| chain[*i].parent) {
        if path.contains(&p) {
            break;
        }
        path.push(p);
    }
    for (n, c) in full[1..].iter().enumerate() {
        if path.get(n).map(|i| &chain[*i].der) != Some(c) {
            return Err(Error::bad_file(
                &fc_path,
                "its intermediates differ from the CA chain",
                "rebuild it: the leaf, then the issuing CA and its parents, without the root",
            ));
        }
    }
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .map(str::to_string);
    let name = stem
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "cert".into());
    Ok(Leaf {
        stem: stem.to_path_buf(),
        name,
        intermediates: full[1..].to_vec(),
        key_pkcs8: Zeroizing::new(key.serialize_der()),
        key_type,
        subject: cert.subject().to_string(),
        cn,
        sans: x509::san_strings(&cert),
        serial: crate::serial::Serial::from_bytes(cert.raw_serial()).hex(),
        not_after: x509::validity(&cert).1,
        issuer_index,
        der,
    })
}

fn read_crls(paths: &[PathBuf], chain: &[CaCert], now: OffsetDateTime) -> Result<Vec<Crl>> {
    use x509_parser::prelude::FromDer;
    use x509_parser::revocation_list::CertificateRevocationList;
    let mut out: Vec<Crl> = Vec::new();
    for path in paths {
        let bytes = crate::files::read_limited(path, 64 * 1024 * 1024)?;
        let ders: Vec<Vec<u8>> = if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
            crate::pem::parse_all(&bytes, path)?
                .into_iter()
                .filter(|b| b.label == "X509 CRL")
                .map(|b| b.der)
                .collect()
        } else {
            vec![bytes]
        };
        if ders.is_empty() {
            return Err(Error::bad_file(
                path,
                "no CRL in this file (-----BEGIN X509 CRL-----)",
                "give a CRL made by `mtls-ca crl` or `openssl ca -gencrl`",
            ));
        }
        for der in ders {
            let (rest, crl) = CertificateRevocationList::from_der(&der).map_err(|e| {
                Error::bad_file(
                    path,
                    format!("not a valid CRL ({e})"),
                    "give a PEM or DER CRL",
                )
            })?;
            if !rest.is_empty() {
                return Err(Error::bad_file(
                    path,
                    "trailing bytes after the CRL",
                    "give a clean PEM or DER CRL",
                ));
            }
            let idx = chain.iter().position(|ca| {
                x509::parse_cert(&ca.der, Path::new("<ca>"))
                    .map(|c| {
                        c.subject().as_raw() == crl.issuer().as_raw()
                            && crl.verify_signature(c.public_key()).is_ok()
                    })
                    .unwrap_or(false)
            });
            let Some(issuer_index) = idx else {
                return Err(Error::bad_file(
                    path,
                    format!(
                        "the CRL of {} is not signed by any CA of this chain",
                        crl.issuer()
                    ),
                    "give the CRLs of the CA in --dir and of its parents",
                ));
            };
            let next_update = crl.next_update().map(|t| t.to_datetime());
            if let Some(nu) = next_update {
                if nu <= now {
                    return Err(Error::bad_file(
                        path,
                        format!(
                            "the CRL of {} expired on {} (nextUpdate): servers would reject every client",
                            crl.issuer(),
                            crate::ca::fmt_date(nu)
                        ),
                        "make a fresh one with `mtls-ca crl` (or `openssl ca -gencrl`)",
                    ));
                }
            }
            if out.iter().any(|c| c.issuer_index == issuer_index) {
                return Err(Error::bad_file(
                    path,
                    format!("a second CRL for {}", crl.issuer()),
                    "give one CRL per CA (the newest)",
                ));
            }
            let revoked_decimal = crl
                .iter_revoked_certificates()
                .map(|r| r.serial().to_string())
                .collect();
            out.push(Crl {
                revoked_decimal,
                path: path.clone(),
                issuer_index,
                next_update,
                der: der.clone(),
            });
        }
    }
    out.sort_by_key(|c| c.issuer_index);
    Ok(out)
}

fn common_warnings(t: Target, i: &Inputs) -> Vec<String> {
    let mut w = Vec::new();
    for c in &i.crls {
        if let Some(nu) = c.next_update {
            // `mtls-ca crl` makes CRLs for 7 days and `crl --check` wants a fresh one a day
            // before: only a CRL that cron should already have replaced is worth a warning.
            if nu - i.now < time::Duration::days(CRL_WARN_DAYS) && t.supports_crl() {
                let consequence = if t.needs_crl_per_ca() {
                    format!("when it does, {t} rejects every client")
                } else {
                    "refresh it and re-export before then".to_string()
                };
                w.push(format!(
                    "the CRL {} expires in {} ({}): {consequence}; schedule `mtls-ca crl --check || mtls-ca crl` before then",
                    c.path.display(),
                    time_left(nu - i.now),
                    crate::ca::fmt_date(nu)
                ));
            }
        }
    }
    if i.crls.is_empty() && t.needs_crl_per_ca() {
        w.push(format!(
            "no CRL given: {t} will accept revoked client certificates until they expire; pass --crl for every CA of the chain"
        ));
    }
    if !i.crls.is_empty() && !t.supports_crl() {
        w.push(format!(
            "{t} does not check CRL files: --crl is ignored; revoked certificates stay accepted until they expire"
        ));
    }
    for (role, leaf) in [("server", &i.server), ("client", &i.client)] {
        let Some(l) = leaf else { continue };
        if l.key_type == KeyType::Ed25519 {
            let who = match t {
                Target::Aws => "AWS API Gateway rejects Ed25519 certificates",
                Target::Java | Target::Node | Target::Requests | Target::Httpx | Target::Curl => {
                    "some client TLS stacks (older Java, browsers) cannot use Ed25519"
                }
                _ => "browsers and many TLS clients cannot use Ed25519",
            };
            w.push(format!(
                "the {role} key {} is Ed25519: {who}; prefer ecdsa-p256",
                l.stem.display()
            ));
        }
        let left = l.not_after - i.now;
        if left < time::Duration::days(30) {
            w.push(format!(
                "the {role} certificate {} expires in {} ({}); renew it soon",
                l.stem.display(),
                time_left(left),
                crate::ca::fmt_date(l.not_after)
            ));
        }
    }
    if i.chain.iter().any(|c| {
        x509::parse_cert(&c.der, Path::new("<ca>"))
            .map(|p| {
                p.public_key().algorithm.algorithm == x509_parser::oid_registry::OID_SIG_ED25519
            })
            .unwrap_or(false)
    }) && t != Target::Aws
    {
        w.push(
            "the CA key is Ed25519: AWS API Gateway, browsers and many TLS stacks reject such chains"
                .into(),
        );
    }
    w
}

/// "3 days", "1 day", "5 hours", "1 minute" (never "1 days").
pub fn time_left(d: time::Duration) -> String {
    let unit = |n: i64, one: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {one}s")
        }
    };
    if d.whole_days() >= 1 {
        unit(d.whole_days(), "day")
    } else if d.whole_hours() >= 1 {
        unit(d.whole_hours(), "hour")
    } else {
        unit(d.whole_minutes().max(0), "minute")
    }
}

/// What `export p12` (and `issue client --p12`) is asked to do.
#[derive(Debug, Clone)]
pub struct P12Request {
    /// The CA directory (its chain is included in the file).
    pub ca_dir: PathBuf,
    /// The client (or server) stem.
    pub stem: PathBuf,
    /// The file to write.
    pub out_file: PathBuf,
    /// The passphrase.
    pub passphrase: Zeroizing<String>,
    /// modern or legacy.
    pub profile: P12Profile,
}

/// Plans a PKCS#12 file for a stem: leaf, key, intermediates and root, friendlyName = the CN,
/// localKeyID = SHA-1 of the leaf, written 0600. The file is read back before it is planned.
pub fn p12_plan(req: &P12Request) -> Result<Plan> {
    let chain = read_ca_chain(&req.ca_dir)?;
    let leaf = read_leaf(&req.stem, "--client", &chain, &req.ca_dir)?;
    let mut certs = chain[leaf.issuer_index..]
        .iter()
        .map(|c| c.der.clone())
        .collect::<Vec<_>>();
    if certs.is_empty() {
        certs = leaf.intermediates.clone();
    }
    let alias = leaf.cn.clone().unwrap_or_else(|| leaf.name.clone());
    let p12 = crate::pkcs12::build(
        &leaf.der,
        &certs,
        &leaf.key_pkcs8,
        &alias,
        &req.passphrase,
        req.profile,
    )?;
    crate::pkcs12::check(&p12, &req.passphrase)?;
    let mut files = FileSet::new();
    files.private(&req.out_file, p12);
    let mut warnings = Vec::new();
    if leaf.key_type == KeyType::Ed25519 {
        warnings.push(
            "the key is Ed25519: macOS Keychain, Windows and older Java cannot import it".into(),
        );
    }
    let f = sh(&req.out_file.display().to_string());
    Ok(Plan {
        target: "p12".into(),
        files,
        warnings,
        start: Vec::new(),
        test: vec![
            format!("openssl pkcs12 -info -noout -in {f}"),
            format!("keytool -list -storetype PKCS12 -keystore {f}"),
            format!("curl --cert-type P12 --cert {f}:PASSPHRASE --cacert CA_BUNDLE URL"),
        ],
        notes: vec![format!(
            "PKCS#12 {} ({}){}",
            req.profile.as_str(),
            req.profile.describe(),
            if req.profile == P12Profile::Modern {
                "; for macOS Keychain or Java older than 8u301 use --p12-legacy"
            } else {
                ""
            }
        )],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_with_aliases_and_refuse_unknown_ones() {
        for t in Target::ALL {
            assert_eq!(t.as_str().parse::<Target>().unwrap(), t);
        }
        assert_eq!("k8s".parse::<Target>().unwrap(), Target::K8sIngress);
        assert_eq!("Python".parse::<Target>().unwrap(), Target::Requests);
        let e = "lighttpd".parse::<Target>().unwrap_err();
        assert!(e.hint().unwrap().contains("nginx"));
    }

    #[test]
    fn upstream_urls_are_parsed_and_unsafe_ones_refused() {
        let u = Upstream::parse("https://app.internal/api").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("app.internal", 443, "/api")
        );
        let u = Upstream::parse("http://[::1]:8080").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 8080));
        assert_eq!(u.authority(), "[::1]:8080");
        for bad in [
            "ftp://x",
            "app:80",
            "http://a b",
            "http://x/$host",
            "http://x/\"; evil",
            "http://user@x",
            "http://x:99999",
        ] {
            assert!(Upstream::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn listen_addresses_split_and_validate() {
        use super::inputs::check_listen;
        assert_eq!(split_listen("8443"), ("127.0.0.1".into(), 8443));
        assert_eq!(split_listen("0.0.0.0:443"), ("0.0.0.0".into(), 443));
        assert_eq!(split_listen("[::1]:9443"), ("::1".into(), 9443));
        assert!(check_listen("127.0.0.1:8443").is_ok());
        assert!(check_listen("[::1]:8443").is_ok());
        assert!(check_listen("nowhere").is_err());
        assert!(check_listen("a;b:80").is_err());
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(sh("/a/b.pem"), "/a/b.pem");
        assert_eq!(sh("/a b/it's"), "'/a b/it'\\''s'");
    }
}
